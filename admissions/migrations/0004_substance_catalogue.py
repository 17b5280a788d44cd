from django.db import migrations

from admissions.catalogue import SUBSTANCES


def forwards(apps, schema_editor):
    Substance = apps.get_model("admissions", "Substance")
    for code, name, category, risk, order in SUBSTANCES:
        Substance.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "category": category,
                "sedative_withdrawal_risk": risk,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("admissions", "0003_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
