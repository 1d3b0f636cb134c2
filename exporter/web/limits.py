"""File descriptors: raise the soft limit once at start, and keep a reserve that serving never takes.

systemd starts services with a soft RLIMIT_NOFILE of 1024 and a far higher hard limit; Go's
runtime raises the soft limit to the hard one at start, and so does the exporter, so the limit a
unit sets with ``LimitNOFILE=`` is the one that applies.  Whatever the limit, the HTTP side
leaves the top ``FD_RESERVE`` descriptors to the rest of the process (the poll's socket to
HAProxy, /proc reads for process_* metrics, log files): an exhausted table would otherwise make
the poll fail and report the exporter's own exhaustion as HAProxy's failure.
"""

from __future__ import annotations

import errno
import logging
import os

log = logging.getLogger("exporter.web.limits")

FD_RESERVE = 64
# accept() errors that mean "no resources now": back off instead of retrying at once.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() errors about one connection only (it went away before we took it): take the next.
TRANSIENT_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ETIMEDOUT,
                              errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH})
_UNLIMITED_CAP = 1 << 20  # when the hard limit is "unlimited": Linux's default fs.nr_open


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; returns (old soft, new soft).  No-op where the
    resource module is missing (not POSIX) or the kernel refuses."""
    try:
        import resource
    except ImportError:
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open file limit from %d to %d: %s", soft, target, exc)
            return (soft, soft)
        log.debug("open file limit raised from %d to %d", soft, target)
        return (soft, target)
    return (soft, soft)


def fd_limit() -> int:
    """The current soft limit (it can be changed from outside with prlimit)."""
    try:
        import resource
    except ImportError:
        return _UNLIMITED_CAP
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _UNLIMITED_CAP if soft == resource.RLIM_INFINITY else soft


def within_reserve(fd: int, limit: int, reserve: int = FD_RESERVE) -> bool:
    """True when a just-accepted descriptor is in the reserved top of the table.

    The kernel hands out the lowest free number, so an accepted ``fd`` means every number below
    it is in use: at ``limit - reserve`` or above, fewer than ``reserve`` descriptors remain.  The
    check costs nothing per connection (no /proc scan), and since no connection ever keeps a
    number in the reserve, the top ``reserve`` numbers stay free for the rest of the process.
    """
    return fd >= limit - reserve


def open_fds(fallback: int) -> int:
    """Descriptors open in this process (/proc/self/fd), or ``fallback`` where that is not there.

    Costs a directory listing, so the server calls it only while it is near the limit, to tell
    when an episode of exhaustion is over (a low accepted number may only be a hole)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:
        return fallback
