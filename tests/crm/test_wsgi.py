"""The WSGI entry point leaves what it loaded out of the garbage collector's sweeps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_loaded_application_is_frozen_for_the_collector():
    probe = "import gc, crm.wsgi; print(gc.get_freeze_count())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings"}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    # Django and the apps are tens of thousands of objects: a full collection would walk them all
    assert int(out.stdout.strip().splitlines()[-1]) > 50_000
