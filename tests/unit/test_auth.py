"""Password checks: the fair bounded queue, cancellation, sharing, and what is remembered.

The checks run real bcrypt (cost 4) in the real thread pool; a gate around it holds checks
"running" so that what waits behind them can be looked at.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import threading
import weakref
from typing import Callable, Iterator

import bcrypt
import pytest

from exporter.web.auth import MAX_PASSWORD_BYTES, BasicAuth, Busy, FairQueue, PasswordChecks, bcrypt_matches, parse_basic

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4))


def basic(user: str | bytes, password: str | bytes) -> str:
    raw = (user.encode() if isinstance(user, str) else user) + b":" + \
        (password.encode() if isinstance(password, str) else password)
    return "Basic " + base64.b64encode(raw).decode()


class Gate:
    """bcrypt behind a gate: checks start, then wait until the test opens it."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.ran: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        with self.lock:
            self.ran.append(password)
        assert self.open.wait(20), "gate never opened"
        return bcrypt_matches(password, hashed)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def settle(loop: asyncio.AbstractEventLoop, *futures: asyncio.Future[bool]) -> list[object]:
    """Run the loop until the futures are done; their results (or exceptions)."""
    async def wait() -> list[object]:
        return list(await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 20))
    return loop.run_until_complete(wait())


def verdict(loop: asyncio.AbstractEventLoop, answer: bool | asyncio.Future[bool]) -> object:
    """A verdict given at once, or the one its future gets."""
    return answer if isinstance(answer, bool) else settle(loop, answer)[0]


def spin(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0.01))


def wait_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], bool], limit: int = 1000) -> None:
    """Bounded: at most ``limit`` turns of the loop."""
    for _ in range(limit):
        if predicate():
            return
        spin(loop)
    raise AssertionError("condition not reached")


# -- FairQueue -------------------------------------------------------------------------------

def test_queue_takes_addresses_in_turn() -> None:
    queue: FairQueue[str] = FairQueue(limit=10, per_peer=4)
    for item in ("a1", "a2", "a3", "a4"):
        queue.push("a", item)
    queue.push("b", "b1")
    queue.push("c", "c1")
    queue.push("b", "b2")
    assert [queue.pop() for _ in range(7)] == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]
    assert queue.pop() is None and len(queue) == 0


def test_queue_bounds_each_address_and_the_total() -> None:
    queue: FairQueue[str] = FairQueue(limit=6, per_peer=4)
    for n in range(4):
        queue.push("flood", f"f{n}")
    with pytest.raises(Busy):
        queue.push("flood", "f4")  # its own limit: refused, nothing displaced
    queue.push("b", "b0")
    queue.push("c", "c0")  # full now
    assert queue.push("d", "d0") == "f3"  # the fullest address gives up its newest
    assert queue.push("e", "e0") == "f2"
    assert queue.push("x", "x0") == "f1"  # now every address has one
    with pytest.raises(Busy):
        queue.push("b", "b1")  # b has as many as the fullest: refused
    assert queue.push("y", "y0") == "x0"  # a new address: the newest of the fullest gives way
    assert len(queue) == 6
    assert [queue.pop() for _ in range(7)] == ["f0", "b0", "c0", "d0", "e0", "y0", None]


def test_a_full_queue_takes_from_the_fullest_address_whose_newest_item_is_newest() -> None:
    """Between addresses equally full, the one whose last item came last gives it up: what has
    waited longest is never the one given up."""
    queue: FairQueue[str] = FairQueue(limit=4, per_peer=4)
    for peer, item in (("a", "a1"), ("b", "b1"), ("b", "b2"), ("a", "a2")):
        queue.push(peer, item)
    assert queue.push("c", "c1") == "a2"  # a and b both hold 2; a's newest is the newest
    assert queue.push("d", "d1") == "b2"  # b holds 2 now, a only 1
    assert len(queue) == 4
    assert [queue.pop() for _ in range(5)] == ["a1", "b1", "c1", "d1", None]


def test_an_emptied_address_loses_its_turn() -> None:
    queue: FairQueue[str] = FairQueue(limit=4, per_peer=2)
    queue.push("a", "a1")
    queue.push("b", "b1")
    assert queue.remove("a", "a1")
    queue.push("a", "a2")  # back at the end of the round
    assert [queue.pop() for _ in range(3)] == ["b1", "a2", None]


def test_queue_remove() -> None:
    queue: FairQueue[str] = FairQueue(limit=4, per_peer=4)
    queue.push("a", "x")
    queue.push("a", "y")
    assert queue.remove("a", "x") and not queue.remove("a", "x") and not queue.remove("b", "y")
    assert len(queue) == 1 and queue.pop() == "y"


# -- PasswordChecks --------------------------------------------------------------------------

