"""Bad segment and config files: every problem at once, each with file:line:column, before any data is read."""

import pytest

from conftest import REPO, Workspace

BAD = """\
name: bad
rules:
  - conversoins: {gte: 1}
  - city: {iss: Milan}
  - clv: {gte: abc}
  - conversions: {gte: 1, period: 7x}
  - city: {is: Milan, period: 7d}
  - retention_grid: {is: loyl}
  - all: []
  - conversions: {gte: 1, items: {brnd: {is: Nike}}}
  - location: {within_km: 5, of: {lat: 95, lon: 9}}
  - city: {between: [1, 2]}
  - conversions: {between: [5, 1]}
  - referrer: {matches: "("}
"""


def test_every_problem_is_reported_with_its_position(ws: Workspace):
    path = ws.segment(BAD)
    result = ws.cli("validate", str(path))
    assert result.exit_code == 1
    err = result.stderr
    expected = [
        (3, 5, "unknown field 'conversoins'", "did you mean 'conversions'"),
        (4, 12, "unknown operator 'iss'", "did you mean 'is'"),
        (5, 16, "gte takes a number", "'abc'"),
        (6, 35, "period", "'7x'"),
        (7, 23, "city does not take `period`", ""),
        (8, 26, "unknown retention grid cell 'loyl'", "did you mean 'loyal'"),
        (9, 10, "all must be a non-empty list", ""),
    ]
    for line, column, what, hint in expected:
        located = [ln for ln in err.splitlines() if f"{path}:{line}:{column}:" in ln]
        assert located, f"no error at {line}:{column} in:\n{err}"
        assert what in located[0] and hint in located[0], located[0]
    for line in (10, 11, 12, 13, 14):
        assert f"{path}:{line}:" in err, f"no error on line {line}:\n{err}"
    assert "brand" in err  # did you mean for the item column


def test_errors_in_several_files_are_all_reported(ws: Workspace):
    one = ws.segment("rules:\n  - cty: {is: x}\n", name="one.yaml")
    two = ws.segment("rules:\n  - city: [unclosed\n", name="two.yaml")
    good = ws.segment("rules:\n  - city: {is: x}\n", name="good.yaml")
    result = ws.cli("validate", str(one), str(two), str(good))
    assert result.exit_code == 1
    assert f"{one}:2:5:" in result.stderr and "did you mean 'city'" in result.stderr
    assert f"{two}:" in result.stderr and "not valid YAML" in result.stderr


def test_bad_segment_is_rejected_before_reading_data(ws: Workspace):
    path = ws.segment("rules:\n  - cty: {is: x}\n")
    result = ws.cli("run", str(path), "--events", "missing.csv")
    assert result.exit_code == 1  # not 3: the data was never looked at
    assert result.stdout == ""


def _golden_cases() -> list[tuple[str, str]]:
    """tests/fixtures/segment_errors.txt: one case a line, `<YAML, \\n for a line break> ;; <stderr>`."""
    lines = (REPO / "tests" / "fixtures" / "segment_errors.txt").read_text(encoding="utf-8").splitlines()
    cases = []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            text, expected = line.split(" ;; ")
            cases.append((text.replace("\\n", "\n"), expected))
    return cases


@pytest.mark.parametrize("text, expected", _golden_cases(), ids=lambda v: v[:40])
def test_bad_segment_files_give_exactly_their_error_line(ws: Workspace, text, expected):
    path = ws.segment(text) if text.strip() else ws.root / "seg.yaml"
    path.write_text(text, encoding="utf-8")
    result = ws.cli("validate", str(path))
    assert result.exit_code == 1
    assert result.stderr == expected.replace("<seg>", str(path)) + "\n"


def test_unknown_config_key(ws: Workspace):
    ws.config("as_off: latest\n")
    result = ws.cli("validate", str(ws.segment("rules:\n  - city: {is: x}\n")))
    assert result.exit_code == 1
    assert "segtool.yaml:" in result.stderr and "did you mean 'as_of'" in result.stderr


def test_config_grid_cells_are_known_to_the_checker(ws: Workspace):
    ws.config("""
        retention_grid:
          - {name: vip, conversions: [10, null]}
          - {name: rest, conversions: [0, null]}
    """)
    assert ws.cli("validate", str(ws.segment("rules:\n  - retention_grid: {is: vip}\n"))).exit_code == 0
    result = ws.cli("validate", str(ws.segment("rules:\n  - retention_grid: {is: loyal}\n")))
    assert result.exit_code == 1 and "vip" in result.stderr


def test_debug_shows_a_traceback(ws: Workspace):
    from typer.testing import CliRunner

    from segtool.cli.main import app
    from segtool.errors import SegmentError

    path = ws.segment("rules:\n  - cty: {is: x}\n")
    result = CliRunner().invoke(app, ["--debug", "validate", str(path)])
    assert isinstance(result.exception, SegmentError)
