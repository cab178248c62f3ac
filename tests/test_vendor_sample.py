"""`segtool sample --preset`: the sample written as GA4, Shopify or Segment write their exports, read back
through the preset, gives the canonical sample's audiences (visitor IDs renamed one to one)."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from conftest import REPO
from segtool.cli.main import app
from segtool.synth.vendors import vendor_ids

SEED, VISITORS, AS_OF = 11, 1500, "2026-06-30"
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
    for preset in ("ga4", "shopify_orders", "segment"):
        cli("sample", "--visitors", str(VISITORS), "--seed", str(SEED), "-o", str(root / preset), "--preset", preset)
    cli("sample", "--visitors", str(VISITORS), "--seed", str(SEED), "-o", str(root / "ga4-ndjson"),
        "--preset", "ga4", "--format", "ndjson")
    for name, rules in EXTRA.items():
        (root / f"{name}.yaml").write_text(f"name: {name}\n{rules}")
    return root


def audience(samples, folder: str, segment: str) -> list[str]:
    path = samples / f"{segment}.yaml" if segment in EXTRA else REPO / "segments" / f"{segment}.yaml"
    return cli("run", str(path), "--as-of", AS_OF, "--config", str(samples / folder / "segtool.yaml")).stdout.split()


@pytest.mark.parametrize("folder, segment", CASES)
def test_the_vendors_sample_gives_the_canonical_audience(samples, folder, segment):
    canonical = audience(samples, "canonical", segment)
    renamed = vendor_ids(folder.removesuffix("-ndjson"), pl.DataFrame({"visitor_id": canonical}), SEED)
    assert canonical, "the sample should have members for every segment of this test"
    assert set(audience(samples, folder, segment)) == set(renamed["vendor_id"])


def test_the_files_are_in_the_vendors_shape(samples):
    ga4 = pl.read_parquet(samples / "ga4" / "events.parquet")
    assert ga4.schema["event_timestamp"] == pl.Int64 and isinstance(ga4.schema["event_params"], pl.List)
    assert {"page_view", "purchase"} <= set(ga4["event_name"]) and ga4["user_pseudo_id"].str.contains(r"^\d+\.\d+$").all()
    assert "Netherlands" in set(ga4["geo"].struct.field("country"))
    orders = pl.read_csv(samples / "shopify_orders" / "orders_export.csv", infer_schema=False)
    assert orders.columns[:3] == ["Name", "Email", "Financial Status"]
    assert orders["Created at"].str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$").all()
    follow_ups = orders.filter(pl.col("Name").is_duplicated() & ~pl.col("Name").is_first_distinct())
    assert follow_ups.height and follow_ups["Total"].is_null().all() and follow_ups["Lineitem name"].is_not_null().all()
    calls = pl.read_ndjson(samples / "segment" / "tracks.ndjson", infer_schema_length=None)
    assert set(calls["type"]) == {"page", "track", "identify"} and "Order Completed" in set(calls["event"])
    assert (samples / "segment" / "segtool.yaml").read_text().count("preset: segment") == 1


@pytest.mark.parametrize("args, message", [
    (["--preset", "adobe"], "--preset takes ga4, shopify_orders, segment"),
    (["--preset", "shopify_orders", "--format", "parquet"], "--format takes csv"),
    (["--preset", "ga4", "--format", "parquet,ndjson"], "(one)"),
])
def test_wrong_preset_options_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(app, ["sample", "--visitors", "10", "-o", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.stderr
