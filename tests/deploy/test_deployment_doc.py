"""docs/deployment.md only points at files that exist and names every alert alerts.yml defines."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deployment.md"


def test_every_deploy_path_in_the_doc_exists() -> None:
    paths = set(re.findall(r"`?(deploy/[\w./-]+[\w])`?", DOC.read_text()))
    assert paths, "the doc should point at deploy/ files"
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_alert_table_lists_exactly_the_rules() -> None:
    groups = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())["groups"]
    rules = {r["alert"] for g in groups for r in g["rules"]}
    table = set(re.findall(r"^\| `(HAProxy\w+)` \|", DOC.read_text(), flags=re.M))
    assert table == rules
