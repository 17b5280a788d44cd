"""Pre-screen form version 2 (docs/screening.md, "What changed in version 2").

Screens still open on version 1 move to version 2, so their next save runs the refined safety
rules: version 2 only adds answers and items, every version-1 answer is valid in it. Signed
screens keep the version they were signed on.
"""

from django.db import migrations

from admissions.screening.definition import FORMS


def seed_form_v2(apps, schema_editor):
    ScreeningForm = apps.get_model("admissions", "ScreeningForm")
    Screening = apps.get_model("admissions", "Screening")
    v2, _ = ScreeningForm.objects.update_or_create(
        version=2, defaults={"definition": FORMS[2], "is_active": True}
    )
    Screening.objects.filter(form__version=1, signed_at__isnull=True).update(form=v2)


def back_to_v1(apps, schema_editor):
    ScreeningForm = apps.get_model("admissions", "ScreeningForm")
    Screening = apps.get_model("admissions", "Screening")
    v1 = ScreeningForm.objects.filter(version=1).first()
    if v1 is not None:
        Screening.objects.filter(form__version=2).update(form=v1)
    ScreeningForm.objects.filter(version=2).delete()


class Migration(migrations.Migration):
    dependencies = [("admissions", "0018_messaging_compliance")]

    operations = [migrations.RunPython(seed_form_v2, back_to_v1)]
