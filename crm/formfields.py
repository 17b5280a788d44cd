"""Model choice form fields that read their choices with one plain query, cached a minute.

Django's ``ModelChoiceIterator`` walks the queryset with ``.iterator()``, which on PostgreSQL
opens a server-side cursor per field (DECLARE, FETCH, CLOSE: three round trips, and a WITH HOLD
cursor outside a transaction). That is right for millions of rows and wasteful for a choice list
of a few dozen, rendered a dozen times on the inquiry page. The project's forms use these fields
instead; choice lists are short by nature and are reference data: facilities, programs, levels
of care, payers, sources, referral partners and staff, never anything about a person.

The options (value and label) are kept in the process for ``CHOICES_CACHE_SECONDS`` (60) under
the query's SQL, so the same list is read once a minute per process, not once per select per
page: a program added shows within a minute, and a choice removed meanwhile is refused by
validation, which always reads the table. In the process rather than in Redis: a dozen selects
on a page cost a dozen round trips and unpickles there, for lists every process may hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.forms.models import ModelChoiceIterator

_OPTIONS: dict[str, tuple[float, list[tuple[Any, str]]]] = {}
_OPTIONS_MAX = 512  # distinct lists kept (per facility set and role); all dropped when reached


def cached_options(queryset: QuerySet[Any], label: Callable[[Any], str], kind: str) -> list[tuple[Any, str]]:
    """``(pk, label)`` for every row of ``queryset``, kept under its SQL and ``kind`` (the
    labelling field's class) for ``CHOICES_CACHE_SECONDS``."""
    seconds = settings.CHOICES_CACHE_SECONDS
    if not seconds:
        return [(obj.pk, label(obj)) for obj in queryset]
    sql, params = queryset.query.sql_with_params()
    key = f"{kind}|{sql}|{params!r}"
    now = time.monotonic()
    kept = _OPTIONS.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    options = [(obj.pk, label(obj)) for obj in queryset]
    if len(_OPTIONS) >= _OPTIONS_MAX:
        _OPTIONS.clear()
    _OPTIONS[key] = (now + seconds, options)
    return options


def cached_options_clear() -> None:
    """Forget every kept list (tests, and a process that must see a change at once)."""
    _OPTIONS.clear()


class ListedChoiceIterator(ModelChoiceIterator):
    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from cached_options(self.queryset, self.field.label_from_instance, type(self.field).__name__)


class ModelChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    iterator = ListedChoiceIterator


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    iterator = ListedChoiceIterator
