"""Data read on a schedule of its own: a list, then one command per listed item.

Certificates and OCSP responses change a few times a day or a year, and there can be thousands,
each one a command.  So the list is read once per refresh interval, each item once per interval
too, at most ``max_per_poll`` items in one poll (the rest in the following polls), and between
reads the last answers are served.  A poll thus waits for at most ``max_per_poll`` short commands,
whatever the number of items.  An item that fails to be read keeps its last answer and is tried
again at the next refresh; a failed list is tried again after a minute (or the interval, if
shorter); an item no longer listed goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, Mapping, Sequence, TypeVar

from exporter.clock import Clock
from exporter.exposition.families import Family
from exporter.reuse import PollMemo
from exporter.sources.base import Ask, Command, Source
from exporter.sources.values import Built, ModelStats, replay
from exporter.validation import ConfigError, Keys, format_duration, parse_duration, positive_int

T = TypeVar("T")
LIST_RETRY = 60.0
MAX_PER_POLL = 100_000  # commands in one poll: beyond it, a poll is no longer a poll
ANSWER = "items"  # a refreshed source's answers: (listed item, its answer) for each item known


@dataclass(frozen=True)
class Schedule:
    """A refreshed source's config section: ``{enabled, refresh_interval, max_per_poll}``."""

    enabled: bool = True
    refresh_interval: float = 300.0
    max_per_poll: int = 200


SCHEDULE_KEYS = Keys(("enabled", "refresh_interval", "max_per_poll"),
                     shape="a mapping like {enabled: true, refresh_interval: 5m}")


def parse_schedule(section: str, value: Any) -> Schedule:
    """The validated section; every mistake is one ConfigError naming the key."""
    if value is None:
        return Schedule()
    SCHEDULE_KEYS.check(section, value)
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{section}.enabled: expected true or false, got {enabled!r}")
    default = Schedule()
    refresh = value.get("refresh_interval")
    most = value.get("max_per_poll")
    return Schedule(
        enabled=enabled,
        refresh_interval=default.refresh_interval if refresh is None else parse_duration(
            f"{section}.refresh_interval", refresh),
        max_per_poll=default.max_per_poll if most is None else positive_int(f"{section}.max_per_poll", most,
                                                                            MAX_PER_POLL))


class Refreshed(Generic[T]):
    """The list and the items' answers of one process, and when each is due.

    ``key`` names a listed item (the text its command carries); ``sendable`` is what a key must
    look like to be sent: others are kept aside (``unsendable``), never sent.  :meth:`read` answers
    the same tuple object for as long as nothing changed, so a source can keep what it built from it.
    """

    def __init__(self, list_command: Command, item_command: Callable[[str], Command], key: Callable[[Any], str],
                 sendable: re.Pattern[str], clock: Clock) -> None:
        self.list_command = list_command
        self.item_command = item_command
        self.key = key
        self.sendable = sendable
        self.clock = clock
        self.unsendable: tuple[Any, ...] = ()
        self._listed: tuple[Any, ...] | None = None
        self._list_at = float("-inf")
        self._known: dict[str, T] = {}
        self._read_at: dict[str, float] = {}
        self._served: tuple[tuple[Any, T], ...] = ()

    def read(self, ask: Ask, schedule: Schedule) -> tuple[tuple[tuple[Any, T], ...] | None, bool]:
        """(listed item, its answer) for every item answered so far, or None before any list; and
        whether every command sent this poll succeeded."""
        now = self.clock.monotonic()
        ok = True
        if now >= self._list_at:
            listed = ask(self.list_command)
            if listed is None:
                ok = False
                self._list_at = now + min(LIST_RETRY, schedule.refresh_interval)
            else:
                self._take_list(listed, now, schedule)
        if self._listed is None:
            return None, False
        for item in self._due(now, schedule):
            key = self.key(item)
            answer = ask(self.item_command(key))
            self._read_at[key] = now
            if answer is None:
                ok = False
            else:
                self._known[key] = answer
        served = tuple((item, self._known[self.key(item)]) for item in self._listed if self.key(item) in self._known)
        if served != self._served:
            self._served = served
        return self._served, ok

    def _take_list(self, listed: tuple[Any, ...], now: float, schedule: Schedule) -> None:
        self._listed = tuple(i for i in listed if self.sendable.fullmatch(self.key(i)))
        self.unsendable = tuple(i for i in listed if not self.sendable.fullmatch(self.key(i)))
        self._list_at = now + schedule.refresh_interval
        keys = {self.key(i) for i in self._listed}
        for gone in set(self._known) - keys:
            del self._known[gone]
        for gone in set(self._read_at) - keys:
            del self._read_at[gone]

    def _due(self, now: float, schedule: Schedule) -> list[Any]:
        """Never read first, then the longest unread; at most max_per_poll."""
        assert self._listed is not None
        due = [i for i in self._listed
               if self.key(i) not in self._read_at or now - self._read_at[self.key(i)] >= schedule.refresh_interval]
        due.sort(key=lambda i: self._read_at.get(self.key(i), float("-inf")))
        return due[: schedule.max_per_poll]


