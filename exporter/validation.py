"""Checks shared by every config section (the core keys and each source's own section).

Every mistake becomes a :class:`ConfigError` whose text starts with the key, so the CLI can print
one line and exit 2 (no traceback at 3 a.m.).
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Mapping

import yaml

# The longest error line.  It starts with the key, so what is cut is the end of a value quoted
# in it (a key or a value can be a string of a megabyte).
MAX_MESSAGE = 512


class ConfigError(ValueError):
    """A config value is wrong; the message starts with the key and is one bounded line."""

    def __init__(self, message: str) -> None:
        message = message.replace("\r", "\\r").replace("\n", "\\n")  # a key or value from the file may hold them
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE - 3] + "..."
        super().__init__(message)


def shown(value: Any) -> str:
    """``value`` quoted for an error line, bounded whatever its size or depth (repr() of a list
    built from YAML aliases would walk every shared branch: an alias bomb printed in full)."""
    return _Shown().repr(value)


class _Shown(reprlib.Repr):
    """reprlib's bounded repr: two levels deep, four items and 60 characters of each."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 2, 60, 60
        self.maxlist = self.maxdict = self.maxtuple = self.maxset = 4


_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


# The longest duration any key takes: a day.  Longer ones are mistakes (1e10s, .inf) that would
# otherwise pass here and fail later inside a socket or timer call.
MAX_DURATION = 86_400.0


def parse_duration(key: str, value: Any) -> float:
    """Seconds from ``5``, ``2.5``, ``"500ms"``, ``"15s"``, ``"1m"``; above zero, at most a day."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like 5s or 500ms, got {shown(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        seconds = float(m.group("num")) * _UNITS[m.group("unit")]
    else:
        raise ConfigError(f"{key}: expected a duration like 5s or 500ms, got {shown(value)}")
    if not seconds > 0:
        raise ConfigError(f"{key}: must be above zero, got {shown(value)}")
    if not seconds <= MAX_DURATION:
        raise ConfigError(f"{key}: must be at most 24h, got {shown(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` as the config writes durations (5s, 2m, 500ms, 1.5s), in the largest unit that
    reads back exactly with :func:`parse_duration`; a plain number of seconds otherwise."""
    candidates = [f"{round(seconds / size)}{unit}" for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0))
                  if seconds >= size]
    if seconds < 1:
        candidates.append(f"{round(seconds * 1000)}ms")
    candidates.append(f"{float(seconds)!r}s")
    for text in candidates:
        m = _DURATION.fullmatch(text)
        if m is not None and float(m.group("num")) * _UNITS[m.group("unit")] == seconds:
            return text
    return repr(float(seconds))


def plain(value: Any) -> Any:
    """A validated config value as the file writes it, for ``--config.check``: a dataclass as a
    mapping of its fields (the unset ones, None, left out: they read back as unset), a tuple as a
    list.  A section whose file form differs from its fields writes its own (Source.dump_config)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value) if getattr(value, f.name) is not None}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    return value


def positive_int(key: str, value: Any, most: int) -> int:
    """A whole number from 1 to ``most``: every count has a ceiling, so a slip of the keyboard
    (an extra few zeros) is a config error, not an overflow deep in a socket call."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}: expected a positive whole number, got {shown(value)}")
    if value > most:
        raise ConfigError(f"{key}: must be at most {most:,}, got {shown(value)}")
    return value


@dataclass(frozen=True)
class Keys:
    """The keys one mapping of a config file may hold and must hold, declared once beside the
    section it validates, so that every section's mistakes read alike: the full key, then what is
    wrong with it.

    ``shape`` says what the mapping looks like in the "expected ..." line; ``noun`` is what its
    keys are called (the config file's top level holds sections).
    """

    known: tuple[str, ...]
    required: tuple[str, ...] = ()
    shape: str = "a mapping"
    noun: str = "key"

    def check(self, where: str | None, value: Any, prefix: str = "") -> Mapping[Any, Any]:
        """``value``, once it is a mapping of known keys that holds every required one.

        ``where`` is the mapping's own key (``poll``, ``targets[0]``), None at the top level of a
        file; ``prefix`` starts every line (a file named inside the config: ``web.config_file: PATH: ``).
        """
        checked = mapping(where, value, self.shape, prefix)
        for key in checked:
            if key not in self.known:
                raise ConfigError(f"{prefix}{child(where, key)}: unknown {self.noun} (known: {', '.join(self.known)})")
        for key in self.required:
            if checked.get(key) is None:
                raise ConfigError(f"{prefix}{child(where, key)}: required")
        return checked


