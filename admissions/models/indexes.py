"""Index helpers shared by the admissions models."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def sparse_key_indexes(prefix: str, **short_names: str) -> list[models.Index]:
    """Indexes of foreign keys that most rows leave empty, without the empty rows.

    Such a key is looked up only by value (a deletion check of the row it points to, a join),
    which an index without NULLs serves as well; a full index would take an entry for every
    new row, which is most of what these indexes would cost."""
    return [
        models.Index(fields=[field], condition=Q(**{f"{field}__isnull": False}), name=f"{prefix}_{short}_idx")
        for field, short in short_names.items()
    ]
