"""Command line: Prometheus-style flags over the YAML file, then run the poll loop and HTTP server."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any, NoReturn, Sequence

from exporter import __version__
from exporter.config import Config, ConfigError, load_config

log = logging.getLogger("exporter")

# flag → dotted config key (the same keys the YAML file uses)
FLAGS = {
    "--haproxy.address": "haproxy.address",
    "--haproxy.timeout": "haproxy.timeout",
    "--haproxy.connect-timeout": "haproxy.connect_timeout",
    "--haproxy.max-response-bytes": "haproxy.max_response_bytes",
    "--poll.interval": "poll.interval",
    "--poll.max-age": "poll.max_age",
    "--web.listen-address": "web.listen_address",
    "--web.telemetry-path": "web.telemetry_path",
    "--web.config.file": "web.config_file",
    "--log.level": "log.level",
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
        parser.add_argument(flag, dest=key, metavar="VALUE", help=f"overrides {key}")
    parser.add_argument("--once", action="store_true",
                        help="poll once, print the exposition to stdout, exit 1 if HAProxy could not be read")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _coerce(key: str, value: str) -> Any:
    if key == "haproxy.max_response_bytes":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Config]:
    args = build_parser().parse_args(argv)
    overrides = {key: _coerce(key, getattr(args, key)) for key in FLAGS.values() if getattr(args, key) is not None}
    return args, load_config(args.config_file, overrides)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)r",
        stream=sys.stderr,
        force=True,
    )


def run_once(config: Config) -> int:
    from exporter.poller import Poller
    from exporter.snapshot import Store

    store = Store(config.max_age)
    ok = Poller(config, store).poll_once()
    for part in store.parts():
        sys.stdout.buffer.write(part.text)
    sys.stdout.flush()
    return 0 if ok else 1


def serve(config: Config) -> int:
    from exporter.http import start_server
    from exporter.poller import Poller
    from exporter.snapshot import Store

    store = Store(config.max_age)
    poller = Poller(config, store)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), name="poller", daemon=True)

    def healthy() -> bool:
        return thread.is_alive()

    try:
        server = start_server(config, store, healthy)
    except OSError as exc:
        sys.stderr.write(f"haproxy-runtime-exporter: web.listen_address: cannot listen on "
                         f"{config.listen_address}: {exc.strerror or exc}\n")
        return 2

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("polling %s every %gs", config.haproxy_address, config.interval)
    thread.start()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=1.0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, config = parse_args(argv)
    except ConfigError as exc:
        sys.stderr.write(f"haproxy-runtime-exporter: config error: {exc}\n")
        return 2
    setup_logging(config.log_level)
    if args.once:
        return run_once(config)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