def mapping(where: str | None, value: Any, shape: str = "a mapping", prefix: str = "") -> Mapping[Any, Any]:
    """``value`` if it is a mapping (of names its caller checks: users, headers); ``where`` and
    ``prefix`` as in :meth:`Keys.check`."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{prefix}{where or '(top level)'}: expected {shape}, got {shown(value)}")
    return value


def child(where: str | None, key: Any) -> str:
    """The full name of ``key`` inside the mapping at ``where`` (None: a file's top level)."""
    return f"{where}.{key}" if where is not None else str(key)


def string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string, got {shown(value)}")
    return value


# What a config file may be.  Real ones are a few kilobytes and a few hundred values; the bounds
# are far above that and keep a mistake (or a "billion laughs" of aliases) from costing seconds
# and gigabytes before it is refused.
MAX_FILE_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # counted as if every alias were written out in full
MAX_DEPTH = 64
MAX_DIGITS = 40  # an integer key holds at most a 64-bit value; longer ones cost quadratic time to convert


class _Refused(yaml.composer.ComposerError):
    """A document the loader will not build: too large once aliases are expanded, or too deep."""


def _refused(problem: str, mark: Any) -> _Refused:
    return _Refused(None, None, problem, mark)


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting while it composes what the document would expand to.

    PyYAML composes an alias as a second reference to the node it names, so a "billion laughs"
    (each collection holding the previous one nine times) costs nothing to load, and everything
    that walks the result later (a validator, ``repr`` in an error message) pays for every
    expanded copy: a few hundred bytes cost seconds and a gigabyte.  Here every node counts once, and an alias
    counts the whole size of what it names, known when that node was finished, so the budget is
    spent as if the aliases were written out and the document is refused as soon as it is
    exceeded, before anything large exists.  An alias to a collection that holds it (a cycle)
    and nesting deeper than ``MAX_DEPTH`` (recursion in the composer) are refused too.
    """

    def __init__(self, stream: bytes) -> None:
        super().__init__(stream)
        self._spent = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id of an anchored node → its expanded size

    def _spend(self, count: int, mark: Any) -> None:
        self._spent += count
        if self._spent > MAX_VALUES:
            raise _refused(f"more than {MAX_VALUES:,} values with aliases expanded (an alias bomb?)", mark)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:  # an unknown anchor is PyYAML's own error, below
                size = self._sizes.get(id(node))
                if size is None:
                    raise _refused(f"alias *{event.anchor} refers to a collection that holds it", event.start_mark)
                self._spend(size, event.start_mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        before = self._spent
        self._spend(1, event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if getattr(event, "anchor", None) is not None:
            self._sizes[id(node)] = self._spent - before
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_DIGITS:
            raise yaml.constructor.ConstructorError(None, None, f"a number {len(node.value)} characters long",
                                                    node.start_mark)
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def read_yaml(path: str, key: str) -> Any:
    """Load a YAML file; an unreadable, oversized or bad file is one ConfigError line naming ``key``."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{key}: {path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a config file")
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(data)  # decodes the bytes: a ReaderError for what is not UTF-8/16
        return loader.get_single_data()
    except _Refused as exc:
        raise ConfigError(f"{key}: {path} refused{_where(exc)}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ConfigError(f"{key}: {path} is not valid YAML{_where(exc)}: {problem}") from None
    except (ValueError, OverflowError) as exc:  # a constructor's own check: a date like 2024-13-01
        raise ConfigError(f"{key}: {path} is not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
