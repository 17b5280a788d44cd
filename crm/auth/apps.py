from django.apps import AppConfig


class AuthHardeningConfig(AppConfig):
    name = "crm.auth"
    label = "crm_auth"
    verbose_name = "Authentication hardening"

    def ready(self) -> None:
        from crm.auth import sessions  # noqa: F401  (connects the signal receivers)
