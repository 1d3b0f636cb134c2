"""What a target's polls leave behind for the exporter's own metrics: counts, durations, reasons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CommandStats:
    """Per-command facts, keyed by the command's name in metrics (``show table fe_main``)."""

    errors: dict[tuple[str, str], int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ok: dict[str, bool] = field(default_factory=dict)
    last_reason: dict[str, str | None] = field(default_factory=dict)

    def keep_only(self, names: set[str]) -> None:
        """Forget the gauges of commands no longer sent (a table dropped from the config).

        Error counters are kept: a counter that vanishes and comes back would read as a reset.
        """
        for per_command in (self.seconds, self.ok, self.last_reason):
            for name in [k for k in per_command if k not in names]:
                del per_command[name]


@dataclass
class PollState:
    """One target's poll history, read by :mod:`exporter.poll.status`.

    ``commands`` are the current worker's (or the single socket's) and the master's; ``old_commands``
    the old workers' of a master-worker HAProxy, summed over them, so their number stays bounded
    however many reloads come and go.
    """

    polls: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    commands: CommandStats = field(default_factory=CommandStats)
    old_commands: CommandStats = field(default_factory=CommandStats)
    source_seconds: dict[str, float] = field(default_factory=dict)
    source_ok: dict[str, bool] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    poll_seconds: float = 0.0
    last_success: float | None = None  # wall time, for the timestamp gauge
    last_cycle_mono: float | None = None  # monotonic end of the last completed cycle, good or failed
    up: bool = False
    invalid_values: int = 0
    samples: int | None = None
    ignored: dict[tuple[str, str], int] = field(default_factory=dict)  # last poll: (what, reason) → count
    commands_per_cycle: int = 0  # commands the last cycle sent, to bound how long a cycle may take
    start_failures: int = 0  # polls the scheduler could not start (no thread); only the scheduler writes it

    def add_phase(self, phase: str, seconds: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds
