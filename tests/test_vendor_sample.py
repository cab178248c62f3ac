"""`segtool sample --preset`: the sample written as GA4, Shopify or Segment write and deliver their exports
(their file names, compression and folders), read back through the preset and the path alone, gives the
canonical sample's audiences (visitor IDs renamed one to one)."""

from __future__ import annotations

import gzip
import re

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import REPO
from segtool.api import Overrides, Session
from segtool.cli.main import app
from segtool.synth import vendors
from segtool.synth.vendors import vendor_ids

SEED, VISITORS, AS_OF = 11, 1500, "2026-06-30"
ORDERS_PER_FILE = 25
EVERYWHERE = ["one_time_buyers", "brand_buyers", "order_value_50_100", "high_value_repeat"]
WITH_PAGES = ["facebook_referrer", "sale_campaign", "country_and_buyer"]
EXTRA = {  # segments of this test only
    "high_value_repeat": "rules:\n  - conversions: {gte: 2, period: 365d}\n  - total_order_value: {gte: 150, period: 365d}\n",
    "country_and_buyer": "rules:\n  - country: {in: [IT, NL]}\n  - conversions: {gte: 1}\n",
}
CASES = ([(p, s) for p in ("ga4", "shopify_orders", "segment") for s in EVERYWHERE]
         + [(p, s) for p in ("ga4", "segment") for s in WITH_PAGES] + [("ga4-ndjson", s) for s in WITH_PAGES[:1]])


def cli(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("vendor-samples")
    cli("sample", "--visitors", str(VISITORS), "--seed", str(SEED), "-o", str(root / "canonical"))
    (root / "canonical" / "segtool.yaml").write_text(
        "data:\n  events: events.parquet\n  items: items.parquet\n  profiles: profiles.parquet\n"
        "site:\n  domains: [shop.example]\n")
    # an earlier sample in the same folder, whose files the new one replaces (its days and orders differ)
    for preset in ("shopify_orders", "segment"):
        cli("sample", "--visitors", "40", "--seed", "1", "-o", str(root / preset), "--preset", preset)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vendors, "ORDERS_PER_FILE", ORDERS_PER_FILE)  # a larger store's export: numbered files
        for preset in ("ga4", "shopify_orders", "segment"):
            cli("sample", "--visitors", str(VISITORS), "--seed", str(SEED), "-o", str(root / preset), "--preset",
                preset)
    cli("sample", "--visitors", str(VISITORS), "--seed", str(SEED), "-o", str(root / "ga4-ndjson"),
        "--preset", "ga4", "--format", "ndjson")
    for name, rules in EXTRA.items():
        (root / f"{name}.yaml").write_text(f"name: {name}\n{rules}")
    return root


@pytest.fixture(scope="module")
def audiences(samples) -> dict[str, dict[str, set[str]]]:
    """folder -> segment -> its members: every segment of the cases in one run per folder."""
    found = {}
    for folder in dict.fromkeys(["canonical", *(f for f, _ in CASES)]):
        names = list(dict.fromkeys(s for f, s in CASES if folder in (f, "canonical")))
        paths = [samples / f"{s}.yaml" if s in EXTRA else REPO / "segments" / f"{s}.yaml" for s in names]
        session = Session.open(samples / folder / "segtool.yaml", Overrides(as_of=AS_OF))
        result = session.run(session.load_segments(paths))
        found[folder] = {name: set(answer.members["visitor_id"]) for name, answer in zip(names, result.segments)}
    return found


@pytest.mark.parametrize("folder, segment", CASES)
def test_the_vendors_sample_gives_the_canonical_audience(audiences, folder, segment):
    canonical = audiences["canonical"][segment]
    renamed = vendor_ids(folder.removesuffix("-ndjson"), pl.DataFrame({"visitor_id": sorted(canonical)}), SEED)
    assert canonical, "the sample should have members for every segment of this test"
    assert audiences[folder][segment] == set(renamed["vendor_id"])


def segment_calls(folder) -> pl.DataFrame:
    files = sorted((folder / "segment-logs").rglob("*.gz"))
    return pl.concat([pl.read_ndjson(f, infer_schema_length=None) for f in files], how="diagonal_relaxed")


