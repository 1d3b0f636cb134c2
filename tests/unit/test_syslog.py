"""The syslog receiver (exporter/sources/logs/syslog.py) on real loopback sockets: what it feeds, what
it counts, and its config's mistakes, one line each.

The oracle of every count is what the test sent: a datagram sent on the loopback is either queued
for the receiver or dropped by the kernel, so received + dropped is exactly what was sent.  A
receiver is made to stop reading by a ``feed`` that waits on an event: the datagrams sent meanwhile
pile up in the kernel, and the next drain takes them all at once.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from support import wait_for

from exporter.sources.logs import syslog
from exporter.sources.logs.syslog import SyslogConfig, SyslogReceiver, parse_syslog_config
from exporter.validation import ConfigError

# ------------------------------------------------------------------ config


def test_no_value_or_an_empty_mapping_is_every_default() -> None:
    assert parse_syslog_config(None) == parse_syslog_config({}) == SyslogConfig(
        listen="udp://127.0.0.1:5514", format="rfc5424", allow=("127.0.0.1/32", "::1/128"), max_datagram=8192,
        receive_buffer=4 << 20)


def test_a_full_config_is_read_as_written() -> None:
    got = parse_syslog_config({"listen": "udp://[::1]:6514", "format": "rfc3164", "allow": ["::1", "127.0.0.0/8"],
                               "max_datagram": 2048, "receive_buffer": 65536})
    assert got == SyslogConfig("udp://[::1]:6514", "rfc3164", ("::1/128", "127.0.0.0/8"), 2048, 65536)
    assert parse_syslog_config({"listen": "unix:///run/x/log.sock"}).listen == "unix:///run/x/log.sock"
    # Not loopback, but the senders are written out
    assert parse_syslog_config({"listen": "udp://0.0.0.0:514", "allow": ["10.0.0.0/24"]}).allow == ("10.0.0.0/24",)


@pytest.mark.parametrize("value, message", [
    ("udp://x", "logs.syslog: expected a mapping like {listen: udp://127.0.0.1:5514, format: rfc5424}"),
    ({"port": 5514}, "logs.syslog.port: unknown key (known: listen, format, allow, max_datagram, receive_buffer)"),
    ({"listen": 5514}, "logs.syslog.listen: expected udp://HOST:PORT or unix:///PATH, got 5514"),
    ({"listen": "tcp://127.0.0.1:5514"}, "logs.syslog.listen: expected udp://HOST:PORT, udp://[IPV6]:PORT or "
                                         "unix:///PATH, got 'tcp://127.0.0.1:5514'"),
    ({"listen": "127.0.0.1:5514"}, "logs.syslog.listen: expected udp://HOST:PORT"),
    ({"listen": "udp://localhost:5514"}, "logs.syslog.listen: expected an IP address (names are not resolved), "
                                         "got 'udp://localhost:5514'"),
    ({"listen": "udp://127.0.0.1:0"}, "logs.syslog.listen: expected a port from 1 to 65535"),
    ({"listen": "udp://127.0.0.1:65536"}, "logs.syslog.listen: expected a port from 1 to 65535"),
    ({"listen": "udp://127.0.0.1"}, "logs.syslog.listen: expected udp://HOST:PORT"),
    ({"listen": "udp://::1:5514"}, "logs.syslog.listen: expected udp://HOST:PORT (an IPv6 address in brackets)"),
    ({"listen": "udp://[::1]5514"}, "logs.syslog.listen: expected udp://[IPV6]:PORT"),
    ({"listen": "unix://log.sock"}, "logs.syslog.listen: expected an absolute path after unix://"),
    ({"listen": "unix:///" + "x" * 110}, "logs.syslog.listen: a UNIX socket's path has at most 106 bytes here"),
    ({"listen": "unix:///run/"}, "logs.syslog.listen: expected the path of the socket file, not a directory"),
    ({"listen": "udp://0.0.0.0:5514"}, "logs.syslog.listen: udp://0.0.0.0:5514 is not a loopback address, where "
                                       "anyone who reaches the port could send log lines: give logs.syslog.allow"),
    ({"listen": "udp://[::]:5514"}, "logs.syslog.listen: udp://[::]:5514 is not a loopback address"),
    ({"format": "local"}, "logs.syslog.format: expected the format of HAProxy's log line, rfc5424 or rfc3164 "
                          "(write it on the log line: HAProxy's default, local, is not read), got 'local'"),
    ({"format": ["rfc5424"]}, "logs.syslog.format: expected the format of HAProxy's log line"),
    ({"allow": "127.0.0.1"}, "logs.syslog.allow: expected a list of addresses or networks"),
    ({"allow": []}, "logs.syslog.allow: expected a list of addresses or networks"),
    ({"allow": ["127.0.0.1", 10]}, "logs.syslog.allow[1]: expected an address or a network like 10.0.0.0/24, got 10"),
    ({"allow": ["10.0.0.1/24"]}, "logs.syslog.allow[0]: 10.0.0.1/24 has host bits set"),
    ({"allow": ["nowhere"]}, "logs.syslog.allow[0]: 'nowhere' does not appear to be an IPv4 or IPv6 network"),
    ({"allow": ["127.0.0.1"], "listen": "unix:///run/log.sock"}, "logs.syslog.allow: only for a UDP listen address"),
    ({"max_datagram": 79}, "logs.syslog.max_datagram: must be at least 80, got 79"),
    ({"max_datagram": 65536}, "logs.syslog.max_datagram: must be at most 65,535, got 65536"),
    ({"max_datagram": "8k"}, "logs.syslog.max_datagram: expected a positive whole number, got '8k'"),
    ({"receive_buffer": True}, "logs.syslog.receive_buffer: expected a positive whole number, got True"),
    ({"receive_buffer": 1024}, "logs.syslog.receive_buffer: must be at least 4,096, got 1024"),
    ({"receive_buffer": 1 << 31}, "logs.syslog.receive_buffer: must be at most 1,073,741,824"),
])
def test_each_mistake_is_one_line_naming_its_key(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_syslog_config(value)
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text


# ------------------------------------------------------------------ receiving


class Fed:
    """A feed that keeps each block, and can be made to wait (the receiver then reads nothing)."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.go_on.set()

    def __call__(self, text: str) -> None:
        self.blocks.append(text)
        self.entered.set()
        self.go_on.wait(10)

    def hold(self) -> None:
        self.entered.clear()
        self.go_on.clear()

    @property
    def lines(self) -> list[str]:
        return [line for block in self.blocks for line in block.split("\n")[:-1]]


