"""Light, varied demo traffic so the numbers move.  Stops on its own when its parent goes away
or after --duration seconds (bounded), whichever comes first."""

from __future__ import annotations

import argparse
import os
import random
import time
import urllib.error
import urllib.request

PATHS = ["/", "/", "/", "/index.html", "/static/app.js", "/api/users", "/api/orders", "/api/error",
         "/missing", "/api/limited"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:18080")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=8 * 3600)
    args = parser.parse_args()
    parent = os.getppid()
    deadline = time.monotonic() + args.duration
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            with urllib.request.urlopen(args.url + random.choice(PATHS), timeout=2) as resp:
                resp.read()
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(random.expovariate(args.rate))


if __name__ == "__main__":
    main()
