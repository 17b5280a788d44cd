"""Apps depend one way. An ``ast`` walk over every module of every app, imports inside functions
and under ``TYPE_CHECKING`` included, holds the layers of the house style:

    crm (the kernel)  <  programs  <  admissions  <  workers, dashboards, privacy

An app imports its own modules and those of lower layers only, and the apps of the top layer
do not import one another. The one exception is the root URL conf, ``crm/urls.py``, which
routes to every app. Workers, on top, also keep SQL to themselves: no statement of theirs names
an admissions table (the follow-up state machine owns those).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"crm": 0, "programs": 1, "admissions": 2, "workers": 3, "dashboards": 3, "privacy": 3, "demo": 4}
ROOT_URLCONF = Path("crm/urls.py")  # routes to every app: the only module allowed to look up


def imported(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in ``source``, wherever it stands, including
    ``importlib.import_module("...")`` and ``__import__("...")`` with a literal name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def may_import(importer: str, imported_app: str) -> bool:
    """Whether a module of app ``importer`` may import one of ``imported_app``."""
    return importer == imported_app or LAYERS[imported_app] < LAYERS[importer]


def modules(app: str) -> list[Path]:
    return sorted(path.relative_to(ROOT) for path in (ROOT / app).rglob("*.py"))


def test_every_app_has_a_layer():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps == set(LAYERS), "place a new app in LAYERS (and in the house style's layers)"


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_an_app_imports_only_itself_and_lower_layers(app):
    wrong = [
        f"{path}:{line} imports {name}"
        for path in modules(app)
        if path != ROOT_URLCONF
        for line, name in imported((ROOT / path).read_text())
        if name.split(".")[0] in LAYERS and not may_import(app, name.split(".")[0])
    ]
    assert wrong == []


def test_workers_statements_name_no_admissions_table():
    table = re.compile(r"\badmissions_[a-z_]+\b")
    named = [
        f"{path}:{node.lineno}"
        for path in modules("workers")
        if "migrations" not in path.parts
        for node in ast.walk(ast.parse((ROOT / path).read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and table.search(node.value)
    ]
    assert named == []


def test_the_walk_finds_imports_in_functions_type_checking_blocks_and_calls():
    source = """
from typing import TYPE_CHECKING
import crm.models
if TYPE_CHECKING:
    from dashboards.reports import Table
def kick():
    from workers.tasks import followups_dispatch
    return importlib.import_module("privacy.tasks")
class Later:
    def run(self):
        import programs.matching as matching
"""
    assert [name for _, name in sorted(imported(source))] == [
        "typing",
        "crm.models",
        "dashboards.reports",
        "workers.tasks",
        "privacy.tasks",
        "programs.matching",
    ]


@pytest.mark.parametrize(
    ("importer", "target", "allowed"),
    [
        ("admissions", "workers", False),
        ("crm", "admissions", False),
        ("crm", "programs", False),
        ("programs", "admissions", False),
        ("privacy", "dashboards", False),
        ("dashboards", "privacy", False),
        ("workers", "admissions", True),
        ("privacy", "crm", True),
        ("admissions", "admissions", True),
    ],
)
def test_the_layers_forbid_what_the_house_style_forbids(importer, target, allowed):
    assert may_import(importer, target) is allowed


def test_tasks_sent_by_name_exist():
    """Admissions and programs enqueue workers' tasks by name: each name sent is a registered task."""
    import workers.tasks  # noqa: F401 - registers the tasks with the app
    from crm.celery import app

    pattern = re.compile(r"^workers\.tasks\.\w+$")
    sent = {
        node.value
        for app in ("admissions", "programs")
        for path in modules(app)
        for node in ast.walk(ast.parse((ROOT / path).read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.match(node.value)
    }
    assert "workers.tasks.followups_dispatch" in sent  # admissions.services.dispatcher_kick
    assert "workers.tasks.capacity_freed" in sent  # programs.services.capacity_freed
    assert sent <= set(app.tasks)
