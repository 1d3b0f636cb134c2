"""Parse ``show proc`` from a master CLI (reference sheet §5.3).

The master line, then ``# workers``, ``# old workers`` (workers still serving their connections
after a reload) and ``# programs`` sections, one process per line in fixed-width columns::

    #<PID>          <type>          <reloads>       <uptime>        <version>
    21926           master          1 [failed: 0]   0d00h00m05s     2.6.12-1+deb12u4
    # workers
    21932           worker          0               0d00h00m02s     2.6.12-1+deb12u4
    # old workers
    21928           worker          1               0d00h00m05s     2.6.12-1+deb12u4

Before 2.5 (``nbproc``) a ``<relative PID>`` column follows the type; the header says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.runtime.answer import Text, nonblank
from exporter.runtime.errors import ParseError, check_count, error_reason, first_line

_UPTIME = re.compile(r"(\d{1,20})d(\d{1,20})h(\d{1,20})m(\d{1,20})s")
_LINE = re.compile(
    r"(?P<pid>\d{1,20})\s+(?P<type>\S+)\s+(?:(?P<relative>\d{1,20}|-)\s+)?(?P<reloads>-?\d{1,20})"
    r"(?: \[failed: (?P<failed>\d{1,20})\])?\s+(?P<uptime>\S+)(?:\s+(?P<version>\S.*?))?\s*"
)
_SECTIONS = {"# workers": "current", "# old workers": "old", "# programs": "programs"}
# Each listed worker is read (a reader and its sources, and its commands, per poll): a master that
# lists more than this is no master CLI, whose old workers are counted in tens at most.
MAX_PROCESSES = 1024


@dataclass(frozen=True)
class Proc:
    """One process line.  ``failed`` only on the master line (2.6+), ``relative`` only before 2.5."""

    pid: int
    reloads: int
    uptime_seconds: int | None
    version: str
    failed: int | None = None
    relative: int | None = None


@dataclass
class ProcList:
    master: Proc
    current: list[Proc] = field(default_factory=list)
    old: list[Proc] = field(default_factory=list)
    programs: int = 0


def uptime_seconds(text: str) -> int | None:
    """``0d00h00m13s`` → 13."""
    m = _UPTIME.fullmatch(text)
    if m is None:
        return None
    days, hours, minutes, seconds = map(int, m.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _proc(line: str, relative_column: bool) -> Proc:
    m = _LINE.fullmatch(line)
    if m is None or (relative_column and m.group("relative") is None):
        raise ParseError("malformed", f"show proc: unexpected line {first_line(line)!r}")
    relative = m.group("relative")
    failed = m.group("failed")
    return Proc(
        pid=int(m.group("pid")), reloads=int(m.group("reloads")), uptime_seconds=uptime_seconds(m.group("uptime")),
        version=(m.group("version") or "").strip(), failed=int(failed) if failed is not None else None,
        relative=int(relative) if relative not in (None, "-") else None,
    )


def parse_proc(text: Text) -> ProcList:
    """The master and its workers; :class:`ParseError` for anything else (a worker's socket answers
    ``Unknown command``, which is how a master CLI is told apart)."""
    listed = nonblank(text)
    first = next(listed, None)
    if first is None or not first.startswith("#<PID>"):
        raise ParseError(error_reason(text), f"show proc answered {first_line(text)!r}")
    relative_column = "<relative PID>" in first
    master: Proc | None = None
    listing = ProcList(Proc(0, 0, None, ""))
    section = "master"
    for line in listed:
        stripped = line.strip()
        if stripped in _SECTIONS:
            section = _SECTIONS[stripped]
            continue
        if section == "programs":
            listing.programs += 1
            continue
        proc = _proc(stripped, relative_column)
        if section == "master":
            if master is not None:
                raise ParseError("malformed", "show proc: more than one master line")
            master = proc
        elif section == "current":
            listing.current.append(proc)
        else:
            listing.old.append(proc)
        check_count(len(listing.current) + len(listing.old), MAX_PROCESSES, "show proc: workers")
    if master is None:
        raise ParseError("malformed", "show proc: no master line")
    listing.master = master
    return listing
