"""The real command line reading two real HAProxys (a worker socket and a master CLI) as targets.

Each ``/probe?target=`` page is its own HAProxy's (the test reads each HAProxy's ``show info``
itself); ``/metrics`` is the exporter's overview; only configured names are served.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from exposition import samples, value
from support import ADMIN_HTTP_HEAD, free_ports, stop_process, wait_for

EXPORTER = [sys.executable, "-m", "exporter"]
CFG = ADMIN_HTTP_HEAD + """
frontend fe_NAME
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def info(address: str, routed: str = "") -> dict[str, str]:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(address)
        s.sendall(f"{routed}show info\n".encode())
        s.shutdown(socket.SHUT_WR)
        data = b"".join(iter(lambda: s.recv(65536), b""))
    return dict(line.split(": ", 1) for line in data.decode().splitlines() if ": " in line)


def test_two_haproxys_through_one_exporter(haproxy_factory, tmp_path: Path) -> None:
    edge1 = haproxy_factory(CFG.replace("NAME", "edge1"), nports=1)
    edge2 = haproxy_factory(CFG.replace("NAME", "edge2"), nports=1, start=False).start_master()
    port = free_ports(1)[0]
    config = tmp_path / "exporter.yaml"
    config.write_text(json.dumps({
        "targets": [{"name": "edge1", "address": edge1.admin},
                    {"name": "edge2", "address": f"unix@{edge2.master}"}],
        "poll": {"interval": "300ms"},
        "web": {"listen_address": f"127.0.0.1:{port}"},
    }))
    proc = subprocess.Popen(EXPORTER + ["--config.file", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        def both_up() -> bool:
            try:
                got = samples(fetch(base + "/metrics")[1].decode())
            except (OSError, ValueError):
                return False
            return value(got, "haproxy_up", target="edge1") == 1 == value(got, "haproxy_up", target="edge2")

        wait_for(both_up, 15, "the exporter did not read both targets")
        overview = samples(fetch(base + "/metrics")[1].decode())
        assert not [k for k in overview if k[0].startswith(("haproxy_frontend", "haproxy_process"))]
        assert value(overview, "process_open_fds") > 0

        for name, _hap, pid in (("edge1", edge1, info(edge1.admin)["Pid"]),
                               ("edge2", edge2, info(edge2.admin)["Pid"])):
            status, body = fetch(f"{base}/probe?target={name}")
            assert status == 200
            got = samples(body.decode())
            assert value(got, "haproxy_up") == 1
            assert value(got, "haproxy_process_pid") == int(pid)  # this HAProxy's worker, no other
            assert value(got, "haproxy_frontend_status", proxy=f"fe_{name}", state="UP") == 1
            other = "edge2" if name == "edge1" else "edge1"
            assert value(got, "haproxy_frontend_status", proxy=f"fe_{other}", state="UP") is None
        assert value(samples(fetch(f"{base}/probe?target=edge2")[1].decode()), "haproxy_master_current_workers") == 1

        assert fetch(f"{base}/probe?target=edge3")[0] == 404
        for refused in ("", "?target=", f"?target={edge1.admin}", "?target=unix@/run/haproxy/admin.sock",
                        "?target=127.0.0.1:9999", "?target=edge1&target=edge2"):
            assert fetch(f"{base}/probe{refused}")[0] == 400, refused
    finally:
        stop_process(proc)
