"""Command line: Prometheus-style flags over the YAML file, then run the poll loop and HTTP server."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from exporter import __version__, flags
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

PROG = "haproxy-runtime-exporter"
EPILOG = (f"Pages: {', '.join(page for page, _ in flags.PAGES)}.  SIGHUP re-reads the config.  "
          + "  ".join(f"Exit status {code}: {flags.plain(meaning)}." for code, meaning in flags.EXIT_STATUS)
          + "  The manual: man -l docs/haproxy-runtime-exporter.1 in the source.")

# flag → dotted config key (the same keys the YAML file uses), for the flags that set one
FLAGS = {flag.name: flag.key for flag in flags.FLAGS if flag.key is not None}


def _dest(flag: flags.Flag) -> str:
    return flag.key or flag.name.lstrip("-").replace(".", "_").replace("-", "_")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; we print one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: flag error: {message} (see --help)\n")
        sys.exit(2)


def build_parser() -> OneLineParser:
    """The flags of exporter/flags.py, each with what it does and its default."""
    parser = OneLineParser(prog=PROG, description=f"{flags.SUMMARY}.  {flags.plain(flags.DESCRIPTION)}",
                           epilog=EPILOG.replace("%", "%%"))
    groups = {name: parser.add_argument_group(f"{name} flags") for name in flags.GROUPS}
    for flag in flags.FLAGS:
        text = flags.plain(flag.help)
        default = flags.default_text(flag)
        if default is not None:
            text += f" (default: {default})"
        text = text.replace("%", "%%")  # argparse formats help texts with %
        group = groups[flag.group]
        if flag.name == "--version":
            group.add_argument(flag.name, action="version", version=f"%(prog)s {__version__}", help=text)
        elif flag.metavar is None:
            group.add_argument(flag.name, dest=_dest(flag), action="store_true", help=text)
        else:
            group.add_argument(flag.name, dest=_dest(flag), metavar=flag.metavar, help=text,
                               action="append" if flag.repeatable else "store")
    return parser


# The keys whose values are whole numbers (the section classes say which): a flag's text for one
# is read as a number, as YAML reads it in the file.
# (The annotations are read as written, not evaluated: ``int | None`` cannot be on Python 3.9.)
INT_KEYS = {f"{section}.{f.name}" for section, (cls, checks) in CHECKS.items()
            for f in dataclasses.fields(cls) if f.type in (int, "int") and f.name in checks}


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
        """The poll loop has not died (not started yet is the instant before it does: the server
        listens first, so that a port that cannot be had stops the exporter before any poll)."""
        return (thread.ident is None or thread.is_alive()) and poller.healthy()

    try:
        server = start_server(config, store, healthy, web, clock, poller.waiting, sockets)
    except ListenError as exc:
        sys.stderr.write(f"{PROG}: web.listen_address: cannot listen on {exc.address}: {exc.strerror or exc}\n")
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
        sys.stderr.write(f"{PROG}: config error: {exc}\n")
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
            sys.stderr.write(f"{PROG}: --web.systemd-socket: {exc}\n")
            return 2
    return serve(config, SYSTEM_CLOCK, web, lambda: load_settings(lambda: load_config(args.config_file, flag_overrides(args))),
                 sockets)


if __name__ == "__main__":
    sys.exit(main())