def udp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def receivers() -> Iterator[list[SyslogReceiver]]:
    made: list[SyslogReceiver] = []
    yield made
    for receiver in made:
        receiver.close()


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        yield sock


def receiving(receivers: list[SyslogReceiver], fed: Fed, listen: str | None = None, **config: Any) -> SyslogReceiver:
    receiver = SyslogReceiver(SyslogConfig(listen=listen or f"udp://127.0.0.1:{udp_port()}", **config), fed,
                              pauses=(0.05,))
    receivers.append(receiver)
    receiver.start()
    wait_for(lambda: receiver.up, 5, "the receiver did not bind")
    return receiver


def to(receiver: SyslogReceiver) -> Any:
    return receiver.listen.target


def test_each_datagram_is_one_line_without_its_end(receivers, sender) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed)
    for datagram in (b"<134>1 plain\n", b"crlf\r\n", b"nul\x00", b"none", b"two\nlines\n", b"\n", b"caf\xc3\xa9\n",
                     b"bad \xff utf-8\n"):
        sender.sendto(datagram, to(receiver))
    wait_for(lambda: receiver.datagrams == 8 and len(fed.lines) == 7, 5, "not every datagram was fed")
    assert fed.lines == ["<134>1 plain", "crlf", "nul", "none", "two lines", "café", "bad \ufffd utf-8"]
    assert all(block.endswith("\n") for block in fed.blocks)
    assert (receiver.truncated, receiver.refused, receiver.kernel_drops) == (0, 0, 0)
    assert not receiver.failures


def test_a_sender_outside_allow_is_counted_and_not_fed(receivers, caplog) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed)  # allow: the default, 127.0.0.1/32 and ::1/128
    try:
        outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        outsider.bind(("127.0.0.2", 0))  # Linux's loopback answers for all of 127/8
    except OSError:  # pragma: no cover - a loopback of 127.0.0.1 only
        pytest.skip("cannot send from 127.0.0.2 here")
    with outsider, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as insider:
        for n in range(3):
            outsider.sendto(b"from outside %d\n" % n, to(receiver))
            insider.sendto(b"from inside %d\n" % n, to(receiver))
        wait_for(lambda: receiver.datagrams == 6, 5, "not every datagram arrived")
    assert fed.lines == ["from inside 0", "from inside 1", "from inside 2"]
    assert receiver.refused == 3
    said = [r.getMessage() for r in caplog.records if "not in logs.syslog.allow" in r.getMessage()]
    assert len(said) == 1 and "127.0.0.2" in said[0]


