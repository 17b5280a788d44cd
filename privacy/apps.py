from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Part 2 consent, disclosures and audit pages"

    def ready(self) -> None:
        # crm.celery autodiscovers only workers and dashboards; importing the task module
        # here registers the consent expiry task with the Celery app in every process.
        from privacy import tasks  # noqa: F401, PLC0415
