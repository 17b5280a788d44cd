"""Production mode refuses to start with unsafe settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "x" * 20 + "-production-secret-" + "y" * 30
GOOD_FIELD_KEY = "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDAwMDA="


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    unset = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean.update({"DJANGO_SETTINGS_MODULE": "crm.settings", "CRM_ENV": "production", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "crm.example.org", "DEBUG": "true"},
            "DEBUG must be off",
        ),
        ({"ALLOWED_HOSTS": "crm.example.org"}, "SECRET_KEY must be set"),
        (
            {
                "SECRET_KEY": "insecure-development-key-do-not-use-in-production",
                "ALLOWED_HOSTS": "crm.example.org",
            },
            "SECRET_KEY must be set",
        ),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "crm.example.org"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": GOOD_SECRET}, "ALLOWED_HOSTS must list"),
        ({"SECRET_KEY": GOOD_SECRET, "ALLOWED_HOSTS": "crm.example.org"}, "FIELD_ENCRYPTION_KEYS must hold"),
    ],
)
def test_production_refuses_unsafe_settings(env, message):
    result = _check(**env)
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr
    assert message in result.stderr
    assert "started" not in result.stdout


def test_production_starts_with_safe_settings():
    result = _check(
        SECRET_KEY=GOOD_SECRET, ALLOWED_HOSTS="crm.example.org", FIELD_ENCRYPTION_KEYS=GOOD_FIELD_KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


def test_development_default_needs_no_environment():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "CRM_VAR_DIR": str(ROOT / "var"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
