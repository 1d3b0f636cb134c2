"""SIGHUP reload decisions: all or nothing, logged, restart-only keys named."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from exporter.config import build_config, load_config
from exporter.validation import ConfigError
from exporter.reload import Settings, Signals, load_settings, reload_settings


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
    assert "changed: haproxy_address, listen_address" in caplog.text
    assert "web.listen_address changed: it takes effect after a restart" in caplog.text


def test_a_bad_web_config_file_fails_the_whole_load(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: plain\n")
    config = tmp_path / "exporter.yml"
    config.write_text(f"web:\n  config_file: {web}\n")
    with pytest.raises(ConfigError, match="^web.config_file: .*basic_auth_users.bob"):
        load_settings(lambda: load_config(str(config)))


def test_handlers_only_set_flags() -> None:
    signals = Signals()
    previous = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    try:
        signals.install()
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.wake.wait(5) and signals.reload_requested and not signals.stop.is_set()
        signals.wake.clear()
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.wake.wait(5) and signals.stop.is_set()
        assert signals.received == ["SIGHUP", "SIGTERM"]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
