"""What ships: every segment file validates and has members on sample_data; `segtool sample` is deterministic."""

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import REPO
from segtool.cli.main import app

SEGMENT_FILES = sorted((REPO / "segments").glob("*.yaml"))


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_segments_directory_validates(in_repo):
    result = CliRunner().invoke(app, ["validate", "segments"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("ok ") == len(SEGMENT_FILES) >= 20


def test_every_segment_has_members_on_the_sample_data(in_repo, tmp_path):
    result = CliRunner().invoke(app, ["run", "segments", "--output-dir", str(tmp_path), "--format", "txt"])
    assert result.exit_code == 0, result.stderr
    for path in SEGMENT_FILES:
        ids = (tmp_path / f"{path.stem}.txt").read_text().splitlines()
        assert ids, f"{path.name} is empty on sample_data"
        assert ids == sorted(set(ids))


@pytest.mark.parametrize("path", SEGMENT_FILES[:6], ids=lambda p: p.name)
def test_csv_and_parquet_sample_give_the_same_answer(in_repo, path):
    parquet = CliRunner().invoke(app, ["run", str(path)])
    csv = CliRunner().invoke(app, ["run", str(path), "--events", "sample_data/events.csv",
                                   "--profiles", "sample_data/profiles.csv", "--items", "sample_data/items.csv"])
    assert parquet.exit_code == csv.exit_code == 0
    assert parquet.stdout == csv.stdout


def test_sample_is_deterministic_and_shaped(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for target in (one, two):
        result = CliRunner().invoke(app, ["sample", "--visitors", "400", "-o", str(target), "--seed", "3",
                                          "--format", "parquet,csv"])
        assert result.exit_code == 0, result.stderr
    for name in ("events", "items", "profiles"):
        for ext in ("parquet", "csv"):
            assert (one / f"{name}.{ext}").read_bytes() == (two / f"{name}.{ext}").read_bytes()
    assert sorted(p.name for p in one.iterdir()) == sorted(f"{t}.{e}" for t in ("events", "items", "profiles")
                                                           for e in ("csv", "parquet"))
    events = pl.read_parquet(one / "events.parquet")
    profiles = pl.read_parquet(one / "profiles.parquet")
    assert {"visitor_id", "timestamp", "event_type", "url", "referrer", "utm_source", "order_id",
            "order_value"} <= set(events.columns)
    assert events["visitor_id"].dtype == pl.String and events["timestamp"].dtype == pl.Datetime("us", "UTC")
    visitors = set(events["visitor_id"]) | set(profiles["visitor_id"])
    assert len(visitors) == 400
    assert set(profiles["visitor_id"]) - set(events["visitor_id"]), "some visitors have a profile and no events"
    assert events.filter(pl.col("event_type") == "conversion").height > 0
    assert events.filter(pl.col("url").str.contains("utm_") & pl.col("utm_source").is_null()).height > 0


def test_sample_in_chunks_writes_every_visitor(tmp_path):
    from segtool.synth.sample import generate_sample

    written = generate_sample(tmp_path, 250, seed=1, chunk_visitors=100)
    events = pl.read_parquet(written["events"][0])
    profiles = pl.read_parquet(written["profiles"][0])
    ids = set(events["visitor_id"]) | set(profiles["visitor_id"])
    assert ids == {str(i).zfill(6) for i in range(250)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging files left behind"
