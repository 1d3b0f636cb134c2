"""The registered sources.  Adding a kind of data is one module and one line here.

Worker sources are read from every HAProxy worker (through the master CLI from each of them);
master sources only from a master CLI, the first of them a :class:`~exporter.sources.base.WorkerListing`
that says which workers there are (exporter/poll/master.py).  Their families appear in this order.
"""

from __future__ import annotations

from typing import Any, Callable

from exporter.runtime.answer import Text
from exporter.runtime.client import Allowlist
from exporter.runtime.errors import first_line
from exporter.sources.base import LEVELS, Command, Source
from exporter.sources.certificates.source import CertificateSource
from exporter.sources.errors.source import ErrorsSource
from exporter.sources.info.source import InfoSource
from exporter.sources.logs.source import LogSource
from exporter.sources.maps.source import MapsSource
from exporter.sources.ocsp.source import OcspSource
from exporter.sources.ocsp_updates.source import OcspUpdatesSource
from exporter.sources.peers.source import PeersSource
from exporter.sources.proc.source import ProcSource
from exporter.sources.resolvers.source import ResolversSource
from exporter.sources.stat.source import SHOW_STAT, StatSource
from exporter.sources.sticktables.source import StickTableSource

WORKER_SOURCES: tuple[type[Source], ...] = (
    InfoSource,
    StatSource,
    StickTableSource,
    ResolversSource,
    CertificateSource,
    OcspSource,
    OcspUpdatesSource,
    PeersSource,
    MapsSource,
    ErrorsSource,
    LogSource,
)
MASTER_SOURCES: tuple[type[Source], ...] = (
    ProcSource,
)



# A poll that would publish more than poll.max_series series is refused whole, and counted against
# this command: the one whose answer is refused the same way while it is read (rows x columns over
# the cap), so command_errors_total{command="show stat",reason="too_many_series"} counts both.
SERIES_CAP_COMMAND = SHOW_STAT



def _level(text: Text) -> str:
    """The session's level.  An answer that names none (an HAProxy older than the command) reads
    as admin, below which nothing is: nothing is said."""
    line = first_line(text)
    return line if line in LEVELS else "admin"


# The poll's own question to a socket when it first meets it: the session's level, so a source that
# needs more (stick-table contents need operator) is said once in the log.
LEVEL_PROBE = Command("show cli level", _level)
# Every probe, allowed beside the sources' commands (its text, plain words, is its own pattern).
PROBES: tuple[Command, ...] = (LEVEL_PROBE,)


def sources() -> tuple[type[Source], ...]:
    """Every registered source, the workers' first."""
    return (*WORKER_SOURCES, *MASTER_SOURCES)


def allowlist() -> Allowlist:
    """Every command any registered source declares, and the probes; the client refuses all others."""
    declared = [pattern for source in sources() for pattern in source.allowed]
    return Allowlist([*declared, *(probe.text for probe in PROBES)])


def config_sections() -> dict[str, Callable[[Any], Any]]:
    """Config section name → the source's parser for it."""
    return {s.config_key: s.parse_config for s in sources() if s.config_key}


def config_dumps() -> dict[str, Callable[[Any], Any]]:
    """Config section name → the source's writer of it, as the file writes it (``--config.check``)."""
    return {s.config_key: s.dump_config for s in sources() if s.config_key}


def target_checks() -> dict[str, Callable[[Any, int], None]]:
    """Config section name → the source's check of it against the number of targets."""
    return {s.config_key: s.check_targets for s in sources() if s.config_key}
