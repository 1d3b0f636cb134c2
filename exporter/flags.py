"""Every command-line flag and config file section, said once: what it does, its value and its default.

``--help`` (exporter/cli.py), the man page and the README's configuration table
(exporter/docs.py) are all made from these lists, so they cannot say different things; a flag
that sets a config key takes its default from the config classes (exporter/config.py), where the
exporter takes it from too.  Help texts are plain sentences; a part in backticks is code (shown
as code in the README and in bold in the man page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.config import CHECKS, Config
from exporter.runtime.address import Address
from exporter.validation import format_duration, parse_duration


@dataclass(frozen=True)
class Flag:
    """One flag.  ``key`` is the config key it sets (then a flag on the command line overrides
    the file); ``metavar`` None makes it a switch; ``default`` is said only by flags without a key."""

    name: str
    group: str
    help: str
    key: str | None = None
    metavar: str | None = "VALUE"
    repeatable: bool = False
    default: str | None = None
    doc: str | None = None  # the page of docs/ that says more (a link in the README)


@dataclass(frozen=True)
class Section:
    """A config file section that no flag sets (a list, or a source's own section)."""

    key: str
    default: str
    help: str
    doc: str | None = None


SUMMARY = "Prometheus exporter for HAProxy's Runtime API"
DESCRIPTION = ("Reads HAProxy's Runtime API (the stats socket, or the master CLI and every worker behind it) on a "
               "schedule and serves the latest complete snapshot, under the names, types and labels of HAProxy's "
               "built-in exporter.  Every flag that sets a config key overrides that key of the config file "
               "(`--poll.interval` sets `poll.interval`).  Durations are written `500ms`, `5s`, `2m` or `1h`.")

# What the exporter serves, in order; the metrics path is web.telemetry_path's.
PAGES: tuple[tuple[str, str], ...] = (
    ("/metrics", "the latest snapshot of HAProxy's metrics and the exporter's own (the path is "
                 "`--web.telemetry-path`); with several targets, only the exporter's view of all of them"),
    ("/probe?target=NAME", "one configured target's metrics (`targets:` in the config file)"),
    ("/probe?target=NAME&debug=true, /metrics?debug=true", "the target's (or the single HAProxy's) last poll "
                                                           "as text: each command sent, the bytes and time of "
                                                           "its answer, each source's outcome, the recent failed "
                                                           "polls with advice"),
    ("/", "a landing page: each target's state, last poll, sources and last error with advice, and links"),
    ("/healthz, /-/healthy", "200 while the poll loop is alive and completing cycles, 503 when it is not"),
    ("/-/ready", "200 once every target has completed a poll (good or failed), 503 with a one-line reason before"),
)
SIGNALS: tuple[tuple[str, str], ...] = (
    ("SIGHUP", "read the config file, the flags and the web config file again and apply them all, or, if "
               "any is wrong, log why and keep the running config; `web.listen_address` needs a restart"),
    ("SIGTERM, SIGINT", "stop (exit status 0)"),
)
EXIT_STATUS: tuple[tuple[str, str], ...] = (
    ("0", "stopped by a signal, `--config.check` found the config valid, or `--once` read every HAProxy"),
    ("1", "`--once` could not read HAProxy"),
    ("2", "a flag or config error (one line on stderr naming the key), an address that cannot be listened on, "
          "or `--web.systemd-socket` without sockets from systemd"),
)

GROUPS = ("config file", "HAProxy", "poll", "web", "log", "run")

FLAGS: tuple[Flag, ...] = (
    Flag("--config.file", "config file", "the YAML config file (`config.example.yaml` documents every key); "
         "flags given on the command line override its values", metavar="PATH", default="none"),
    Flag("--config.check", "config file",
         "check the config (the file, the flags and the web config file) and exit: print the effective "
         "config as YAML on stdout (password hashes as `<secret>`) and exit 0, or print one line naming "
         "the wrong key on stderr and exit 2", metavar=None, default="off"),
    Flag("--haproxy.address", "HAProxy", "HAProxy's stats socket or master CLI: `/path`, `unix@/path`, "
         "`ipv4@127.0.0.1:9999`, `ipv6@[::1]:9999` or `host:port`", key="haproxy.address", metavar="ADDRESS"),
    Flag("--haproxy.mode", "HAProxy", "what the socket is: `worker` (a stats socket), `master` (the master CLI, "
         "through which every worker is read) or `auto` (found out from HAProxy's answers)",
         key="haproxy.mode", metavar="MODE", doc="docs/master-worker.md"),
    Flag("--haproxy.connect-timeout", "HAProxy", "give up connecting to the socket after this long",
         key="haproxy.connect_timeout", metavar="DURATION"),
    Flag("--haproxy.timeout", "HAProxy", "time allowed for one command's whole answer",
         key="haproxy.timeout", metavar="DURATION"),
    Flag("--haproxy.max-response-bytes", "HAProxy", "bytes one poll of a target may read, all its answers "
         "together; beyond it the rest is refused (`too_large`)", key="haproxy.max_response_bytes", metavar="BYTES"),
    Flag("--poll.interval", "poll", "how often HAProxy is read", key="poll.interval", metavar="DURATION"),
    Flag("--poll.max-age", "poll", "how long the last good snapshot is still served when polls fail (at least "
         "`poll.interval`); after it HAProxy's series are withheld", key="poll.max_age", metavar="DURATION"),
    Flag("--poll.concurrency", "poll", "targets polled at the same time", key="poll.concurrency", metavar="N",
         doc="docs/targets.md"),
    Flag("--poll.max-series", "poll", "a poll with more series than this (per target) is refused as "
         "`too_many_series` and the last snapshot kept", key="poll.max_series", metavar="N"),
    Flag("--web.listen-address", "web", "where to serve HTTP: `:9101` (every address), `127.0.0.1:9101` or "
         "`[::1]:9101` (9101 is the port registered for HAProxy exporters); repeat the flag to listen on "
         "several addresses", key="web.listen_address", metavar="ADDRESS", repeatable=True),
    Flag("--web.systemd-socket", "web", "serve on the listening sockets systemd passes (socket activation: "
         "`LISTEN_FDS`, `LISTEN_PID`) instead of binding `web.listen_address`", metavar=None, default="off",
         doc="docs/deployment.md"),
    Flag("--web.telemetry-path", "web", "path of the metrics page (`?debug=true`: the last poll in detail); `/` "
         "is a landing page with each target's last poll, `/healthz` and `/-/healthy` a health check, `/-/ready` "
         "a readiness check", key="web.telemetry_path", metavar="PATH"),
    Flag("--web.config.file", "web", "TLS and basic auth for every page, in the exporter-toolkit's file "
         "format; certificate files are re-read when they change", key="web.config_file", metavar="PATH",
         doc="docs/reliability.md"),
    Flag("--web.max-connections", "web", "open connections at most; beyond it a new one gets 503 and is closed",
         key="web.max_connections", metavar="N"),
    Flag("--web.listen-backlog", "web", "kernel queue of connections not yet accepted (capped by "
         "`net.core.somaxconn`; with `--web.systemd-socket` the socket unit's `Backlog=` applies)",
         key="web.listen_backlog", metavar="N"),
    Flag("--web.read-header-timeout", "web", "deadline for the whole request head; a drip of bytes does not "
         "extend it", key="web.read_header_timeout", metavar="DURATION"),
    Flag("--web.idle-timeout", "web", "a keep-alive connection silent this long between requests is closed",
         key="web.idle_timeout", metavar="DURATION"),
    Flag("--web.write-stall-timeout", "web", "a response is abandoned when the client takes no byte of it for "
         "this long", key="web.write_stall_timeout", metavar="DURATION"),
    Flag("--web.write-timeout", "web", "a response may take this long in all (at least "
         "`web.write_stall_timeout`)", key="web.write_timeout", metavar="DURATION"),
    Flag("--web.tls-handshake-timeout", "web", "deadline for a TLS client's handshake",
         key="web.tls_handshake_timeout", metavar="DURATION"),
    Flag("--log.level", "log", "the least severe messages logged: `debug`, `info`, `warning` or `error`",
         key="log.level", metavar="LEVEL"),
    Flag("--log.format", "log", "how each log line on stderr is written: `logfmt` (`key=value` pairs) or "
         "`json` (one object a line)", key="log.format", metavar="FORMAT"),
    Flag("--once", "run", "poll once, print the exposition on stdout and exit: 0 if every HAProxy was read, "
         "1 if not", metavar=None, default="off"),
    Flag("--version", "run", "print the version and exit", metavar=None),
)

SECTIONS: tuple[Section, ...] = (
    Section("targets", "none", "several HAProxys, each `{name, address, ...haproxy.* keys}`, served at "
            "`/probe?target=<name>`", "docs/targets.md"),
    Section("stick_tables", "[]", "tables whose entries are exported", "docs/sticktables.md"),
    Section("certificates", "{enabled: true, refresh_interval: 5m, max_per_poll: 200}",
            "TLS certificates (`show ssl cert`, level operator): read once per refresh interval, at most "
            "`max_per_poll` per poll", "docs/sources.md"),
    Section("errors", "{enabled: false}", "captured protocol errors (`show errors`, level operator): off by "
            "default, the dump carries client bytes", "docs/sources.md"),
    Section("ocsp", "{enabled: true, refresh_interval: 5m, max_per_poll: 200}", "stapled OCSP responses "
            "(`show ssl ocsp-response`; level admin on 3.4), on the same kind of schedule", "docs/sources.md"),
    Section("logs", "none (off)", "HAProxy's request logs read from a ring (`show events <ring> -w -n`, level "
            "operator) or syslog: latency histograms, exact status codes, termination states", "docs/logs.md"),
)

BY_NAME = {flag.name: flag for flag in FLAGS}


def value_text(key: str, value: Any) -> str:
    """A config value as the file writes it: durations with a unit, an address as given, a list
    of addresses joined by ", ", an unset file as none."""
    section, name = key.split(".", 1)
    if value is None:
        return "none"
    if isinstance(value, Address):
        return value.text
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    if CHECKS[section][1][name] is parse_duration:
        return format_duration(value)
    return str(value)


def default_text(flag: Flag) -> str | None:
    """What applies when the flag (and its key in the file) is not given; None for an action."""
    if flag.key is None:
        return flag.default
    section, name = flag.key.split(".", 1)
    return value_text(flag.key, getattr(getattr(Config(), section), name))


def plain(text: str) -> str:
    """A help text without its code marks (for --help)."""
    return text.replace("`", "")
