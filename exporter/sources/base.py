"""What a source is: the read-only commands it sends, what its failure means, and a pure build.

The poller runs every source the same way (timing, errors by reason, logging once per change,
per-source success and duration), so a source only says *what* to ask and *how* to turn the
answers into families.  A source instance lives as long as the HAProxy process it reads, so it
may keep caches between polls (label objects, warnings already given).

A source is polled (its commands, sent every cycle), or streams (a long-lived read that
:meth:`Source.start` opens with the process's :class:`Link` and :meth:`Source.stop` closes, what it
reads accumulated between polls and built into families, a snapshot, when a poll asks), or both:
the poll does not tell them apart beyond calling start before the process's first read and stop
when the process or the target goes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Hashable, Mapping, Protocol, Sequence, TypeVar

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.runtime.answer import Text
from exporter.runtime.client import Client
from exporter.sources.doctable import DocRows
from exporter.sources.values import ModelStats as ModelStats  # build's second argument, so the poll's too
from exporter.validation import plain


class Limits(Protocol):
    """Bounds on what one poll may hold: the config's ``poll:`` section (exporter/config.py's
    PollSection, where their defaults are)."""

    @property
    def max_series(self) -> int: ...

# The Runtime API's access levels, lowest first: a source's ``level`` names one, and the socket's
# own (``show cli level``, exporter/sources/registry.py) is compared with it.
LEVELS = ("user", "operator", "admin")


def below(have: str, need: str) -> bool:
    """Whether a socket at level ``have`` is refused what needs level ``need``."""
    return LEVELS.index(have) < LEVELS.index(need)


@dataclass(frozen=True)
class Command:
    """One Runtime API command: the text sent, how to parse the answer, and its name in metrics.

    ``label`` defaults to the text; it differs when the text carries per-config details that must
    not become label values of their own (stick-table filters).
    """

    text: str
    parse: Callable[[Text], Any]  # the answer's text (runtime/answer.py: read it a block at a time)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.text


Ask = Callable[[Command], Any]  # runs one command (recorded by the poller): its parsed answer, or None


class Closing(Protocol):
    def close(self) -> None: ...


Made = TypeVar("Made", bound=Closing)


class Kept:
    """What a target's sources keep beyond the process they read: it lives as long as the target.

    A process's sources end with the process (a worker replaced by a reload, through a master
    CLI), but some figures are the exporter's own counters that an HAProxy reload must not reset
    (the log source's histograms), and some readers serve every process of the target at once (a
    syslog socket every worker sends to).  A source keeps such a thing here under its name, with
    the config it was made from: the next process's source gets the same one while the config is
    the same, a new one (the old closed) when it changed, none when the source is off.  The
    target's end closes everything.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[Hashable, Closing]] = {}
        self._closed = False

    def get(self, name: str, key: Hashable, make: Callable[[], Made]) -> Made | None:
        """The thing kept under ``name`` if it was made for ``key``, else a new one from ``make``
        (the one it replaces closed); None once the target has ended."""
        with self._lock:
            if self._closed:
                return None
            found = self._items.get(name)
            if found is not None and found[0] == key:
                return found[1]  # type: ignore[return-value]  # made by make() for this name and key
            made = make()
            self._items[name] = (key, made)
        if found is not None:
            found[1].close()
        return made

    def drop(self, name: str) -> None:
        """Close and forget what is kept under ``name`` (the source was turned off)."""
        with self._lock:
            found = self._items.pop(name, None)
        if found is not None:
            found[1].close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            items, self._items = self._items, {}
        for _, thing in items.values():
            thing.close()


@dataclass(frozen=True)
class Link:
    """The way to the process a source reads, for what the source keeps open between polls.

    ``client`` is the target's: its address, timeouts and the registry's allowlist, so a stream's
    command must be one the source declares in ``allowed``; through a master CLI, ``route``
    (``@!<pid> ``) goes in front of it.  ``where`` names the target in log lines; ``kept`` is
    what the target's sources keep beyond one process.
    """

    where: str
    route: str
    client: Client
    kept: Kept = field(default_factory=Kept)