def test_an_allow_list_without_the_sender_refuses_it(receivers, sender) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed, allow=("127.0.0.2/32", "10.0.0.0/8", "::1/128"))
    sender.sendto(b"refused\n", to(receiver))
    wait_for(lambda: receiver.datagrams == 1, 5, "the datagram did not arrive")
    assert (receiver.refused, fed.blocks) == (1, [])


def test_a_datagram_longer_than_max_datagram_is_counted_as_truncated_and_not_fed(receivers, sender, caplog) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed, max_datagram=100)
    sender.sendto(b"x" * 99 + b"\n", to(receiver))  # exactly max_datagram: whole
    sender.sendto(b"y" * 101, to(receiver))
    sender.sendto(b"z" * 5000 + b"\n", to(receiver))
    sender.sendto(b"after\n", to(receiver))
    wait_for(lambda: receiver.datagrams == 4, 5, "not every datagram arrived")
    wait_for(lambda: len(fed.lines) == 2, 5, "the whole ones were not fed")
    assert fed.lines == ["x" * 99, "after"]
    assert receiver.truncated == 2
    assert len([r for r in caplog.records if "cut by the kernel" in r.getMessage()]) == 1


def test_what_queued_while_the_feed_was_busy_comes_in_one_block(receivers, sender) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed)
    fed.hold()
    sender.sendto(b"first\n", to(receiver))
    assert fed.entered.wait(5)
    for n in range(300):
        sender.sendto(b"line %d\n" % n, to(receiver))
    fed.go_on.set()
    wait_for(lambda: len(fed.lines) == 301, 5, "not every line was fed")
    assert [block.count("\n") for block in fed.blocks] == [1, 300]
    assert fed.lines == ["first"] + [f"line {n}" for n in range(300)]


def test_a_block_holds_at_most_a_batch_of_datagrams_and_of_bytes(receivers, sender, monkeypatch) -> None:
    monkeypatch.setattr(syslog, "BATCH_DATAGRAMS", 50)
    monkeypatch.setattr(syslog, "BATCH_BYTES", 1000)
    fed = Fed()
    receiver = receiving(receivers, fed)
    fed.hold()
    sender.sendto(b"first\n", to(receiver))
    assert fed.entered.wait(5)
    for n in range(120):
        sender.sendto(b"%03d\n" % n, to(receiver))  # 3 bytes a line
    for n in range(25):
        sender.sendto(b"%099d\n" % n, to(receiver))  # 99 bytes a line
    fed.go_on.set()
    wait_for(lambda: len(fed.lines) == 146, 5, "not every line was fed")
    assert [block.count("\n") for block in fed.blocks] == [1, 50, 50, 30, 11, 4]  # a block ends once it holds 1000 bytes or more
    assert fed.lines[1:] == [f"{n:03d}" for n in range(120)] + [f"{n:099d}" for n in range(25)]


def test_what_the_kernel_drops_while_the_receiver_is_not_reading_is_counted(receivers, sender) -> None:
    fed = Fed()
    receiver = receiving(receivers, fed, receive_buffer=4096)  # the least: a few datagrams
    fed.hold()
    sender.sendto(b"first\n", to(receiver))
    assert fed.entered.wait(5)
    sent = 1
    for n in range(200):  # far more than the buffer holds
        sender.sendto(b"%0500d\n" % n, to(receiver))
        sent += 1
    fed.go_on.set()
    wait_for(lambda: receiver.datagrams + receiver.kernel_drops == sent, 5,
             f"received and dropped do not add up to {sent}")
    assert 0 < receiver.kernel_drops < 200, receiver.kernel_drops
    assert len(fed.lines) == receiver.datagrams
    # One more after the drops: it carries the kernel's count (SO_RXQ_OVFL), which is not counted twice
    sender.sendto(b"later\n", to(receiver))
    sent += 1
    wait_for(lambda: fed.lines[-1:] == ["later"], 5, "the last datagram was not fed")
    assert receiver.datagrams + receiver.kernel_drops == sent


