"""The Prometheus exporters' conventions on the command line: /-/ready."""

from __future__ import annotations

from pathlib import Path

from support import EMPTY_ANSWERS, FakeClock, answering

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.web.routes import Request, route_table

# ---------------------------------------------------------------- /-/ready


UNKNOWN = "Unknown command\n"
FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1], **EMPTY_ANSWERS}


def ready(poller: Poller, store: Store) -> tuple[int, list[tuple[str, str]], bytes]:
    table = route_table(poller.config, store, lambda: True, poller.waiting)
    response = table["/-/ready"](Request("GET", "/-/ready", "", {}))
    return response.status, response.headers, b"".join(bytes(chunk) for chunk in response.body)


def test_ready_once_the_first_poll_completed_even_a_failed_one() -> None:
    config = build_config({})
    clock = FakeClock()
    store = Store(config.poll.max_age, clock)
    poller = Poller(config, store, connect=answering(lambda command: ANSWERS.get(command, UNKNOWN)), clock=clock)
    status, headers, body = ready(poller, store)
    assert (status, body) == (503, b"the first poll of HAProxy has not completed yet\n")
    assert ("Retry-After", "1") in headers
    assert poller.poll_once()
    assert ready(poller, store)[::2] == (200, b"OK\n")

    failing = Poller(config, store, connect=answering(lambda command: "Permission denied.\n"), clock=clock)
    assert not failing.poll_once()
    assert ready(failing, store)[0] == 200  # a HAProxy that is down is no reason to hold scrapes back


def test_ready_names_the_targets_still_waiting_and_waits_for_one_a_reload_adds() -> None:
    two = [{"name": "a", "address": "/a.sock"}, {"name": "b", "address": "/b.sock"}]
    config = build_config({"targets": two})
    clock = FakeClock()
    store = Store(config.poll.max_age, clock)
    poller = Poller(config, store, connect=answering(lambda command: ANSWERS.get(command, UNKNOWN)), clock=clock)
    assert ready(poller, store)[2] == b"2 of 2 targets have not completed a poll yet: a, b\n"
    poller.targets["a"].poll_once()
    assert ready(poller, store)[2] == b"1 of 2 targets have not completed a poll yet: b\n"
    poller.targets["b"].poll_once()
    assert ready(poller, store)[0] == 200
    many = [{"name": f"t{n:02d}", "address": f"/{n}.sock"} for n in range(12)]
    poller.reconfigure(build_config({"targets": [*two, *many]}))
    assert ready(poller, store)[2] == (b"12 of 14 targets have not completed a poll yet: t00, t01, t02, t03, t04, "
                                       b"t05, t06, t07, t08, t09 and 2 more\n")
