"""docs/logs.md: its tables name every log-source metric the dashboard, the rules and its own examples
query, and its PromQL and alert examples are valid (promtool).

The end-to-end stack has no log source (it reads a master CLI, through which a ring does not stream,
and sets no ``logs:`` section), so this is where a misspelt log metric in a panel, a rule or an
example is caught.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dashboard_queries as dq
import pytest
import yaml
from support import require

from exporter.sources.logs.source import LogSource

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "logs.md"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
HISTOGRAM_SERIES = re.compile(r"_(?:bucket|sum|count)$")


def documented() -> set[str]:
    """The names in the first column of the doc's metric tables."""
    names: set[str] = set()
    for line in DOC.read_text().splitlines():
        if line.startswith("| `haproxy_"):
            names |= set(re.findall(r"`(haproxy_[a-z0-9_]+)`", line.split(" | ")[0]))
    return names


def undocumented(exprs: list[str]) -> set[str]:
    names = documented()
    used = {name for expr in exprs for name in dq.log_metrics(expr)}
    return {n for n in used if n not in names and HISTOGRAM_SERIES.sub("", n) not in names}


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)


def promql_examples() -> list[str]:
    """Each expression of the promql blocks: a line that starts a query, with the indented lines after it."""
    exprs: list[str] = []
    for block in blocks("promql"):
        for line in block.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line[0].isspace():
                exprs[-1] += "\n" + line
            else:
                exprs.append(line)
    return exprs


def alert_examples() -> list[dict]:
    [block] = [b for b in blocks("yaml") if "alert:" in b]
    return yaml.safe_load(block)


def test_the_tables_list_every_family() -> None:
    names = documented()
    # every family the source declares (its rows in the README's reference), and no other
    declared = {re.match(r"\| `([a-z_]+)`", row).group(1) for _, rows in LogSource.docs() for row in rows}
    assert names == declared
    assert all(dq.log_metrics(f" {name} ") == {name} for name in names)


def test_the_dashboard_queries_only_documented_log_metrics() -> None:
    exprs = [expr for _, expr in dq.queries(dq.load())]
    assert any(dq.log_metrics(expr) for expr in exprs)
    assert undocumented(exprs) == set()


def test_the_rules_query_only_documented_log_metrics() -> None:
    exprs = [r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert any(dq.log_metrics(expr) for expr in exprs)
    assert undocumented(exprs) == set()


def test_the_examples_query_only_documented_log_metrics() -> None:
    exprs = promql_examples() + [rule["expr"] for rule in alert_examples()]
    assert len(exprs) >= 10
    assert undocumented(exprs) == set()


def test_the_examples_are_valid_promql_and_rules(tmp_path: Path) -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    rules = [{"record": f"logs_doc:q{n}", "expr": expr} for n, expr in enumerate(promql_examples())]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [
        {"name": "examples", "rules": rules}, {"name": "alerts", "rules": alert_examples()}]}))
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("text", ["haproxy_backend_log_total_time_seconds_bucket", "haproxy_exporter_log_stream_up"])
def test_a_misspelt_name_is_caught(text: str) -> None:
    assert undocumented([text.replace("_log_", "_log_x")]) == {text.replace("_log_", "_log_x")}
