"""SIGHUP reload decisions: all or nothing, logged, restart-only keys named."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from exporter.config import build_config, load_config
from exporter.reload import Settings, Signals, load_settings, reload_settings
from exporter.validation import ConfigError


def test_invalid_reload_is_refused_with_one_error_line(caplog: pytest.LogCaptureFixture) -> None:
    current = Settings(build_config({}), None)

    def load() -> Settings:
        raise ConfigError("poll.interval: must be above zero, got -1")

    with caplog.at_level(logging.INFO, logger="exporter.reload"):
        assert reload_settings(load, current) is None
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "still running with the previous config: poll.interval: must be above zero" in caplog.text


def test_valid_reload_names_changes_and_restart_only_keys(caplog: pytest.LogCaptureFixture) -> None:
    current = Settings(build_config({}), None)
    new = Settings(build_config({"haproxy": {"address": "/other.sock"}, "web": {"listen_address": ":9999"}}), None)
    with caplog.at_level(logging.INFO, logger="exporter.reload"):
        assert reload_settings(lambda: new, current) is new
    assert "changed: haproxy.address, web.listen_address" in caplog.text
    assert "web.listen_address changed: it takes effect after a restart" in caplog.text


def test_a_bad_web_config_file_fails_the_whole_load(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: plain\n")
    config = tmp_path / "exporter.yml"
    config.write_text(f"web:\n  config_file: {web}\n")
    with pytest.raises(ConfigError, match="^web.config_file: .*basic_auth_users.bob"):
        load_settings(lambda: load_config(str(config)))


def test_signals_are_waited_for_not_handled() -> None:
    """Blocked, then taken by sigtimedwait: a burst of SIGHUPs is one reload, a SIGTERM always a stop."""
    signals = Signals()
    previous = {s: signal.getsignal(s) for s in Signals.WATCHED}
    signals.block()
    try:
        assert signals.wait(0.01) is None
        for _ in range(200):  # a storm: the kernel keeps one pending SIGHUP, nothing nests
            os.kill(os.getpid(), signal.SIGHUP)
        assert signals.wait(5) == "reload"
        assert signals.wait(0.01) is None
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.wait(5) == "stop"  # a stop pending with a reload wins
        assert signals.received == ["SIGHUP", "SIGHUP", "SIGTERM"]
        assert {signal.getsignal(s) for s in Signals.WATCHED} == set(previous.values())  # no handler installed
    finally:
        signals.unblock()
