"""The docs cannot drift from the code: generated metric tables and the example config."""

from dataclasses import fields
from pathlib import Path

import yaml

from exporter.config import CHECKS, SCHEMA, Config, build_config, load_config
from exporter.docs import BEGIN, END, metrics_markdown
from exporter.sources.info import naming as info_naming
from exporter.sources.stat import naming

ROOT = Path(__file__).resolve().parents[2]


def test_readme_metric_tables_are_current():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(BEGIN): text.index(END) + len(END)] + "\n"
    assert block == metrics_markdown(), "run: .venv/bin/python -m exporter.docs --write README.md"


def test_example_config_is_valid_and_documents_every_key():
    config = load_config(str(ROOT / "config.example.yaml"))
    assert config.haproxy.address.text == "/run/haproxy/admin.sock"
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    flat = {f"{section}.{key}" for section, body in data.items() if isinstance(body, dict) for key in body}
    assert set(SCHEMA) <= flat
    assert "stick_tables" in data
    assert config.section("certificates") == config.section("certificates").__class__()  # the defaults, written out


def test_example_config_writes_the_defaults():
    """config.example.yaml "documents every key with its default": read, it is the config of no file."""
    assert load_config(str(ROOT / "config.example.yaml")) == build_config({})


def test_readme_defaults_are_the_config_classes_defaults():
    """The README's configuration table states each key's default; the section classes hold it."""
    rows = [line.split(" | ") for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| `") and line.count(" | ") == 3]
    stated = {key.strip("|` "): default.strip("` ") for key, _, default, _ in rows}
    assert set(SCHEMA) <= set(stated), set(SCHEMA) - set(stated)
    defaults = Config()
    for key, check in SCHEMA.items():
        section, name = key.split(".")
        default = getattr(getattr(defaults, section), name)
        text = stated[key]
        if text == "none":
            assert default is None, key
        else:
            assert check(key, int(text) if text.isdigit() else text) == default, key


def test_naming_table_is_sound():
    names = [(m.column, m.suffix) for m in naming.STAT_METRICS]
    assert len({c for c, _ in names}) == len(names)
    for m in naming.STAT_METRICS:
        for scope in naming.SCOPES:
            name = m.name_for(scope)
            assert name.endswith("_total") == (m.kind == naming.COUNTER), name
    for m in info_naming.INFO_METRICS:
        assert m.name.endswith("_total") == (m.kind == naming.COUNTER), m.name


def test_config_has_the_files_shape():
    """A section of the file is a field of Config, its keys the fields of that section's class:
    config.poll.interval is poll.interval, and the class's defaults are the defaults."""
    config = Config()
    for section, (cls, checks) in CHECKS.items():
        assert isinstance(getattr(config, section), cls)
        assert [f.name for f in fields(cls) if f.name != "name"] == list(checks), section
    assert config.poll_targets() == (config.haproxy,) and config.haproxy.name == ""
