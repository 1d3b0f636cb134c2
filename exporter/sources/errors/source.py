"""The errors source: ``show errors``, off by default (see config.py: level operator, and a dump
that is large and may hold a client's bytes); ``errors: {enabled: true}`` turns it on."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Ask, Command, Source
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.errors import naming
from exporter.sources.errors.config import ErrorsConfig, parse_errors_config
from exporter.sources.errors.model import error_families
from exporter.sources.errors.parse import parse_errors
from exporter.sources.values import ModelStats

SHOW_ERRORS = Command("show errors", parse_errors)


class ErrorsSource(Source):
    name = "errors"
    allowed = (r"show errors",)  # the whole dump only: no proxy or direction argument is ever sent
    level = "operator"
    config_key = "errors"

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or ErrorsConfig(), **kwargs)
        self.enabled: bool = self.options.enabled
        self._sent_at = 0.0

    @staticmethod
    def parse_config(value: Any) -> ErrorsConfig:
        return parse_errors_config(value)

    def needed_level(self) -> str:
        return self.level if self.enabled else "user"  # off: nothing is sent

    def commands(self) -> Sequence[Command]:
        return (SHOW_ERRORS,) if self.enabled else ()

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        """As :meth:`Source.read`, noting when the command went out: the entries' times are ages
        on HAProxy's clock, made Unix times from it."""
        self._sent_at = self.clock.wall()
        return super().read(ask)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        dump = answers.get(SHOW_ERRORS.name)
        return error_families(dump, self._sent_at, self.extra) if dump is not None else []

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        lines = [f"| `{naming.CAPTURED[0]}` | | {naming.CAPTURED[1]} (off by default: `errors.enabled`; counter) | ours |"]
        lines += [f"| `{name}` | {naming.LABEL} | {help} (off by default) | ours |" for name, help in naming.LAST.values()]
        return ((RUNTIME, lines),)
