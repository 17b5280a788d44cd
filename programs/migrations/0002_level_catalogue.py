from django.db import migrations

from programs.catalogue import LEVELS


def forwards(apps, schema_editor):
    LevelOfCare = apps.get_model("programs", "LevelOfCare")
    for edition, code, name, setting, intensity, wm in LEVELS:
        LevelOfCare.objects.update_or_create(
            edition=edition,
            code=code,
            defaults={"name": name, "setting": setting, "intensity": intensity, "withdrawal_management": wm},
        )


class Migration(migrations.Migration):
    dependencies = [("programs", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
