"""``show ssl cert`` on captures of 2.6.12, 2.8.25, 3.2.0 and 3.4.0 (tests/fixtures/certificates/capture.py),
and the source's refresh: the list and each certificate once per refresh interval, spread over polls.

The dates are checked against Python's own reading of the captured text (``datetime.strptime`` in
the C locale), not against the parser under test.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from exposition import samples, value
from freezegun import freeze_time
from support import EMPTY_ANSWERS, FakeClock, answering, require

from exporter.config import build_config
from exporter.exposition.render import render
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.errors import ParseError
from exporter.sources.base import Command
from exporter.sources.certificates.model import certificate_families, short_names
from exporter.sources.certificates.parse import parse_cert, parse_cert_list
from exporter.sources.certificates.source import DETAIL, LIST, CertificateSource
from exporter.sources.refresh import Schedule as CertificatesConfig
from exporter.sources.values import ModelStats
from exporter.validation import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]
NAMES = ("quoted", "chain", "many", "listed", "indir")
FILES = {"quoted": "quoted.pem", "chain": "chain.pem", "many": "many.pem", "listed": "listed.pem",
         "indir": "dir/indir.pem"}


def captured(version: str, name: str) -> str:
    return (FIXTURES / version / name).read_text()


def fields(text: str) -> dict[str, str]:
    """The test's own reading of a show ssl cert <file> answer: the first 'Key: value' of each key."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(": ")
        if sep:
            out.setdefault(key, rest.strip())
    return out


def epoch(text: str) -> int:
    return int(datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc).timestamp())


@pytest.mark.parametrize("version", VERSIONS)
def test_the_list_has_every_committed_file_and_not_the_transaction(version: str) -> None:
    text = captured(version, "show-ssl-cert.txt")
    assert "*/etc/haproxy/certs/quoted.pem" in text  # the capture holds an open transaction
    assert parse_cert_list(text) == tuple(sorted(f"/etc/haproxy/certs/{f}" for f in FILES.values()))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_certificate_as_haproxy_describes_it(version: str) -> None:
    certs = [parse_cert(captured(version, f"show-ssl-cert-{name}.txt")) for name in NAMES]
    got = samples(render(certificate_families(certs, ModelStats())))
    for name in NAMES:
        want = fields(captured(version, f"show-ssl-cert-{name}.txt"))
        file = f"/etc/haproxy/certs/{FILES[name]}"
        assert value(got, "haproxy_ssl_certificate_not_after_timestamp_seconds", file=file) == epoch(want["notAfter"])
        assert value(got, "haproxy_ssl_certificate_not_before_timestamp_seconds", file=file) == epoch(want["notBefore"])
        assert value(got, "haproxy_ssl_certificate_used", file=file) == 1
        [info] = [dict(k[1]) for k in got if k[0] == "haproxy_ssl_certificate_info" and dict(k[1])["file"] == file]
        assert (info["serial"], info["subject"], info["issuer"], info["algorithm"], info["sha1"]) == (
            want["Serial"], want["Subject"], want["Issuer"], want["Algorithm"], want["SHA1 FingerPrint"])
    quoted = next(dict(k[1]) for k in got if k[0] == "haproxy_ssl_certificate_info" and "quoted" in dict(k[1])["file"])
    assert quoted["subject"] == '/CN=quoted.example/O=Quote "Q", Inc.'  # read back through the escaping
    chain = next(dict(k[1]) for k in got if k[0] == "haproxy_ssl_certificate_info" and "chain" in dict(k[1])["file"])
    assert chain["issuer"] == "/CN=Test Intermediate"  # the leaf's issuer, not the chain's last line


@pytest.mark.parametrize("version", VERSIONS)
def test_sixty_names_stay_one_short_label(version: str) -> None:
    cert = parse_cert(captured(version, "show-ssl-cert-many.txt"))
    assert len(cert.san) == 60
    got = samples(render(certificate_families([cert], ModelStats())))
    [san] = [dict(k[1])["san"] for k in got if k[0] == "haproxy_ssl_certificate_info"]
    kept, _, more = san.rpartition(",…+")
    assert len(san) <= 256 and kept.split(",") == list(cert.san[: 60 - int(more)])


def test_short_names_fit_exactly() -> None:
    assert short_names(("a", "b")) == "a,b"
    assert short_names(tuple("x" * 10 for _ in range(3)), limit=24) == "xxxxxxxxxx,…+2"
    assert short_names(("x" * 300,)) == "x" * 255 + "…"
    assert short_names(()) == ""


