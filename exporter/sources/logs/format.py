"""Turn an HAProxy ``log-format`` string into a parser of the lines it makes.

HAProxy writes a log line by walking its format: literal text as is, each ``%X`` alias or
``%[sample,conv]`` expression as its value, and each run of blanks as ONE space, written only when
the output does not already end with one (``%hr``/``%hs`` with nothing captured write nothing, so
their separator merges with the previous one).  :func:`compile_format` walks the same items and
derives one regular expression, matched with ``fullmatch`` once per line: the fields the exporter
uses are named groups (frontend, backend, server, timers, status, bytes, termination state,
retries), every other item is skipped text.

What an item may look like (HAProxy's ``sess_build_logline``):

* numbers: ``-1`` for a timer not reached, a leading ``+`` on ``%Tt``/``%Ta``/``%B`` under
  ``option logasap`` and on ``%rc`` after a redispatch;
* strings: ``-`` when empty, or inside double quotes with the ``Q`` flag (``%{+Q}r``, or every item
  after ``%{+Q}o``), where spaces are allowed; ``%ts``/``%tsc`` and numbers are never quoted;
* anything else (an alias this module does not type, a sample expression) is text that cannot
  contain a space (unless quoted) nor the first character of the literal after it, so that it
  cannot swallow that literal and the match never backtracks far on a hostile line (a line of
  slashes against ``httpslog``'s ``%[a]/%[b]/%[c]`` took seconds with lazy ``.*?``); the last item
  of a format may be any text.  A sample that writes spaces unquoted must be quoted (``%{+Q}[...]``)
  unless it is the last item.  A format whose items touch with no literal between them
  (``%[a]%[b]``) is refused at compile time: where one ends cannot be read, and matching such
  items backtracks for seconds on a hostile line.  The built-in formats have none.

The ``json`` and ``cbor`` encodings (3.0+) are refused at compile time: their lines are another
syntax.  A line that does not match is not an exception but a reason (:data:`REASONS`): the hot
path of a reader runs over every line of a ring and counts what it cannot read.

The ring in front adds a header (its ``format``): :func:`strip_header` removes it, and
:func:`compile_format` can include it in the same expression (one match per line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import Callable, NamedTuple

from exporter.runtime.errors import ParseError

# HAProxy's own strings for the built-in formats (doc/configuration.txt 8.2.2-8.2.4), as HAProxy
# sees them once the configuration's quoting is undone.  Checked against the captures of 2.6 to 3.4
# in tests/fixtures/logs/ (``tcplog clf`` exists from 3.0 on).
BUILTIN_FORMATS: dict[str, str] = {
    "tcplog": "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq",
    "tcplog clf": ('%{Q}o %{-Q}ci - - [%T] "TCP " 000 %B "" "" %cp %ms %ft %b %s %Th %Tw %Tc %Tt %U %ts-- '
                   '%ac %fc %bc %sc %rc %sq %bq "" "" '),
    "httplog": ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc "
                "%sq/%bq %hr %hs %{+Q}r"),
    "httplog clf": ('%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc '
                    "%ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl"),
    "httpslog": ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc "
                 "%sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/"
                 "%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc"),
}

# The header each ring ``format`` puts before the message (HAProxy's sink formats):
#   rfc3164   <134>Dec  4 22:37:01 localhost haproxy[20377]: msg
#   rfc5424   <134>1 2026-12-05T03:43:50.102836+00:00 - haproxy 27300 - - msg  (SD may be [...])
#   short     <6>msg        (the severity only)
#   priority  <134>msg      (facility and severity)
#   timed     <6>2026-12-05T03:43:35.290084+00:00 msg
#   iso       2026-12-05T03:43:35.290084+00:00 msg
#   raw       msg
#
# Every class here and below is spelled out ([0-9], not \d; [ \t\n\r\f\v], not \s; the same
# characters under re.ASCII): a class of plain characters is one table look-up a character in re's
# engine, a category a call, and a log line's match steps through every character (BENCHMARKS.md).
_BLANKS = r" \t\n\r\f\v"  # \s under re.ASCII
_NONBLANKS = "[^" + _BLANKS + "]+"  # \S+
_PRI = "<[0-9]{1,3}>"
_SD = r'(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)'
RING_HEADERS: dict[str, str] = {
    "rfc3164": (rf"{_PRI}[A-Z][a-z]{{2}} [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] {_NONBLANKS} "
                rf"[^{_BLANKS}\[:]*(?:\[[0-9]+\])?: "),
    "rfc5424": f"{_PRI}1 {_NONBLANKS} {_NONBLANKS} {_NONBLANKS} {_NONBLANKS} {_NONBLANKS} {_SD} ",
    "short": _PRI,
    "priority": _PRI,
    "timed": f"{_PRI}{_NONBLANKS} ",
    "iso": f"{_NONBLANKS} ",
    "raw": "",
}
_HEADERS = {name: re.compile(pattern, re.ASCII) for name, pattern in RING_HEADERS.items()}

# Why a line was not read: its ring header is not the ring format's, it does not match the
# log format, or it does not match and is as long as the ring's maxlen (HAProxy cut it).
REASONS = ("header", "format", "truncated")


class LogLine(NamedTuple):
    """The fields of one log line the exporter uses.  None: not in the format, or HAProxy wrote
    ``-`` (no value) or ``-1`` (a timer whose stage was not reached).  Timers are milliseconds."""

    frontend: str | None  # %f or %ft, without %ft's "~"
    tls: bool | None  # %ft ended with "~" (None when the format has %f only, or neither)
    backend: str | None  # %b
    server: str | None  # %s, as HAProxy wrote it: "<NOSRV>" when no server was chosen
    status: int | None  # %ST
    bytes: int | None  # %B, bytes sent to the client
    termination: str | None  # %tsc (4 characters) or %ts (2)
    retries: int | None  # %rc
    redispatched: bool | None  # %rc had a leading "+"
    t_request: int | None  # %TR: time to receive the request headers
    t_queue: int | None  # %Tw: time in queues
    t_connect: int | None  # %Tc: time to connect to the server
    t_response: int | None  # %Tr: server's time to send its response headers
    t_active: int | None  # %Ta: the request's active time (from %TR on, idle time excluded)
    t_handshake: int | None  # %Th: handshake time (TLS, PROXY protocol)
    t_idle: int | None  # %Ti: idle time before the request
    t_total: int | None  # %Tt: the whole session
    t_client: int | None  # %Tq: Th + Ti + TR
    t_data: int | None  # %Td: data transfer time
    logasap: bool  # %Tt, %Ta or %B had a leading "+" (option logasap: logged before the end)


# Alias -> the LogLine field it fills (the first occurrence in a format wins).
_SLOTS = {
    "f": "frontend", "ft": "frontend", "b": "backend", "s": "server", "ST": "status", "B": "bytes",
    "ts": "termination", "tsc": "termination", "rc": "retries", "TR": "t_request", "Tw": "t_queue",
    "Tc": "t_connect", "Tr": "t_response", "Ta": "t_active", "Th": "t_handshake", "Ti": "t_idle",
    "Tt": "t_total", "Tq": "t_client", "Td": "t_data",
}
_GROUPS = ("frontend", "backend", "server", "status", "bytes", "termination", "retries", "t_request", "t_queue",
           "t_connect", "t_response", "t_active", "t_handshake", "t_idle", "t_total", "t_client", "t_data")
_NUMERIC = frozenset("Ts ms Ta Tc Td Th Ti Tq TR Tr Tt Tu Tw B ST U ac bc bp bq cp fc fp lc pid rc rt sc sp sq".split())
_DATES = frozenset("T Tl t tr trg trl".split())
_ADDRESSES = frozenset("ci fi bi si".split())
_STATES = {"ts": 2, "tsc": 4}
_BRACED = frozenset(("hr", "hs"))  # {value|value}, nothing at all when nothing is captured
_LISTED = frozenset(("hrl", "hsl"))  # "value" "value", nothing at all when nothing is captured
_FLAGS_OFF_THE_LINE = ("json", "cbor")

# Numbers: the strings of [+-]?\d{1,19}|- and [+-]?\d+|-, tried in the same order, with the
# digits first, as most numbers start: no optional sign's step before every run of digits.
_TYPED_INT = r"[0-9]{1,19}|-[0-9]{0,19}|\+[0-9]{1,19}"  # bounded: int() of it never fails, machine-sized
_NUMBER = r"[0-9]+|-[0-9]*|\+[0-9]+"
_HEX = r"[0-9A-Fa-f]+|-"
_DATE = r"[0-9]+/[A-Za-z0-9_]+/[0-9]+:[0-9]+:[0-9]+:[0-9]+(?:\.[0-9]+)?(?: [+-][0-9]{4})?"
# Unrolled ("normal* (special normal*)*"): the same strings as "(?:[^"\\]|\\.)*", matched a run of
# plain characters per step instead of one alternation per character (half the time of a whole
# httplog line, whose request is quoted).
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_WORD = "[^" + _BLANKS + '"]+?'
_NAME_CHARS = "A-Za-z0-9_.:~<>-"  # what HAProxy allows in a proxy or server name, "~" of %ft, "<NOSRV>"


@dataclass(frozen=True)
class _Item:
    alias: str | None  # None: a sample expression
    expr: str
    flags: frozenset[str]


_SEP = object()  # a run of blanks: one space in the line, unless the line already ends with one


def _fail(log_format: str, what: str) -> ParseError:
    shown = log_format if len(log_format) <= 100 else log_format[:100] + "…"
    return ParseError("log_format", f"log-format {shown!r}: {what}")


def _expr_end(log_format: str, start: int) -> int:
    """Where the ``]`` closing the sample expression opened at ``start`` is (brackets and quotes in
    converter arguments, such as ``ltime("%d/%b")``, do not close it)."""
    depth = 0
    quote = ""
    i = start + 1
    while i < len(log_format):
        c = log_format[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "]" and depth <= 0:
            return i
        i += 1
    raise _fail(log_format, f"the sample expression at column {start} has no closing ']'")


def _flags(log_format: str, spec: str, flags: frozenset[str]) -> frozenset[str]:
    """Apply ``+Q,-X``-style flags (a flag without a sign is set, as in ``%{Q}o``)."""
    out = set(flags)
    for word in spec.split(","):
        word = word.strip()
        if not word:
            continue
        name = word.lstrip("+-")
        if word.startswith("-"):
            out.discard(name)
        else:
            if name in _FLAGS_OFF_THE_LINE:
                raise _fail(log_format, f"the {name} encoding is not supported (only plain text log lines are)")
            out.add(name)
    return frozenset(out)


def tokenize(log_format: str) -> list[object]:
    """The items of a log format: literal text (str), items (:class:`_Item`) and separators.

    ``log_format`` is what HAProxy got once the configuration's quotes and backslashes are undone:
    ``%{+Q}o %t "x"``, not ``"%{+Q}o %t \\"x\\""``."""
    tokens: list[object] = []
    text: list[str] = []
    shared: frozenset[str] = frozenset()  # %o's flags, on every item after it
    i, n = 0, len(log_format)

    def flush() -> None:
        if text:
            tokens.append("".join(text))
            text.clear()

    while i < n:
        c = log_format[i]
        if c in " \t\r\n":
            flush()
            if not tokens or tokens[-1] is not _SEP:
                tokens.append(_SEP)
            i += 1
            continue
        if c != "%":
            text.append(c)
            i += 1
            continue
        if log_format.startswith("%%", i):
            text.append("%")
            i += 2
            continue
        j = i + 1
        spec = ""
        for _ in range(2):  # %(name:type) and %{flags}, in either order
            if j < n and log_format[j] == "(":
                end = log_format.find(")", j)
                if end < 0:
                    raise _fail(log_format, f"the item name at column {j} has no closing ')'")
                j = end + 1
            elif j < n and log_format[j] == "{":
                end = log_format.find("}", j)
                if end < 0:
                    raise _fail(log_format, f"the flags at column {j} have no closing '}}'")
                spec = log_format[j + 1:end]
                j = end + 1
        if j < n and log_format[j] == "[":
            end = _expr_end(log_format, j)
            alias, expr = None, log_format[j + 1:end]
            j = end + 1
        else:
            end = j
            while end < n and log_format[end].isascii() and log_format[end].isalnum():
                end += 1
            if end == j:
                raise _fail(log_format, f"'%' at column {i} is followed by neither an alias, '[' nor '%'")
            alias, expr = log_format[j:end], ""
            j = end
        flags = _flags(log_format, spec, shared)
        if alias == "o":
            shared = flags
        else:
            flush()
            tokens.append(_Item(alias, expr, flags))
        i = j
    flush()
    return tokens


def _free(follower: str | None, last: bool) -> str:
    """Text HAProxy wrote unquoted: no space, and not the first character of the next literal."""
    if last:
        return ".*"
    return "[^ ]+?" if follower is None else f"[^ {re.escape(follower)}]+"


def _pattern(item: _Item, follower: str | None, last: bool, group: str | None) -> str:
    """The expression of one item; ``follower`` is the first character written after it (" " for
    a separator, None for another item), ``group`` names it when the exporter uses its value."""
    alias = item.alias
    quoted = "Q" in item.flags

    def named(body: str) -> str:
        return f"(?P<{group}>{body})" if group else f"(?:{body})"

    if alias in _SLOTS and alias not in _STATES and alias not in ("f", "ft", "b", "s"):
        return named(_TYPED_INT)
    if alias in _STATES:
        return named(f'[^{_BLANKS}"]{{{_STATES[alias]}}}')
    if alias in ("f", "ft", "b", "s"):
        if quoted:
            return '"' + named('[^"]*') + '"'
        name = f"[{_NAME_CHARS}]"
        return named(f"{name}+" if follower is not None and re.fullmatch(name, follower) is None else f"{name}+?")
    if alias in _NUMERIC:
        return named(_HEX if "X" in item.flags else _NUMBER)
    if alias in _DATES:
        return named(_DATE)
    if alias in _ADDRESSES:
        return named(f'"[^"{_BLANKS}]*"|{_WORD}') if quoted else named(_WORD)
    if alias in _BRACED:
        return r"\{[^}]*\}"
    if alias in _LISTED:
        return r'"[^"]*"(?: "[^"]*")*'
    if alias == "r" and not quoted:
        return f"{_WORD}(?: {_WORD}){{0,2}}"
    if quoted and alias is not None:
        return _QUOTED
    if quoted:  # a sample: quoted when it gives a string, not when it gives a number
        return f"(?:{_QUOTED}|{_free(follower, last)})"
    return _free(follower, last)


def _body(tokens: list[object]) -> tuple[str, set[str]]:
    """The expression of a whole format, and the LogLine fields it captures."""
    parts: list[str] = []
    captured: set[str] = set()
    ends_with_space: bool | None = True  # a leading separator writes nothing
    skip = False
    last_item = max((k for k, t in enumerate(tokens) if t is not _SEP), default=-1)
    for k, token in enumerate(tokens):
        if token is _SEP:
            if skip:
                skip = False
            elif ends_with_space is not True:
                parts.append(" " if ends_with_space is False else " ?")
                ends_with_space = True
            continue
        if isinstance(token, str):
            parts.append(re.escape(token))
            ends_with_space = False
            continue
        assert isinstance(token, _Item)
        slot = _SLOTS.get(token.alias or "")
        group = None
        if slot is not None and slot not in captured:
            captured.add(slot)
            group = "ft" if token.alias == "ft" else slot
        after = tokens[k + 1] if k + 1 < len(tokens) else None
        follower = " " if after is _SEP else after[0] if isinstance(after, str) else None
        pattern = _pattern(token, follower, k == last_item, group)
        if token.alias in _BRACED or token.alias in _LISTED:  # writes nothing when nothing is captured
            if ends_with_space is True and k + 1 < len(tokens) and tokens[k + 1] is _SEP:
                parts.append(f"(?:{pattern} )?")
                skip = True
            else:
                parts.append(f"(?:{pattern})?")
                ends_with_space = False if ends_with_space is False else None
            continue
        parts.append(pattern)
        ends_with_space = False
    return "".join(parts), captured


# A group that never matches: the place of a field a format does not have (LineParser._get).
_NEVER = "(?:(?!)(?P<_never>))?"


def _int(value: str | None) -> int | None:
    if value is None or value == "-" or value == "-1":
        return None
    return int(value)


def _text(value: str | None) -> str | None:
    return None if value is None or value == "-" else value


def _plus(value: str | None) -> bool:
    return value is not None and value[:1] == "+"


class LineParser:
    """A compiled log format: :meth:`parse` reads one line (its ring header included when the
    parser was compiled for a ring format) into a :class:`LogLine`, or says why it cannot."""

    def __init__(self, log_format: str, ring_format: str, expression: re.Pattern[str], captured: set[str],
                 maxlen: int | None) -> None:
        self.log_format = log_format
        self.ring_format = ring_format
        self.expression = expression
        self.captured = frozenset(captured)
        self.maxlen = maxlen
        self._match: Callable[[str], re.Match[str] | None] = expression.fullmatch
        index = expression.groupindex
        never = index["_never"] - 1
        self._has_ft = "ft" in index
        front = index.get("ft", index.get("frontend", 0)) - 1
        others = [index.get(name, 0) - 1 for name in _GROUPS[1:]]
        self._get = itemgetter(*[never if k < 0 else k for k in (front, *others)])

    def parse(self, line: str) -> LogLine | str:
        """The line's fields (``line`` without its newline), or a reason from :data:`REASONS` (never
        an exception)."""
        m = self._match(line)
        return self._why(line, len(line)) if m is None else self._read(m)

    def parse_bytes(self, raw: bytes) -> LogLine | str:
        """:meth:`parse` for a line as read from the socket (bytes that are not UTF-8 are replaced:
        HAProxy escapes what is not printable, so only a hostile line has any)."""
        line = raw.decode("utf-8", "replace")
        m = self._match(line)
        return self._why(line, len(raw)) if m is None else self._read(m)

    def _read(self, m: re.Match[str]) -> LogLine:
        (fe, be, srv, st, b, ts, rc, t_req, t_w, t_c, t_r, t_a, t_h, t_i, t_t, t_q, t_d) = self._get(m.groups())
        retries = _int(rc)
        tls = None
        if self._has_ft and fe is not None:
            tls = fe[-1:] == "~"
            if tls:
                fe = fe[:-1]
        return LogLine(_text(fe), tls, _text(be), _text(srv), _int(st), _int(b), _text(ts), retries,
                       None if retries is None else rc[:1] == "+", _int(t_req), _int(t_w), _int(t_c), _int(t_r),
                       _int(t_a), _int(t_h), _int(t_i), _int(t_t), _int(t_q), _int(t_d),
                       _plus(t_t) or _plus(t_a) or _plus(b))

    def why(self, line: str) -> str:
        """Why ``line`` (one that :meth:`parse` did not read) was not read: one of :data:`REASONS`."""
        return self._why(line, len(line.encode("utf-8", "replace")))

    def batch(self, keep: frozenset[str] | None = None) -> "BatchMatcher":
        """The same expression over a block of lines at once (:class:`BatchMatcher`), capturing only
        the fields in ``keep`` (None: all)."""
        return BatchMatcher(self, keep)

    def _why(self, line: str, size: int) -> str:
        if _HEADERS[self.ring_format].match(line) is None:
            return "header"
        if self.maxlen is not None and size >= self.maxlen:
            return "truncated"
        return "format"


class BatchMatcher:
    """A :class:`LineParser`'s expression matched over a whole block of lines in one call.

    A log reader gets blocks of hundreds of lines per read; ``findall`` over the block returns
    each matching line's captured fields as a tuple without a Python-level step per line, and the
    tuples are then counted in C (exporter/sources/logs/tally.py).  The expression is the
    parser's, anchored at line ends, with every negated class also refusing a newline, so that a
    match never runs from one line into the next: each line matches here exactly when
    :meth:`LineParser.parse` reads it (a test holds both to the same result).  ``columns`` maps
    each captured field (:data:`FIELDS`) to its place in the tuples; a field left out of ``keep``
    is matched and not captured.
    """

    def __init__(self, parser: LineParser, keep: frozenset[str] | None = None) -> None:
        body = parser.expression.pattern.replace(_NEVER, "")
        for name in FIELDS:
            if keep is not None and name not in keep:  # matched, not captured: a column costs every line
                for group in ((name, "ft") if name == "frontend" else (name,)):
                    body = body.replace(f"(?P<{group}>", "(?:")
        if "\\[^" in body:  # pragma: no cover - re.escape writes "\\[\\^": no literal "[^" is ever made
            raise AssertionError("a literal '[^' in a log format's expression")
        body = body.replace("[^", "[^\\n")
        self.parser = parser
        self.expression = re.compile(f"^(?:{body})$", re.ASCII | re.MULTILINE)
        self.line = re.compile(body, re.ASCII).fullmatch  # the same groups, one line at a time
        self.findall = self.expression.findall
        index = self.expression.groupindex
        self.columns: dict[str, int] = {}
        for field_name in FIELDS:
            group = "ft" if field_name == "frontend" and "ft" in index else field_name
            if group in index:
                self.columns[field_name] = index[group] - 1
        self.tls = "ft" in index  # the frontend's name may end with "~" (%ft on a TLS listener)


# The fields a BatchMatcher's tuples carry (those of the format, in their column).
FIELDS = _GROUPS


def _shown(item: _Item) -> str:
    return f"%{item.alias}" if item.alias is not None else f"%[{item.expr}]"


def compile_format(log_format: str, ring_format: str = "raw", maxlen: int | None = None) -> LineParser:
    """A parser of the lines ``log_format`` makes, as a ring of ``ring_format`` holds them (``raw``:
    the message alone).  ``maxlen``: the ring's, so that a cut line reads as ``truncated``.

    Raises :class:`ParseError` (reason ``log_format``) for a format HAProxy would refuse or that
    this module cannot read, with one line naming the problem."""
    if ring_format not in _HEADERS:
        raise ParseError("log_format", f"ring format {ring_format!r}: not one of {', '.join(RING_HEADERS)}")
    tokens = tokenize(log_format)
    if not any(isinstance(t, _Item) for t in tokens):
        raise _fail(log_format, "has no item (no %-alias nor %[expression]): nothing to read")
    for first, second in zip(tokens, tokens[1:]):
        if isinstance(first, _Item) and isinstance(second, _Item):
            # Where one ends cannot be read, and matching them backtracks for seconds on a hostile line.
            raise _fail(log_format, f"{_shown(first)} and {_shown(second)} touch with nothing between them: "
                                    "put a space or another character between them")
    body, captured = _body(tokens)
    try:
        expression = re.compile(f"{RING_HEADERS[ring_format]}{body}{_NEVER}", re.ASCII | re.DOTALL)
    except re.error as exc:  # pragma: no cover - every piece above is a valid expression
        raise _fail(log_format, f"makes no valid expression: {exc}") from None
    return LineParser(log_format, ring_format, expression, captured, maxlen)


def builtin(name: str, ring_format: str = "raw", maxlen: int | None = None) -> LineParser:
    """The parser of a built-in format (``httplog``, ``httplog clf``, ...: :data:`BUILTIN_FORMATS`)."""
    if name not in BUILTIN_FORMATS:
        raise ParseError("log_format", f"built-in log format {name!r}: not one of {', '.join(BUILTIN_FORMATS)}")
    return compile_format(BUILTIN_FORMATS[name], ring_format, maxlen)


def strip_header(line: str, ring_format: str) -> str | None:
    """The message of a line a ring of ``ring_format`` holds, without the header the ring added;
    None when the line does not start with such a header."""
    m = _HEADERS[ring_format].match(line)
    return None if m is None else line[m.end():]
