"""HAProxy configurations the tests and the benchmarks start from."""

from __future__ import annotations


def admin_http_head(admin: str, *global_lines: str) -> str:
    """A ``global`` section with an admin stats socket at ``admin`` and ``global_lines`` (a stats
    timeout for big answers, ``localpeer``...), then HTTP defaults with short timeouts: the start
    of a config, proxies go after it.  ``admin`` may be a ``{admin}`` placeholder for a template."""
    extra = "".join(f"    {line}\n" for line in global_lines)
    return (f"\nglobal\n    stats socket {admin} mode 600 level admin\n{extra}"
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n")
