"""Suite-wide fixtures: real services, role users, and the rule that CI never skips a service test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from crm.roles import Role
from tests.factories import FacilityFactory, UserFactory
from tests.signin import login_verified

REQUIRE_SERVICES = os.environ.get("CRM_REQUIRE_SERVICES") == "1"


# The embedded PostgreSQL's handle, held for the whole run (the server stops when the last process
# holding it exits).
_embedded_postgres: object = None


def pytest_configure(config: pytest.Config) -> None:
    global _embedded_postgres  # noqa: PLW0603 - one server handle per test run
    if REQUIRE_SERVICES and not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")):
        raise pytest.UsageError("CRM_REQUIRE_SERVICES=1 needs DATABASE_URL pointing at PostgreSQL.")
    if REQUIRE_SERVICES and not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("CRM_REQUIRE_SERVICES=1 needs REDIS_URL pointing at Redis.")
    if settings.EMBEDDED_POSTGRES and not hasattr(config, "workerinput"):
        from crm.embedded import embedded_postgres_start

        _embedded_postgres = embedded_postgres_start(settings.EMBEDDED_POSTGRES_DIR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Transactional tests restore the rows migrations seed (roles, catalogues, cadences).

    Their reset empties every table; without serialized rollback the next
    transactional test would run without the level catalogue or the role groups.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
            {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
        )
        if transactional:
            kwargs = {**(marker.kwargs if marker else {}), "transaction": True, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def needs_service(what: str) -> None:
    """Skip for a missing service, except under CRM_REQUIRE_SERVICES=1 where it fails."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required by this test run but is not available.")
    pytest.skip(f"needs {what}")


@pytest.fixture(scope="session", autouse=True)
def _embedded_redis() -> Iterator[None]:
    """Start the embedded Redis when REDIS_URL is not set (the default developer setup)."""
    if not settings.EMBEDDED_REDIS or settings.EMBEDDED_BROKER_FALLBACK:
        yield
        return
    from crm.embedded import embedded_redis_start

    process = embedded_redis_start(settings.EMBEDDED_REDIS_SOCKET, settings.VAR_DIR / "redis")
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def facility(db):  # type: ignore[no-untyped-def]
    return FacilityFactory(name="Harbor Point Tampa")


@pytest.fixture
def other_facility(db):  # type: ignore[no-untyped-def]
    return FacilityFactory(name="Harbor Point Asheville", state="NC", city="Asheville")


def _user(role: Role, username: str, facilities: list) -> object:  # type: ignore[type-arg]
    return UserFactory(username=username, role=role, facilities=facilities)


@pytest.fixture
def coordinator(facility):  # type: ignore[no-untyped-def]
    return _user(Role.COORDINATOR, "coordinator", [facility])


@pytest.fixture
def clinician(facility):  # type: ignore[no-untyped-def]
    return _user(Role.CLINICAL_REVIEWER, "clinician", [facility])


@pytest.fixture
def vob_specialist(facility):  # type: ignore[no-untyped-def]
    return _user(Role.VOB_SPECIALIST, "vob", [facility])


@pytest.fixture
def manager(facility):  # type: ignore[no-untyped-def]
    return _user(Role.MANAGER, "manager", [facility])


@pytest.fixture
def administrator(facility):  # type: ignore[no-untyped-def]
    user = _user(Role.ADMINISTRATOR, "admin", [])
    user.is_staff = True  # type: ignore[attr-defined]
    user.save()  # type: ignore[attr-defined]
    return user


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """A signed-in staff member with no role and no facility."""
    return UserFactory(username="outsider")


def _client_for(user: object) -> Client:
    client = Client()
    login_verified(client, user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def coordinator_client(coordinator):  # type: ignore[no-untyped-def]
    return _client_for(coordinator)


@pytest.fixture
def manager_client(manager):  # type: ignore[no-untyped-def]
    return _client_for(manager)


@pytest.fixture
def outsider_client(outsider):  # type: ignore[no-untyped-def]
    return _client_for(outsider)
