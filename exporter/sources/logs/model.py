"""The log source's families from a :class:`~exporter.sources.logs.tally.View`.

Label sets are kept from poll to poll (one per proxy, server, code and state), so that a family
whose values did not change renders from the poll memo (exporter/reuse.py), which compares label
columns by the identity of their sets.
"""

from __future__ import annotations

from itertools import accumulate

from exporter.exposition.families import (
    BACKEND,
    EXPORTER,
    FRONTEND,
    SERVER,
    Family,
    LabelSet,
    LabelSuffix,
    histogram_family,
)
from exporter.sources.logs import naming
from exporter.sources.logs.naming import TIMERS, histogram_name
from exporter.sources.logs.reader import Health
from exporter.sources.logs.syslog import SyslogReceiver
from exporter.sources.logs.tally import Known, View
from exporter.sources.values import COUNTER, GAUGE

_SCOPES = {"frontend": FRONTEND, "backend": BACKEND, "server": SERVER}


class Labels:
    """Label sets by what they label, kept while the names are known."""

    def __init__(self, extra: LabelSuffix) -> None:
        self.extra = extra
        self._sets: dict[tuple[tuple[str, str], ...], LabelSet] = {}

    def get(self, *pairs: tuple[str, str]) -> LabelSet:
        found = self._sets.get(pairs)
        if found is None:
            found = self._sets[pairs] = LabelSet(pairs).plus(self.extra)
        return found

    def forget_unless(self, known: Known) -> None:
        """Let go of the sets of names ``show stat`` no longer lists (the tally lets go of their counts)."""
        names = known.frontends | known.backends
        self._sets = {pairs: labels for pairs, labels in self._sets.items()
                      if not pairs or pairs[0][0] != "proxy" or pairs[0][1] in names}


def log_families(view: View, bounds: tuple[float, ...], labels: Labels) -> list[Family]:
    """The histograms and counters of the log lines read so far."""
    families: list[Family] = []
    for (scope, timer), series in view.histograms.items():
        if not series:
            continue
        rows = [_proxy_labels(labels, key) for key, _, _ in series]
        cumulative = [list(accumulate(counts)) for _, counts, _ in series]
        sums = [total_ms / 1000 for _, _, total_ms in series]
        native = view.native.get((scope, timer))  # the protobuf form's exponential buckets, if on
        families.append(histogram_family(histogram_name(scope, timer), TIMERS[timer][1], rows, bounds, cumulative,
                                         sums, scope=_SCOPES[scope], native=native))
    for scope, found in view.codes.items():
        name, help = naming.RESPONSES
        families.append(_counter(name.format(scope=scope), help, _SCOPES[scope],
                                 [(labels.get(("proxy", proxy), ("code", str(code))), n) for proxy, code, n in
                                  sorted(found)]))
    for scope, states in view.terminations.items():
        name, help = naming.TERMINATIONS
        families.append(_counter(name.format(scope=scope), help, _SCOPES[scope],
                                 [(labels.get(("proxy", proxy), ("state", state)), n) for proxy, state, n in
                                  sorted(states)]))
    for (name, help), counts in ((naming.RETRIES, view.retries), (naming.REDISPATCHES, view.redispatches)):
        families.append(_counter(name, help, BACKEND, [(labels.get(("proxy", be)), n) for be, n in sorted(counts)]))
    return [family for family in families if family.values]


def _proxy_labels(labels: Labels, key: tuple[str, ...]) -> LabelSet:
    return labels.get(("proxy", key[0])) if len(key) == 1 else labels.get(("proxy", key[0]), ("server", key[1]))


def health_families(view: View, labels: Labels, ring: str = "", stream: Health | None = None) -> list[Family]:
    """The pipeline's own figures: lines read and rejected; a ring's drops and its stream's state."""
    def by(name: str, value: str) -> LabelSet:
        return labels.get((name, value))

    families = [
        _counter(*naming.LINES_READ, EXPORTER, [(labels.get(), view.lines)]),
        _counter(*naming.LINES_REJECTED, EXPORTER, [(by("reason", r), n) for r, n in sorted(view.rejected.items())]),
        _counter(*naming.UNEXPORTED, EXPORTER, [(by("reason", r), n) for r, n in sorted(view.unexported.items())]),
    ]
    if stream is not None:
        families += [
            _counter(*naming.RING_DROPPED, EXPORTER, [(by("ring", ring), view.dropped)]),
            Family(naming.STREAM_UP[0], GAUGE, naming.STREAM_UP[1], [(labels.get(), "1" if stream.up else "0")],
                   scope=EXPORTER),
            _counter(*naming.STREAM_CONNECTS, EXPORTER, [(labels.get(), stream.connects)]),
            _counter(*naming.STREAM_FAILURES, EXPORTER,
                     [(by("reason", r), n) for r, n in sorted(dict(stream.failures).items())]),
        ]
    return [family for family in families if family.values]


def syslog_families(receiver: SyslogReceiver, labels: Labels) -> list[Family]:
    """The syslog socket's own figures: bound or not, datagrams, and those not read by reason."""
    def by(name: str, value: str) -> LabelSet:
        return labels.get((name, value))

    lost = {"truncated": receiver.truncated, "refused": receiver.refused, "kernel": receiver.kernel_drops}
    families = [
        Family(naming.SYSLOG_UP[0], GAUGE, naming.SYSLOG_UP[1], [(labels.get(), "1" if receiver.up else "0")],
               scope=EXPORTER),
        _counter(*naming.SYSLOG_DATAGRAMS, EXPORTER, [(labels.get(), receiver.datagrams)]),
        _counter(*naming.SYSLOG_LOST, EXPORTER, [(by("reason", r), n) for r, n in lost.items()]),
        _counter(*naming.SYSLOG_FAILURES, EXPORTER,
                 [(by("reason", r), n) for r, n in sorted(dict(receiver.failures).items())]),
    ]
    return [family for family in families if family.values]


def _counter(name: str, help: str, scope: str, samples: list[tuple[LabelSet, int]]) -> Family:
    return Family(name, COUNTER, help, [(labels, str(n)) for labels, n in samples], scope=scope)

