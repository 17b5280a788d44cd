"""Starter message templates and the default cadence steps (see admissions.followup_policy)."""

from datetime import timedelta

from django.db import migrations

STEPS = (
    ("ack-sms", "Acknowledge a web lead by text", "new_inquiry", "web_form",
     "acknowledgement", "sms", "ack-sms", timedelta(0), None, 0),
    ("ack-email", "Acknowledge a web lead by email", "new_inquiry", "web_form",
     "acknowledgement", "email", "ack-email", timedelta(0), None, 0),
    ("admission-reminder-sms", "Text reminder the day before admission", "scheduled", "",
     "admission_reminder", "sms", "admission-reminder-sms", timedelta(days=-1), None, 0),
    ("admission-reminder-task", "Confirm arrival the day before admission", "scheduled", "",
     "admission_reminder", "task", "", timedelta(days=-1), None, 0),
    ("nurture-monthly-email", "Monthly nurture email", "nurture", "",
     "nurture_touch", "email", "nurture-email", timedelta(days=30), timedelta(days=30), 12),
    ("referral-check-in", "Check in a week after a referral out", "referred_out", "",
     "referral_check_in", "task", "", timedelta(days=7), None, 0),
)  # fmt: skip

TEMPLATES = (
    ("ack-sms", "sms", "", "",
     "{{ sender }}: Hi {{ first_name }}, thanks for reaching out. {{ coordinator }} will call you shortly "
     "from {{ facility_phone }}. Reply STOP to opt out, HELP for help."),
    ("ack-email", "email", "We received your message", "Someone from our team will call you soon.",
     "Hi {{ first_name }},\n\nThank you for getting in touch. {{ coordinator }} will call you shortly from "
     "{{ facility_phone }}. You can also call us any time.\n\n{{ sender }}"),
    ("admission-reminder-sms", "sms", "", "",
     "{{ sender }}: Hi {{ first_name }}, a reminder of your appointment on {{ admission_date }}. "
     "Questions? Call {{ facility_phone }}. Reply STOP to opt out."),
    ("nurture-email", "email", "Checking in", "We are here whenever you are ready.",
     "Hi {{ first_name }},\n\nWe wanted to check in. If you would like to talk, call us at "
     "{{ facility_phone }} at any time.\n\n{{ sender }}"),
)  # fmt: skip


def install(apps, schema_editor):
    CadenceStep = apps.get_model("admissions", "CadenceStep")
    MessageTemplate = apps.get_model("admissions", "MessageTemplate")
    for code, medium, subject, preview, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            facility=None,
            code=code,
            defaults={"medium": medium, "subject": subject, "preview": preview, "body": body},
        )
    for key, name, trigger, channel, kind, via, template, offset, repeat, repeats in STEPS:
        CadenceStep.objects.get_or_create(
            key=key,
            defaults={
                "name": name,
                "trigger": trigger,
                "inquiry_channel": channel,
                "kind": kind,
                "channel": via,
                "template_code": template,
                "offset": offset,
                "repeat_every": repeat,
                "max_repeats": repeats,
            },
        )


def remove(apps, schema_editor):
    apps.get_model("admissions", "CadenceStep").objects.filter(key__in=[s[0] for s in STEPS]).delete()
    apps.get_model("admissions", "MessageTemplate").objects.filter(
        facility=None, code__in=[t[0] for t in TEMPLATES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("admissions", "0006_messaging")]

    operations = [migrations.RunPython(install, remove)]
