"""Golden outputs: what the exporter renders from captured answers of real HAProxys, byte for byte.

The golden files were rendered by the single-socket pipeline before the sources-and-targets
redesign; the pipeline must keep producing exactly these bytes for a single worker socket.
Regenerate (only for a deliberate change of output) with ``GOLDEN_UPDATE=1 scripts/test -k golden``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import answering

from exporter.config import build_config
from exporter.exposition.page import Page
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOLDEN = FIXTURES / "golden"

# name → (fixture dir, {command: answer file}, stick_tables config)
CASES = {
    "2.6.12": ("2.6.12", {
        "show info": "show-info.txt", "show stat": "show-stat.csv", "show table": "show-table.txt",
        "show table fe_main": "show-table-fe_main.txt",
    }, [{"name": "fe_main"}]),
    "2.6.12-states": ("2.6.12", {
        "show info": "show-info.txt", "show stat": "states-show-stat.csv", "show table": "",
    }, []),
    "2.6.12-user": ("2.6.12", {
        "show info": "user-show-info.txt", "show stat": "user-show-stat.csv", "show table": "user-show-table.txt",
        "show table fe_main": "user-show-table-fe_main.txt",
    }, [{"name": "fe_main"}]),
    "2.6.12-sticktable-keys": ("2.6.12", {
        "show info": "show-info.txt", "show stat": "show-stat-up.csv", "show table": "sticktable-keys-summary.txt",
        "show table t_str": "sticktable-keys-t_str.txt", "show table t_ip6": "sticktable-keys-t_ip6.txt",
        "show table t_int": "sticktable-keys-t_int.txt", "show table t_bin": "sticktable-keys-t_bin.txt",
        "show table fe_gpc": "show-table-arrays.txt",
    }, [{"name": "t_str"}, {"name": "t_ip6"}, {"name": "t_int"}, {"name": "t_bin"},
        {"name": "fe_gpc", "max_entries": 1}]),
    "3.2.0": ("3.2.0", {
        "show info": "show-info.txt", "show stat": "show-stat.csv", "show table": "show-table.txt",
        "show table fe_main": "show-table-fe_main.txt",
    }, [{"name": "fe_main"}]),
    "3.3.0": ("3.3.0", {
        "show info": "show-info.txt", "show stat": "show-stat.csv", "show table": "show-table.txt",
        "show table fe_main": "show-table-fe_main.txt",
    }, [{"name": "fe_main"}]),
}


def rendered(case: str) -> bytes:
    return published(case).text


def published(case: str) -> Page:
    """The page one poll of the captured answers publishes (its pieces too)."""
    version, files, tables = CASES[case]
    answers = {command: (FIXTURES / version / name).read_text() if name else ""
               for command, name in files.items()}
    store = Store(30)
    unknown = "Unknown command, but maybe one of the following ones is a better match:\n"  # as an older HAProxy
    poller = Poller(build_config({"stick_tables": tables}), store, connect=answering(lambda c: answers.get(c, unknown)))
    assert poller.poll_once(), case
    assert store.published is not None and store.published.page is not None
    return store.published.page


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipeline_renders_the_golden_bytes(case: str) -> None:
    path = GOLDEN / f"{case}.prom"
    got = rendered(case)
    if os.environ.get("GOLDEN_UPDATE"):
        path.write_bytes(got)
    assert path.exists(), f"no golden file {path}: run with GOLDEN_UPDATE=1 once"
    assert got == path.read_bytes(), f"{case}: output differs from {path}"