def test_identical_checks_in_flight_run_once(loop: asyncio.AbstractEventLoop) -> None:
    gate = Gate()
    checks = PasswordChecks(loop, workers=1, check=gate)
    auth = BasicAuth({"prometheus": HASH})
    first = checks.check(auth, basic("prometheus", "s3cret"), "10.0.0.1")
    second = checks.check(auth, basic("prometheus", "s3cret"), "10.0.0.2")  # another client, same credentials
    assert isinstance(first, asyncio.Future) and isinstance(second, asyncio.Future)
    gate.open.set()
    assert settle(loop, first, second) == [True, True]
    assert len(gate.ran) == 1
    assert checks.check(auth, basic("prometheus", "s3cret"), "10.0.0.3") is True  # remembered
    checks.close()


def test_a_cancelled_check_leaves_the_queue_and_never_runs(loop: asyncio.AbstractEventLoop) -> None:
    gate = Gate()
    checks = PasswordChecks(loop, workers=1, check=gate)
    auth = BasicAuth({"prometheus": HASH})
    running = checks.check(auth, basic("prometheus", "wrong0"), "10.0.0.1")
    queued = [checks.check(auth, basic("prometheus", f"wrong{n}"), "10.0.0.1") for n in (1, 2, 3)]
    assert len(checks.queue) == 3 and checks.running == 1
    for future in queued:
        assert isinstance(future, asyncio.Future)
        future.cancel()  # the client closed, or timed out
    spin(loop)
    assert len(checks.queue) == 0
    assert isinstance(running, asyncio.Future)
    running.cancel()  # running: bcrypt cannot be interrupted, its verdict is still remembered
    gate.open.set()
    wait_until(loop, lambda: checks.running == 0)
    assert gate.ran == [b"wrong0"]
    assert checks.check(auth, basic("prometheus", "wrong0"), "10.0.0.1") is False  # remembered
    checks.close()


def test_a_queued_check_holds_no_client(loop: asyncio.AbstractEventLoop) -> None:
    """What waits in the queue is the hash, the password and a digest: a client (a connection
    and its request, here an object with a 15 kB header) that drops its future is freed."""
    gate = Gate()
    checks = PasswordChecks(loop, workers=1, check=gate)
    auth = BasicAuth({"prometheus": HASH})
    checks.check(auth, basic("prometheus", "wrong0"), "10.0.0.1")  # occupies the worker

    class Client:
        def __init__(self) -> None:
            self.header = "x" * 15_000

        def answered(self, _future: asyncio.Future[bool]) -> None:
            pass

    client = Client()
    future = checks.check(auth, basic("prometheus", "wrong1"), "10.0.0.1")
    assert isinstance(future, asyncio.Future)
    future.add_done_callback(client.answered)
    ref = weakref.ref(client)
    del client, future
    gc.collect()
    assert ref() is None and len(checks.queue) == 1  # still queued, holding nobody
    gate.open.set()
    wait_until(loop, lambda: checks.running == 0 and len(checks.queue) == 0)
    assert gate.ran == [b"wrong0"]  # nobody waited for the second: it never ran
    checks.close()


def test_right_passwords_are_not_evicted_by_wrong_ones_and_survive_a_reload(loop: asyncio.AbstractEventLoop) -> None:
    bcrypt_runs = Gate()  # open: it only counts the checks that ran
    bcrypt_runs.open.set()
    checks = PasswordChecks(loop, remembered=4, check=bcrypt_runs)
    auth = BasicAuth({"prometheus": HASH, "grafana": bcrypt.hashpw(b"other", bcrypt.gensalt(4))})
    assert verdict(loop, checks.check(auth, basic("prometheus", "s3cret"), "p")) is True
    for n in range(20):  # five times what is remembered of wrong ones
        assert verdict(loop, checks.check(auth, basic("prometheus", f"guess{n}"), "x")) is False
    started = len(bcrypt_runs.ran)
    assert checks.check(auth, basic("prometheus", "s3cret"), "p") is True
    reloaded = BasicAuth({"prometheus": HASH})  # SIGHUP, same hash for prometheus
    assert checks.check(reloaded, basic("prometheus", "s3cret"), "p") is True
    assert len(bcrypt_runs.ran) == started
    changed = BasicAuth({"prometheus": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4))})  # a new hash: checked again
    pending = checks.check(changed, basic("prometheus", "s3cret"), "p")
    assert isinstance(pending, asyncio.Future) and settle(loop, pending) == [True]
    assert len(bcrypt_runs.ran) == started + 1
    removed = BasicAuth({"grafana": auth.users["grafana"]})  # a user removed: refused, whatever was known
    pending = checks.check(removed, basic("prometheus", "s3cret"), "p")
    assert isinstance(pending, asyncio.Future) and settle(loop, pending) == [False]
    checks.close()