def test_the_files_are_in_the_vendors_shape(samples):
    ga4 = pl.read_parquet(samples / "ga4" / "bq-extract" / "*.parquet")
    assert ga4.schema["event_timestamp"] == pl.Int64 and isinstance(ga4.schema["event_params"], pl.List)
    assert {"page_view", "purchase"} <= set(ga4["event_name"]) and ga4["user_pseudo_id"].str.contains(r"^\d+\.\d+$").all()
    assert "Netherlands" in set(ga4["geo"].struct.field("country"))
    orders = pl.read_csv(samples / "shopify_orders" / "orders_export_1.csv", infer_schema=False)
    assert orders.columns[:3] == ["Name", "Email", "Financial Status"]
    assert orders["Created at"].str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$").all()
    follow_ups = orders.filter(pl.col("Name").is_duplicated() & ~pl.col("Name").is_first_distinct())
    assert follow_ups.height and follow_ups["Total"].is_null().all() and follow_ups["Lineitem name"].is_not_null().all()
    calls = segment_calls(samples / "segment")
    assert set(calls["type"]) == {"page", "track", "identify"} and "Order Completed" in set(calls["event"])
    assert (samples / "segment" / "segtool.yaml").read_text().count("preset: segment") == 1


def test_the_files_are_delivered_as_the_vendors_deliver_them(samples):
    """GA4's bq extract of each day's table, Segment's S3 folders by the day a call was received (UTC), and
    a config of the preset and the path alone."""
    for folder, pattern in [("ga4", r"events_\d{8}-000000000000\.parquet"),
                            ("ga4-ndjson", r"events_\d{8}-000000000000\.json\.gz")]:
        files = sorted((samples / folder / "bq-extract").iterdir())
        assert len(files) > 100 and all(re.fullmatch(pattern, f.name) for f in files), folder
        day = pl.read_parquet(files[0]) if folder == "ga4" else pl.read_ndjson(gzip.decompress(files[0].read_bytes()))
        assert set(day["event_date"]) == {files[0].name[7:15]}
    logs = sorted((samples / "segment" / "segment-logs").rglob("*"))
    files = [f for f in logs if f.is_file()]
    assert files and all(re.fullmatch(r"[0-9A-Za-z]{10}/\d+000/[0-9a-f-]{36}\.gz",
                                      f.relative_to(samples / "segment" / "segment-logs").as_posix()) for f in files)
    for file in files[:5]:
        day = int(file.parent.name)
        received = pl.read_ndjson(file)["receivedAt"].str.to_datetime(time_zone="UTC").dt.truncate("1d")
        assert (received.dt.epoch("ms") == day).all() and file.read_bytes()[:2] == b"\x1f\x8b"
    for folder, path in [("ga4", "bq-extract"), ("shopify_orders", "orders_export_*.csv"), ("segment", "segment-logs")]:
        config = (samples / folder / "segtool.yaml").read_text()
        assert f"data:\n  events: {path}\n" in config and "format" not in config


def test_a_larger_shopify_export_comes_in_numbered_files_of_whole_orders(samples):
    files = sorted((samples / "shopify_orders").glob("orders_export_*.csv"), key=lambda f: int(f.stem.rsplit("_")[-1]))
    assert [f.name for f in files] == [f"orders_export_{n}.csv" for n in range(1, len(files) + 1)] and len(files) > 2
    parts = [pl.read_csv(f, infer_schema=False) for f in files]
    assert all(p.columns == parts[0].columns for p in parts)
    names = [set(p["Name"]) for p in parts]
    assert all(len(n) == ORDERS_PER_FILE for n in names[:-1]) and len(set.union(*names)) == sum(map(len, names))
    assert all(p["Total"][0] is not None for p in parts)  # each file starts with an order's first row


def test_a_new_sample_replaces_the_earlier_delivery(samples):
    assert {p.name for p in (samples / "segment").iterdir()} == {"segment-logs", "segtool.yaml"}
    days = {f.parent.name for f in (samples / "segment" / "segment-logs").rglob("*.gz")}
    received = segment_calls(samples / "segment")["receivedAt"].str.to_datetime(time_zone="UTC").dt.truncate("1d")
    assert days == {str(day) for day in received.dt.epoch("ms").unique()}


@pytest.mark.parametrize("args, message", [
    (["--preset", "adobe"], "--preset takes ga4, shopify_orders, segment"),
    (["--preset", "shopify_orders", "--format", "parquet"], "--format takes csv"),
    (["--preset", "ga4", "--format", "parquet,ndjson"], "(one)"),
])
def test_wrong_preset_options_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(app, ["sample", "--visitors", "10", "-o", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.stderr
