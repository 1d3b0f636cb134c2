"""The fast renderer says exactly what the straightforward prometheus_client rendering says.

The model and renderer take shortcuts for speed at scale (whole-column digit checks, label text
made once per row or per state, memoised unit conversion).  These tests build a large, varied
``show stat`` (every status string, check codes with the in-progress prefix, quoted cells, values
that need escaping, millisecond columns, 20-digit counters, invalid cells) and read both
renderings back with prometheus_client's parser: same families, types, help, samples and values.
promtool, Prometheus' own linter, must accept the large output too.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from models import build_families
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support import require

from exporter.exposition.families import Family
from exporter.exposition.render import render, render_bytes, to_client_families
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.parse import SERVER, parse_stat
from testkit.synthetic import CHECK_CODES, SERVER_STATUSES, synthetic_show_stat

FIXTURES = Path(__file__).parent.parent / "fixtures" / "2.6.12"


class _Snapshot:
    """A custom collector yielding the families as prometheus_client metric objects."""

    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self):
        return to_client_families(self.families)


def reference_text(families: list[Family]) -> str:
    registry = CollectorRegistry(auto_describe=False)  # private: never the global registry
    registry.register(_Snapshot(families))
    return generate_latest(registry).decode("utf-8")


def read_back(text: str) -> dict[str, tuple[str, str, list[tuple[str, tuple, float]]]]:
    """{family: (type, help, sorted samples)} as prometheus_client's parser reads the text."""
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.name not in out, f"family {fam.name} appears twice"
        samples = sorted((s.name, tuple(sorted(s.labels.items())), s.value) for s in fam.samples)
        out[fam.name] = (fam.type, fam.documentation, samples)
    return out


@pytest.fixture(scope="module", params=["varied", "clean"])
def large(request):
    # "varied" has rare non-numeric cells, so some columns take the per-cell paths; "clean" has
    # none, so every column that can takes the whole-column fast paths.
    stat_text = synthetic_show_stat(backends=100, servers=20, invalid=request.param == "varied")
    info = parse_info((FIXTURES / "show-info.txt").read_text())
    table = parse_stat(stat_text)
    families, stats = build_families(info, table)
    return table, families, stats


def test_the_input_covers_every_slow_path(large, request):
    table, families, stats = large
    status_idx, check_idx = table.column("status"), table.column("check_status")
    servers = table.rows[SERVER]
    assert len(servers) == 2000
    assert {row[status_idx] for row in servers} >= set(SERVER_STATUSES)
    checks = {row[check_idx] for row in servers}
    assert checks >= set(CHECK_CODES) and any(c.startswith("* ") for c in checks)
    if request.node.callspec.params["large"] == "varied":
        assert stats.invalid_values > 0  # non-numeric cells were met (and skipped on both sides)
    else:
        assert stats.invalid_values == 0  # nothing sends a column down the per-cell path
    text = render(families)
    assert 'c\\"ook\\\\ie,' in text  # a label value that needed escaping
    assert "haproxy_server_check_duration_seconds{" in text  # millisecond columns scaled


def test_fast_rendering_reads_back_like_prometheus_client(large):
    _, families, _ = large
    served = render_bytes(families)  # what the poller publishes
    assert served == render(families).encode("utf-8")
    ours = read_back(served.decode("utf-8"))
    reference = read_back(reference_text(families))
    assert sum(len(samples) for _, _, samples in ours.values()) == sum(len(f.samples) for f in families) > 100_000
    assert ours.keys() == reference.keys()
    for name in ours:
        ours_type, ours_help, ours_samples = ours[name]
        ref_type, ref_help, ref_samples = reference[name]
        assert (ours_type, ours_help) == (ref_type, ref_help), name
        assert len(ours_samples) == len(ref_samples), name
        for mine, theirs in zip(ours_samples, ref_samples):
            assert mine[:2] == theirs[:2], name
            # The parser keeps integer text as int; Prometheus stores every value as a float64.
            a, b = float(mine[2]), float(theirs[2])
            assert a == b or (math.isnan(a) and math.isnan(b)), (name, mine, theirs)


def test_promtool_accepts_the_large_output(large, tmp_path):
    promtool = require(shutil.which("promtool"), "promtool")
    _, families, _ = large
    done = subprocess.run([promtool, "check", "metrics"], input=render_bytes(families), capture_output=True, timeout=120)
    assert done.returncode == 0, (done.stdout + done.stderr).decode()[:2000]
    assert not (done.stdout + done.stderr).strip(), (done.stdout + done.stderr).decode()[:2000]
