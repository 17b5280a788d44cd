"""Test settings: the real settings with fast hashing and in-memory mail."""

from crm.embedded import SUPERUSER
from crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_crm")}  # noqa: F405
if EMBEDDED_POSTGRES:  # noqa: F405
    # The suite runs as the server's superuser, as CI does: it creates the test database and,
    # in the role tests, roles of its own.
    DATABASES["default"]["USER"] = SUPERUSER  # noqa: F405
# A fixed key for the encrypted columns (crm.fields); never used outside tests.
FIELD_ENCRYPTION_KEYS = ["dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDAwMDA="]
# Tests share one Redis across tests whose rows reuse ids: no cached choice lists between them
# (tests/admissions/test_pages.py turns the cache on where it is the subject).
CHOICES_CACHE_SECONDS = 0
# A session renews its idle timeout once a minute (one write): a slow test whose requests span
# a minute would count that write in a page's query budget. tests/crm/test_auth.py turns the
# minute back on where renewal is the subject.
SESSION_RENEW_SECONDS = 24 * 3600
