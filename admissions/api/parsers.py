"""The REST framework's JSON parser, with text that can be stored and echoed back.

JSON may escape a NUL or a lone surrogate (``"\\u0000"``, ``"\\ud800"``); parsed, they become text
that PostgreSQL refuses and no UTF-8 encoder writes, so a view that stored or echoed it failed
with a 500. Every string of the body, keys included, is made safe as it is parsed
(``crm.text.json_safe``). The lead API reads its body itself (``admissions.api.body``) and
cleans each field.
"""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import JSONParser

from crm.text import json_safe


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return json_safe(super().parse(stream, media_type, parser_context))
