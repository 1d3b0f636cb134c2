"""The parsers' own error type: anything wrong with HAProxy's answer is reported as this."""

from __future__ import annotations

from exporter.runtime.answer import Text, head


class ParseError(ValueError):
    """HAProxy's answer is not what the command returns.  ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# What one answer may list, and what one listed item may have.  Far above any real HAProxy's
# (show info prints about 70 fields, a large configuration a few thousand tables or pattern lists),
# and what keeps a hostile answer's parsed form, its families and their rendering small: each item
# is a few Python objects, and a family of a million samples takes long to render in calls that
# hold the interpreter lock (BENCHMARKS.md).
MAX_ITEMS = 100_000
MAX_FIELDS = 1024
# Peers and nameservers are counted in tens; each is a dict of its fields, and freeing a hundred
# thousand of them takes long enough to be felt by a scrape (BENCHMARKS.md).
MAX_FEW = 10_000


def check_count(count: int, limit: int, what: str) -> None:
    """Refuse an answer that lists more than ``limit`` of ``what`` (reason ``too_many_items``)."""
    if count > limit:
        raise ParseError("too_many_items", f"{what}: more than {limit}, more than any HAProxy lists; not read")


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