class Source:
    """One kind of Runtime API data.  Subclasses set the class attributes and the two methods.

    ``allowed`` are the regular expressions of every command the source may ever send; the client's
    allowlist is built from the registered sources' declarations, so no other command can reach the
    socket.  ``required`` sources decide ``haproxy_up``: if one fails, nothing is published.
    ``level`` is the lowest socket level the source's data needs (said once in the log when the
    socket is below it).  ``old_workers``: also read from old workers still draining after a reload.
    A source built for an old worker (``old``) gets ``extra`` labels for every series (the
    ``worker`` label) and keeps only what adds up across processes (counters, current levels), so
    a plain ``sum`` over the workers stays true.

    ``optional``: the commands are newer than some HAProxy versions the exporter reads (``show ssl
    ocsp-updates`` came with 2.8), and an ``Unknown command`` answer means "this HAProxy does not
    have it", not a fault: the poller then counts no error and warns not, says it once at info
    level, reports the source as a success without series, and asks again only every
    ``Process.RECHECK_SECONDS`` (the socket may meanwhile be served by an upgraded HAProxy).
    Without it, an exporter reading a fleet of mixed versions would count an error on every poll
    of every old HAProxy, and an alert on command errors would fire for what is no fault.
    """

    name: ClassVar[str]
    allowed: ClassVar[tuple[str, ...]]
    required: ClassVar[bool] = False
    level: ClassVar[str] = "user"
    old_workers: ClassVar[bool] = False
    optional: ClassVar[bool] = False
    config_key: ClassVar[str | None] = None  # its own config section, parsed by parse_config
    # Commands of other sources whose parsed answers build() also gets, when they were answered in
    # the same cycle (show peers for the stick tables' local updates): one command, read once.
    reads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any = None, extra: LabelSuffix = NO_SUFFIX, old: bool = False,
                 limits: Limits | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.options = options
        self.extra = extra
        self.old = old
        self.limits = limits
        self.clock = clock

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        """The rows this source's metrics add to the README's metric tables, from its naming table
        (exporter/sources/doctable.py; exporter/docs.py prints them)."""
        return ()

    @staticmethod
    def parse_config(value: Any) -> Any:
        """The validated value of the source's config section (raise ConfigError naming the key)."""
        return None

    @staticmethod
    def dump_config(section: Any) -> Any:
        """The validated section as the config file writes it (``--config.check`` prints it), which
        ``parse_config`` reads back to the same value; None leaves the section out (it is off)."""
        return plain(section)

    @staticmethod
    def check_targets(section: Any, targets: int) -> None:
        """Refuse (ConfigError naming the key) what the section cannot do for this many targets:
        each section applies to every target."""

    def needed_level(self) -> str:
        """The socket level this source's configured data needs (stick-table contents: operator)."""
        return self.level

    def commands(self) -> Sequence[Command]:
        """What to send every cycle: nothing for a source that only streams."""
        return ()

    def start(self, link: Link) -> None:
        """Begin what runs between polls, if anything (a stream and its reader); return promptly.

        Called before the process's first read, and again after :meth:`stop` when the target's
        socket changed (a reload to another address, or the socket became another kind).
        """

    def stop(self) -> None:
        """End what :meth:`start` began, promptly: the process left (a worker gone, the sources
        replaced by a reload), or the target left the config, or the exporter stops."""

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        """The answers by command name, and whether every command was answered.

        Runs :meth:`commands` in order.  A source whose commands depend on earlier answers (a
        listing, then one command per item it lists) overrides this; every command still goes
        through ``ask``, so it is timed, counted and checked against the allowlist like any other,
        and commands sharing a label add up in that label's figures.
        """
        got: dict[str, Any] = {}
        commands = self.commands()
        for command in commands:
            result = ask(command)
            if result is not None:
                got[command.name] = result
        return got, len(got) == len(commands)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        """Families from the parsed answers, keyed by command name (those of :attr:`reads` too); a
        failed command is absent.  A source that streams builds from what it has accumulated, taken
        under its own lock: its reader runs in another thread."""
        raise NotImplementedError


@dataclass(frozen=True)
class Worker:
    """One worker a master CLI lists: its pid (the ``@!<pid>`` route to it) and, before 2.5
    (``nbproc``), its process number."""

    pid: int
    relative: int | None = None


class WorkerListing(Source):
    """A master CLI's source that lists the workers behind it, for the poll to read each of them.

    Its one command, :attr:`listing`, also tells a master CLI from a worker's own socket, which
    answers that it does not know it.
    """

    listing: ClassVar[Command]

    def commands(self) -> Sequence[Command]:
        return (self.listing,)

    def workers(self, answers: Mapping[str, Any]) -> tuple[list[Worker], list[Worker]]:
        """(current workers, old workers still draining after a reload) from this cycle's answers."""
        raise NotImplementedError