def test_a_flooding_address_neither_starves_nor_displaces_another(loop: asyncio.AbstractEventLoop) -> None:
    gate = Gate()
    checks = PasswordChecks(loop, workers=1, queued=8, per_peer=4, check=gate)
    auth = BasicAuth({"prometheus": HASH})
    flood = []
    for n in range(40):
        try:
            flood.append(checks.check(auth, basic("prometheus", f"flood{n}"), "10.0.0.66"))
        except Busy:
            pass
    assert len(flood) == 5  # one running, four queued; the other 35 refused at once
    right = checks.check(auth, basic("prometheus", "s3cret"), "10.0.0.1")
    assert isinstance(right, asyncio.Future)
    gate.open.set()
    assert settle(loop, right) == [True]
    assert gate.ran.index(b"s3cret") <= 2  # next in turn, not behind the flood's queue
    settle(loop, *flood)  # type: ignore[arg-type]
    checks.close()


def test_a_displaced_check_fails_with_busy(loop: asyncio.AbstractEventLoop) -> None:
    gate = Gate()
    checks = PasswordChecks(loop, workers=1, queued=2, per_peer=4, check=gate)
    auth = BasicAuth({"prometheus": HASH})
    running = checks.check(auth, basic("prometheus", "a0"), "10.0.0.66")
    older = checks.check(auth, basic("prometheus", "a1"), "10.0.0.66")
    newer = checks.check(auth, basic("prometheus", "a2"), "10.0.0.66")
    mine = checks.check(auth, basic("prometheus", "s3cret"), "10.0.0.1")
    assert isinstance(newer, asyncio.Future) and newer.done() and isinstance(newer.exception(), Busy)
    gate.open.set()
    assert settle(loop, running, older, mine) == [False, False, True]  # type: ignore[arg-type]
    checks.close()


def test_long_passwords_count_by_their_first_72_bytes_as_go_bcrypt(loop: asyncio.AbstractEventLoop) -> None:
    password = bytes(range(33, 33 + 90))  # 90 bytes; the hash is of what bcrypt reads: the first 72
    auth = BasicAuth({"long": bcrypt.hashpw(password[:MAX_PASSWORD_BYTES], bcrypt.gensalt(4))})
    checks = PasswordChecks(loop)
    for attempt, expected in ((password, True), (password[:72] + b"anything else", True),
                              (password[:71], False), (b"x" + password[1:], False)):
        assert verdict(loop, checks.check(auth, basic("long", attempt), "p")) is expected, attempt
    checks.close()


def test_parse_basic_takes_bytes_as_go_does() -> None:
    assert parse_basic(basic(b"\xff", b"a:b\x00\xfe")) == (b"\xff", b"a:b\x00\xfe")
    for header in (None, "", "Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + base64.b64encode(b"x").decode()):
        assert parse_basic(header) is None, header


@pytest.mark.parametrize("header,credentials", [
    ("Basic dXNlcjpwYXNz", (b"user", b"pass")),
    ("basic dXNlcjpwYXNz", (b"user", b"pass")),  # the scheme is case-insensitive (RFC 9110 §11.1)
    ("BASIC   dXNlcjpwYXNz  ", (b"user", b"pass")),
    ("Basic Og==", (b"", b"")),  # ":": an empty user and password are still credentials
    ("Basic dXNlcjo=", (b"user", b"")),
    ("Basic OnBhc3M=", (b"", b"pass")),
    ("Basic YTpiOmM=", (b"a", b"b:c")),  # split at the first colon: the password may hold colons
    ("Basic dXNlcjpwYXN", None),  # unpadded (Go's StdEncoding refuses it too)
    ("Basic dXNl cjpwYXNz", None),  # a space inside the token
    ("Basic dXNlcg==", None),  # no colon
    ("Digest dXNlcjpwYXNz", None),
    ("Basicdxnlcjpwyxnz", None),
])
def test_parse_basic(header: str, credentials: tuple[bytes, bytes] | None) -> None:
    assert parse_basic(header) == credentials


def test_unknown_names_are_checked_at_the_costs_of_the_configured_users() -> None:
    """Mixed costs: an unknown name gets one of the configured users' hashes' cost, the same
    for the same name, so how long a check takes does not tell which names exist."""
    users = {"a": bcrypt.hashpw(b"x", bcrypt.gensalt(4)), "b": bcrypt.hashpw(b"x", bcrypt.gensalt(6))}
    auth = BasicAuth(users)
    costs = [auth.target(f"nobody{n}".encode())[0][4:6] for n in range(64)]
    assert set(costs) == {b"04", b"06"}
    assert costs == [auth.target(f"nobody{n}".encode())[0][4:6] for n in range(64)]
    assert auth.target(b"b") == (users["b"], "b")
    assert not bcrypt_matches(b"x", auth.target(b"nobody")[0])  # no password gives the dummy's checksum
