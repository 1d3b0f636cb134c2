"""A target whose socket is a master CLI: the master's own sources, then every worker through it.

The master's sources are the registry's ``MASTER_SOURCES``; one of them lists the workers
(:class:`~exporter.sources.base.WorkerListing`), and its command is also how a master CLI is told
from a worker's own socket, which does not know it.  Each listed worker is read with ``@!<pid>``
routing: the current worker under exactly the names and labels its own socket gives, old workers
still draining after a reload under the same names with a ``worker="<pid>"`` label and only what
adds up across processes (docs/master-worker.md).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from exporter.clock import Clock
from exporter.config import Config
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix, label_suffix
from exporter.poll.lifetime import Lifetime
from exporter.poll.process import Process, Runner, merge_families
from exporter.poll.state import CommandStats, PollState
from exporter.runtime.errors import ParseError
from exporter.sources import registry
from exporter.sources.base import ModelStats, Source, Worker, WorkerListing

log = logging.getLogger("exporter.poll")

# The pauses before trying a command again through a master CLI, which re-executes itself on every
# reload and refuses connections meanwhile (Runner.retries).
MASTER_RETRIES = (0.1, 0.3, 0.9)

Build = Callable[[ModelStats], list[Family]]  # the families of one cycle, built when it is published


class MasterCli:
    """The master and the readers of its workers, kept from poll to poll (their sources' caches).

    ``commands`` are the current workers' and the master's figures, as a worker's own socket's
    would be; the old workers' are summed over them in ``old_commands`` (PollState).
    """

    def __init__(self, config: Config, clock: Clock, life: Lifetime) -> None:
        self.config = config
        self.clock = clock
        self.life = life
        self.master = Process(config, clock, sources=registry.MASTER_SOURCES)
        self.listing = _listing(self.master.sources)
        self._workers: dict[tuple[int, bool], Process] = {}  # by (pid, old)

    def probe(self, runner: Runner) -> bool | None:
        """Whether the socket is a master CLI (asked quietly: not one of the target's commands);
        None while it cannot be told (unreachable)."""
        answer = runner.probe(self.listing.listing)
        if not isinstance(answer, Exception):
            return True
        if isinstance(answer, ParseError) and answer.reason == "unknown_command":
            return False
        return None

    def forgot(self, commands: CommandStats) -> bool:
        """Whether the socket no longer knows the master's commands (no longer a master CLI)."""
        return self.master.forgot(commands)

    def command_names(self) -> set[str]:
        return self.master.command_names()

    def read(self, runner: Runner, st: PollState) -> Build | None:
        """Read the master, then every worker it lists: the cycle's build, or None when the cycle
        failed (the master's sources, or a current worker's required ones).

        An old worker that fails is left out of this cycle (it may just have left), never fails it.
        """
        self.life.start(self.master)
        answers, ok = self.master.read(runner, st.commands, st.source_seconds, st.source_ok)
        if not ok:
            return None
        current, old = self.listing.workers(answers[self.listing.name])
        processes = self._worker_processes(current, old)
        ok = bool(current)
        if not current:
            log.warning("%sthe master lists no worker: nothing to read", runner.where)
            runner.record.failed(self.listing.listing.text, "no_workers", "the master lists no worker: nothing to read")
        reads: list[tuple[Process, Mapping[str, Mapping[str, Any]]]] = []
        for process in processes[: len(current)]:
            self.life.start(process)
            got, read_ok = process.read(runner, st.commands, st.source_seconds, st.source_ok)
            ok = ok and read_ok
            reads.append((process, got))
        if not ok:
            return None
        old_stats = CommandStats(last_reason=st.old_commands.last_reason)
        for process in processes[len(current):]:
            self.life.start(process)
            got, read_ok = process.read(runner, old_stats, None, None)
            if read_ok:  # an old worker that left meanwhile simply has no series this time
                reads.append((process, got))
        _merge_old(st.old_commands, old_stats)

        def build(stats: ModelStats) -> list[Family]:
            families: list[Family] = []
            for process, got in reads:
                timings = st.source_seconds if not process.old else None
                okays = st.source_ok if not process.old else None
                families = merge_families(families, process.build(got, stats, timings, okays, runner.record))
            return families + self.master.build(answers, stats, st.source_seconds, st.source_ok, runner.record)

        return build

    def _worker_processes(self, current: list[Worker], old: list[Worker]) -> list[Process]:
        """A reader per worker, current ones first, kept from poll to poll (label caches); the
        sources of a worker no longer listed stop."""
        several = len(current) > 1  # before 2.5 (nbproc): tell the current processes apart
        wanted: list[tuple[tuple[int, bool], LabelSuffix]] = [
            ((w.pid, False), label_suffix(("process", str(w.relative or n + 1))) if several else NO_SUFFIX)
            for n, w in enumerate(current)
        ] + [((w.pid, True), label_suffix(("worker", str(w.pid)))) for w in old]
        kept = {key: self._workers.get(key) or Process(self.config, self.clock, f"@!{key[0]} ", extra, old=key[1])
                for key, extra in wanted}
        self.life.stop(process for key, process in self._workers.items() if key not in kept)
        self._workers = kept
        return list(kept.values())


def _listing(sources: Sequence[Source]) -> WorkerListing:
    for source in sources:
        if isinstance(source, WorkerListing):
            return source
    raise TypeError("registry.MASTER_SOURCES has no WorkerListing: no master CLI's workers could be found")


def _merge_old(total: CommandStats, cycle: CommandStats) -> None:
    """The old workers' figures of one cycle, summed over them: durations added, success only
    if all succeeded; counters accumulate."""
    for key, count in cycle.errors.items():
        total.errors[key] = total.errors.get(key, 0) + count
    total.seconds = dict(cycle.seconds)
    total.ok = dict(cycle.ok)
