"""The certificates source: ``show ssl cert``, then ``show ssl cert <file>`` for each file listed.

Operator level (HAProxy refuses both below it).  Each certificate costs a command, and a large
installation has thousands that change a few times a year, so the source has its own refresh
interval (``certificates.refresh_interval``, 5 minutes): the list is read once per interval,
each certificate once per interval too, at most ``max_per_poll`` of them in one poll (the rest in
the following polls), and between reads the last answers are served.  A poll of ``show stat``
thus waits for at most ``max_per_poll`` short commands, whatever the number of certificates.
A certificate that fails to be read keeps its last answer and is tried again at the next
refresh; one that is no longer listed goes.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Ask, Command, Source
from exporter.sources.certificates.config import CertificatesConfig, parse_certificates
from exporter.sources.certificates.model import Labels, certificate_families
from exporter.sources.certificates.parse import Certificate, parse_cert, parse_cert_list
from exporter.sources.values import ModelStats

# What a certificate name may be to be sent: no space, ';' or '#' (the CLI would split or cut it),
# no '*' first (an uncommitted transaction).  crt-store names (@store/name) pass.
FILE_PATTERN = r"[^\s;#*\\][^\s;#\\]{0,4095}"
_SENDABLE = re.compile(FILE_PATTERN)
LIST = Command("show ssl cert", parse_cert_list)
DETAIL = "show ssl cert <file>"  # every certificate's command shares this name in the metrics
ANSWER = "certificates"  # the answers' key: the certificates known after this poll's reads
LIST_RETRY = 60.0  # after a failed list, the next try (or the refresh interval, when shorter)


def detail_command(file: str) -> Command:
    return Command(f"show ssl cert {file}", parse_cert, DETAIL)


def _monotonic() -> float:
    return time.monotonic()  # looked up per call, so freezegun can move it


class CertificateSource(Source):
    name = "certificates"
    allowed = (r"show ssl cert", rf"show ssl cert {FILE_PATTERN}")
    level = "operator"
    config_key = "certificates"

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or CertificatesConfig(), **kwargs)
        self.config: CertificatesConfig = self.options
        self.clock: Callable[[], float] = _monotonic
        self._files: tuple[str, ...] | None = None  # the last list read
        self._list_at = float("-inf")  # when to read the list next
        self._known: dict[str, Certificate] = {}
        self._read_at: dict[str, float] = {}
        self._labels: dict[Certificate, Labels] = {}
        self._served: tuple[Certificate, ...] = ()  # what read() answers: a new tuple only after a change
        self._built: tuple[tuple[Certificate, ...], list[Family], int] | None = None  # (for, families, invalid)
        self._unsendable: tuple[str, ...] = ()  # listed names no command can carry (a space in the name)

    @staticmethod
    def parse_config(value: Any) -> CertificatesConfig:
        return parse_certificates(value)

    def needed_level(self) -> str:
        return self.level if self.config.enabled else "user"

    def commands(self) -> Sequence[Command]:
        """What the source may send (its names in the metrics); :meth:`read` decides what it does send."""
        return (LIST, Command(DETAIL, parse_cert)) if self.config.enabled else ()

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        if not self.config.enabled:
            return {}, True
        now = self.clock()
        ok = True
        if now >= self._list_at:
            listed = ask(LIST)
            if listed is None:  # a socket below operator, or a passing failure: not every poll
                ok = False
                self._list_at = now + min(LIST_RETRY, self.config.refresh_interval)
            else:
                self._listed(listed, now)
        if self._files is None:
            return {}, False
        for file in self._due(now):
            cert = ask(detail_command(file))
            self._read_at[file] = now
            if cert is None:
                ok = False
            else:
                self._known[file] = cert
        served = tuple(self._known[f] for f in self._files if f in self._known)
        if served != self._served:
            self._served = served
        return {ANSWER: self._served}, ok

    def _listed(self, files: tuple[str, ...], now: float) -> None:
        self._files = tuple(f for f in files if _SENDABLE.fullmatch(f))
        self._unsendable = tuple(f for f in files if not _SENDABLE.fullmatch(f))
        self._list_at = now + self.config.refresh_interval
        gone = set(self._known) - set(self._files)
        for file in gone:
            del self._known[file]
        for file in set(self._read_at) - set(self._files):
            del self._read_at[file]

    def _due(self, now: float) -> list[str]:
        """The next certificates to read: never read first, then the longest unread, at most max_per_poll."""
        assert self._files is not None
        refresh = self.config.refresh_interval
        due = [f for f in self._files if f not in self._read_at or now - self._read_at[f] >= refresh]
        due.sort(key=lambda f: self._read_at.get(f, float("-inf")))
        return due[: self.config.max_per_poll]

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        certs = answers.get(ANSWER)
        if self._unsendable:
            stats.ignore("certificate", "unsendable_name", repr(self._unsendable[0]), len(self._unsendable))
        if certs is None:
            return []
        if self._built is not None and self._built[0] is certs:  # nothing changed since: the same families
            stats.invalid_values += self._built[2]
            return list(self._built[1])
        kept = {c: self._labels[c] for c in certs if c in self._labels}
        self._labels = kept  # only the certificates still served
        own = ModelStats()
        families = certificate_families(certs, own, self.extra, kept)
        self._built = (certs, families, own.invalid_values)
        stats.invalid_values += own.invalid_values
        return list(families)