def test_a_feed_that_raises_is_counted_once_in_the_log_and_the_receiver_goes_on(receivers, sender, caplog) -> None:
    kept: list[str] = []

    def feed(text: str) -> None:
        if "bad" in text:
            raise RuntimeError("a bug")
        kept.append(text)

    receiver = SyslogReceiver(SyslogConfig(listen=f"udp://127.0.0.1:{udp_port()}"), feed)
    receivers.append(receiver)
    receiver.start()
    wait_for(lambda: receiver.up, 5, "the receiver did not bind")
    for n in (1, 2):  # each in a block of its own
        sender.sendto(b"bad %d\n" % n, to(receiver))
        wait_for(lambda n=n: receiver.failures["internal_error"] == n, 5, "the feed's failure was not counted")
    sender.sendto(b"good\n", to(receiver))
    wait_for(lambda: kept == ["good\n"], 5, "the receiver stopped after the feed raised")
    assert receiver.failures["internal_error"] == 2
    assert len([r for r in caplog.records if "counting a block of log lines failed" in r.getMessage()]) == 1
    assert receiver.up


def test_ipv6_loopback(receivers) -> None:
    try:
        port = udp_port("::1")
    except OSError:  # pragma: no cover - no IPv6 loopback
        pytest.skip("no ::1 here")
    fed = Fed()
    receiver = receiving(receivers, fed, listen=f"udp://[::1]:{port}")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as six:
        six.sendto(b"over six\n", ("::1", port))
    wait_for(lambda: fed.lines == ["over six"], 5, "the IPv6 datagram was not fed")
    assert receiver.refused == 0


# ------------------------------------------------------------------ binding, closing


def test_close_is_prompt_and_ends_the_thread(receivers) -> None:
    receiver = receiving(receivers, Fed())
    thread = receiver._thread
    assert thread is not None and thread.is_alive()
    started = time.monotonic()
    receiver.close()
    assert time.monotonic() - started < 0.5
    assert not thread.is_alive() and not receiver.up
    receiver.close()  # twice: nothing more
    # The port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(tuple(receiver.listen.target))


def test_a_bind_failure_is_counted_said_once_and_tried_again_until_it_binds(receivers, caplog) -> None:
    port = udp_port()
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))
    fed = Fed()
    receiver = SyslogReceiver(SyslogConfig(listen=f"udp://127.0.0.1:{port}"), fed, pauses=(0.02, 0.05))
    receivers.append(receiver)
    with caplog.at_level(logging.INFO, logger="exporter.logs"):
        receiver.start()  # never raises
        wait_for(lambda: receiver.failures["bind"] >= 4, 5, "the bind was not tried again")
        assert not receiver.up
        holder.close()
        wait_for(lambda: receiver.up, 5, "the receiver did not bind once the port was free")
    said = [r.getMessage() for r in caplog.records if "cannot listen" in r.getMessage()]
    assert len(said) == 1 and "Address already in use" in said[0], said
    assert any("listening on" in r.getMessage() and "again" in r.getMessage() for r in caplog.records)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"now\n", ("127.0.0.1", port))
    wait_for(lambda: fed.lines == ["now"], 5, "nothing fed after the bind")


def test_close_during_the_pauses_between_binds_is_prompt(receivers) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        receiver = SyslogReceiver(SyslogConfig(listen=f"udp://127.0.0.1:{holder.getsockname()[1]}"), Fed(),
                                  pauses=(30.0,))
        receiver.start()
        wait_for(lambda: receiver.failures["bind"] == 1, 5, "no bind attempt")
        started = time.monotonic()
        receiver.close()
        assert time.monotonic() - started < 0.5


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    base = Path(f"/tmp/hrx-syslog-{os.getpid()}")
    base.mkdir()
    yield base
    for path in base.iterdir():
        path.unlink()
    base.rmdir()


def test_a_unix_socket_is_made_mode_0660_fed_and_removed_on_close(receivers, sock_dir: Path) -> None:
    path = sock_dir / "log.sock"
    fed = Fed()
    receiver = receiving(receivers, fed, listen=f"unix://{path}", max_datagram=100)
    found = path.lstat()
    assert stat.S_ISSOCK(found.st_mode) and stat.S_IMODE(found.st_mode) == 0o660
    assert sorted(p.name for p in sock_dir.iterdir()) == ["log.sock"]  # no temporary name left
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"<134>over unix\n", str(path))
        sender.sendto(b"u" * 101, str(path))
        sender.sendto(b"after\n", str(path))
    wait_for(lambda: receiver.datagrams == 3, 5, "not every datagram arrived")
    wait_for(lambda: len(fed.lines) == 2, 5, "not fed")
    assert fed.lines == ["<134>over unix", "after"]
    assert (receiver.truncated, receiver.refused, receiver.kernel_drops) == (1, 0, 0)
    started = time.monotonic()
    receiver.close()
    assert time.monotonic() - started < 0.5
    assert not path.exists()


