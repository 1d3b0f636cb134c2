"""The poll cycle on captured real answers (fetch injected), without sockets."""

from __future__ import annotations

import logging

from exposition import samples, value
from support import EMPTY_ANSWERS, FakeClock, answering

from exporter.config import Config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store


def captured(fixtures, version="2.6.12"):
    answers = {
        "show info": (fixtures / version / "show-info.txt").read_text(),
        "show stat": (fixtures / version / "show-stat.csv").read_text(),
        **EMPTY_ANSWERS,
    }
    return lambda command: answers[command] if command in answers else ""


def served(store):
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_a_good_poll_publishes_data_and_status(fixtures):
    store = Store(30)
    poller = Poller(Config(), store, connect=answering(captured(fixtures)))
    assert poller.poll_once()
    got = served(store)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_command_success", command="show stat") == 1
    assert value(got, "haproxy_exporter_polls_total", result="success") == 1
    haproxy_series = [k for k in got if k[0].startswith("haproxy_")
                      and not k[0].startswith(("haproxy_exporter_", "haproxy_up"))]
    assert value(got, "haproxy_exporter_snapshot_samples") == len(haproxy_series)
    assert value(got, "haproxy_backend_status", proxy="be_a", state="DOWN") == 1


def test_a_bad_answer_keeps_the_previous_snapshot_and_counts(fixtures, caplog):
    store = Store(30)
    answers = {"show info": (fixtures / "2.6.12" / "show-info.txt").read_text(),
               "show stat": (fixtures / "2.6.12" / "show-stat.csv").read_text()}
    poller = Poller(Config(), store, connect=answering(lambda c: answers.get(c, "")))
    assert poller.poll_once()
    first = store.published.page
    answers["show stat"] = "Permission denied\n"
    with caplog.at_level(logging.WARNING):
        assert not poller.poll_once()
        assert not poller.poll_once()
    assert store.published.page is first  # nothing half-done replaced it
    got = served(store)
    assert value(got, "haproxy_up") == 0
    assert value(got, "haproxy_exporter_command_errors_total", command="show stat", reason="permission_denied") == 2
    assert value(got, "haproxy_server_status", proxy="be_a", server="a3", state="MAINT") == 1
    # one log line per change of reason, not one per poll
    assert len([r for r in caplog.records if "show stat" in r.getMessage()]) == 1


def test_newer_version_capture(fixtures):
    store = Store(30)
    assert Poller(Config(), store, connect=answering(captured(fixtures, "3.3.0"))).poll_once()
    got = served(store)
    assert value(got, "haproxy_frontend_res_bytes_out_total", proxy="fe_main") is not None
    assert value(got, "haproxy_process_patterns_added_total") is not None


def test_reconfigure_forgets_commands_of_removed_tables(fixtures):
    from exporter.config import build_config

    answers = {
        "show info": (fixtures / "2.6.12" / "show-info.txt").read_text(),
        "show stat": (fixtures / "2.6.12" / "show-stat.csv").read_text(),
        "show table": (fixtures / "2.6.12" / "show-table.txt").read_text(),
        "show table fe_main": (fixtures / "2.6.12" / "show-table-fe_main.txt").read_text(),
    }
    store = Store(30)
    poller = Poller(build_config({"stick_tables": [{"name": "fe_main"}]}), store, connect=answering(lambda c: answers[c]))
    assert poller.poll_once()
    assert value(served(store), "haproxy_exporter_command_success", command="show table fe_main") == 1
    poller.reconfigure(build_config({}))
    assert poller.poll_once()
    got = served(store)
    assert value(got, "haproxy_exporter_command_success", command="show table fe_main") is None
    assert value(got, "haproxy_exporter_command_success", command="show table") == 1


def test_the_poller_publishes_in_the_store_as_the_edge_built_it(fixtures):
    """The edge (cli.new_store) gives the store its clock and its live part; the poller, handed
    another clock, publishes in it and rewires nothing (it used to set both)."""
    store = Store(30)
    built = dict(vars(store))
    poller = Poller(Config(), store, connect=answering(captured(fixtures)), clock=FakeClock())
    assert poller.poll_once()
    assert {name: vars(store)[name] for name in ("clock", "live", "max_age")} == \
        {name: built[name] for name in ("clock", "live", "max_age")}
