"""The exporter's own metrics: each target's health, and the process's at scrape time.

A target's status is rendered twice per poll (fresh, and as it must read once the data is older
than ``poll.max_age``) so the scrape only picks one.  With several targets, ``/metrics`` serves
an overview: one ``haproxy_up{target}`` and last-success time per target, like the blackbox
exporter's own page, while each target's full page is at ``/probe?target=``.
"""

from __future__ import annotations

import platform
from typing import Iterable, Mapping

from exporter import __version__
from exporter.exposition.families import EXPORTER, NO_LABELS, Family, LabelSet, format_float
from exporter.exposition.gzip import GZIP_ENGINE
from exporter.poll.state import CommandStats, PollState

OLD = LabelSet((("worker", "old"),))  # the old workers' per-command figures, summed over them


def _own(name: str, kind: str, help: str, samples: Iterable[tuple[LabelSet, str]] = ()) -> Family:
    """One of the exporter's own families (in no promex scope: sent whatever a query selects)."""
    return Family(name, kind, help, samples, scope=EXPORTER)


def _by(name: str, value: str, extra: LabelSet = NO_LABELS) -> LabelSet:
    return LabelSet(((name, value), *extra.pairs))


def _command_families(commands: CommandStats, old: CommandStats) -> list[Family]:
    def rows(stats: CommandStats, extra: LabelSet) -> Iterable[tuple[str, CommandStats, LabelSet]]:
        return ((name, stats, extra) for name in stats.seconds)

    both = [*rows(commands, NO_LABELS), *rows(old, OLD)]
    errors = [(LabelSet((("command", c), ("reason", r), *extra.pairs)), str(n))
              for stats, extra in ((commands, NO_LABELS), (old, OLD))
              for (c, r), n in sorted(stats.errors.items())]
    return [
        _own("haproxy_exporter_command_duration_seconds", "gauge",
               "Wall time of the last run of each Runtime API command, parsing included",
               [(_by("command", name, extra), format_float(stats.seconds[name])) for name, stats, extra in both]),
        _own("haproxy_exporter_command_success", "gauge",
               "1 if the last run of the command succeeded, else 0",
               [(_by("command", name, extra), "1" if stats.ok.get(name) else "0") for name, stats, extra in both]),
        _own("haproxy_exporter_command_errors_total", "counter",
               "Failed runs of Runtime API commands by reason", errors),
    ]


def build_info() -> Family:
    return _own("haproxy_exporter_build_info", "gauge", "Exporter version, Python version and gzip engine",
                  [(LabelSet((("version", __version__), ("python_version", platform.python_version()),
                              ("gzip", GZIP_ENGINE))), "1")])


def reload_status(ok: bool) -> Family:
    return _own("haproxy_exporter_config_last_reload_successful", "gauge",
                  "0 if the last config reload (SIGHUP) was refused and the previous config is still in use, "
                  "else 1", [(NO_LABELS, "1" if ok else "0")])


def target_families(st: PollState, stale: bool, reload_ok: bool) -> list[Family]:
    """Everything ``/metrics`` (one HAProxy) or ``/probe`` says about the target besides its data."""
    up = st.up and not stale
    fams = [
        _own("haproxy_up", "gauge", "1 if the last poll read show info and show stat, else 0",
               [(NO_LABELS, "1" if up else "0")]),
        _own("haproxy_exporter_snapshot_stale", "gauge",
               "1 when HAProxy's series are withheld because the last good poll is older than poll.max_age",
               [(NO_LABELS, "1" if stale else "0")]),
        _own("haproxy_exporter_poll_duration_seconds", "gauge", "Wall time of the last poll cycle",
               [(NO_LABELS, format_float(st.poll_seconds))]),
        _own("haproxy_exporter_poll_phase_seconds", "gauge",
               "Wall time of the last poll cycle by phase (fetch, parse, build, render, compress)",
               [(_by("phase", k), format_float(v)) for k, v in st.phase_seconds.items()]),
        *_command_families(st.commands, st.old_commands),
        _own("haproxy_exporter_source_duration_seconds", "gauge",
               "Wall time of the last run of each source (its commands and building its series)",
               [(_by("source", k), format_float(v)) for k, v in st.source_seconds.items()]),
        _own("haproxy_exporter_source_success", "gauge",
               "1 if every command of the source succeeded in the last poll and its series were built, else 0",
               [(_by("source", k), "1" if v else "0") for k, v in st.source_ok.items()]),
        _own("haproxy_exporter_polls_total", "counter", "Poll cycles by result",
               [(_by("result", k), str(v)) for k, v in st.polls.items()]),
        _own("haproxy_exporter_poll_start_failures_total", "counter",
               "Polls that could not start, as no thread could be started for them",
               [(NO_LABELS, str(st.start_failures))]),
        _own("haproxy_exporter_invalid_values_total", "counter",
               "Values HAProxy sent that were no number it prints (an integer of at most 20 digits, a counter not "
               "negative) and were skipped",
               [(NO_LABELS, str(st.invalid_values))]),
        _own("haproxy_exporter_ignored_fields", "gauge",
               "Parts of HAProxy's answers skipped by the last poll, as they cannot become series: a repeated "
               "column, two columns naming one metric, rows of an unknown type",
               [(LabelSet((("what", w), ("reason", r))), str(n)) for (w, r), n in sorted(st.ignored.items())]),
        build_info(),
    ]
    if st.last_success is not None:
        fams.append(_last_success(NO_LABELS, st.last_success))
    fams.append(reload_status(reload_ok))
    if st.samples is not None:
        fams.append(_own("haproxy_exporter_snapshot_samples", "gauge",
                           "Number of HAProxy samples in the latest good snapshot",
                           [(NO_LABELS, str(st.samples))]))
    return fams


def _last_success(labels: LabelSet, when: float) -> Family:
    return _own("haproxy_exporter_last_successful_poll_timestamp_seconds", "gauge",
                  "Unix time of the last poll that read HAProxy", [(labels, format_float(round(when, 3)))])


def overview_families(states: Mapping[str, PollState], reload_ok: bool) -> list[Family]:
    """``/metrics`` with several targets: one line per target, never their data."""
    up = _own("haproxy_up", "gauge", "1 if the last poll of the target read show info and show stat, else 0")
    last = _own("haproxy_exporter_last_successful_poll_timestamp_seconds", "gauge",
                  "Unix time of the last poll of the target that read HAProxy")
    polls = _own("haproxy_exporter_polls_total", "counter", "Poll cycles by target and result")
    unstarted = _own("haproxy_exporter_poll_start_failures_total", "counter",
                       "Polls of the target that could not start, as no thread could be started for them")
    for name, st in states.items():
        target = _by("target", name)
        up.add(target, "1" if st.up else "0")
        if st.last_success is not None:
            last.add(target, format_float(round(st.last_success, 3)))
        for result, count in st.polls.items():
            polls.add(_by("target", name, _by("result", result)), str(count))
        unstarted.add(target, str(st.start_failures))
    return [up, last, polls, unstarted, build_info(), reload_status(reload_ok)]


def process_metrics_text() -> str:
    """The exporter's own process_* metrics (memory, CPU, open fds) from prometheus_client."""
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    return generate_latest(registry).decode("utf-8")
