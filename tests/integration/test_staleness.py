"""A failed poll publishes nothing half-done; old HAProxy series stop being served after max_age."""

from __future__ import annotations

from exposition import samples, value
from freezegun import freeze_time
from support import ADMIN_HTTP_HEAD

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = ADMIN_HTTP_HEAD + """
frontend fe
    bind 127.0.0.1:{p0}
    http-request return status 200
"""


def served(store: Store) -> dict:
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_last_good_snapshot_until_max_age_then_nothing(haproxy_factory):
    hap = haproxy_factory(CFG, nports=1)
    store = Store(max_age=30)
    poller = Poller(build_config({"haproxy": {"address": hap.admin}, "poll": {"interval": 5, "max_age": 30}}),
                    store)
    with freeze_time("2026-11-21 10:00:00") as clock:
        assert poller.poll_once()
        got = served(store)
        assert value(got, "haproxy_up") == 1
        assert value(got, "haproxy_frontend_status", proxy="fe", state="UP") == 1
        assert value(got, "haproxy_exporter_last_successful_poll_timestamp_seconds") == 1795255200

        hap.stop()
        clock.tick(10)
        assert not poller.poll_once()
        got = served(store)
        # HAProxy is gone: up says so at once, the last complete snapshot is still served
        assert value(got, "haproxy_up") == 0
        assert value(got, "haproxy_frontend_status", proxy="fe", state="UP") == 1
        errors = {dict(labels)["reason"]: v for (name, labels), v in got.items()
                  if name == "haproxy_exporter_command_errors_total" and dict(labels)["command"] == "show info"}
        assert errors in ({"refused": 1}, {"no_socket": 1})  # the socket file may outlive HAProxy
        assert value(got, "haproxy_exporter_snapshot_stale") == 0

        clock.tick(21)  # 31 s after the last good poll, past max_age
        got = served(store)
        assert not any(name.startswith(("haproxy_frontend", "haproxy_process")) for name, _ in got)
        assert value(got, "haproxy_up") == 0
        assert value(got, "haproxy_exporter_snapshot_stale") == 1

        hap.start()
        clock.tick(5)
        assert poller.poll_once()
        got = served(store)
        assert value(got, "haproxy_up") == 1
        assert value(got, "haproxy_frontend_status", proxy="fe", state="UP") == 1
        assert value(got, "haproxy_exporter_polls_total", result="failure") == 1
        assert value(got, "haproxy_exporter_polls_total", result="success") == 2


def test_stale_even_when_the_poll_loop_itself_stalls(haproxy_factory):
    """If no poll runs at all (loop stuck), the served data still ages out and up reads 0."""
    hap = haproxy_factory(CFG, nports=1)
    store = Store(max_age=30)
    poller = Poller(build_config({"haproxy": {"address": hap.admin}}), store)
    with freeze_time("2026-11-21 10:00:00") as clock:
        assert poller.poll_once()
        clock.tick(31)
        got = served(store)
        assert value(got, "haproxy_up") == 0
        assert value(got, "haproxy_exporter_snapshot_stale") == 1
        assert not any(name.startswith("haproxy_frontend") for name, _ in got)
