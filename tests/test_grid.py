"""The retention grid: default cells and their edges, redefined cells, and `segtool grid`."""

import csv
import io
import json

import pytest

from conftest import Workspace, conversion, pageview

AS_OF = "2024-12-31T00:00:00Z"


def buys(vid: str, *days_ago: int) -> list[dict]:
    from datetime import datetime, timedelta, timezone

    as_of = datetime(2024, 12, 31, tzinfo=timezone.utc)
    return [conversion(vid, (as_of - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ"), 10, f"{vid}-{i}")
            for i, d in enumerate(days_ago)]


@pytest.fixture
def grid_ws(ws: Workspace) -> Workspace:
    rows = [
        *buys("one_recent", 0), *buys("one_edge", 90), *buys("one_old", 91),
        *buys("two", 5, 200), *buys("three_old", 100, 150, 300),
        *buys("four", 90, 91, 92, 93), *buys("five_old", 91, 95, 100, 120, 200),
        pageview("browser", "2024-12-01T00:00:00Z"),
        conversion("later", "2025-01-01T00:00:00Z", 10, "z"), pageview("later", "2024-12-30T00:00:00Z"),
    ]
    ws.events(*rows)
    ws.profiles({"visitor_id": "profile_only"})
    return ws


EXPECTED = {
    "never_converted": ["browser", "later", "profile_only"],
    "one_time_buyer": ["one_edge", "one_recent"],
    "promising": ["two"],
    "loyal": ["four"],
    "sleeper": ["one_old", "three_old"],
    "red_alert": ["five_old"],
}


@pytest.mark.parametrize("cell", EXPECTED)
def test_default_cells(grid_ws, cell):
    assert grid_ws.run(f"rules:\n  - retention_grid: {{is: {cell}}}\n", as_of=AS_OF) == EXPECTED[cell]


def test_cells_partition_the_universe(grid_ws):
    everyone = sorted(v for cell in EXPECTED.values() for v in cell)
    assert len(everyone) == len(set(everyone))
    assert grid_ws.run("rules:\n  - retention_grid: {in: [never_converted, one_time_buyer, promising, loyal, "
                       "sleeper, red_alert]}\n", as_of=AS_OF) == everyone
    assert grid_ws.run("rules:\n  - retention_grid: {not_in: [loyal, promising]}\n", as_of=AS_OF) == \
        sorted(set(everyone) - {"four", "two"})


def test_grid_command_counts_sum_to_the_universe(grid_ws):
    result = grid_ws.cli("grid", "--as-of", AS_OF, "--format", "json")
    assert result.exit_code == 0, result.stderr
    cells = {c["cell"]: c["visitors"] for c in json.loads(result.stdout)}
    assert cells == {name: len(ids) for name, ids in EXPECTED.items()}
    rows = list(csv.DictReader(io.StringIO(grid_ws.cli("grid", "--as-of", AS_OF, "--format", "csv").stdout)))
    assert sum(int(r["visitors"]) for r in rows) == 10


def test_grid_picture_names_cells_and_counts(grid_ws):
    result = grid_ws.cli("grid", "--as-of", AS_OF)
    assert result.exit_code == 0
    for name in EXPECTED:
        assert name in result.stdout
    assert "10 visitors" in result.stdout


def test_grid_written_to_a_file(grid_ws):
    target = grid_ws.root / "grid.csv"
    assert grid_ws.cli("grid", "--as-of", AS_OF, "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("cell,")


def test_redefined_cells_first_match_wins(grid_ws):
    grid_ws.config("""
        retention_grid:
          - {name: never_converted, conversions: [0, 0]}
          - {name: new, conversions: [1, 1], days: [0, 30]}
          - {name: regular, conversions: [2, null], days: [0, 90]}
          - {name: lapsed, conversions: [1, null], days: [31, null]}
    """)
    assert grid_ws.run("rules:\n  - retention_grid: {is: new}\n", as_of=AS_OF) == ["one_recent"]
    assert grid_ws.run("rules:\n  - retention_grid: {is: regular}\n", as_of=AS_OF) == ["four", "two"]
    assert grid_ws.run("rules:\n  - retention_grid: {is: lapsed}\n", as_of=AS_OF) == \
        ["five_old", "one_edge", "one_old", "three_old"]
    cells = {c["cell"]: c["visitors"] for c in json.loads(grid_ws.cli("grid", "--as-of", AS_OF, "--format",
                                                                        "json").stdout)}
    assert cells["new"] == 1 and cells["regular"] == 2 and cells["lapsed"] == 4 and cells["never_converted"] == 3
