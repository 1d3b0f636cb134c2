"""The ``stick_tables`` section: valid input becomes StickTableConfig, every mistake a keyed ConfigError."""

from __future__ import annotations

import pytest

from exporter.config import build_config
from exporter.sources.registry import allowlist
from exporter.sources.sticktables.config import DEFAULT_MAX_ENTRIES, StickTableConfig, dump_command, parse_stick_tables
from exporter.validation import ConfigError


def test_full_section() -> None:
    config = build_config({"stick_tables": [
        {"name": "fe_main", "filters": ["data.gpt0 gt 0", "data.http_req_rate  ge  -5"],
         "max_entries": 50, "sort_by": "http_req_rate"},
        {"name": "peers/st_src"},
        "be_app",
    ]})
    assert config.section("stick_tables") == (
        StickTableConfig("fe_main", (("gpt0", "gt", 0), ("http_req_rate", "ge", -5)), 50, "http_req_rate"),
        StickTableConfig("peers/st_src", (), DEFAULT_MAX_ENTRIES, None),
        StickTableConfig("be_app", (), DEFAULT_MAX_ENTRIES, None),
    )
    assert DEFAULT_MAX_ENTRIES == 1000


def test_absent_or_empty() -> None:
    assert build_config({}).section("stick_tables") == ()
    assert build_config({"stick_tables": None}).section("stick_tables") == ()
    assert parse_stick_tables([]) == ()


@pytest.mark.parametrize("filters", [
    ["data.gpt0 gt 0"],
    ["data.gpc gt 0", "data.gpc_rate ge 1", "data.gpc1 lt 9223372036854775807", "data.conn_cur ne 0"],
    ["data.gpt[1] eq 42"],  # HAProxy 3.2+ element syntax
    ["data.gpc0_rate le -9223372036854775808"],
    "data.glitch_rate gt 10",  # a single filter may be given as a string
])
def test_valid_filters_pass_the_transport_allowlist(filters: object) -> None:
    [table] = parse_stick_tables([{"name": "t.x:y-z/w_1", "filters": filters}])
    command = dump_command(table)
    assert allowlist().check(command) == command
    assert command.startswith("show table t.x:y-z/w_1 data.")


def test_dump_command_without_filters() -> None:
    assert dump_command(StickTableConfig("fe_main")) == "show table fe_main"


@pytest.mark.parametrize("section,key", [
    ("not a list", "stick_tables:"),
    ([42], "stick_tables[0]:"),
    ([{"filters": []}], "stick_tables[0].name:"),
    ([{"name": "has space"}], "stick_tables[0].name:"),
    ([{"name": "a;clear table a"}], "stick_tables[0].name:"),
    ([{"name": "a"}, {"name": "a"}], "stick_tables[1].name:"),
    ([{"name": "a", "max_entry": 5}], "stick_tables[0].max_entry:"),
    ([{"name": "a", "filters": {"data.gpt0": 1}}], "stick_tables[0].filters:"),
    ([{"name": "a", "filters": ["data.gpt0 gt 0"] * 5}], "stick_tables[0].filters:"),
    ([{"name": "a", "filters": ["data.gpt0 gt 0", "data.gpt0 gte 0"]}], "stick_tables[0].filters[1]:"),
    ([{"name": "a", "filters": ["data.gpt0 gt 0", "gpt0 gt 0"]}], "stick_tables[0].filters[1]:"),
    ([{"name": "a", "filters": ["data.nope gt 0"]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "filters": ["data.server_key eq 1"]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "filters": ["data.conn_cnt[1] eq 1"]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "filters": ["data.gpt0 gt 1.5"]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "filters": ["data.gpt0 gt 9223372036854775808"]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "filters": [7]}], "stick_tables[0].filters[0]:"),
    ([{"name": "a", "max_entries": 0}], "stick_tables[0].max_entries:"),
    ([{"name": "a", "max_entries": True}], "stick_tables[0].max_entries:"),
    ([{"name": "a", "max_entries": "10"}], "stick_tables[0].max_entries:"),
    ([{"name": "a", "sort_by": "rate"}], "stick_tables[0].sort_by:"),
    ([{"name": "a", "sort_by": "server_key"}], "stick_tables[0].sort_by:"),
    ([{"name": "a", "sort_by": 3}], "stick_tables[0].sort_by:"),
])
def test_errors_start_with_the_key(section: object, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"stick_tables": section})
    assert str(info.value).startswith(key), str(info.value)


@pytest.mark.parametrize("sort_by", ["http_req_rate", "gpc0", "gpc12", "gpc1_rate", "gpt3", "conn_cur",
                                     "use", "exp", "bytes_out_cnt"])
def test_sort_by_accepts_what_the_dump_prints(sort_by: str) -> None:
    [table] = parse_stick_tables([{"name": "a", "sort_by": sort_by}])
    assert table.sort_by == sort_by


def test_commented_example_in_config_example_is_valid() -> None:
    """The example in config.example.yaml, uncommented, parses to what its comments say."""
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text()
    block = text[text.index("# stick_tables:"):text.index("\nstick_tables:")]
    example = yaml.safe_load(re.sub(r"^# ?", "", block, flags=re.M))
    tables = build_config(example).section("stick_tables")
    assert tables == (StickTableConfig("fe_main", (("gpt0", "gt", 0),), 500, "http_req_rate"),
                      StickTableConfig("be_app"))
