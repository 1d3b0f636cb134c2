"""A whole poll of 3.2.0 captures with the maps, ACLs and errors sources on: promtool check
metrics finds nothing wrong, every new family has one HELP and TYPE, and the sources succeed."""

from __future__ import annotations

from pathlib import Path

from exposition import samples, types, value
from support import answering, promtool_check_metrics

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

FIXTURES = Path(__file__).parent.parent / "fixtures"
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"
FILES = {"show info": "show-info.txt", "show stat": "show-stat.csv", "show table": "show-table.txt",
         "show resolvers": "show-resolvers.txt", "show map": "show-map.txt", "show acl": "show-acl.txt",
         "show errors": "show-errors.txt"}


def test_promtool_accepts_the_page_with_maps_acls_and_errors() -> None:
    answers = {command: (FIXTURES / "3.2.0" / name).read_text() for command, name in FILES.items()}
    store = Store(30)
    poller = Poller(build_config({"errors": {"enabled": True}}), store, connect=answering(lambda c: answers.get(c, UNKNOWN)))
    assert poller.poll_once()
    text = b"".join(p.text for p in store.parts()).decode()
    assert promtool_check_metrics(text) == []
    got = samples(text)
    for source in ("maps", "errors"):
        assert value(got, "haproxy_exporter_source_success", source=source) == 1
    kinds = types(text)
    assert kinds["haproxy_map_entries"] == kinds["haproxy_acl_entries"] == "gauge"
    assert kinds["haproxy_process_captured_errors"] == "counter"
    assert kinds["haproxy_frontend_last_captured_error_timestamp_seconds"] == "gauge"
    for name in ("haproxy_map_entries", "haproxy_acl_inline_entries", "haproxy_process_captured_errors_total"):
        assert text.count(f"# HELP {name.removesuffix('_total')}") <= 1 and f"# HELP {name}" in text
