"""--log.format: every record one line, in logfmt (key=value, quoted when it must be) or JSON,
whatever its message holds; read back here by parsers that know nothing of the exporter's."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest

from exporter.logsetup import JsonFormatter, LogfmtFormatter, logfmt_value, setup_logging

PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"=]*)(?: |$)')


def parse_logfmt(line: str) -> dict[str, str]:
    """A strict logfmt reader: the whole line is key=value pairs, a quoted value a JSON string."""
    pairs: dict[str, str] = {}
    at = 0
    while at < len(line):
        match = PAIR.match(line, at)
        assert match is not None, f"not logfmt at {at}: {line[at:at + 40]!r} in {line!r}"
        key, raw = match.groups()
        pairs[key] = json.loads(raw) if raw.startswith('"') else raw
        at = match.end()
    return pairs


def record(msg: str, *args: object, level: int = logging.WARNING, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("exporter.poll", level, __file__, 1, msg, args, exc_info)
    made.created = 1735787045.6789
    return made


HARD = ['plain', 'two words', 'a "quote"', "back\\slash", "new\nline", "tab\there", "equals=sign", "", "é ünïcode",
        "nul\x00bell\x07", "carriage\rreturn", "del\x7f"]


@pytest.mark.parametrize("text", HARD)
def test_a_logfmt_value_reads_back_as_it_was(text: str) -> None:
    line = f"msg={logfmt_value(text)}"
    assert "\n" not in line and "\r" not in line
    assert parse_logfmt(line) == {"msg": text}


def test_bare_values_stay_bare() -> None:
    assert logfmt_value("exporter.poll") == "exporter.poll"
    assert logfmt_value("2025-01-02T03:04:05.678Z") == "2025-01-02T03:04:05.678Z"
    assert logfmt_value("") == '""'


@pytest.mark.parametrize("text", HARD)
def test_a_logfmt_line_has_the_keys_in_order_and_one_line(text: str) -> None:
    line = LogfmtFormatter().format(record("show info failed: %s", text))
    assert "\n" not in line
    assert list(parse_logfmt(line).items()) == [("ts", "2025-01-02T03:04:05.678Z"), ("level", "WARNING"),
                                                ("logger", "exporter.poll"), ("msg", f"show info failed: {text}")]


@pytest.mark.parametrize("text", HARD)
def test_a_json_line_is_one_object(text: str) -> None:
    line = JsonFormatter().format(record("show info failed: %s", text, level=logging.INFO))
    assert "\n" not in line
    assert json.loads(line) == {"ts": "2025-01-02T03:04:05.678Z", "level": "INFO", "logger": "exporter.poll",
                                "msg": f"show info failed: {text}"}


@pytest.mark.parametrize("formatter,parse", [(LogfmtFormatter(), parse_logfmt), (JsonFormatter(), json.loads)],
                         ids=["logfmt", "json"])
def test_a_traceback_is_a_value_of_the_record_s_one_line(formatter: logging.Formatter, parse) -> None:
    line = formatter.format(record("poll cycle of %s failed unexpectedly", "edge1", level=logging.ERROR, exc=True))
    assert "\n" not in line
    fields = parse(line)
    assert fields["msg"] == "poll cycle of edge1 failed unexpectedly"
    assert fields["exc"].startswith("Traceback (most recent call last):\n")
    assert fields["exc"].endswith("ValueError: boom\nsecond line")


def test_setup_installs_one_handler_and_a_reload_switches_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    try:
        setup_logging("info", "logfmt")
        logging.getLogger("exporter").info("first %s", "line")
        logging.getLogger("exporter").debug("not at info")
        setup_logging("debug", "json")  # what SIGHUP does with a reloaded config
        logging.getLogger("exporter").debug("second")
        assert sum(1 for h in root.handlers if isinstance(h, logging.StreamHandler)) == 1
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    first, second = err.getvalue().splitlines()
    assert parse_logfmt(first)["msg"] == "first line"
    assert json.loads(second)["level"] == "DEBUG" and json.loads(second)["msg"] == "second"
