"""The command line: stdout holds only IDs, output formats, atomic writes, summaries, help, exit codes."""

import io
import json
import os
import re
import subprocess
import sys

import polars as pl
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from conftest import REPO, Workspace, conversion, pageview
from segtool.cli.main import app

SEGMENT = "name: buyers\nrules:\n  - conversions: {gte: 1}\n"


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(conversion("b", "2024-06-01T10:00:00Z", 20), conversion("007", "2024-06-02T10:00:00Z", 5),
              conversion("b", "2024-06-03T10:00:00Z", 30), pageview("c"), conversion("a", "2024-06-04T10:00:00Z"))
    ws.profiles({"visitor_id": "007", "email": "x@y.z", "city": "Milan"}, {"visitor_id": "d", "city": "Rome"})
    ws.config("as_of: 2024-06-30\n")
    return ws


def test_stdout_holds_only_sorted_unique_ids(shop: Workspace):
    result = shop.cli("run", str(shop.segment(SEGMENT)))
    assert result.stdout == "007\na\nb\n"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json", "ndjson", "txt"])
def test_output_formats(shop: Workspace, fmt):
    target = shop.root / f"out.{fmt}"
    result = shop.cli("run", str(shop.segment(SEGMENT)), "-o", str(target), "--columns", "email")
    assert result.exit_code == 0 and result.stdout == ""
    assert "3 visitors" in result.stderr
    if fmt == "csv":
        assert target.read_text() == "visitor_id,email\n007,x@y.z\na,\nb,\n"
    elif fmt == "parquet":
        frame = pl.read_parquet(target)
        assert frame.schema == {"visitor_id": pl.String, "email": pl.String}
        assert frame["visitor_id"].to_list() == ["007", "a", "b"]
    elif fmt == "json":
        assert json.loads(target.read_text()) == [{"visitor_id": "007", "email": "x@y.z"},
                                                  {"visitor_id": "a", "email": None},
                                                  {"visitor_id": "b", "email": None}]
    elif fmt == "ndjson":
        assert [json.loads(x)["visitor_id"] for x in target.read_text().splitlines()] == ["007", "a", "b"]
    else:
        assert target.read_text() == "007\na\nb\n"


def test_format_flag_wins_over_extension(shop: Workspace):
    target = shop.root / "ids.out"
    assert shop.cli("run", str(shop.segment(SEGMENT)), "-o", str(target), "--format", "txt").exit_code == 0
    assert target.read_text() == "007\na\nb\n"


def test_output_is_byte_identical_across_runs(shop: Workspace):
    a, b = shop.root / "a.csv", shop.root / "b.csv"
    shop.cli("run", str(shop.segment(SEGMENT)), "-o", str(a))
    shop.cli("run", str(shop.segment(SEGMENT)), "-o", str(b))
    assert a.read_bytes() == b.read_bytes()


def test_output_dir_writes_one_file_per_segment(shop: Workspace):
    folder = shop.root / "segs"
    folder.mkdir()
    (folder / "buyers.yaml").write_text(SEGMENT)
    (folder / "milan.yml").write_text("rules:\n  - city: {is: Milan}\n")
    (folder / "notes.txt").write_text("not a segment")
    out = shop.root / "out"
    result = shop.cli("run", str(folder), "--output-dir", str(out), "--format", "txt")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [".segtool", "buyers.txt", "current", "manifest.json", "milan.txt"]
    assert (out / "milan.txt").read_text() == "007\n"


def test_unsafe_segment_name_is_refused_for_output_dir(shop: Workspace):
    path = shop.segment("name: ../../etc/passwd\nrules:\n  - city: {is: Milan}\n")
    result = shop.cli("run", str(path), "--output-dir", str(shop.root / "out"))
    assert result.exit_code in (1, 2)
    assert "safe file name" in result.stderr
    assert not (shop.root / "out").exists() or not any((shop.root / "out").iterdir())


def test_no_file_left_behind_on_a_data_error(shop: Workspace):
    shop.events(conversion("a", "2024-06-01T10:00:00Z", "lots"))
    target = shop.root / "out.csv"
    target.write_text("previous answer\n")
    result = shop.cli("run", str(shop.segment("rules:\n  - total_order_value: {gt: 1}\n")), "-o", str(target))
    assert result.exit_code == 3
    assert target.read_text() == "previous answer\n"
    assert [p.name for p in shop.root.iterdir() if p.name.startswith("out")] == ["out.csv"]