class RefreshedSource(Source, Generic[T]):
    """A source whose data is a list and one command per listed item, read on a :class:`Schedule`.

    Subclasses set the class attributes, ``list_command``, ``item_command`` and ``families``; the
    series built from unchanged answers are taken as they were (exporter/reuse.py): between
    refreshes nothing is built.
    """

    list_command: ClassVar[Command]
    item_label: ClassVar[str]  # every item's command shares this name in the metrics
    key_pattern: ClassVar[str]  # what an item's key must look like to be sent

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or Schedule(), **kwargs)
        self.config: Schedule = self.options
        self.refreshed: Refreshed[T] = Refreshed(self.list_command, self.item_command, self.item_key,
                                                  re.compile(self.key_pattern), self.clock)
        self.reuse: PollMemo[Built] = PollMemo()

    @classmethod
    def parse_config(cls, value: Any) -> Schedule:
        assert cls.config_key is not None
        return parse_schedule(cls.config_key, value)

    @staticmethod
    def dump_config(section: Any) -> Any:
        return {"enabled": section.enabled, "refresh_interval": format_duration(section.refresh_interval),
                "max_per_poll": section.max_per_poll}

    def needed_level(self) -> str:
        return self.level if self.config.enabled else "user"

    def item_command(self, key: str) -> Command:
        raise NotImplementedError

    def item_key(self, item: Any) -> str:
        """The text of a listed item that its command carries."""
        return str(item)

    def families(self, served: tuple[tuple[Any, T], ...], stats: ModelStats) -> list[Family]:
        raise NotImplementedError

    def commands(self) -> Sequence[Command]:
        """What the source may send (its names in the metrics); :meth:`read` decides what it does send."""
        if not self.config.enabled:
            return ()
        return (self.list_command, Command(self.item_label, self.item_command("").parse))

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        if not self.config.enabled:
            return {}, True
        served, ok = self.refreshed.read(ask, self.config)
        return ({ANSWER: served} if served is not None else {}), ok

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        served = answers.get(ANSWER)
        if served is None:
            return []
        # ``served`` is the very tuple of the last poll while nothing changed (Refreshed.read); the
        # source itself is an input as it is: its config and labels are fixed for its lifetime.
        with self.reuse.poll():
            families = replay(self.reuse.get(ANSWER, _families_of, self, served), stats)
        if self.refreshed.unsendable:
            stats.ignore(self.name, "unsendable_name", repr(self.refreshed.unsendable[0]),
                         len(self.refreshed.unsendable))
        return list(families)


def _families_of(source: RefreshedSource[Any], served: tuple[tuple[Any, Any], ...]) -> Built:
    own = ModelStats()
    return source.families(served, own), own
