"""The Grafana dashboard JSON: generated from deploy/grafana/generate.py, well-formed, every query valid PromQL.

Whether each query returns data is proven against a real Prometheus in tests/e2e; here promtool
parses every expression (as a recording rule) so a typo fails fast without any server.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import dashboard_queries as dq
import pytest
import yaml
from support import require

GENERATOR = dq.DASHBOARD.with_name("generate.py")
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "datasource": "prometheus"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return dq.load()


def test_committed_json_is_the_generator_output() -> None:
    spec = importlib.util.spec_from_file_location("grafana_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert dq.DASHBOARD.read_text() == module.render(), "run: python deploy/grafana/generate.py"


def test_sections_are_there(dashboard: dict) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Frontends", "Backends", "Servers", "Request logs", "Stick tables", "TLS certificates",
                    "DNS resolvers",
                    "Master and workers", "Peers", "Maps, ACLs and captured errors", "Exporter"]


def test_the_request_logs_row_holds_exactly_the_log_source_queries(dashboard: dict) -> None:
    """The panels that need the exporter's logs: section (found by the names they query) are the "Request
    logs" row, all of it: a user without that section sees one row of empty panels, not gaps everywhere."""
    where, row_of = "", {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            where = panel["title"]
        for target in panel.get("targets", []):
            row_of[(panel["title"], target["refId"])] = (where, bool(dq.log_metrics(target["expr"])))
    assert {key: row for key, (row, logs) in row_of.items() if logs and row != "Request logs"} == {}
    assert {key for key, (row, logs) in row_of.items() if row == "Request logs" and not logs} == set()
    assert sum(logs for _, logs in row_of.values()) >= 8


def test_template_variables(dashboard: dict) -> None:
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "instance", "proxy", "server"]
    for variable in dq.query_variables(dashboard):
        dq.parse_label_values(variable["definition"])  # raises on anything else
        assert variable["query"] == variable["definition"]


def test_every_panel_queries_through_the_datasource_variable(dashboard: dict) -> None:
    for panel in dq.panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_ids_unique_and_panels_do_not_overlap(dashboard: dict) -> None:
    items = list(dq.panels(dashboard))
    assert len({p["id"] for p in items}) == len(items)
    cells: set[tuple[int, int]] = set()
    for panel in items:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_every_query_is_valid_promql(dashboard: dict, tmp_path: Path) -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    values = {**BUILTINS, "instance": ".*", "proxy": ".*", "server": ".*"}
    exprs = [dq.substitute(expr, values) for _, expr in dq.queries(dashboard)]
    exprs += [dq.substitute(v["definition"], values).removeprefix("label_values(").rsplit(",", 1)[0]
              for v in dq.query_variables(dashboard) if "," in v["definition"]]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:q{n}", "expr": e}
                                                        for n, e in enumerate(exprs)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_substitute_refuses_unknown_variables() -> None:
    with pytest.raises(KeyError):
        dq.substitute('up{x=~"$nope"}', {})
    assert dq.all_value({"allValue": None}, ["a.b", "c"]) == r"(a\\.b|c)"  # as Grafana writes it
