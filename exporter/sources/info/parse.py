"""Parse ``show info``: one ``Name: value`` line per field; names may contain spaces and hyphens."""

from __future__ import annotations

import re

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_FIELDS, ParseError, check_count, error_reason, first_line

_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_ -]{0,63}): ?(.*)")


def _unquoted(value: str) -> str:
    """HAProxy writes a text field CSV-quoted when it holds a comma or a quote:
    ``"quotes ""here"", commas"`` is ``quotes "here", commas``."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def parse_info(text: Text) -> dict[str, str]:
    """Return the fields in HAProxy's order.  Raise :class:`ParseError` on anything else.

    Every line must look like a field: an error message, an HTML page or a cut stream is
    rejected as a whole rather than yielding a partial record.
    """
    fields: dict[str, str] = {}
    for line in lines(text):
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            if not fields:
                raise ParseError(error_reason(text), f"show info answered {first_line(text)!r}")
            raise ParseError("malformed", f"show info: unexpected line {first_line(line)!r}")
        fields[match.group(1)] = _unquoted(match.group(2))
        check_count(len(fields), MAX_FIELDS, "show info: fields")
    if "Name" not in fields and "Version" not in fields:
        raise ParseError(error_reason(text), f"show info answered {first_line(text)!r}")
    return fields
