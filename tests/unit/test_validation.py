"""Every mapping of the config and of the web config file is checked by one validator
(exporter/validation.py, Keys): a mistake in any of them reads the same way, the full key and then
what is wrong, the known keys listed for an unknown one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from exporter.config import build_config
from exporter.validation import ConfigError, Keys
from exporter.web.config import load_web_config

# (the config mapping with one unknown key "bogus" in it, where that key is)
UNKNOWN = [
    ({"bogus": 1}, "bogus"),
    ({"haproxy": {"bogus": 1}}, "haproxy.bogus"),
    ({"poll": {"bogus": 1}}, "poll.bogus"),
    ({"web": {"bogus": 1}}, "web.bogus"),
    ({"log": {"bogus": 1}}, "log.bogus"),
    ({"targets": [{"name": "a", "address": "/a.sock", "bogus": 1}]}, "targets[0].bogus"),
    ({"stick_tables": [{"name": "a", "bogus": 1}]}, "stick_tables[0].bogus"),
    ({"certificates": {"bogus": 1}}, "certificates.bogus"),
    ({"ocsp": {"bogus": 1}}, "ocsp.bogus"),
    ({"errors": {"bogus": 1}}, "errors.bogus"),
]
# (a web config file with one unknown key "bogus" in it, where that key is)
UNKNOWN_WEB = [
    ("bogus: 1\n", "bogus"),
    ("tls_server_config:\n  cert_file: a\n  key_file: b\n  bogus: 1\n", "tls_server_config.bogus"),
    ("http_server_config:\n  bogus: 1\n", "http_server_config.bogus"),
]
ONE_LINE = r"(?P<where>[\w\[\].]+): unknown (?:key|section) \(known: (?P<known>[a-z0-9_]+(?:, [a-z0-9_]+)*)\)"


@pytest.mark.parametrize("data, where", UNKNOWN, ids=[w for _, w in UNKNOWN])
def test_an_unknown_key_reads_alike_in_every_section(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data)
    line = re.fullmatch(ONE_LINE, str(caught.value))
    assert line is not None and line["where"] == where, caught.value
    for known in line["known"].split(", "):  # every key the line lists is one the section takes
        _assert_known(data, known)


@pytest.mark.parametrize("text, where", UNKNOWN_WEB, ids=[w for _, w in UNKNOWN_WEB])
def test_an_unknown_key_of_the_web_config_file_reads_alike(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_web_config(str(path))
    prefix = f"web.config_file: {path}: "
    assert str(caught.value).startswith(prefix)
    line = re.fullmatch(ONE_LINE, str(caught.value)[len(prefix):])
    assert line is not None and line["where"] == where, caught.value


def _assert_known(data: dict[str, Any], key: str) -> None:
    """``data`` with its "bogus" key renamed ``key`` is refused for no unknown key (its value, 1,
    may well be wrong for the key: only that the key is known matters here)."""
    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {(key if k == "bogus" else k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value
    try:
        build_config(rename(data))
    except ConfigError as exc:
        assert "unknown" not in str(exc), exc


def test_the_required_keys_and_the_shape() -> None:
    keys = Keys(("name", "address"), required=("address",), shape="a mapping with name and address")
    assert keys.check("targets[0]", {"name": "a", "address": "/a"}) == {"name": "a", "address": "/a"}
    with pytest.raises(ConfigError, match=r"^targets\[0\]\.address: required$"):
        keys.check("targets[0]", {"name": "a"})
    with pytest.raises(ConfigError, match=r"^targets\[0\]\.address: required$"):
        keys.check("targets[0]", {"name": "a", "address": None})
    with pytest.raises(ConfigError, match=r"^targets\[0\]: expected a mapping with name and address, got 'a'$"):
        keys.check("targets[0]", "a")
    with pytest.raises(ConfigError, match=r"^F: \(top level\): expected a mapping, got \[1\]$"):
        Keys(("a",)).check(None, [1], prefix="F: ")
