"""A strftime pattern (config `timestamp_format`) as the text every engine reads alike: the grammar chrono's
parser scans for the pattern (chrono is what polars parses with), as one regular expression whose groups
are the fields. polars reads a value only where the stripped text matches it (inputs/tables.py), as it
reads ISO text (timeframe.ISO_TEXT); the SQL engines take the fields apart with it and add them up
(backends/sql/iso.py), so both read the same values and skip the same rows.

chrono scans left to right and never goes back: white space before a number is skipped, a number takes as
many digits as its field may hold (a year 4), a month name is three letters or the whole name, in any case.
Written as a regular expression that cannot take a field apart otherwise: where a number is followed by
another (`%Y%m%d`), it holds all its digits or fewer and then white space. Left out of the grammar, so
polars reads them as before and the SQL engines refuse them: directives other than those below, years with a
sign or more than 4 digits (chrono reads `-0044`), and the few patterns whose fields could be taken apart
in two ways. polars' own faster parser reads a few texts that chrono does not (`2a-06-01` with `%y-%m-%d`):
they do not match the grammar, so neither engine reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DataError
from .timeframe import WHITESPACE, char_class

WS = char_class(WHITESPACE)
NUMBERS = {  # directive -> field, most digits (chrono's widths)
    "Y": ("year", 4), "y": ("year2", 2), "m": ("month", 2), "d": ("day", 2), "e": ("day", 2),
    "j": ("ordinal", 3), "H": ("hour", 2), "k": ("hour", 2), "I": ("hour12", 2), "l": ("hour12", 2),
    "M": ("minute", 2), "S": ("second", 2),
}
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
READ = "%Y %y %m %b %h %B %d %e %j %H %k %I %l %p %P %M %S %.f %.3f %.6f %.9f %3f %6f %9f %z %:z %Z %F %T %D %R %X"
# fields that say the same thing: a pattern may give each once
SLOTS = {"year2": "year", "month_name": "month", "hour12": "hour"}
# what polars refuses to parse at all (polars-time strptime.rs), checked on the pattern as written
_HOUR, _MINUTE, _SECOND = r"%[_-]?[HkIl]", r"%[_-]?M", r"%[_-]?S"
_TWELVE, _MERIDIEM = r"%[_-]?[Il]", r"%[_-]?[pP]"
_SHORTHANDS = (("%D", "%m/%d/%y"), ("%R", "%H:%M"), ("%T", "%H:%M:%S"), ("%X", "%H:%M:%S"), ("%F", "%Y-%m-%d"))


class OutsideGrammar(Exception):
    """The pattern uses what the grammar leaves out (`what`, as written): polars reads it with chrono, the
    SQL engines cannot read it alike."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class Pattern:
    """A pattern's grammar: pieces of a regular expression, each with the field it holds (or None)."""

    parts: tuple[tuple[str, str | None], ...]

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(f for _, f in self.parts if f)

    def regex(self, group: str | None = None) -> str:
        """The whole stripped text, with the field `group` as the one capturing group."""
        return "^" + "".join(f"({r})" if f and f == group else f"(?:{r})" if f else r for r, f in self.parts) + "$"


@dataclass(frozen=True)
class _Item:
    kind: str  # space, literal, number, month (short name), month_long, ampm, fraction, digits, offset, name
    field: str | None = None
    width: int = 0  # a number's most digits; a fraction's digits (0: one or more)
    text: str = ""  # a literal's text, or the directive as written


def pattern(fmt: str) -> Pattern:
    """The grammar of the strftime pattern `fmt`. A pattern polars refuses is a DataError (for every engine);
    one the grammar leaves out raises OutsideGrammar."""
    for problem, found in ((_HOUR, _MINUTE), (_SECOND, None), (_TWELVE, _MERIDIEM)):
        given = bool(re.search(problem, fmt))
        if (given != bool(re.search(found, fmt))) if found else (given and not re.search(_HOUR, fmt)):
            raise DataError(f"timestamp_format {fmt!r} cannot be read: {_REFUSED[problem]}")
    for short, long in _SHORTHANDS:  # as polars expands them, before chrono reads the pattern
        fmt = fmt.replace(short, long)
    items = _items(fmt)
    _check_fields(items)
    parts: list[tuple[str, str | None]] = []
    for i, item in enumerate(items):
        parts += _parts(item, items[i + 1:])
    return Pattern(tuple(parts))


_REFUSED = {_HOUR: "give both the hour (%H) and the minutes (%M), or neither",
            _SECOND: "seconds (%S) need an hour (%H)",
            _TWELVE: "a 12-hour clock (%I) needs %p, and %p needs it"}


def _items(fmt: str) -> list[_Item]:
    """The pattern as chrono's StrftimeItems reads it: white space, literal text and directives."""
    items, i = [], 0
    while i < len(fmt):
        if fmt[i] in WHITESPACE:
            while i < len(fmt) and fmt[i] in WHITESPACE:
                i += 1
            items.append(_Item("space"))
        elif fmt[i] != "%":
            start = i
            while i < len(fmt) and fmt[i] != "%" and fmt[i] not in WHITESPACE:
                i += 1
            items.append(_Item("literal", text=fmt[start:i]))
        else:
            match = re.match(r"%(?:[-_]?[A-Za-z]|\.[369]?f|[369]f|:z|%|.?)", fmt[i:], re.DOTALL)
            directive = match.group()
            items.append(_directive(directive))
            i += len(directive)
    return items


