"""The Grafana dashboard's queries, read from its JSON, with template variables filled in.

Shared by the static dashboard test (syntax through promtool) and the end-to-end test (every query
against a real Prometheus). Grafana's own substitution rules that matter here: a multi-value
variable set to "All" becomes its ``allValue`` when it has one, else ``(v1|v2|…)``; ``$__rate_interval``
and ``$__interval`` are durations Grafana computes from the time range and scrape interval.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "haproxy-runtime-exporter.json"
# The log source's names (docs/logs.md): haproxy_{frontend,backend,server}_log_* and haproxy_exporter_log_*.
# It is off by default (the exporter's `logs:` section) and streams a worker's ring, so a query naming one
# has data only where an exporter is set up for it; the names themselves say so, no marker in the JSON.
LOG_METRIC = re.compile(r"\bhaproxy_(?:frontend|backend|server|exporter)_log_[a-z0-9_]+")
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title / refId, expr) for every target of every panel."""
    return [(f"{p['title']} / {t['refId']}", t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]


def log_metrics(expr: str) -> set[str]:
    """The log source's metric names ``expr`` queries (empty: it needs no ``logs:`` section)."""
    return set(LOG_METRIC.findall(expr))


def query_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def parse_label_values(definition: str) -> tuple[str | None, str]:
    found = LABEL_VALUES.match(definition.strip())
    if not found:
        raise ValueError(f"not a label_values() query: {definition}")
    return found.group("selector"), found.group("label")


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace $name / ${name}; an unknown variable is an error, not a silent empty string."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"undefined variable ${name} in {expr}")
        return values[name]
    return VARIABLE.sub(replace, expr)


def all_value(variable: dict[str, Any], options: list[str]) -> str:
    """What Grafana sends for "All": allValue, else an alternation of the escaped options.

    Like Grafana, regex metacharacters get a doubled backslash: the value lands inside a PromQL
    string literal, where ``\\\\.`` reads as the regex ``\\.``.
    """
    if variable.get("allValue"):
        return variable["allValue"]
    return "(" + "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", o) for o in options) + ")"


def resolve_variables(dashboard: dict[str, Any], label_values: Callable[[str | None, str], list[str]],
                      builtins: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Resolve query variables in order (later ones may use earlier ones), each set to All."""
    values = dict(builtins)
    options: dict[str, list[str]] = {}
    for variable in query_variables(dashboard):
        selector, label = parse_label_values(variable["definition"])
        found = label_values(substitute(selector, values) if selector else None, label)
        options[variable["name"]] = found
        values[variable["name"]] = all_value(variable, found)
    return values, options
