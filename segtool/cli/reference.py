"""The generated reference pages, docs/fields.md and docs/cli.md: written from the field catalog and from the
CLI itself, so they cannot drift from either (tests/test_docs.py compares them with these functions).

`python -m segtool.cli.reference` rewrites both. No command imports this module.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

REGENERATE = "python -m segtool.cli.reference"


def _header(title: str, source: str) -> list[str]:
    return [f"<!-- Generated from {source} by `{REGENERATE}`: do not edit by hand. -->", "", f"# {title}", ""]


def _cell(text: object) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(headings: tuple[str, ...], rows: list[tuple]) -> list[str]:
    return ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings),
            *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows), ""]


def _codes(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


def fields_page() -> str:
    """docs/fields.md: every field (by group: family, type, qualifiers, meaning), the operators of each value
    type and what each takes, the conditions of one event, the rule kinds, qualifiers and combinators."""
    from ..language.catalog import EVENT_FIELDS, lookup_field
    from .commands import catalog_data

    data = catalog_data()
    lines = _header("Field reference", "the field catalog (`segtool/language/catalog.py`)")
    lines += ["Every field a rule may name, as `segtool fields` prints it (`--format json` for tools). What each",
              "field means, with examples: [the segment language](segments.md#fields).", ""]
    groups: dict[str, list[dict]] = {}
    for row in data["fields"]:
        groups.setdefault(row["group"], []).append(row)
    lines += ["## Fields", ""]
    for group, rows in groups.items():
        lines += [f"### {group}", ""]
        lines += _table(("field", "family", "type", "qualifiers", "meaning"),
                        [(f"`{row['field']}`", lookup_field(row["field"]).family, row["type"],
                          _codes(row["qualifiers"]), row["meaning"]) for row in rows])
    lines += ["## Operators by value type", "", "A field takes the operators of its value type.", ""]
    by_type = {row["type"]: row["operators"] for row in data["fields"]}
    lines += _table(("type", "operators"), [(value_type, _codes(ops)) for value_type, ops in by_type.items()])
    lines += ["## Operators", "", "A negative operator is exactly `not` of its positive form, so it matches missing "
              "values too.", ""]
    lines += _table(("operator", "meaning", "takes", "`ignore_case`"),
                    [(f"`{row['operator']}`", row["meaning"], row["takes"], "yes" if row["ignore_case"] else "")
                     for row in data["operators"]])
    lines += ["## Conditions of one event", "",
              "The conditions of an `event:` rule and of each step of a `sequence:`, met by one and the same event.",
              ""]
    lines += _table(("condition", "events column", "compares as"),
                    [*((f"`{name}`", f"`{column}`", value_type) for name, (column, value_type) in EVENT_FIELDS.items()),
                     ("`properties.<column>`", "any other column", "its type: numbers as numbers, text as text")])
    lines += ["## Rule kinds besides fields", ""]
    lines += _table(("rule", "takes"), [(f"`{name}`", text) for name, text in data["rule_kinds"].items()])
    lines += ["## Qualifiers and combinators", "", f"Qualifiers: {data['qualifiers']}.", "",
              f"Combinators: {data['combinators']}.", ""]
    return "\n".join(lines)


def cli_page() -> str:
    """docs/cli.md: the root command and each command, in the order the CLI lists them: usage, help, and a
    table of its arguments and options (value, default, help)."""
    from typer.main import get_command

    from .main import app

    root = get_command(app)  # typer's own click (typer vendors it): its classes are used through the objects
    root_context = root.context_class(root, info_name="segtool", **root.context_settings)
    lines = _header("Command reference", "the CLI (`segtool/cli/main.py`)")
    lines += ["Every command, argument and option of `segtool`, as `segtool COMMAND --help` shows them. What the",
              "commands do together (output, exit codes, signals): [commands.md](commands.md).", ""]
    lines += _command("segtool", root, root_context)
    lines += _table(("command", "what it does"),
                    [(f"[`{name}`](#segtool-{name})", _summary(command)) for name, command in root.commands.items()])
    for name, command in root.commands.items():
        context = command.context_class(command, info_name=name, parent=root_context, **command.context_settings)
        lines += _command(f"segtool {name}", command, context)
    return "\n".join(lines)


def _summary(command) -> str:
    return inspect.cleandoc(command.help or "").split("\n\n")[0]


def _command(path: str, command, context) -> list[str]:
    params = [p for p in command.get_params(context) if not getattr(p, "hidden", False)]
    arguments = " ".join(_argument_usage(p) for p in params if p.param_type_name == "argument")
    group = " COMMAND [ARGS]..." if hasattr(command, "commands") else ""
    usage = " ".join(filter(None, (path, "[OPTIONS]", arguments))) + group
    lines = [f"## {path}", "", f"Usage: `{usage}`", "", inspect.cleandoc(command.help or ""), ""]
    return lines + _table(("argument or option", "value", "default", "help"), [_row(p) for p in params])


def _argument_usage(param) -> str:
    name = param.name.upper() + ("..." if param.nargs == -1 else "")
    return name if param.required else f"[{name}]"


def _row(param) -> tuple[str, str, str, str]:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}`", _value(param), "required" if param.required else "", param.help or ""
    flag = getattr(param, "is_flag", False)
    default = param.default if param.show_default is not False and not flag and param.default is not None else None
    # short names first, in a fixed order: click gives the help option's names as a set
    names = sorted((*param.opts, *param.secondary_opts), key=lambda name: name.startswith("--"))
    return (", ".join(f"`{name}`" for name in names), "" if flag else _value(param),
            "required" if param.required else ("" if default is None else f"`{default}`"), param.help or "")


# click's names of its types, which differ between its versions ("text" or "str"), in one spelling.
TYPE_NAMES = {"str": "TEXT", "text": "TEXT", "int": "INTEGER", "integer": "INTEGER", "float": "NUMBER",
              "path": "PATH", "boolean": "BOOLEAN", "bool": "BOOLEAN"}


def _value(param) -> str:
    """The kind of value a parameter takes, in words that do not depend on click's version."""
    name = param.type.name.split()[0]
    kind = TYPE_NAMES.get(name, name.upper())
    bounds = [f"{op} {value}" for op, value in ((">=", getattr(param.type, "min", None)),
                                                ("<=", getattr(param.type, "max", None))) if value is not None]
    return " ".join([kind, *bounds]) + (", repeatable" if getattr(param, "multiple", False) else "")


PAGES = {"docs/fields.md": fields_page, "docs/cli.md": cli_page}


def main(root: Path = Path(__file__).resolve().parents[2]) -> None:
    for relative, page in PAGES.items():
        path = root / relative
        text = page()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {relative}", file=sys.stderr)


if __name__ == "__main__":
    main()
