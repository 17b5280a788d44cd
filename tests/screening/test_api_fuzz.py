"""Fuzz the screening API and page with answers drawn from the item definition: valid values,
refusals, and values each item must refuse (wrong types, numbers too large for any column, NUL and
lone surrogates in text, impossible dates, amounts beyond their unit).

Whatever is sent: never a 500; a 400 names fields and leaves the stored screening as it was; a
saved screen that is incomplete (or an emergency) recommends no program and has no level.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from admissions.screening.definition import FORMS, UNKNOWN
from admissions.screening.models import Screening
from admissions.screening.services import screening_save
from tests.screening.builders import all_clear

pytestmark = pytest.mark.django_db

DEFINITION = FORMS[2]
SECTIONS = {s["code"]: s for s in DEFINITION["sections"]}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY_TEXT = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\x1b[31m", "\u202e", "🙂", "'; drop table x;--", ""]
)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    NASTY_TEXT,
    st.just(UNKNOWN),
    st.just("9" * 400),
    st.just("1e400"),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _when(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def _valid(item: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: C901 - one branch per item type
    kind = item["type"]
    if kind == "bool":
        return st.booleans()
    if kind == "int":
        return st.integers(item.get("min", 0), item.get("max", 1000))
    if kind == "decimal":
        return st.floats(item.get("min", 0), item.get("max", 1000), allow_nan=False)
    if kind in ("choice",):
        return st.sampled_from([c for c, _ in item["choices"]])
    if kind == "multi":
        return st.lists(st.sampled_from([c for c, _ in item["choices"]]), unique=True)
    if kind == "slugs":
        return st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), max_size=3)
    if kind == "text":
        return st.text(max_size=item.get("max_length", 50))
    if kind == "postal_code":
        return st.sampled_from(["33606", "28801", "85251", "10001"])
    if kind == "date":
        return st.dates().map(lambda d: d.isoformat())
    if kind == "datetime":
        return st.floats(-3, 60).map(_when)
    raise AssertionError(kind)


def _value(item: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly a value the item takes (so saves go through and reach flags and matches), sometimes
    a refusal, sometimes junk."""
    unknown = st.just(UNKNOWN) if item.get("safety") else _valid(item)
    return st.integers(0, 9).flatmap(lambda n: JUNK if n == 0 else unknown if n == 1 else _valid(item))


@st.composite
def answer_bodies(draw: st.DrawFn) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for code in draw(st.lists(st.sampled_from([*SECTIONS, "nonsense"]), unique=True, max_size=6)):
        section = SECTIONS.get(code)
        if section is None:
            answers[code] = draw(JUNK)
            continue
        if section.get("grid"):
            rows: dict[str, Any] = {}
            for row in draw(
                st.lists(st.sampled_from([r for r, _ in section["rows"]]), unique=True, max_size=3)
            ):
                items = [*section["items"], *section.get("row_items", {}).get(row, [])]
                chosen = draw(
                    st.lists(st.sampled_from(items), unique_by=lambda i: i["code"], max_size=len(items))
                )
                rows[row] = {i["code"]: draw(_value(i)) for i in chosen}
            answers[code] = rows
            continue
        chosen = draw(
            st.lists(
                st.sampled_from(section["items"]),
                unique_by=lambda i: i["code"],
                max_size=len(section["items"]),
            )
        )
        answers[code] = {i["code"]: draw(_value(i)) for i in chosen}
    return answers


def _url(inquiry_id: int) -> str:
    return f"/api/v1/inquiries/{inquiry_id}/screening/"


def _stored(inquiry_id: int) -> tuple[Any, ...] | None:
    row = Screening.objects.filter(inquiry_id=inquiry_id, signed_at__isnull=True).first()
    return (row.answers, row.result, row.saved_at) if row else None


@FUZZ
@given(answers=answer_bodies())
def test_the_screening_api_never_fails_and_refuses_cleanly(
    answers, catalogue, inquiry, coordinator, coordinator_client
):
    # Start each example from a complete screen, so changes reach complete, flagged and matched screens.
    screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    before = _stored(inquiry.pk)
    body = json.dumps({"answers": answers}).encode()  # lone surrogates travel as \\ud800 escapes

    response = coordinator_client.generic("POST", _url(inquiry.pk), body, content_type="application/json")

    assert response.status_code in (200, 201, 400), response.content[:500]
    event(f"status {response.status_code}")
    payload = response.json()
    if response.status_code == 400:
        assert set(payload) == {"answers"}, payload
        assert payload["answers"]
        assert _stored(inquiry.pk) == before
        return
    event(f"complete {payload['complete']}, flags {len(payload['safety_flags'])}")
    if not payload["complete"] or any(f["code"] == "emergency_now" for f in payload["safety_flags"]):
        assert payload["matches"] == []
        assert payload["recommendation_withheld"] is not None
    if not payload["complete"]:
        assert payload["provisional_level"] is None
        assert payload["levels"] is None
    read = coordinator_client.get(_url(inquiry.pk))
    assert read.status_code == 200


def _form_values(answers: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for section, items in answers.items():
        if not isinstance(items, dict):
            data[str(section)] = str(items)
            continue
        for code, value in items.items():
            if isinstance(value, dict):
                for item, cell in value.items():
                    data[f"{section}.{code}.{item}"] = _as_posted(cell)
            else:
                data[f"{section}.{code}"] = _as_posted(value)
    return data


def _as_posted(value: Any) -> Any:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return ""
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    return text.encode("utf-8", "replace").decode("utf-8")  # a browser posts UTF-8


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answers=answer_bodies())
def test_the_screening_page_never_fails(answers, catalogue, inquiry, coordinator_client):
    before = _stored(inquiry.pk)
    url = reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk})
    response = coordinator_client.post(url, _form_values(answers), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    if "Not saved" in response.content.decode():
        assert _stored(inquiry.pk) == before
    assert coordinator_client.get(url).status_code == 200