def test_summary_table_and_json(shop: Workspace):
    path = shop.segment("name: buyers_in_milan\nmatch: all\nrules:\n  - conversions: {gte: 1}\n"
                        "  - city: {is: Milan}\n")
    table = shop.cli("run", str(path), "--summary")
    assert table.exit_code == 0
    assert "buyers_in_milan" in table.stdout and "20.0%" in table.stdout  # 1 of 5 visitors
    data = json.loads(shop.cli("run", str(path), "--summary", "--format", "json").stdout)
    assert data["universe"] == 5
    (segment,) = data["segments"]
    assert segment["name"] == "buyers_in_milan" and segment["size"] == 1 and segment["share"] == 0.2
    assert [r["size"] for r in segment["rules"]] == [3, 1]


def test_several_segments_without_output_print_a_summary(shop: Workspace):
    one = shop.segment(SEGMENT, name="one.yaml")
    two = shop.segment("name: milan\nrules:\n  - city: {is: Milan}\n", name="two.yaml")
    result = shop.cli("run", str(one), str(two))
    assert result.exit_code == 0 and "buyers" in result.stdout and "milan" in result.stdout


@pytest.mark.parametrize("args, code", [
    (["run"], 2),
    (["run", "SEG", "-o", "a.csv", "--output-dir", "d"], 2),
    (["run", "SEG", "--format", "xlsx", "-o", "a.x"], 2),
    (["run", "SEG", "--columns", "email"], 2),
    (["run", "nowhere.yaml"], 1),
    (["frobnicate"], 2),
])
def test_usage_errors(shop: Workspace, args, code):
    args = [str(shop.segment(SEGMENT)) if a == "SEG" else a for a in args]
    result = shop.cli(*args)
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr


def test_explain_shows_rules_in_words_and_the_plan(shop: Workspace):
    path = shop.segment("name: x\nrules:\n  - conversions: {eq: 1, period: 90d}\n  - city: {is_not: Milan}\n")
    result = shop.cli("explain", str(path))
    assert result.exit_code == 0
    assert "number of conversions = 1, in the last 90 days" in result.stdout
    assert "city is not 'Milan'" in result.stdout
    assert "polars plan" in result.stdout and "2024-06-30" in result.stdout


