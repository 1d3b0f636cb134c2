"""Turn a parsed ``show info`` into ``haproxy_process_*`` families: pure, record in and families out."""

from __future__ import annotations

from exporter.exposition.families import NO_LABELS, NO_SUFFIX, Family, LabelSet, LabelSuffix
from exporter.sources.info import naming
from exporter.sources.values import GAUGE, ModelStats, scaled_text


def info_families(info: dict[str, str], stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    """Every known numeric field, then build info, node/description and taint; ``extra`` labels every series."""
    base = NO_LABELS.plus(extra)
    families: list[Family] = []
    by_name: dict[str, Family] = {}
    for metric in naming.INFO_METRICS:
        cell = info.get(metric.field)
        if cell is None or (metric.fallback_for and metric.fallback_for in info):
            continue
        value = scaled_text(cell.strip(), metric.scale, metric.kind)
        if value is None:
            stats.invalid_values += 1
            continue
        family = by_name.get(metric.name)
        if family is None:
            family = by_name[metric.name] = Family(metric.name, metric.kind, f"{metric.help} (show info {metric.field})",
                                                   scope=naming.SCOPE)
            families.append(family)
        if not family.values:
            family.add(base, value)
    version = info.get("Version") or info.get("Build info")
    if version is not None:
        labels = LabelSet((("version", version), ("release_date", info.get("Release_date", "")))).plus(extra)
        families.append(Family("haproxy_process_build_info", GAUGE,
                               "HAProxy version and release date (show info Version, Release_date)",
                               [(labels, "1")], scope=naming.SCOPE))
    if "node" in info or "description" in info:
        labels = LabelSet((("node", info.get("node", "")), ("description", info.get("description", "")))).plus(extra)
        families.append(Family("haproxy_process_info", GAUGE,
                               "HAProxy node name and description (show info node, description)",
                               [(labels, "1")], scope=naming.SCOPE))
    # promex 3.1's names for the same two fields, one info metric each (the description only when set).
    if "node" in info:
        families.append(Family("haproxy_process_node", GAUGE, "Node name (show info node)",
                               [(LabelSet((("node", info["node"]),)).plus(extra), "1")], scope=naming.SCOPE))
    if info.get("description"):
        families.append(Family("haproxy_process_description", GAUGE, "Node description (show info description)",
                               [(LabelSet((("desc", info["description"]),)).plus(extra), "1")], scope=naming.SCOPE))
    tainted = info.get("Tainted")
    if tainted is not None:
        flags = _flags(tainted)
        if flags is None:
            stats.invalid_values += 1
        else:
            families.append(Family("haproxy_process_tainted", GAUGE,
                                   "Tainted flags; non-zero when experimental or unsafe features were used "
                                   "(show info Tainted)", [(base, str(flags))], scope=naming.SCOPE))
    return families


def _flags(text: str) -> int | None:
    """HAProxy's hexadecimal flags (``0x1``, ``0``), or None for anything else or wider than the
    64 bits HAProxy keeps them in (a longer number is no flag word)."""
    try:
        flags = int(text, 16)
    except ValueError:
        return None
    return flags if 0 <= flags < 1 << 64 else None
