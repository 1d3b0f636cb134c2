"""Label objects reused from poll to poll change nothing in the output, and removed rows are forgotten."""

from __future__ import annotations

from pathlib import Path

from models import build_families

from exporter.exposition.render import render
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.model import StatReuse
from exporter.sources.stat.parse import parse_stat
from testkit.synthetic import synthetic_show_stat

INFO = parse_info((Path(__file__).parent.parent / "fixtures" / "2.6.12" / "show-info.txt").read_text())


def test_a_kept_cache_renders_exactly_what_a_fresh_build_renders():
    cache = StatReuse()
    # Polls whose rows change: other values and statuses (seed), servers added and removed (sizes).
    polls = [(40, 8, 1), (40, 8, 2), (40, 12, 3), (25, 8, 4), (40, 8, 1)]
    for backends, servers, seed in polls:
        table_text = synthetic_show_stat(backends, servers, seed=seed)
        fresh, _ = build_families(INFO, parse_stat(table_text))
        kept, _ = build_families(INFO, parse_stat(table_text), cache)
        assert render(kept) == render(fresh), (backends, servers, seed)
        table = parse_stat(table_text)
        assert len(cache) == sum(len(rows) for rows in table.rows.values())  # only this poll's rows


def test_the_cache_reuses_the_label_objects_of_rows_seen_before():
    cache = StatReuse()
    table_text = synthetic_show_stat(10, 5, seed=1)
    first, _ = build_families(INFO, parse_stat(table_text), cache)
    second, _ = build_families(INFO, parse_stat(synthetic_show_stat(10, 5, seed=2)), cache)
    by_name = {f.name: f for f in first}
    status = next(f for f in second if f.name == "haproxy_server_status")
    before = {labels.text: labels for labels, _ in by_name["haproxy_server_status"].samples}
    assert all(before[labels.text] is labels for labels, _ in status.samples)


def test_info_labels_kept_with_a_row_follow_its_cells_when_they_change():
    """A server's addr (or mode, cookie...) can change while its name stays: the kept row must not
    keep serving the old info labels."""
    cache = StatReuse()
    before_text = synthetic_show_stat(10, 5, seed=1)
    after_text = before_text.replace(",127.0.0.", ",127.0.9.")
    assert after_text != before_text
    build_families(INFO, parse_stat(before_text), cache)
    kept, _ = build_families(INFO, parse_stat(after_text), cache)
    fresh, _ = build_families(INFO, parse_stat(after_text))
    text = render(kept)
    assert text == render(fresh)
    assert 'addr="127.0.9.' in text and 'addr="127.0.0.' not in text
