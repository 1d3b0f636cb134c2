"""Smoke test of one installed artifact (.ci/packages): a real HAProxy on loopback, the exporter as
the artifact starts it, then what an operator relies on.

  python3 .ci/smoke.py --name wheel --workdir DIR --port PORT --config FILE [--write-config] -- CMD...
  python3 .ci/smoke.py --name deb ... --unit /lib/systemd/system/haproxy-runtime-exporter.service

Starts HAProxy with its stats socket at DIR/admin.sock (mode 660, group haproxy when that group
exists), then the exporter: CMD, or the unit's ExecStart run as systemd would run it (below).
Checks, each bounded in time: /metrics has ``haproxy_up 1`` and passes ``promtool check metrics``
(bar the two lints the suite also sets aside: promex's counter names); /healthz answers 200; a
request smuggled in a malformed chunked body is never answered;
``--healthcheck CMD`` exits 0; a config file made invalid and SIGHUP leaves the exporter running
with ``haproxy_exporter_config_last_reload_successful 0``, a valid one and SIGHUP gives 1 and
"config reloaded; changed: log.level"; SIGTERM makes it exit with status 0. Prints one line per
check, the exporter's output on a failure, and stops whatever it started.

``--unit``: systemd is not PID 1 on CI's machine, so the unit's ExecStart is run directly, as
systemd would run it: as its User= and Group= with that user's supplementary groups, under its
LimitNOFILE= and UMask=, with the variables of its EnvironmentFile= and ``$VAR`` split into
words. The sandboxing directives (ProtectSystem= and the rest) are not applied.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

PROMTOOL_SET_ASIDE = ("counter metrics should have", "non-histogram")  # tests/support.py: promex's own names

HAPROXY_CFG = """\
global
    stats socket {socket} mode 660 level admin {group}
    stats timeout 10s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend fe_smoke
    bind 127.0.0.1:{http_port}
    default_backend be_smoke

backend be_smoke
    server web1 127.0.0.1:{http_port}
"""

EXPORTER_CFG = """\
haproxy:
  address: {socket}
poll:
  interval: 1s
web:
  listen_address: "127.0.0.1:{port}"
log:
  level: info
