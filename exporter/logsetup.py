"""The exporter's own log lines on stderr: ``--log.format logfmt`` (the default) or ``json``.

Every record is one line whatever its message holds (a value from HAProxy or from the config
file may carry newlines; a traceback has many), with the same keys in both formats::

    ts=2025-01-02T03:04:05.678Z level=WARNING logger=exporter.poll msg="show info failed (timeout): ..."
    {"ts": "2025-01-02T03:04:05.678Z", "level": "WARNING", "logger": "exporter.poll", "msg": "show info failed ..."}

``ts`` is UTC, RFC 3339 with milliseconds; ``level`` is the record's level name, as ``log.level``
names it (DEBUG, INFO, WARNING, ERROR); ``exc`` is added when the record carries a traceback.
logfmt values are quoted when they must be, as go-logfmt (the Prometheus exporters') does: a
value with a space, ``=``, ``"`` or a control character, or an empty one; inside quotes ``\\``,
``"``, newlines, tabs and other control characters are escaped.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

FORMATS = ("logfmt", "json")
_NEEDS_QUOTES = re.compile(r'[\s="\\\x00-\x1f\x7f]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def logfmt_value(text: str) -> str:
    """``text`` as a logfmt value: bare when it can be, else quoted with escapes."""
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


def timestamp(record: logging.LogRecord) -> str:
    seconds = int(record.created)
    millis = min(int((record.created - seconds) * 1000), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def fields(formatter: logging.Formatter, record: logging.LogRecord) -> list[tuple[str, str]]:
    """The record's keys and values, in the order both formats write them."""
    out = [("ts", timestamp(record)), ("level", record.levelname), ("logger", record.name),
           ("msg", record.getMessage())]
    if record.exc_info:
        out.append(("exc", formatter.formatException(record.exc_info)))
    if record.stack_info:
        out.append(("stack", record.stack_info))
    return out


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields(self, record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(dict(fields(self, record)), ensure_ascii=False)


def formatter(name: str) -> logging.Formatter:
    return JsonFormatter() if name == "json" else LogfmtFormatter()


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # (generic only in typeshed)
    """The one handler the exporter installs: found again on a reload, not added twice."""


def setup_logging(level: str, log_format: str = "logfmt") -> None:
    """Log to stderr at ``level`` in ``log_format``; called again on SIGHUP to apply a reload."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Stderr) and h.stream is sys.stderr), None)
    if handler is None:  # the first call, or stderr was replaced since (a test calling main() again)
        for old in list(root.handlers):
            root.removeHandler(old)
        handler = _Stderr(sys.stderr)
        root.addHandler(handler)
    handler.setFormatter(formatter(log_format))
    root.setLevel(getattr(logging, level.upper()))