def _directive(directive: str) -> _Item:
    spec = directive[-1] if directive[1:] else ""
    if directive[1:2] in ("-", "_") and spec not in NUMBERS:
        raise OutsideGrammar(directive)
    if spec in NUMBERS:
        field, width = NUMBERS[spec]
        return _Item("number", field, width, directive)
    fixed = {"%b": ("month", "month_name"), "%h": ("month", "month_name"), "%B": ("month_long", "month_name"),
             "%p": ("ampm", "ampm"), "%P": ("ampm", "ampm"), "%.f": ("fraction", "fraction"), "%z": ("offset", None),
             "%:z": ("offset", None), "%Z": ("name", None), "%n": ("space", None), "%t": ("space", None)}
    if directive in fixed:
        kind, field = fixed[directive]
        return _Item(kind, field, text=directive)
    if directive == "%%":
        return _Item("literal", text="%")
    if re.fullmatch(r"%\.?[369]f", directive):
        return _Item("fraction" if directive[1] == "." else "digits", "fraction", int(directive[-2]), directive)
    raise OutsideGrammar(directive)


def _check_fields(items: list[_Item]) -> None:
    """Each field at most once, a whole date (year, month and day, or year and day of the year), a time of
    day for an offset or a fraction of a second: what chrono would check against each other, left out."""
    given: dict[str, str] = {}
    for item in items:
        for field in _fields(item):
            slot = SLOTS.get(field, field)
            if slot in given:
                raise OutsideGrammar(f"{given[slot] or '%' + slot} and {item.text or '%' + field} (one field twice)")
            given[slot] = item.text
    if "year" not in given or not ({"month", "day"} <= given.keys() or "ordinal" in given) \
            or ("ordinal" in given and given.keys() & {"month", "day"}):
        raise OutsideGrammar("a pattern without a whole date (%Y or %y, with %m or %b and %d, or with %j)")
    if ("zone_hour" in given or "fraction" in given) and "second" not in given and "minute" not in given:
        raise OutsideGrammar("an offset or a fraction of a second without a time of day")
    if "fraction" in given and "second" not in given:
        raise OutsideGrammar("a fraction of a second without %S")


def _fields(item: _Item) -> tuple[str, ...]:
    if item.kind == "offset":
        return ("zone_sign", "zone_hour", "zone_minute")
    return (item.field,) if item.field else ()


def _parts(item: _Item, rest: list[_Item]) -> list[tuple[str, str | None]]:
    """The item's pieces of the regular expression, given the items after it."""
    following = [r for r in rest if r.kind != "space"]
    after = following[0] if following else None
    spaced = bool(rest) and rest[0].kind == "space"
    if item.kind == "space":
        return [(WS + "*", None)]
    if item.kind == "literal":
        return [(_literal(item.text), None)]
    if item.kind == "number":
        if after is not None and after.kind == "literal" and after.text[0].isdigit():
            raise OutsideGrammar(f"{item.text}{after.text} (a digit right after a number)")
        w = item.width
        if after is not None and (after.kind == "number" or (after.kind == "digits" and spaced)):
            value = f"[0-9]{{{w}}}|[0-9]{{1,{w - 1}}}{WS}"  # all its digits, or fewer and then white space
        elif after is not None and after.kind == "digits":
            value = f"[0-9]{{{w}}}"
        else:
            value = f"[0-9]{{1,{w}}}"
        return [(WS + "*", None), (value, item.field)]
    if item.kind in ("month", "month_long"):
        if item.kind == "month_long" and after is not None and not spaced and after.kind == "literal" \
                and after.text[0].isalpha():
            raise OutsideGrammar(f"%B{after.text} (a month name followed by letters)")
        names = [_any_case(m[:3]) + (f"(?:{_any_case(m[3:])})?" if item.kind == "month_long" and m[3:] else "")
                 for m in MONTHS]
        return [("|".join(names), item.field)]
    if item.kind == "ampm":
        return [("[AaPp][Mm]", item.field)]
    if item.kind in ("fraction", "digits"):
        if after is not None and (after.kind in ("number", "digits", "fraction") or (
                after.kind == "literal" and (after.text[0].isdigit() or after.text[0] == "."))):
            raise OutsideGrammar(f"{after.text or 'a number'} right after a fraction of a second")
        digits = f"[0-9]{{{item.width}}}" if item.width else "[0-9]+"
        if item.kind == "digits":
            return [(digits, item.field)]
        return [("(?:[.]", None), (digits, item.field), (")?", None)]
    if item.kind == "offset":
        return [(WS + "*", None), ("[+]|-|\u2212", "zone_sign"), ("[0-9]{2}", "zone_hour"),
                (char_class(":" + WHITESPACE) + "*", None), ("[0-5][0-9]", "zone_minute")]
    # a time zone's name: chrono skips what is not white space, so white space must surround it
    if after is not None and not spaced:
        raise OutsideGrammar("%Z followed by more than white space")
    return [(char_class(WHITESPACE, negated=True) + "*", None)]


def _any_case(letters: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in letters)


def _literal(text: str) -> str:
    """Literal text as a regular expression every engine reads alike (no class holds `[`: Java nests it)."""
    return "".join("\\" + c if c in "[]\\^" else f"[{c}]" if c in ".$|?*+(){}" else c for c in text)
