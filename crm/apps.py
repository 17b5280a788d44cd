from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate, pre_migrate


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Kernel: users, facilities, audit"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from crm import db_roles
        from crm.time_zones import remember_time_zone

        pre_migrate.connect(db_roles.refuse_migrating_as_app_role, sender=self)
        post_migrate.connect(db_roles.grant_after_migrate, sender=self)
        checks.register(db_roles.check_app_role_set, checks.Tags.security)
        user_logged_in.connect(remember_time_zone, dispatch_uid="crm.remember_time_zone")