def test_fields_lists_the_catalog():
    result = CliRunner().invoke(app, ["fields"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("referrer_domain", "utm_medium", "conversions", "average_order_value", "retention_grid",
                 "conversion_potential", "clv", "customer_type", "persuasion_type", "city", "region", "country",
                 "location", "profile.<column>", "not_contains", "between", "is_set"):
        assert name in result.stdout, name


@pytest.mark.parametrize("width", [60, 80])
def test_fields_are_readable_in_a_narrow_terminal(width):
    """No line wider than the terminal; every name whole on a line of its own; every meaning and every
    type's operators in one piece (wrapped between words only)."""
    from segtool.cli.commands import catalog_data

    result = CliRunner().invoke(app, ["fields"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= width
    words = " ".join(result.stdout.split())
    for row in catalog_data()["fields"]:
        assert any(line.split(" (")[0].strip() == row["field"] for line in lines), row["field"]
        assert " ".join(row["meaning"].split()) in words, row["field"]
        assert f"{row['type']} {', '.join(row['operators'])}" in words, row["type"]


def completions(args: list[str], incomplete: str) -> list[str]:
    """What bash is offered for `segtool ARGS INCOMPLETE<tab>`: the variables its completion script sets
    (`segtool --show-completion bash`), then the command, as the script runs it."""
    words = " ".join(["segtool", *args, incomplete])
    env = {"_SEGTOOL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(args) + 1)}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        with pytest.raises(SystemExit):
            get_command(app).main(args=[], prog_name="segtool")
        return sys.stdout.getvalue().split()
    finally:
        sys.stdout = stdout
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)


def test_option_values_complete_to_what_the_commands_take():
    from segtool.cli.commands import GRID_FORMATS
    from segtool.config import ENGINES, PREDICTIVE_SOURCES, PRESETS
    from segtool.jobs.run import RUN_FORMATS
    from segtool.predict.command import PREDICT_FORMATS
    from segtool.jobs.replay import DIFF_FORMATS, HISTORY_FORMATS
    from segtool.synth.vendors import FORMATS as VENDOR_FORMATS
    from segtool.backends.sql.dialects import DIALECTS

    expected = {("run", "--engine"): ENGINES, ("run", "--format"): RUN_FORMATS, ("sql", "--dialect"): DIALECTS,
                ("diff", "--format"): DIFF_FORMATS, ("history", "--format"): HISTORY_FORMATS,
                ("grid", "--format"): GRID_FORMATS, ("predict", "--format"): PREDICT_FORMATS,
                ("validate", "--format"): ("json",), ("fields", "--format"): ("json",),
                ("sample", "--preset"): PRESETS, ("sample", "--format"): ("parquet", "csv"),
                ("run", "--predictive"): PREDICTIVE_SOURCES, ("explain", "--predictive"): PREDICTIVE_SOURCES}
    for args, values in expected.items():
        assert completions(list(args), "") == list(values), args
    assert completions(["sql", "--dialect"], "sn") == ["snowflake"]
    assert completions(["sample", "--preset", "ga4", "--format"], "") == list(VENDOR_FORMATS["ga4"])
    assert completions(["sample", "--format"], "parquet,") == ["parquet,csv"]


def test_select_and_exclude_complete_segment_names_and_tags(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("name: vip_buyers\ntags: [nightly, email]\nrules:\n  - conversions: {gte: 1}\n")
    (tmp_path / "sleepers.yml").write_text("tags: [nightly]\nrules:\n  - conversions: {eq: 0}\n")
    (tmp_path / "broken.yaml").write_text("rules: [\n")
    for option in ("--select", "--exclude"):
        assert completions(["run", str(tmp_path), option], "") == ["sleepers", "vip_buyers", "tag:email",
                                                                    "tag:nightly"]
    assert completions(["history", str(tmp_path / "a.yaml"), "--select"], "") == ["vip_buyers", "tag:email",
                                                                                  "tag:nightly"]
    assert completions(["diff", str(tmp_path), "--exclude"], "sleepers,v") == ["sleepers,vip_buyers"]
    monkeypatch.chdir(REPO)  # no segments named before the option: those in ./segments
    assert "one_time_buyers" in completions(["sql", "--select"], "one")


def test_completion_through_the_shell_protocol():
    """As bash asks (the script of --show-completion sets these variables), through segtool's own entry."""
    entry = "import sys; sys.argv[0] = 'segtool'; from segtool.cli.main import entry; entry()"
    env = {**os.environ, "_SEGTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "segtool run --engine d",
           "COMP_CWORD": "3"}
    result = subprocess.run([sys.executable, "-c", entry], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0 and result.stdout.split() == ["duckdb"], result.stderr


COMMANDS = get_command(app).commands  # every command, as the CLI registers them


def summary(command: str) -> str:
    """The first paragraph of a command's help: its docstring, segtool's own words."""
    return " ".join(COMMANDS[command].help.split("\n\n")[0].split())


def test_the_commands_are_those_the_cli_registers():
    assert {"run", "validate", "sql", "diff", "history"} <= set(COMMANDS)
    assert all(not command.hidden and command.help for command in COMMANDS.values())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_is_in_the_guide(command):
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(app, [command, flag])
        assert result.exit_code == 0 and summary(command) in " ".join(result.stdout.split()), result.stdout
    guide = (REPO / "docs" / "commands.md").read_text()  # the hand-written guide (docs/cli.md is generated)
    assert re.search(rf"segtool {command}\b", guide), f"docs/commands.md does not show `segtool {command}`"


def test_python_dash_m_segtool():
    result = subprocess.run([sys.executable, "-m", "segtool", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and all(re.search(rf"\b{name}\b", result.stdout) for name in COMMANDS)


def test_the_readme_quick_start_segment_runs_on_the_sample_data(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["run", "segments/one_time_buyers.yaml"])
    assert result.exit_code == 0, result.stderr
    ids = result.stdout.splitlines()
    assert ids and ids == sorted(set(ids))
