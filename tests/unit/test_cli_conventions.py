"""The Prometheus exporters' conventions on the command line: --help that says what each flag does
and its default, a repeatable --web.listen-address, --log.format, --config.check's effective
config (which reads back as the same config, secrets hidden), /-/ready, and the man page and the
README's table made from the same list as --help."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import bcrypt
import pytest
import yaml
from support import EMPTY_ANSWERS, FakeClock, answering, require

from exporter import flags
from exporter.cli import FLAGS, build_parser, flag_overrides
from exporter.config import Config, build_config
from exporter.docs import FLAGS_BEGIN, FLAGS_END, MAN_PAGE, flags_markdown, man_page
from exporter.effective import config_mapping, effective_yaml
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.validation import ConfigError
from exporter.web.config import SECRET, dump_web_config, load_web_config
from exporter.web.routes import Request, route_table

ROOT = Path(__file__).resolve().parents[2]


def help_text(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "100000")  # argparse wraps at the terminal's width, hyphens too
    return " ".join(build_parser().format_help().split())


# ---------------------------------------------------------------- --help


def test_help_says_what_every_flag_does_and_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    text = help_text(monkeypatch)
    assert not re.search(r"overrides [a-z]+\.[a-z_]+", text)  # what each flag does, not the key it sets
    for flag in flags.FLAGS:
        said = " ".join(flags.plain(flag.help).split())
        default = flags.default_text(flag)
        expected = f"{said} (default: {default})" if default is not None else said
        assert expected in text, flag.name


def test_the_defaults_help_states_are_the_config_classes() -> None:
    """--help and the man page say the defaults the exporter runs with (build_config of nothing)."""
    config = build_config({})
    for flag in flags.FLAGS:
        if flag.key is not None:
            section, name = flag.key.split(".")
            assert flags.default_text(flag) == flags.value_text(flag.key, getattr(getattr(config, section), name))
    assert flags.default_text(flags.BY_NAME["--poll.interval"]) == "5s"
    assert flags.default_text(flags.BY_NAME["--web.idle-timeout"]) == "2m"
    assert flags.default_text(flags.BY_NAME["--web.listen-address"]) == ":9101"
    assert flags.default_text(flags.BY_NAME["--web.config.file"]) == "none"


def test_every_config_key_has_its_flag_and_every_parser_flag_is_documented() -> None:
    documented = {flag.name for flag in flags.FLAGS} | {"-h", "--help"}
    parsed = {option for action in build_parser()._actions for option in action.option_strings}
    assert parsed == documented
    from exporter.config import SCHEMA

    assert set(FLAGS.values()) == set(SCHEMA)


# ---------------------------------------------------------------- flags to config


def parse(*argv: str) -> Config:
    return build_config(None, flag_overrides(build_parser().parse_args(list(argv))))


def test_listen_address_is_repeatable_and_every_one_is_kept_in_order() -> None:
    assert parse().web.listen_address == (":9101",)
    assert parse("--web.listen-address", "127.0.0.1:1").web.listen_address == ("127.0.0.1:1",)
    both = parse("--web.listen-address", "127.0.0.1:1", "--web.listen-address=[::1]:2")
    assert both.web.listen_address == ("127.0.0.1:1", "[::1]:2")
    from_file = build_config({"web": {"listen_address": ["127.0.0.1:1", ":2"]}})
    assert from_file.web.listen_address == ("127.0.0.1:1", ":2")
    assert build_config({"web": {"listen_address": ":3"}}).web.listen_address == (":3",)
    # the flags replace the file's list whole, as a flag replaces any key of the file
    assert build_config({"web": {"listen_address": [":1", ":2"]}}, {"web.listen_address": [":4"]}).web.listen_address == (":4",)


@pytest.mark.parametrize("value,problem", [
    ([], "web.listen_address: expected an address like :9101 or a list of them, got an empty list"),
    ([":1", ":1"], "web.listen_address: :1 is given twice"),
    ([":1", "nonsense"], "web.listen_address: expected [host]:port, got 'nonsense'"),
    ([":1", 5], "web.listen_address: expected a non-empty string, got 5"),
    ({"a": 1}, "web.listen_address: expected a non-empty string"),
    ([f":{n}" for n in range(1, 66)], "web.listen_address: at most 64 addresses, got 65"),
])
def test_a_wrong_listen_address_list_is_one_line_naming_the_key(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_config({"web": {"listen_address": value}})
    assert str(err.value).startswith(problem)


def test_log_format_is_a_key_and_a_flag() -> None:
    assert build_config({}).log.format == "logfmt"
    assert parse("--log.format", "json").log.format == "json"
    assert build_config({"log": {"format": "json"}}).log.format == "json"
    with pytest.raises(ConfigError, match=r"^log.format: expected one of logfmt, json, got 'text'$"):
        parse("--log.format", "text")


# ---------------------------------------------------------------- --config.check


ROUND_TRIPS = {
    "nothing": {},
    "a file's worth": {
        "haproxy": {"address": "ipv4@127.0.0.1:9999", "mode": "worker", "timeout": "1500ms", "connect_timeout": 0.7},
        "poll": {"interval": "2m", "max_age": "1h", "concurrency": 3, "max_series": 10},
        "web": {"listen_address": ["127.0.0.1:9101", "[::1]:9101"], "telemetry_path": "/m", "idle_timeout": 0.0025,
                "config_file": "/etc/web.yml"},
        "log": {"level": "DEBUG", "format": "json"},
        "stick_tables": ["plain", {"name": "fe_main", "filters": ["data.gpt0 gt 0", "data.http_req_rate ge 5"],
                                   "max_entries": 7, "sort_by": "http_req_rate"}],
        "certificates": {"enabled": False, "refresh_interval": "90s", "max_per_poll": 3},
        "ocsp": {"refresh_interval": "1h"},
        "errors": {"enabled": True},
        "logs": {"ring": "logs", "format": "tcplog", "ring_format": "iso", "maxlen": 2048,
                 "buckets": [0.01, 0.1, 1], "servers": True, "max_series": 50},
    },
    "targets": {"haproxy": {"timeout": "10s"},
                "targets": [{"name": "edge1", "address": "/run/a.sock"},
                            {"name": "edge2", "address": "ipv6@[::1]:9999", "mode": "master", "timeout": "1s"}]},
    "syslog over udp": {"logs": {"syslog": {"listen": "udp://10.0.0.1:5514", "allow": ["10.0.0.0/24"],
                                            "format": "rfc3164", "max_datagram": 4096}}},
    "syslog over a unix socket": {"logs": {"syslog": {"listen": "unix:///run/exporter/log.sock"}, "format": "httplog"}},
}


@pytest.mark.parametrize("data", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_the_effective_config_reads_back_as_the_same_config(data: dict) -> None:
    config = build_config(data)
    printed = effective_yaml(config, None)
    assert build_config(yaml.safe_load(printed)) == config
    assert printed.startswith("# the effective config (no config file, the flags over it")


def test_the_effective_config_writes_every_default_and_durations_with_units() -> None:
    mapping = config_mapping(build_config({"poll": {"interval": 0.5}, "logs": None}))
    assert mapping["poll"] == {"interval": "500ms", "max_age": "30s", "concurrency": 8, "max_series": 5_000_000}
    assert mapping["web"]["listen_address"] == ":9101" and mapping["web"]["config_file"] is None
    assert mapping["log"] == {"level": "info", "format": "logfmt"}
    assert "logs" not in mapping  # off
    assert mapping["certificates"] == {"enabled": True, "refresh_interval": "5m", "max_per_poll": 200}
    targets = config_mapping(build_config(ROUND_TRIPS["targets"]))
    assert "address" not in targets["haproxy"]  # it may not be given beside targets
    assert targets["targets"][1] == {"name": "edge2", "address": "ipv6@[::1]:9999", "mode": "master",
                                     "connect_timeout": "2s", "timeout": "1s", "max_response_bytes": 268435456}


def test_the_web_config_is_shown_as_it_applies_with_hashes_hidden(tmp_path: Path) -> None:
    from testkit.tlscerts import make_certs

    certs = make_certs(tmp_path / "certs")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    path = tmp_path / "web.yml"
    path.write_text(certs.web_config(f"  client_ca_file: {certs.ca}\n  min_version: TLS13\n")
                    + f"basic_auth_users:\n  prometheus: '{hashed}'\n  grafana: '{hashed}'\n"
                    + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    web = load_web_config(str(path))
    assert dump_web_config(web) == {
        "tls_server_config": {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key),
                              "client_ca_file": str(certs.ca), "client_auth_type": "RequireAndVerifyClientCert",
                              "min_version": "TLS13"},
        "basic_auth_users": {"prometheus": SECRET, "grafana": SECRET},
        "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
    }
    printed = effective_yaml(build_config({"web": {"config_file": str(path)}}, path="/etc/x.yml"), web)
    assert hashed not in printed and hashed[7:29] not in printed  # neither the hash nor its salt
    first, second = yaml.safe_load_all(printed)
    assert first["web"]["config_file"] == str(path)
    assert second["basic_auth_users"] == {"prometheus": "<secret>", "grafana": "<secret>"}
    assert printed.startswith("# the effective config (config.file /etc/x.yml,")


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


# ---------------------------------------------------------------- generated docs


def test_the_man_page_is_current() -> None:
    assert (ROOT / MAN_PAGE).read_text() == man_page(), f"run: .venv/bin/python -m exporter.docs --man {MAN_PAGE}"


def test_the_readme_flags_table_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    block = text[text.index(FLAGS_BEGIN): text.index(FLAGS_END) + len(FLAGS_END)] + "\n"
    assert block == flags_markdown(), "run: .venv/bin/python -m exporter.docs --write README.md"


def test_the_man_page_names_every_flag_section_and_page() -> None:
    page = man_page()
    for flag in flags.FLAGS:
        assert f"\\fB{flag.name.replace('-', chr(92) + '-')}\\fR" in page, flag.name
    for section in flags.SECTIONS:
        assert f"\\fB{section.key}\\fR" in page
    assert ".SH EXIT STATUS" in page and "/\\-/ready" in page
    assert not re.search(r"^[.'](?!\\\"|TH|SH|SS|TP|B |nh|ad )", page, re.M), "a text line read as a request"


def test_groff_reads_the_man_page_without_a_warning() -> None:
    groff = require(shutil.which("groff"), "groff (Debian package groff-base)")
    result = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(ROOT / MAN_PAGE)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_the_telemetry_path_may_not_take_a_page_of_the_exporter() -> None:
    """Config's list of the exporter's own pages is the route table's: a telemetry path on one of them
    would hide that page (or be hidden by it), so it is refused with one line."""
    from exporter.config import OWN_PATHS

    config = build_config(None, {})
    table = route_table(config, Store(config.poll.max_age), lambda: True)
    assert set(table) - {config.web.telemetry_path} == set(OWN_PATHS)
    for path in OWN_PATHS[1:]:
        with pytest.raises(ConfigError, match=f"web.telemetry_path: {re.escape(path)} is one of the exporter's own"):
            build_config(None, {"web.telemetry_path": path})