@pytest.mark.parametrize("version", VERSIONS)
def test_a_socket_below_operator_is_permission_denied(version: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_cert_list(captured(version, "user-show-ssl-cert.txt"))
    assert caught.value.reason == "permission_denied"


def test_no_certificates_and_unknown_command() -> None:
    assert parse_cert_list("# filename\n\n") == ()
    with pytest.raises(ParseError) as caught:
        parse_cert_list("Unknown command: 'ssl'\n")
    assert caught.value.reason == "unknown_command"  # a HAProxy built without OpenSSL
    with pytest.raises(ParseError):
        parse_cert("Can't display the certificate: Not found or the certificate is a bundle!\n")


def test_the_page_passes_promtool() -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    certs = [parse_cert(captured("3.4.0", f"show-ssl-cert-{name}.txt")) for name in NAMES]
    done = subprocess.run([promtool, "check", "metrics"], input=render(certificate_families(certs, ModelStats())),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


class FakeSocket:
    """Answers the source's commands from the 3.4.0 captures, recording what was sent."""

    def __init__(self) -> None:
        self.files = [f"/etc/haproxy/certs/{f}" for f in FILES.values()]
        self.sent: list[str] = []
        self.refuse_list = False

    def ask(self, command: Command) -> object:
        self.sent.append(command.text)
        if command.text == LIST.text:
            if self.refuse_list:
                return None
            return tuple(self.files)
        name = next(n for n, f in FILES.items() if command.text.endswith(f))
        assert command.name == DETAIL
        return command.parse(captured("3.4.0", f"show-ssl-cert-{name}.txt"))


def source(**options: object) -> CertificateSource:
    return CertificateSource(CertificatesConfig(**options))  # type: ignore[arg-type]


def test_read_once_per_refresh_spread_over_polls() -> None:
    fake, certs = FakeSocket(), source(refresh_interval=300.0, max_per_poll=2)
    with freeze_time("2026-12-02 10:00:00") as clock:
        answers, ok = certs.read(fake.ask)
        assert ok and fake.sent == [LIST.text, *(f"show ssl cert {f}" for f in fake.files[:2])]
        assert len(answers["items"]) == 2  # what is known so far is served
        for _ in range(2):
            clock.tick(5)
            certs.read(fake.ask)
        assert len(fake.sent) == 1 + 5  # the list once, each certificate once
        fake.sent.clear()
        clock.tick(5)
        answers, ok = certs.read(fake.ask)
        assert ok and fake.sent == [] and len(answers["items"]) == 5  # nothing due: the last answers
        clock.tick(290)  # 300 s after the list: read again, then the certificates as they come due
        fake.files.remove("/etc/haproxy/certs/many.pem")
        answers, _ = certs.read(fake.ask)
        assert fake.sent[0] == LIST.text and len(fake.sent) == 3
        assert "/etc/haproxy/certs/many.pem" not in {c.file for _, c in answers["items"]}


def test_a_refused_list_is_tried_again_after_a_minute_not_every_poll() -> None:
    fake, certs = FakeSocket(), source()
    fake.refuse_list = True
    with freeze_time("2026-12-02 10:00:00") as clock:
        assert certs.read(fake.ask) == ({}, False)
        clock.tick(30)
        certs.read(fake.ask)
        assert fake.sent == [LIST.text]
        clock.tick(31)
        fake.refuse_list = False
        answers, ok = certs.read(fake.ask)
        assert ok and len(answers["items"]) == 5 and len(fake.sent) == 2 + 5


def test_disabled_sends_nothing() -> None:
    fake, certs = FakeSocket(), source(enabled=False)
    assert certs.read(fake.ask) == ({}, True) and fake.sent == [] and certs.needed_level() == "user"


@pytest.mark.parametrize("section, message", [
    ({"max_per_poll": 0}, "certificates.max_per_poll: expected a positive whole number"),
    ({"refresh_interval": "soon"}, "certificates.refresh_interval: expected a duration"),
    ({"enabled": "yes"}, "certificates.enabled: expected true or false"),
    ({"refresh": "5m"}, "certificates.refresh: unknown key"),
    ([], "certificates: expected a mapping"),
])
def test_config_mistakes_name_the_key(section: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"certificates": section})
    assert str(caught.value).startswith(message), caught.value


def test_config_defaults_and_values() -> None:
    assert build_config({}).section("certificates") == CertificatesConfig(True, 300.0, 200)
    assert build_config({"certificates": {"refresh_interval": "1h", "max_per_poll": 50}}).section(
        "certificates") == CertificatesConfig(True, 3600.0, 50)


def test_kept_families_render_what_a_cold_build_renders() -> None:
    """Between refreshes the families are reused; after any change they are rebuilt: either way the
    page is what a source built from nothing renders for the same answers."""
    fake, warm = FakeSocket(), source(refresh_interval=60.0, max_per_poll=2)
    with freeze_time("2026-12-02 10:00:00") as clock:
        for step in range(8):
            if step == 5:
                fake.files.remove("/etc/haproxy/certs/chain.pem")
            answers, _ = warm.read(fake.ask)
            cold = CertificateSource(CertificatesConfig())
            assert render(warm.build(answers, ModelStats())) == render(cold.build(answers, ModelStats())), step
            clock.tick(30)
        assert "chain.pem" not in render(warm.build(answers, ModelStats()))


def test_the_schedule_runs_on_the_clock_the_poller_is_handed() -> None:
    """The poll hands its clock down to the sources: the list is due again when the poller's clock
    says a refresh interval has passed, whatever the system's clocks say (they barely move here)."""
    clock = FakeClock()
    answers = {"show info": captured("2.6.12", "show-info.txt"), "show stat": captured("2.6.12", "show-stat.csv"),
               **EMPTY_ANSWERS}
    sent: list[str] = []

    def fetch(command: str) -> str:
        sent.append(command)
        return answers.get(command, "Unknown command\n")

    config = build_config({"certificates": {"refresh_interval": "1m"}})
    poller = Poller(config, Store(30, clock), connect=answering(fetch), clock=clock)
    for _ in range(4):  # at 0, 30, 60 and 90 s on the poller's clock
        assert poller.poll_once()
        clock.now += 30
    assert sent.count(LIST.text) == 2