def test_a_stale_unix_socket_is_replaced_and_anything_else_left_alone(receivers, sock_dir: Path) -> None:
    stale = sock_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dead:
        dead.bind(str(stale))  # closed: a socket file nobody receives on
    receiver = receiving(receivers, Fed(), listen=f"unix://{stale}")
    assert receiver.failures["bind"] == 0
    # A second receiver on the same path: the first one receives there, so it is not taken
    second = SyslogReceiver(SyslogConfig(listen=f"unix://{stale}"), Fed(), pauses=(0.05,))
    receivers.append(second)
    second.start()
    wait_for(lambda: second.failures["bind"] >= 2, 5, "the second receiver did not fail")
    second.close()
    assert stale.exists()  # the first one's file, not the second's to remove
    receiver.close()
    assert not stale.exists()
    # A regular file at the path is nobody's socket: not removed, the bind fails
    plain = sock_dir / "plain"
    plain.write_text("keep me")
    third = SyslogReceiver(SyslogConfig(listen=f"unix://{plain}"), Fed(), pauses=(0.05,))
    receivers.append(third)
    third.start()
    wait_for(lambda: third.failures["bind"] >= 1, 5, "no bind attempt")
    third.close()
    assert plain.read_text() == "keep me"


def test_a_unix_socket_file_replaced_by_another_is_not_removed(receivers, sock_dir: Path) -> None:
    path = sock_dir / "log.sock"
    receiver = receiving(receivers, Fed(), listen=f"unix://{path}")
    path.unlink()
    path.write_text("someone else's")
    receiver.close()
    assert path.read_text() == "someone else's"


def test_a_missing_directory_is_a_bind_failure(receivers, sock_dir: Path) -> None:
    receiver = SyslogReceiver(SyslogConfig(listen=f"unix://{sock_dir}/nowhere/log.sock"), Fed(), pauses=(0.05,))
    receivers.append(receiver)
    receiver.start()
    wait_for(lambda: receiver.failures["bind"] >= 2, 5, "the bind was not tried again")
    assert not receiver.up


def test_a_full_unix_queue_is_the_senders_loss_not_the_kernels(receivers, sock_dir: Path) -> None:
    """A UNIX datagram socket's queue holds net.unix.max_dgram_qlen + 1 datagrams, whatever SO_RCVBUF
    says; beyond, the sender's non-blocking send fails (HAProxy counts it in DroppedLogs) and the
    receiving side has nothing to count."""
    path = sock_dir / "log.sock"
    fed = Fed()
    receiver = receiving(receivers, fed, listen=f"unix://{path}")
    fed.hold()
    attempts, refused = 50, 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"first\n", str(path))
        assert fed.entered.wait(5)
        for n in range(attempts):
            try:
                sender.sendto(b"line %d\n" % n, socket.MSG_DONTWAIT, str(path))  # as HAProxy sends
            except BlockingIOError:
                refused += 1
    fed.go_on.set()
    accepted = attempts - refused
    wait_for(lambda: len(fed.lines) == 1 + accepted, 5, "the queued datagrams were not fed")
    assert receiver.datagrams == 1 + accepted and receiver.kernel_drops == 0
    queue = syslog._unix_queue()
    if queue is not None:
        assert accepted == min(attempts, queue + 1)


def test_a_failing_socket_is_counted_closed_and_bound_again(receivers, sender, monkeypatch) -> None:
    real = SyslogReceiver._drain
    failed: list[bool] = []

    def drain(self: SyslogReceiver, sock: socket.socket) -> str:
        if not failed:
            failed.append(True)
            raise OSError(12, "Cannot allocate memory")
        return real(self, sock)

    monkeypatch.setattr(SyslogReceiver, "_drain", drain)
    fed = Fed()
    receiver = receiving(receivers, fed)
    sender.sendto(b"lost with the socket\n", to(receiver))
    wait_for(lambda: receiver.failures["io"] == 1, 5, "the failure was not counted")
    wait_for(lambda: receiver.up, 5, "the receiver did not bind again")
    sender.sendto(b"after\n", to(receiver))
    wait_for(lambda: fed.lines == ["after"], 5, "nothing fed after the socket was made again")
