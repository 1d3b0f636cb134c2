"""The parsers' own error type: anything wrong with HAProxy's answer is reported as this."""

from __future__ import annotations

from exporter.runtime.answer import Text, head


class ParseError(ValueError):
    """HAProxy's answer is not what the command returns.  ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def first_line(text: Text, limit: int = 120) -> str:
    """The first line of an unexpected answer, trimmed, for an error message a human can act on
    (read from the answer's head only: an error path must not copy a big answer)."""
    start = head(text, 4 * limit + 4096)
    line = start.lstrip("\n").split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[:limit] + "…"


def error_reason(text: Text) -> str:
    """Classify an answer HAProxy gives instead of data (its error texts carry no marker)."""
    line = first_line(text)
    if line.startswith("Permission denied"):
        return "permission_denied"
    if line.startswith("Unknown command"):
        return "unknown_command"
    if line.startswith("No such table"):
        return "no_such_table"
    return "unexpected_response"
