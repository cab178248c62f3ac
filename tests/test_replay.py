"""`segtool diff` and `segtool history`: the answers at each instant are those of `segtool run --as-of` at
that instant (run is checked against DuckDB elsewhere), from one read of the data."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import REPO
from segtool.cli.main import app
from segtool.inputs import files

SEGMENTS = REPO / "segments"
PICKED = ["one_time_buyers", "abandoned_cart", "sleepers", "brand_buyers", "instagram_no_purchase_30d"]


def cli(*args: str):
    result = CliRunner().invoke(app, [*args, "--config", str(REPO / "segtool.yaml")], catch_exceptions=False)
    return result


def run_ids(name: str, as_of: str) -> set[str]:
    result = cli("run", str(SEGMENTS / f"{name}.yaml"), "--as-of", as_of)
    assert result.exit_code == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("name", PICKED)
def test_diff_is_the_difference_of_two_runs(name):
    result = cli("diff", str(SEGMENTS / f"{name}.yaml"), "--from", "2026-05-15", "--to", "2026-06-30T12:00:00Z",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    before, after = run_ids(name, "2026-05-15"), run_ids(name, "2026-06-30T12:00:00Z")
    assert {r["visitor_id"] for r in rows if r["change"] == "entered"} == after - before
    assert {r["visitor_id"] for r in rows if r["change"] == "exited"} == before - after
    assert after != before, "the window should see some change"


def test_diff_writes_files_and_a_summary(tmp_path):
    out = tmp_path / "changes"
    result = cli("diff", str(SEGMENTS), "--select", "one_time_buyers,sleepers", "--from", "2026-06-01",
                 "--to", "2026-06-30", "--output-dir", str(out), "--summary", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    for row in summary["segments"]:
        name = row["segment"]
        before, after = run_ids(name, "2026-06-01"), run_ids(name, "2026-06-30")
        entered = (out / f"{name}.entered.json").read_text()
        assert {r["visitor_id"] for r in json.loads(entered)} == after - before
        assert (row["size_from"], row["size_to"]) == (len(before), len(after))
        assert (row["entered"], row["exited"]) == (len(after - before), len(before - after))


def test_history_gives_each_instants_size_from_one_read(monkeypatch):
    scans = []
    real = files.scan
    monkeypatch.setattr(files, "scan", lambda *a, **k: scans.append(a[0]) or real(*a, **k))
    result = cli("history", str(SEGMENTS), "--select", ",".join(PICKED), "--last", "8w", "--every", "1w",
                 "--to", "2026-06-30", "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    instants = sorted({r["as_of"] for r in records})
    assert len(instants) == 9 and instants[0] == "2026-05-05" and instants[-1] == "2026-06-30"
    events_scans = [s for s in scans if "events" in str(s)]
    assert len(events_scans) <= 3, "the events are read once, not once per instant"
    for as_of in (instants[0], instants[4]):
        for name in PICKED[:3]:
            (size,) = [r["size"] for r in records if r["as_of"] == as_of and r["segment"] == name]
            assert size == len(run_ids(name, as_of))


def test_history_draws_in_the_terminal_and_writes_a_png(tmp_path):
    result = cli("history", str(SEGMENTS / "one_time_buyers.yaml"), "--last", "8w", "--every", "1w")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "one_time_buyers" and len(lines) == 11 and "█" in lines[-1]
    several = cli("history", str(SEGMENTS), "--last", "2w", "--every", "1w", "--select", "one_*,sleepers")
    assert any(line.startswith("one_time_buyers") and "→" in line for line in several.stdout.splitlines())
    png = tmp_path / "sizes.png"
    result = cli("history", str(SEGMENTS), "--last", "4w", "--every", "1w", "-o", str(png), "--select", "one_*")
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_png_of_many_segments_has_a_panel_each_and_honours_top_and_log(tmp_path, monkeypatch):
    from segtool.cli import charts

    figures = []
    drawn = charts.history_figure
    monkeypatch.setattr(charts, "history_figure", lambda *a, **k: figures.append(drawn(*a, **k)) or figures[-1])
    png, window = tmp_path / "sizes.png", ["--last", "3w", "--every", "1w", "--to", "2026-06-30"]
    result = cli("history", str(SEGMENTS), *window, "-o", str(png))
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = [path.stem for path in sorted(SEGMENTS.glob("*.yaml"))]
    assert len(names) > charts.MAX_LINES
    panels = figures[-1].axes
    assert [panel.get_title().split(":")[0] for panel in panels] == names
    assert all(len(panel.get_lines()) == 1 for panel in panels)

    records = json.loads(cli("history", str(SEGMENTS), *window, "--format", "json").stdout)
    at_end = {r["segment"]: r["size"] for r in records if r["as_of"] == "2026-06-30"}
    largest = sorted(at_end, key=lambda name: -at_end[name])[:5]
    result = cli("history", str(SEGMENTS), *window, "-o", str(png), "--top", "5", "--log")
    assert result.exit_code == 0, result.stderr
    (plot,) = figures[-1].axes
    assert [text.get_text() for text in plot.get_legend().get_texts()] == largest
    assert plot.get_yscale() == "symlog"
    top = json.loads(cli("history", str(SEGMENTS), *window, "--format", "json", "--top", "5").stdout)
    assert list(dict.fromkeys(r["segment"] for r in top)) == largest


@pytest.mark.parametrize("args, message", [
    (["--last", "8w", "--log"], "--log"),
    (["--every", "1w"], "either --from DATE or --last"),
    (["--last", "8w", "--every", "1mo"], "--every takes a length like 1d"),
    (["--last", "8w", "-o", "sizes.svg"], "history writes .png, .csv or .json"),
    (["--from", "2020-01-01", "--every", "1h"], "more than 1000 instants"),
])
def test_history_usage_errors(args, message):
    result = cli("history", str(SEGMENTS / "one_time_buyers.yaml"), *args)
    assert result.exit_code == 2 and message in result.stderr


def test_diff_holds_the_columns_of_referenced_segments(tmp_path):
    """The columns read once for every instant include those of a segment that is only referenced."""
    (tmp_path / "sale_campaign.yaml").write_text((SEGMENTS / "sale_campaign.yaml").read_text())
    (tmp_path / "active_sale.yaml").write_text("rules: [last_seen: {within: 60d}, segment: sale_campaign]\n")
    result = cli("diff", str(tmp_path / "active_sale.yaml"), "--from", "2026-05-15", "--to", "2026-06-30",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr

    def ids(as_of):
        run = cli("run", str(tmp_path / "active_sale.yaml"), "--as-of", as_of)
        assert run.exit_code == 0, run.stderr
        return set(run.stdout.split())

    before, after = ids("2026-05-15"), ids("2026-06-30")
    assert {r["visitor_id"] for r in json.loads(result.stdout) if r["change"] == "entered"} == after - before
    assert after - before


def test_diff_needs_from_before_to():
    result = cli("diff", str(SEGMENTS / "one_time_buyers.yaml"), "--from", "2026-06-30", "--to", "2026-06-01")
    assert result.exit_code == 2 and "must be before --to" in result.stderr


def test_history_shares_are_of_the_whole_universe_and_reach_before_the_first_conversion():
    result = cli("history", str(SEGMENTS / "sleepers.yaml"), "--from", "2025-06-01", "--to", "2026-06-30",
                 "--every", "4w", "--format", "json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert records[0]["size"] == 0  # before the first conversion of the sample
    last = records[-1]
    assert last["as_of"] == "2026-06-30" and last["share"] == pytest.approx(last["size"] / 3000, abs=1e-6)


def test_history_steps_on_the_local_calendar_and_labels_hours_with_their_offset(tmp_path):
    config = tmp_path / "amsterdam.yaml"
    config.write_text((REPO / "segtool.yaml").read_text().replace("sample_data/", f"{REPO}/sample_data/")
                      + "timezone: Europe/Amsterdam\n")
    args = [str(SEGMENTS / "one_time_buyers.yaml"), "--format", "json", "--config", str(config)]
    weeks = CliRunner().invoke(app, ["history", *args, "--to", "2026-11-05", "--last", "2w", "--every", "1w"])
    assert [r["as_of"] for r in json.loads(weeks.stdout)] == ["2026-10-22", "2026-10-29", "2026-11-05"]
    hours = CliRunner().invoke(app, ["history", *args, "--to", "2026-10-25T03:00:00+01:00", "--last", "3h",
                                     "--every", "1h"])
    labels = [r["as_of"] for r in json.loads(hours.stdout)]
    assert labels == ["2026-10-25T01:00+02:00", "2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00",
                      "2026-10-25T03:00+01:00"]


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-07-01", "--to", "2026-06-01"], "must not be after --to"),
    (["--last", "99999999999999999999w"], "reaches before the year 1"),
    (["--from", "soon"], "--from: 'soon' is not a date"),
])
def test_more_history_usage_errors(args, message):
    result = cli("history", str(SEGMENTS / "one_time_buyers.yaml"), *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
