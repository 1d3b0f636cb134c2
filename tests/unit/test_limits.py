"""limits.within_reserve: a descriptor number alone tells when the reserve is reached.

The oracle is the kernel: in a child process with a small open file limit, descriptors are
opened until ``within_reserve`` says the reserve is reached, then until the kernel refuses
(EMFILE): what was left is less than the reserve, and is the numbers above the one seen.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from exporter.web.limits import FD_RESERVE, within_reserve


@pytest.mark.parametrize("fd,limit,reserve,within", [
    (959, 1024, 64, False), (960, 1024, 64, True), (1023, 1024, 64, True),
    (0, 1024, 64, False), (191, 256, 64, False), (192, 256, 64, True),
    (3, 4, 1, True), (2, 4, 1, False),
])
def test_within_reserve_from_the_limit_minus_the_reserve_up(fd: int, limit: int, reserve: int, within: bool) -> None:
    assert within_reserve(fd, limit, reserve) is within


def test_the_reserve_defaults_to_fd_reserve() -> None:
    assert within_reserve(1024 - FD_RESERVE, 1024) and not within_reserve(1024 - FD_RESERVE - 1, 1024)


CHILD = """
import errno, json, os, sys
from exporter.web.limits import within_reserve
limit, reserve = int(sys.argv[1]), int(sys.argv[2])
first = None
for _ in range(limit):
    fd = os.open(os.devnull, os.O_RDONLY)
    if within_reserve(fd, limit, reserve):
        first = fd
        break
left = 0
try:
    for _ in range(limit):
        os.open(os.devnull, os.O_RDONLY)
        left += 1
except OSError as exc:
    assert exc.errno == errno.EMFILE, exc
print(json.dumps({"first": first, "left": left}))
"""


@pytest.mark.parametrize("reserve", [1, 16])
def test_at_the_first_descriptor_within_the_reserve_fewer_than_the_reserve_are_left(reserve: int) -> None:
    limit = 128
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < limit:
        pytest.skip(f"the hard open file limit is below {limit}")

    def small_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    done = subprocess.run([sys.executable, "-c", CHILD, str(limit), str(reserve)], capture_output=True, text=True,
                          timeout=60, preexec_fn=small_limit, close_fds=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["first"] == limit - reserve
    assert got["left"] == reserve - 1  # the reserved numbers above it, all still free