"""


def step(name: str, message: str) -> None:
    print(f"smoke {name}: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


def smuggle(port: int) -> list[bytes]:
    """The status codes answered on one connection to a POST whose chunked body is malformed the way
    CVE-2025-43859 is (bytes where a chunk's CRLF belongs) and hides a GET: the exporter must answer
    the POST alone and close, whatever h11 would make of the body (it never reads one)."""
    payload = (b"POST /metrics HTTP/1.1\r\nHost: smoke\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nAAAAAXX0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: smoke\r\n\r\n")
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        while chunk := conn.recv(65536):
            data += chunk
    return re.findall(rb"^HTTP/1\.[01] (\d{3})", data, flags=re.M)


def sample(text: str, name: str) -> str | None:
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, flags=re.M)
    return found.group(1) if found else None


def unit_command(unit: Path) -> tuple[list[str], dict[str, str], Callable[[], None]]:
    """The unit's ExecStart as systemd would start it: argv, environment, and what to do in the child."""
    keys: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith(("#", ";", "[")):
            keys.setdefault(key.strip(), value.strip())  # the first of a key (ExecStart is given once)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    env_file = keys.get("EnvironmentFile", "")
    if env_file:
        optional = env_file.startswith("-")
        path = Path(env_file.lstrip("-"))
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip() and not line.lstrip().startswith("#") and "=" in line:
                    name, _, value = line.partition("=")
                    env[name.strip()] = " ".join(shlex.split(value))  # the shell's quoting, as systemd reads it
        elif not optional:
            raise SystemExit(f"{path}: missing (EnvironmentFile=)")
    words = []
    for word in shlex.split(keys["ExecStart"]):
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:  # $VAR alone: split into words; an empty one gives none
            words += env.get(whole.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word))
    user = pwd.getpwnam(keys["User"])
    gid = grp.getgrnam(keys["Group"]).gr_gid if "Group" in keys else user.pw_gid
    nofile = int(keys["LimitNOFILE"]) if "LimitNOFILE" in keys else None
    umask = int(keys.get("UMask", "0022"), 8)
    env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)

    def as_the_unit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        os.umask(umask)
        os.initgroups(user.pw_name, gid)
        os.setgid(gid)
        os.setuid(user.pw_uid)

    return words, env, as_the_unit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the artifact's name in the output")
    parser.add_argument("--workdir", type=Path, required=True, help="HAProxy's socket and config go here")
    parser.add_argument("--port", type=int, required=True, help="the exporter's port on 127.0.0.1")
    parser.add_argument("--config", type=Path, required=True, help="the config file the exporter reads")
    parser.add_argument("--write-config", action="store_true", help="write --config first (else edit the one there)")
    parser.add_argument("--unit", type=Path, help="run this systemd unit's ExecStart instead of CMD")
    parser.add_argument("--healthcheck", help="a command that must exit 0 once the exporter serves")
    parser.add_argument("--timeout", type=float, default=60, help="seconds allowed for each wait")
    parser.add_argument("command", nargs="*", help="the exporter, in the foreground")
    args = parser.parse_args()
    name = args.name
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # the exporter may be another user
    sock = work / "admin.sock"
    try:
        group = f"gid {grp.getgrnam('haproxy').gr_gid}"
    except KeyError:
        group = ""
    (work / "haproxy.cfg").write_text(HAPROXY_CFG.format(socket=sock, group=group, http_port=free_port()))
    if args.write_config:
        args.config.write_text(EXPORTER_CFG.format(socket=sock, port=args.port))
    original = args.config.read_text()
    log_path = Path(tempfile.mkstemp(prefix=f"smoke-{name}-", suffix=".log", dir=work)[1])
    os.chmod(log_path, 0o644)
    procs: list[subprocess.Popen[bytes]] = []
    exporter: subprocess.Popen[bytes] | None = None

    def show_log() -> None:
        sys.stderr.write(f"--- the exporter's output ({name}) ---\n{log_path.read_text(errors='replace')}---\n")

    try:
        procs.append(subprocess.Popen([haproxy, "-db", "-f", str(work / "haproxy.cfg")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(sock.exists, args.timeout, "HAProxy's stats socket")
        if args.unit:
            argv, env, preexec = unit_command(args.unit)
            step(name, f"ExecStart of {args.unit.name} as its User=, LimitNOFILE=, EnvironmentFile=: {shlex.join(argv)}")
        else:
            argv, env, preexec = args.command, dict(os.environ), None
        with log_path.open("wb") as log:
            exporter = subprocess.Popen(argv, env=env, preexec_fn=preexec, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd="/")
        procs.append(exporter)
        base = f"http://127.0.0.1:{args.port}"
        page = ""

        def up() -> bool:
            nonlocal page
            if exporter.poll() is not None:
                raise SystemExit(f"the exporter exited with status {exporter.returncode}")
            status, page = get(base + "/metrics")
            return status == 200 and sample(page, "haproxy_up") == "1"

        wait_for(up, args.timeout, "/metrics with haproxy_up 1")
        step(name, f"/metrics: {re.search(r'^haproxy_up.*$', page, flags=re.M).group(0)}, "  # type: ignore[union-attr]
                   f"{sum(1 for line in page.splitlines() if line and not line.startswith('#'))} samples")
        build = re.search(r"^haproxy_exporter_build_info.*$", page, flags=re.M)
        step(name, build.group(0) if build else "no haproxy_exporter_build_info")
        lint = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=60)
        problems = [line for line in (lint.stdout + lint.stderr).splitlines()
                    if line and not any(known in line for known in PROMTOOL_SET_ASIDE)]
        if problems:
            raise SystemExit("promtool check metrics:\n" + "\n".join(problems))
        set_aside = len((lint.stdout + lint.stderr).splitlines())
        step(name, "promtool check metrics: no problems"
                   + (f" ({set_aside} lines on promex's counter names set aside)" if set_aside else ""))
        status, body = get(base + "/healthz")
        if status != 200:
            raise SystemExit(f"/healthz: {status} {body!r}")
        step(name, f"/healthz: {status} {body.strip()!r}")
        try:
            answered = smuggle(args.port)
        except OSError as exc:
            raise SystemExit(f"a malformed chunked POST: {exc} (the connection was not closed)") from None
        if answered != [b"405"]:
            raise SystemExit(f"a malformed chunked POST hiding a GET: answered {answered}, expected [405] and a close")
        step(name, "a malformed chunked POST hiding a GET: 405 and closed, the GET never answered")
        if args.healthcheck:
            check = subprocess.run(shlex.split(args.healthcheck), capture_output=True, text=True, timeout=60)
            if check.returncode != 0:
                raise SystemExit(f"{args.healthcheck}: exit {check.returncode}\n{check.stdout}{check.stderr}")
            step(name, f"{args.healthcheck}: exit 0" + (f", {check.stdout.strip()}" if check.stdout.strip() else ""))

        def reload_successful(expected: str) -> Callable[[], bool]:
            def check() -> bool:
                if exporter.poll() is not None:
                    raise SystemExit(f"the exporter exited with status {exporter.returncode} after SIGHUP")
                status, text = get(base + "/metrics")
                return status == 200 and sample(text, "haproxy_exporter_config_last_reload_successful") == expected
            return check

        level = re.compile(r"^(\s+level:\s*)info\s*$", flags=re.M)
        if not level.search(original):
            raise SystemExit(f"{args.config}: no 'level: info' line to change")
        rewrite(args.config, level.sub(r"\1nonsense", original, count=1))
        exporter.send_signal(signal.SIGHUP)
        wait_for(reload_successful("0"), args.timeout, "haproxy_exporter_config_last_reload_successful 0")
        step(name, "SIGHUP with log.level: nonsense: refused, still serving, reload_successful 0")
        rewrite(args.config, level.sub(r"\1debug", original, count=1))
        exporter.send_signal(signal.SIGHUP)
        wait_for(reload_successful("1"), args.timeout, "haproxy_exporter_config_last_reload_successful 1")
        wait_for(lambda: "config reloaded; changed: log.level" in log_path.read_text(errors="replace"),
                 args.timeout, "'config reloaded; changed: log.level' in the exporter's log")
        step(name, "SIGHUP with log.level: debug: config reloaded; changed: log.level, reload_successful 1")
        rewrite(args.config, original)
        started = time.monotonic()
        exporter.send_signal(signal.SIGTERM)
        try:
            code = exporter.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"still running {args.timeout:.0f}s after SIGTERM") from None
        if code != 0:
            raise SystemExit(f"exit status {code} after SIGTERM")
        step(name, f"SIGTERM: exit status 0 after {time.monotonic() - started:.1f}s")
        step(name, "PASS")
        return 0
    except SystemExit as exc:
        print(f"smoke {name}: FAIL: {exc}", file=sys.stderr, flush=True)
        show_log()
        return 1
    finally:
        if args.config.exists() and args.config.read_text() != original:
            rewrite(args.config, original)
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)


def rewrite(path: Path, text: str) -> None:
    """In place: a file bind-mounted into a container keeps its inode, and so its new text."""
    with path.open("r+") as f:
        f.write(text)
        f.truncate()


if __name__ == "__main__":
    sys.exit(main())
