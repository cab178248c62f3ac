"""The SQL engines' compiler: the same checked rule tree the polars engine compiles, as one SQL statement
per run built with sqlglot (statement.py, compiler.py), lowered per dialect where dialects differ
(dialects.py), limited to what every engine reads alike (portable.py).
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager

from sqlglot import exp

from .compiler import CompileError
from .dialects import dialect as dialect_named

KEYWORDS = {"IN", "OVER", "AS", "AND", "OR", "NOT", "EXISTS", "FROM", "SELECT", "WITH", "UNION", "JOIN", "ON",
            "WHERE", "VALUES", "ARRAY", "BY", "THEN", "ELSE", "WHEN", "ALL", "DISTINCT", "INTERVAL", "FILTER",
            "PARTITION", "ORDER", "GROUP", "HAVING", "LIMIT", "USING", "LATERAL", "IS", "NULLS", "END"}
CALL = re.compile(r"(?<!\bAS )\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")  # an alias's column list (AS t(a, b)) is none
# the nodes a dialect may write as a function call (the rest is structure, names and literals)
OPERATIONS = (exp.Func, exp.Binary, exp.Unary, exp.Predicate)


DEPTH = 20_000  # the written-out URL decoding nests a few hundred calls deep: sqlglot recurses over them


def render(query: exp.Expression, dialect: str) -> str:
    """The statement as the dialect writes it, checked against its allowlist of functions."""
    unknown = sorted(called(query, dialect) - dialect_named(dialect).allowed())
    if unknown:
        raise CompileError(f"the {dialect} SQL would call {', '.join(unknown)}, which segtool does not know to "
                           f"mean the same there; use another dialect or engine")
    with deep_recursion():
        return _pretty(query, dialect)


def called(query: exp.Expression, dialect: str) -> set[str]:
    """The functions the statement calls in `dialect`, read off the tree: an anonymous function by its name,
    every other operation by how the dialect writes it with placeholders for its operands. A column or table
    name, or a text literal, is never read as a call, whatever characters it holds."""
    names = set()
    for node in query.walk():
        if isinstance(node, exp.Anonymous):
            names.add(node.name.upper())
        elif isinstance(node, OPERATIONS) and not (isinstance(node, exp.If) and isinstance(node.parent, exp.Case)):
            kept = ("expressions",) if isinstance(node, exp.Unnest) else node.args  # an alias is no operand
            shell = type(node)(**{key: _operand(value) for key, value in node.args.items() if key in kept})
            names.update(name.upper() for name in CALL.findall(shell.sql(dialect=dialect)))
    return names - KEYWORDS


def _operand(value):
    """An operand as the placeholder it is written with: types (without a precision, which reads as a call:
    DECIMAL(38, 0)), numbers and flags kept, text emptied, anything else a bare column."""
    if isinstance(value, list):
        return [_operand(v) for v in value]
    if isinstance(value, exp.DataType):
        return exp.DataType(this=value.this)
    if not isinstance(value, exp.Expression) or isinstance(value, (exp.DataType, exp.Var, exp.Null, exp.Boolean)):
        return value.copy() if isinstance(value, exp.Expression) else value
    if isinstance(value, exp.Literal):
        return value.copy() if not value.is_string else exp.Literal.string("")
    return exp.column("x")


def _pretty(query: exp.Expression, dialect: str) -> str:
    """Pretty SQL, with the expressions marked `compact` (the written-out URL decoding, a few hundred calls
    deep) on one line each: indented, they would make the statement a megabyte of spaces."""
    query = query.copy()
    compact = {}
    for node in list(query.find_all(exp.Expression)):
        if node.meta.get("compact") and node.parent is not None:
            marker = f"segtool_compact_{len(compact)}"
            compact[marker] = node.sql(dialect=dialect)
            node.replace(exp.column(marker))
    text = query.sql(dialect=dialect, pretty=True)
    for marker, sql in compact.items():
        text = text.replace(marker, sql, 1)
    return text


@contextmanager
def deep_recursion():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


__all__ = ["CompileError", "render", "deep_recursion"]
