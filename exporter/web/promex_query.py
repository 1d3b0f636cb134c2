"""promex's query parameters, so a scrape config written for HAProxy's built-in exporter works here.

``scope`` (repeatable: ``global``, ``frontend``, ``backend``, ``server``, ``listener``,
``sticktable``, ``resolver``, ``*``, or empty for none), ``metrics=a,b,-c``, ``no-maint``,
``extra-counters`` and ``desc-labels`` mean what they mean to promex (addons/promex in HAProxy's
source, ``promex_parse_uri``), errors included: an unknown scope, ``scope`` or ``metrics`` without
a value, a value holding ``=`` or a bad percent-encoding are 400.

A query without any of these parameters gets the whole page, as before: every scope and the
stats modules' counters too.  With one of them, the selection is promex's, so ``scope=server``
gets exactly the families promex would send and no module counters unless ``extra-counters``.
The exporter's own families (``haproxy_up``, ``haproxy_exporter_*``, ``process_*``) are always
sent.  A selection only picks pieces of the page the poll prepared (exporter/exposition/page.py):
nothing is rendered or compressed for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from exporter.exposition.families import EXPORTER, RESOLVER, SCOPES, STICKTABLE
from exporter.exposition.page import Piece

# promex's modules match a scope value by prefix (strncmp over the module's name).
MODULE_SCOPES = (STICKTABLE, RESOLVER)
PROMEX_KEYS = frozenset({"scope", "metrics", "extra-counters", "no-maint", "desc-labels"})
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class QueryError(ValueError):
    """A query promex answers with 400."""


@dataclass
class Selection:
    """Which pieces of the page a promex-style query asks for."""

    scopes: set[str] = field(default_factory=lambda: set(SCOPES))
    excluded: dict[str, bool] = field(default_factory=dict)  # metric name → excluded (the last mention wins)
    include_by_default: bool = True  # no metric named without '-'
    no_maint: bool = False
    extra_counters: bool = False
    desc_labels: bool = False  # accepted; see docs/promex-differences.md

    def keeps(self, piece: Piece) -> bool:
        if piece.scope == EXPORTER:
            return True
        if (piece.maint and self.no_maint) or (piece.extra and not self.extra_counters):
            return False
        if piece.scope not in self.scopes:
            return False
        excluded = self.excluded.get(piece.name)
        return self.include_by_default if excluded is None else not excluded


def _decode(text: str) -> str:
    if _BAD_PERCENT.search(text):
        raise QueryError(f"bad percent-encoding in {text!r}")
    return unquote_plus(text)


def parameters(query: str) -> list[tuple[str, str | None]]:
    """(key, value or None) in order, decoded as promex does ('+' is a space; '#' ends the query)."""
    pairs: list[tuple[str, str | None]] = []
    for item in query.split("#", 1)[0].split("&"):
        key, eq, value = item.partition("=")
        if "=" in value:
            raise QueryError(f"a value holds '=': {item!r}")
        pairs.append((_decode(key), _decode(value) if eq else None))
    return pairs


def parse(query: str) -> Selection | None:
    """The selection ``query`` asks for; None when it has none of promex's parameters (the whole page)."""
    pairs = parameters(query)
    if not any(key in PROMEX_KEYS for key, _ in pairs):
        return None
    selection = Selection()
    chosen: set[str] | None = None  # the first ``scope`` replaces the default of every scope
    for key, value in pairs:
        if key == "scope":
            chosen = set() if chosen is None else chosen
            _add_scope(chosen, value)
        elif key == "metrics":
            if value is None:
                raise QueryError("metrics needs a value: metrics=name,name,-name")
            _add_metrics(selection, value)
        elif key == "extra-counters":
            selection.extra_counters = True
        elif key == "no-maint":
            selection.no_maint = True
        elif key == "desc-labels":
            selection.desc_labels = True
    if chosen is not None:
        selection.scopes = chosen
    return selection


def _add_scope(chosen: set[str], value: str | None) -> None:
    if value is None:
        raise QueryError("scope needs a value: scope=<" + "|".join(SCOPES) + "|*>")
    if value == "":
        chosen.clear()
    elif value == "*":
        chosen.update(SCOPES)
    elif value in SCOPES[:5]:
        chosen.add(value)
    else:
        module = next((m for m in MODULE_SCOPES if value.startswith(m)), None)
        if module is not None:
            chosen.add(module)
        elif not chosen.intersection(MODULE_SCOPES):  # promex: once a module is chosen, it lets others pass
            raise QueryError(f"unknown scope {value!r}: one of {', '.join(SCOPES)}, * or empty")


def _add_metrics(selection: Selection, value: str) -> None:
    for name in value.split(","):
        excluded = name.startswith("-")
        name = name[1:] if excluded else name
        if not name:
            continue
        if not excluded:
            selection.include_by_default = False
        selection.excluded[name] = excluded
