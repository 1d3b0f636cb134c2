"""Command line: Prometheus-style flags over the YAML file, then run the poll loop and HTTP server."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence, get_type_hints

from exporter import __version__
from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config import CHECKS, Config, load_config
from exporter.logsetup import setup_logging
from exporter.reload import Settings, Signals, load_settings, reload_settings
from exporter.validation import ConfigError
from exporter.web.config import WebConfig

if TYPE_CHECKING:
    from exporter.poll.snapshot import Store

log = logging.getLogger("exporter")
SWITCH_INTERVAL = 0.001  # seconds; see serve()

# flag → dotted config key (the same keys the YAML file uses)
FLAGS = {
    "--haproxy.address": "haproxy.address",
    "--haproxy.timeout": "haproxy.timeout",
    "--haproxy.connect-timeout": "haproxy.connect_timeout",
    "--haproxy.max-response-bytes": "haproxy.max_response_bytes",
    "--poll.interval": "poll.interval",
    "--poll.max-age": "poll.max_age",
    "--poll.concurrency": "poll.concurrency",
    "--poll.max-series": "poll.max_series",
    "--haproxy.mode": "haproxy.mode",
    "--web.listen-address": "web.listen_address",
    "--web.telemetry-path": "web.telemetry_path",
    "--web.config.file": "web.config_file",
    "--web.max-connections": "web.max_connections",
    "--web.listen-backlog": "web.listen_backlog",
    "--web.read-header-timeout": "web.read_header_timeout",
    "--web.idle-timeout": "web.idle_timeout",
    "--web.write-stall-timeout": "web.write_stall_timeout",
    "--web.write-timeout": "web.write_timeout",
    "--web.tls-handshake-timeout": "web.tls_handshake_timeout",
    "--log.level": "log.level",
    "--log.format": "log.format",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; we print one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"haproxy-runtime-exporter: flag error: {message} (see --help)\n")
        sys.exit(2)


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="haproxy-runtime-exporter",
        description="Prometheus exporter for HAProxy's Runtime API (stats socket).",
    )
    parser.add_argument("--config.file", dest="config_file", metavar="PATH",
                        help="YAML config file (see config.example.yaml); flags override it")
    for flag, key in FLAGS.items():
        parser.add_argument(flag, dest=key, metavar="VALUE", help=f"overrides {key}",
                            action="append" if flag == "--web.listen-address" else "store")  # repeatable
    parser.add_argument("--config.check", dest="config_check", action="store_true",
                        help="check the config (the file, the flags and the web config file), print the effective "
                             "config as YAML (password hashes as <secret>) and exit 0, or one line and exit 2")
    parser.add_argument("--web.systemd-socket", dest="web_systemd_socket", action="store_true",
                        help="serve on the listening sockets systemd passes (socket activation) instead of "
                             "binding web.listen_address")
    parser.add_argument("--once", action="store_true",
                        help="poll once, print the exposition to stdout, exit 1 if HAProxy could not be read")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


# The keys whose values are whole numbers (the section classes say which): a flag's text for one
# is read as a number, as YAML reads it in the file.
INT_KEYS = {f"{section}.{name}" for section, (cls, checks) in CHECKS.items()
            for name, kind in get_type_hints(cls).items() if kind is int and name in checks}


def _coerce(key: str, value: str) -> Any:
    if key in INT_KEYS:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Config]:
    args = build_parser().parse_args(argv)
    return args, load_config(args.config_file, flag_overrides(args))


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {key: _coerce(key, getattr(args, key)) for key in FLAGS.values() if getattr(args, key) is not None}


def new_store(config: Config, clock: Clock) -> Store:
    """Where the poll publishes and the server reads, serving the exporter's own process figures
    (made at scrape time, kept a second) after every page."""
    from exporter.poll.snapshot import LivePart, Store
    from exporter.poll.status import process_metrics_text

    return Store(config.poll.max_age, clock, live=LivePart(process_metrics_text, clock=clock))


def run_once(config: Config, clock: Clock) -> int:
    """Poll every target once and print what would be served (each target under a comment line
    when there are several: each block is a valid exposition on its own)."""
    from exporter.poll.poller import Poller

    store = new_store(config, clock)
    poller = Poller(config, store, clock=clock)
    ok = poller.poll_once()
    poller.close()
    out = sys.stdout.buffer
    if config.multi_target:
        for target in config.targets:
            out.write(f"# target {target.name}\n".encode())
            for part in store.probe(target.name) or []:
                out.write(part.text)
    else:
        for part in store.parts():
            out.write(part.text)
    sys.stdout.flush()
    return 0 if ok else 1


def serve(config: Config, clock: Clock, web: WebConfig | None = None,
          reload: Callable[[], Settings] | None = None, sockets: Sequence[socket.socket] | None = None) -> int:
    """Poll in a daemon thread and serve HTTP until SIGTERM/SIGINT; SIGHUP calls ``reload``.

    ``sockets`` are systemd's (``--web.systemd-socket``), served instead of ``web.listen_address``.

    The poller thread is a daemon and is not waited for long on stop: a poll blocked in a socket
    read with a long haproxy.timeout must not delay the exit.
    """
    from exporter.poll.poller import Poller
    from exporter.web.limits import raise_fd_limit
    from exporter.web.server import ListenError, start_server

    signals = Signals()
    signals.block()  # before any thread starts: they all inherit the mask (see Signals)
    raise_fd_limit()  # as Go's runtime does: the unit's LimitNOFILE= hard limit is what applies
    store = new_store(config, clock)
    poller = Poller(config, store, clock=clock)
    # Scrapes share the interpreter lock with the poll thread.  The default switch interval
    # lets a poll keep the HTTP loop waiting that long at every lock hand-over (after each write
    # of a large body); a shorter one keeps scrapes during a poll close to scrapes between polls,
    # with the event loop too (BENCHMARKS.md, "Figures the code's comments rest on").
    sys.setswitchinterval(SWITCH_INTERVAL)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), name="poller", daemon=True)

    def healthy() -> bool:
        return thread.is_alive() and poller.healthy()

    try:
        server = start_server(config, store, healthy, web, clock, poller.waiting, sockets)
    except ListenError as exc:
        sys.stderr.write(f"haproxy-runtime-exporter: web.listen_address: cannot listen on {exc.address}: "
                         f"{exc.strerror or exc}\n")
        return 2

    targets = ", ".join(t.name or t.address.text for t in config.poll_targets())
    log.info("polling %s every %gs", targets, config.poll.interval)
    if web is not None:
        log.info("web config %s: TLS %s, basic auth %s", web.path, "on" if web.context else "off",
                 "on" if web.auth else "off")
    thread.start()
    current = Settings(config, web)
    while (event := signals.wait(1.0)) != "stop":
        if event == "reload" and reload is not None:
            new = reload_settings(reload, current)
            poller.note_config_reload(new is not None)
            if new is not None:
                current = new
                poller.reconfigure(new.config)
                server.config, server.web = new.config, new.web
                setup_logging(new.config.log.level, new.config.log.format)
    stop.set()
    log.info("received %s, stopping", signals.received[-1] if signals.received else "stop")
    server.shutdown()
    server.server_close()
    thread.join(timeout=0.2)  # a poll blocked in a read is abandoned (daemon thread), not awaited
    poller.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, config = parse_args(argv)
        web = load_settings(lambda: config).web
    except ConfigError as exc:
        sys.stderr.write(f"haproxy-runtime-exporter: config error: {exc}\n")
        return 2
    if args.config_check:
        from exporter.effective import effective_yaml

        sys.stdout.write(effective_yaml(config, web))
        sys.stdout.flush()
        return 0
    setup_logging(config.log.level, config.log.format)
    if args.once:
        return run_once(config, SYSTEM_CLOCK)  # the one clock, handed down from here
    sockets = None
    if args.web_systemd_socket:
        from exporter.web.activation import ActivationError, systemd_sockets

        try:
            sockets = systemd_sockets()
        except ActivationError as exc:
            sys.stderr.write(f"haproxy-runtime-exporter: --web.systemd-socket: {exc}\n")
            return 2
    return serve(config, SYSTEM_CLOCK, web, lambda: load_settings(lambda: load_config(args.config_file, flag_overrides(args))),
                 sockets)


if __name__ == "__main__":
    sys.exit(main())
