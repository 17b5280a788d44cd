"""Model choice form fields that read their choices with one plain query.

Django's ``ModelChoiceIterator`` walks the queryset with ``.iterator()``, which on PostgreSQL
opens a server-side cursor per field (DECLARE, FETCH, CLOSE: three round trips, and a WITH HOLD
cursor outside a transaction). That is right for millions of rows and wasteful for a choice list
of a few dozen, rendered a dozen times on the inquiry page. The project's forms use these fields
instead; choice lists are short by nature (facilities, programs, payers, partners, staff).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.forms.models import ModelChoiceIterator


class ListedChoiceIterator(ModelChoiceIterator):
    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset.all():
            yield self.choice(obj)


class ModelChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    iterator = ListedChoiceIterator


class ModelMultipleChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    iterator = ListedChoiceIterator
