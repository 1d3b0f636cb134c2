"""``--config.check``: the config the exporter would run with, as YAML.

The first document is the config file's shape with everything applied (the file, the flags over
it, every default written out), and reads back as the same config: it can be saved and used as
``--config.file``.  When a web config file is set, a second document shows it as it applies,
password hashes written ``<secret>``.
"""

from __future__ import annotations

from typing import Any

import yaml

from exporter.config import CHECKS, Config, TargetConfig
from exporter.runtime.address import Address
from exporter.sources import registry
from exporter.validation import format_duration, parse_duration
from exporter.web.config import WebConfig, dump_web_config


def _value(check: Any, value: Any) -> Any:
    if isinstance(value, Address):
        return value.text
    if check is parse_duration:
        text = format_duration(value)
        return text if text[-1].isalpha() else value  # a duration too odd for a unit stays a number of seconds
    if isinstance(value, tuple):  # web.listen_address: one address is written as one
        return value[0] if len(value) == 1 else list(value)
    return value


def _target(target: TargetConfig) -> dict[str, Any]:
    checks = CHECKS["haproxy"][1]
    return {"name": target.name, **{key: _value(check, getattr(target, key)) for key, check in checks.items()}}


def config_mapping(config: Config) -> dict[str, Any]:
    """``config`` as the file writes it, sections in the file's order."""
    out: dict[str, Any] = {}
    for section, (_, checks) in CHECKS.items():
        values = getattr(config, section)
        out[section] = {key: _value(check, getattr(values, key)) for key, check in checks.items()
                        if not (config.multi_target and section == "haproxy" and key == "address")}
    if config.targets:
        out["targets"] = [_target(target) for target in config.targets]
    dumps = registry.config_dumps()
    for key, section in config.sections.items():
        dumped = dumps[key](section)
        if dumped is not None:
            out[key] = dumped
    return out


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def _comment(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")  # a path is one comment line, whatever it holds


def effective_yaml(config: Config, web: WebConfig | None) -> str:
    where = f"config.file {_comment(config.path)}" if config.path else "no config file"
    text = f"# the effective config ({where}, the flags over it, every default written out)\n"
    text += _yaml(config_mapping(config))
    if web is not None:
        text += f"---\n# web.config_file {_comment(web.path)}, as it applies (password hashes hidden)\n"
        text += _yaml(dump_web_config(web))
    return text
