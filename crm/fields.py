"""Model fields encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256) keys from the environment.

``FIELD_ENCRYPTION_KEYS`` lists Fernet keys, newest first: the first encrypts, every one
decrypts (``MultiFernet``), so a new key is put in front, ``manage.py rotate_field_keys``
re-encrypts every row with it, and the old key is removed afterwards (docs/security.md).

A stored value is ``enc1:`` followed by the Fernet token. Encryption is randomised, so an
encrypted column cannot be searched or compared in SQL; the only lookups allowed are
``isnull`` and ``exact`` against the empty string (an empty text is stored empty, which keeps
check constraints such as "an override has a reason" working). Code that needs to find rows
by a sensitive value keeps a keyed hash (``field_lookup_hash``) in a column of its own.

A value that does not decrypt with any configured key raises ``FieldDecryptionError``: a
wrong or missing key fails loudly, it never shows ciphertext or an empty answer.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

PREFIX = "enc1:"
FIELD_PREFIX_PATTERN = PREFIX + "%"  # SQL LIKE pattern of an encrypted value
_ALLOWED_LOOKUPS = frozenset({"isnull", "exact"})


class FieldDecryptionError(RuntimeError):
    """A stored value could not be decrypted with any configured key."""


def keys_parse(keys: Iterable[str]) -> list[Fernet]:
    """Fernet objects for the given keys; an invalid key raises ``ImproperlyConfigured``."""
    out = []
    for n, key in enumerate(k.strip() for k in keys):
        if not key:
            continue
        try:
            out.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {n + 1} is not a Fernet key (32 url-safe base64 bytes)."
            ) from None
    return out


@functools.lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    parsed = keys_parse(keys)
    if not parsed:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is empty: encrypted fields cannot be read or written."
        )
    return MultiFernet(parsed)


def _configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", ())
    if isinstance(keys, str):
        keys = keys.split(",")
    return tuple(k.strip() for k in keys if k.strip())


def crypto() -> MultiFernet:
    """The ``MultiFernet`` of the configured keys (cached per key list)."""
    return _multifernet(_configured_keys())


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt_str(plain: str) -> str:
    return PREFIX + crypto().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_str(stored: str) -> str:
    if not is_encrypted(stored):
        raise FieldDecryptionError("An encrypted column holds a value that was never encrypted.")
    try:
        return crypto().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise FieldDecryptionError(
            "A stored value does not decrypt with any key in FIELD_ENCRYPTION_KEYS "
            "(wrong key, or an old key removed before rotate_field_keys ran)."
        ) from None


def rotate_str(stored: str) -> str:
    """The same plaintext encrypted with the newest key (``MultiFernet.rotate``)."""
    if not is_encrypted(stored):
        raise FieldDecryptionError("An encrypted column holds a value that was never encrypted.")
    try:
        token = crypto().rotate(stored[len(PREFIX) :].encode("ascii"))
    except InvalidToken:
        raise FieldDecryptionError(
            "A stored value does not decrypt with any key in FIELD_ENCRYPTION_KEYS."
        ) from None
    return PREFIX + token.decode("ascii")


def field_lookup_hash(value: str) -> str:
    """A keyed hash (HMAC-SHA256 under the newest key) for exact lookups of an encrypted value."""
    keys = _configured_keys()
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    return hmac.new(keys[0].encode(), value.encode("utf-8"), hashlib.sha256).hexdigest()


class _EncryptedMixin:
    """Lookups on ciphertext are meaningless: only ``isnull`` and ``exact`` (for "") are allowed."""

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in _ALLOWED_LOOKUPS:
            raise TypeError(f"An encrypted field cannot be searched with '{lookup_name}'.")
        return super().get_lookup(lookup_name)  # type: ignore[misc]

    def get_transform(self, lookup_name: str) -> Any:
        return None


class EncryptedTextField(_EncryptedMixin, models.TextField):  # type: ignore[misc]
    """Free text stored encrypted; "" is stored as "" so blank checks still work in SQL."""

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(str(value))


class EncryptedJSONField(_EncryptedMixin, models.TextField):  # type: ignore[misc]
    """A JSON document stored encrypted in a text column: read and written whole, never queried."""

    description = "JSON encrypted at rest"
    # what django-stubs reads as the field's Python types
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def __init__(self, *args: Any, encoder: type[json.JSONEncoder] = DjangoJSONEncoder, **kwargs: Any):
        self.encoder = encoder
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not DjangoJSONEncoder:
            kwargs["encoder"] = self.encoder
        return name, path, args, kwargs

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return json.loads(decrypt_str(value))

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_str(json.dumps(value, cls=self.encoder, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> Any:
        return self.value_from_object(obj)

    def formfield(self, **kwargs: Any) -> Any:  # type: ignore[override]
        return forms.JSONField(encoder=self.encoder, **kwargs)


def encrypted_fields(models_: Sequence[type[models.Model]]) -> list[tuple[type[models.Model], list[str]]]:
    """(model, [column, ...]) of every encrypted field of the given models."""
    out = []
    for model in models_:
        columns = [
            f.column
            for f in model._meta.concrete_fields
            if isinstance(f, EncryptedTextField | EncryptedJSONField)
        ]
        if columns:
            out.append((model, columns))
    return out


# --- whole-column rewrites: the data migrations and ``rotate_field_keys`` --------------------

_BATCH = 1000


def column_rewrite(
    connection: Any, *, table: str, column: str, transform: Any, encrypted: bool, pk: str = "id"
) -> int:
    """Apply ``transform`` to every non-empty value of one column, in primary-key batches.

    ``encrypted`` picks the rows: True rewrites values stored encrypted (rotation, decryption),
    False those still in plaintext (the conversion of existing rows). Returns rows changed.
    Raw SQL on purpose: the values must not pass through the field, and a migration's
    historical model may not know the field's current class.
    """
    quote = connection.ops.quote_name
    t, c, p = quote(table), quote(column), quote(pk)
    match = "LIKE" if encrypted else "NOT LIKE"
    # Names come from the models, never from input; every value is a parameter.
    select = (
        f"SELECT {p}, {c} FROM {t} WHERE {p} > %s AND {c} IS NOT NULL AND {c} <> '' "  # noqa: S608
        f"AND {c} {match} %s ORDER BY {p} LIMIT {_BATCH}"
    )
    update = f"UPDATE {t} SET {c} = %s WHERE {p} = %s"  # noqa: S608
    changed, last = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last, FIELD_PREFIX_PATTERN])
            rows = cursor.fetchall()
            if not rows:
                return changed
            cursor.executemany(update, [(transform(value), row_pk) for row_pk, value in rows])
            changed += len(rows)
            last = rows[-1][0]


def plain_to_stored(value: str) -> str:
    return encrypt_str(value)


def json_to_stored(value: Any) -> str:
    """A JSON column's value (text, or already parsed by the driver) encrypted as the field stores it."""
    if not isinstance(value, str):
        value = json.dumps(value, cls=DjangoJSONEncoder)
    return encrypt_str(json.dumps(json.loads(value), cls=DjangoJSONEncoder, sort_keys=True))
