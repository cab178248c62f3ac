"""Predictive fields from events: BG/NBD and Gamma-Gamma against CDNOW and by hand, `segtool predict`, and
`clv`/`conversion_potential` rules computed from events in `segtool run`."""

import io
import json
import math
import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy.special import beta, hyp2f1
from typer.testing import CliRunner

from conftest import REPO, Workspace, conversion, pageview
from segtool.api import Overrides, Session
from segtool.cli.main import app
from segtool.config import Config
from segtool.predict import models as m
from segtool.predict import predict_visitors
from segtool.predict.summary import purchase_summary

CDNOW = REPO / "tests" / "data" / "CDNOW_sample.txt"
AS_OF = "2024-06-30"


# -- CDNOW: Fader, Hardie & Lee (2005) and Fader & Hardie (2013) ---------------------------------------------
def cdnow_events(target) -> None:
    """CDNOW_sample.txt (customer id, id again, YYYYMMDD, CDs, dollars) as segtool events."""
    lines = pl.read_csv(CDNOW, has_header=False, new_columns=["line"], separator="\t")
    fields = lines["line"].str.extract_groups(r"^\s*(\d+)\s+\d+\s+(\d{4})(\d{2})(\d{2})\s+\d+\s+([\d.]+)\s*$")
    fields.struct.unnest().select(
        pl.col("1").alias("visitor_id"),
        pl.concat_str("2", "3", "4", separator="-").alias("timestamp"),
        pl.lit("conversion").alias("event_type"),
        pl.col("5").alias("order_value"),
    ).write_csv(target)


def test_cdnow_reproduces_the_published_estimates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no segtool.yaml: nothing but these events
    events = tmp_path / "cdnow.csv"
    cdnow_events(events)
    # the calibration period holds the purchases through 1997-09-30, and T runs to 1997-09-30 00:00
    result = CliRunner().invoke(app, ["predict", "--events", str(events), "--as-of", "1997-09-30T00:00:00Z",
                                      "--params", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    fitted = json.loads(result.stdout)
    bg, gg = fitted["bg_nbd"], fitted["gamma_gamma"]
    assert (fitted["customers"], fitted["repeat_customers"]) == (2357, 946)
    assert bg["time_unit"] == "days"
    published = {"r": (bg["r"], 0.243), "alpha (weeks)": (bg["alpha"] / 7, 4.414), "a": (bg["a"], 0.793),
                 "b": (bg["b"], 2.426), "p": (gg["p"], 6.25), "q": (gg["q"], 3.74), "gamma": (gg["gamma"], 15.44)}
    for name, (ours, theirs) in published.items():
        assert ours == pytest.approx(theirs, rel=0.01), name


# -- the models, by hand --------------------------------------------------------------------------------
def test_bgnbd_log_likelihood_by_hand():
    # x = 0: B(a,b)/B(a,b) · Γ(r)α^r / (Γ(r)(α+T)^r) = (α/(α+T))^r
    assert m.bgnbd_log_likelihood(1.0, 10.0, 1.0, 3.0, [0], [0], [15])[0] == pytest.approx(math.log(10 / 25))
    # x = 1, t_x = 5, T = 15: B(1,4)/B(1,3) · 10/25² + B(2,3)/B(1,3) · 10/15² = 3/4 · 10/625 + 1/4 · 10/225
    expected = 0.75 * 10 / 625 + 0.25 * 10 / 225
    assert beta(2, 3) == pytest.approx(1 / 12)
    assert m.bgnbd_log_likelihood(1.0, 10.0, 1.0, 3.0, [1], [5], [15])[0] == pytest.approx(math.log(expected))


def test_p_alive_by_hand_and_one_without_repeat_purchases():
    # 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)) with r=1, α=10, a=1, b=3, x=2, t_x=5, T=15
    assert m.p_alive(1.0, 10.0, 1.0, 3.0, [2], [5], [15])[0] == pytest.approx(1 / (1 + 0.25 * (25 / 15) ** 3))
    assert list(m.p_alive(0.24, 31.0, 0.79, 2.43, [0, 0, 0], [0, 0, 0], [0, 50, 5000])) == [1.0, 1.0, 1.0]


def test_recent_buyers_are_more_alive_than_lapsed_ones_with_the_same_purchases():
    recent, lapsed = m.p_alive(0.24, 31.0, 0.79, 2.43, [3, 3], [95, 10], [100, 100])
    assert 0 < lapsed < recent < 1


def test_expected_purchases_matches_the_papers_form():
    r, alpha, a, b, t = 0.243, 30.9, 0.793, 2.426, 365.0
    for x, t_x, T in [(0, 0, 0), (2, 30, 200), (10, 150, 270), (40, 260, 270)]:
        z = t / (alpha + T + t)
        term = ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        alive = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
        paper = (a + b + x - 1) / (a - 1) * (1 - term) * alive
        assert m.expected_purchases(r, alpha, a, b, t, [x], [t_x], [T])[0] == pytest.approx(paper, rel=1e-9)
    assert m.expected_purchases(r, alpha, a, b, 0.0, [3], [50], [100])[0] == pytest.approx(0.0, abs=1e-12)


def test_expected_purchases_stays_finite_when_a_and_b_are_huge():
    # customers who barely differ push a and b towards infinity along a flat ridge of the likelihood
    value = m.expected_purchases(1.0, 54.0, 1.7e6, 1.6e7, 365.0, [0, 5], [0, 150], [60, 170])
    assert np.all(np.isfinite(value)) and np.all(value > 0)


def test_p_no_purchase_by_hand():
    # x = 0, so alive: ((α+T)/(α+T+t))^r = (20/40)^1
    assert m.p_no_purchase(1.0, 10.0, 1.0, 3.0, 20.0, [0], [0], [10])[0] == pytest.approx(0.5)
    alive = 1 / (1 + 0.25 * (25 / 15) ** 3)
    assert m.p_no_purchase(1.0, 10.0, 1.0, 3.0, 20.0, [2], [5], [15])[0] == pytest.approx(
        1 - alive + alive * (25 / 45) ** 3)


def test_gamma_gamma_expected_value_by_hand():
    # x = 0: the population mean p·γ/(q−1) = 6·15/3; x = 2, m_x = 50: (γ + m_x·x)·p/(p·x + q − 1) = 115·6/15
    assert list(m.expected_value(6.0, 4.0, 15.0, [0, 2], [np.nan, 50.0])) == pytest.approx([30.0, 46.0])


def test_too_few_repeat_customers_is_a_data_error():
    from segtool.errors import DataError

    with pytest.raises(DataError, match="at least 2 customers"):
        m.fit_models([1, 0, 0], [10, 0, 0], [30, 20, 10], [5.0, np.nan, np.nan])


# -- the purchase summary -------------------------------------------------------------------------------
def test_purchase_summary_counts_purchase_days(ws: Workspace):
    ws.events(
        conversion("a", "2024-06-01T09:00:00Z", 10, "o1"),
        conversion("a", "2024-06-01T18:00:00Z", 5, "o2"),
        conversion("a", "2024-06-01T19:00:00Z", 99, "o1"),  # the same order tracked twice
        conversion("a", "2024-06-11T12:00:00Z", 30, "o3"),
        conversion("a", "2024-06-21T08:00:00Z", None, "o4"),
        pageview("b", "2024-06-28T00:00:00Z"),
        pageview("d", "2024-06-20T12:00:00Z"),
        conversion("d", "2024-07-01T10:00:00Z", 50, "o5"),  # after as_of
    )
    ws.profiles({"visitor_id": "c"}, {"visitor_id": "a"})
    session = Session(Config(), Overrides("2024-06-30T12:00:00Z", str(ws.root / "events.csv"),
                                          str(ws.root / "profiles.csv")))
    rows = purchase_summary(session.inputs(), session.as_of()).sort("visitor_id").collect().rows(named=True)
    assert rows == [
        # days 06-01 (15), 06-11 (30), 06-21 (0): x = 2, t_x = 20, T from 06-01 00:00, m_x over the repeat days
        {"visitor_id": "a", "customer": True, "x": 2.0, "t_x": 20.0, "T": 29.5, "m_x": 15.0},
        {"visitor_id": "b", "customer": False, "x": 0.0, "t_x": 0.0, "T": 2.5, "m_x": None},
        {"visitor_id": "c", "customer": False, "x": 0.0, "t_x": 0.0, "T": 0.0, "m_x": None},
        {"visitor_id": "d", "customer": False, "x": 0.0, "t_x": 0.0, "T": 10.0, "m_x": None},
    ]


# -- predictions on a tiny shop -------------------------------------------------------------------------
def _monthly(vid: str, dates: list[str], values: list[float]) -> list[dict]:
    return [conversion(vid, f"{d}T10:00:00Z", v, f"{vid}{i}") for i, (d, v) in enumerate(zip(dates, values))]


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(
        *_monthly("loyal", ["2024-01-10", "2024-02-10", "2024-03-10", "2024-04-10", "2024-05-10", "2024-06-10"],
                  [100] * 6),
        *_monthly("lapsed", ["2024-01-05", "2024-01-20", "2024-02-01", "2024-02-15", "2024-03-01", "2024-03-10"],
                  [100] * 6),
        *_monthly("twice", ["2024-03-01", "2024-06-01"], [50, 60]),
        *_monthly("thrice", ["2024-01-15", "2024-04-15", "2024-06-20"], [40, 45, 50]),
        *_monthly("once_a", ["2024-05-01"], [20]),
        *_monthly("once_b", ["2024-02-01"], [30]),
        pageview("browser", "2024-06-01T10:00:00Z"),
        pageview("loyal", "2024-06-29T10:00:00Z"),
    )
    ws.profiles({"visitor_id": "loyal", "city": "Rome"}, {"visitor_id": "profile_only", "city": "Milan"})
    return ws


def predict_csv(ws: Workspace, *args: str) -> pl.DataFrame:
    result = ws.cli("predict", "--as-of", AS_OF, "--config", str(ws.root / "segtool.yaml"), *args)
    assert result.exit_code == 0, result.stderr
    return pl.read_csv(io.StringIO(result.stdout), schema_overrides={"visitor_id": pl.String})


def test_every_visitor_gets_defined_predictions(shop: Workspace):
    frame = predict_csv(shop)
    assert frame.columns == ["visitor_id", "conversion_potential", "expected_conversions", "p_alive", "clv"]
    assert frame["visitor_id"].to_list() == ["browser", "lapsed", "loyal", "once_a", "once_b", "profile_only",
                                             "thrice", "twice"]
    assert frame.null_count().sum_horizontal().item() == 0
    assert frame.select(pl.all().exclude("visitor_id").is_nan().any()).sum_horizontal().item() == 0
    assert frame["conversion_potential"].is_between(0, 100).all()
    by_id = {row["visitor_id"]: row for row in frame.iter_rows(named=True)}
    for never in ("browser", "profile_only"):  # no conversion: x = 0, so alive, with a positive outlook
        assert by_id[never]["p_alive"] == 1.0 and by_id[never]["clv"] > 0
    assert by_id["lapsed"]["p_alive"] < by_id["loyal"]["p_alive"]
    assert by_id["lapsed"]["clv"] < by_id["loyal"]["clv"]


def test_the_library_and_the_command_agree(shop: Workspace):
    session = Session(Config(), Overrides(AS_OF, str(shop.root / "events.csv"), str(shop.root / "profiles.csv")))
    predictions = predict_visitors(session.inputs(), session.as_of())
    assert predictions.frame.equals(predict_csv(shop))
    assert predictions.models.customers == 6 and predictions.models.repeat_customers == 4


def test_horizon_in_weeks_or_days(shop: Workspace):
    weeks, days = predict_csv(shop, "--horizon", "52w"), predict_csv(shop, "--horizon", "364d")
    assert weeks["expected_conversions"].to_list() == days["expected_conversions"].to_list()
    assert (weeks["expected_conversions"] < predict_csv(shop)["expected_conversions"]).all()  # 364 < 365 days


def test_params_and_output_files(shop: Workspace):
    config = str(shop.root / "segtool.yaml")
    result = shop.cli("predict", "--as-of", AS_OF, "--params", "--config", config)
    params = json.loads(result.stdout)
    assert list(params) == ["bg_nbd", "gamma_gamma", "customers", "repeat_customers"]
    assert list(params["bg_nbd"]) == ["r", "alpha", "a", "b", "time_unit"]
    assert list(params["gamma_gamma"]) == ["p", "q", "gamma"]
    target = shop.root / "out" / "predictions.parquet"
    result = shop.cli("predict", "--as-of", AS_OF, "-o", str(target), "--config", config)
    assert result.exit_code == 0 and result.stdout == ""
    assert pl.read_parquet(target).equals(predict_csv(shop))
    assert [p.name for p in target.parent.iterdir()] == ["predictions.parquet"]  # no temp file left


@pytest.mark.parametrize("args, code, message", [
    (["--horizon", "soon"], 2, "--horizon must look like 365d"),
    (["--horizon", "0d"], 2, "--horizon must look like 365d"),
    (["--format", "txt"], 2, "--format must be one of csv, parquet, json, ndjson"),
    (["--format", "parquet"], 2, "add -o PATH"),
    (["--params", "--format", "csv"], 2, "--params writes the fitted parameters as JSON"),
])
def test_bad_options_are_usage_errors(shop: Workspace, args, code, message):
    result = shop.cli("predict", "--as-of", AS_OF, "--config", str(shop.root / "segtool.yaml"), *args)
    assert result.exit_code == code and message in result.stderr


def test_too_few_customers_is_a_clear_data_error(ws: Workspace):
    ws.events(conversion("a", "2024-06-01T10:00:00Z", 10), conversion("a", "2024-06-05T10:00:00Z", 10),
              conversion("b", "2024-06-01T10:00:00Z", 10), pageview("c"))
    result = ws.cli("predict", "--as-of", AS_OF, "--config", str(ws.root / "segtool.yaml"))
    assert result.exit_code == 3
    assert "need at least 2 customers who bought on two or more days" in result.stderr
    assert "Traceback" not in result.stderr


# -- clv and conversion_potential in `segtool run` ---------------------------------------------------------
CLV_SEGMENT = "name: high_clv\nrules:\n  - clv: {gte: THRESHOLD}\n"


def _independent_predictions(purchases: dict[str, list[tuple[str, float]]], seen: dict[str, str],
                             profile_only: list[str]) -> dict[str, tuple[float, float]]:
    """clv and conversion_potential per visitor, from histories worked out here by hand (purchase days,
    first to last, from midnight of the first purchase day to the end of AS_OF) and the models' formulas;
    nothing of segtool's pipeline is used."""
    end = datetime.fromisoformat(AS_OF) + timedelta(days=1)
    rows = {}
    for vid, days in purchases.items():
        dates = sorted(datetime.fromisoformat(d) for d, _ in days)
        values = [v for _, v in sorted(days)]
        rows[vid] = (len(dates) - 1, (dates[-1] - dates[0]).days, (end - dates[0]) / timedelta(days=1),
                     float(np.mean(values[1:])) if len(values) > 1 else np.nan)
    for vid, first_event in seen.items():
        rows[vid] = (0, 0, (end - datetime.fromisoformat(first_event)) / timedelta(days=1), np.nan)
    rows.update({vid: (0, 0, 0.0, np.nan) for vid in profile_only})
    names = sorted(rows)
    x, t_x, T, m_x = (np.array([rows[n][i] for n in names], dtype=float) for i in range(4))
    buyers = np.array([n in purchases for n in names])
    fit = m.fit_models(x[buyers], t_x[buyers], T[buyers], m_x[buyers])
    bg = (fit.r, fit.alpha, fit.a, fit.b)
    clv = m.expected_purchases(*bg, 365.0, x, t_x, T) * m.expected_value(fit.p, fit.q, fit.gamma, x, m_x)
    potential = 100 * m.p_alive(*bg, x, t_x, T) * m.p_purchase_if_alive(fit.r, fit.alpha, 30.0, x, T)
    return {n: (float(c), float(pt)) for n, c, pt in zip(names, clv, potential)}


SHOP_PURCHASES = {
    "loyal": [(f"2024-{month:02d}-10", 100.0) for month in range(1, 7)],
    "lapsed": [(d, 100.0) for d in ("2024-01-05", "2024-01-20", "2024-02-01", "2024-02-15", "2024-03-01",
                                    "2024-03-10")],
    "twice": [("2024-03-01", 50.0), ("2024-06-01", 60.0)],
    "thrice": [("2024-01-15", 40.0), ("2024-04-15", 45.0), ("2024-06-20", 50.0)],
    "once_a": [("2024-05-01", 20.0)],
    "once_b": [("2024-02-01", 30.0)],
}


def test_clv_rule_uses_predictions_where_profiles_lack_clv(shop: Workspace):
    predicted = _independent_predictions(SHOP_PURCHASES, {"browser": "2024-06-01T10:00:00"}, ["profile_only"])
    ranked = sorted(predicted, key=lambda v: predicted[v][0], reverse=True)
    threshold = (predicted[ranked[2]][0] + predicted[ranked[3]][0]) / 2  # the top three
    expected = sorted(ranked[:3])
    assert "loyal" in expected and "lapsed" not in expected
    assert shop.run(CLV_SEGMENT.replace("THRESHOLD", repr(threshold)), as_of=AS_OF) == expected
    potential = sorted(v for v, (_, pt) in predicted.items() if pt >= 20)
    assert 0 < len(potential) < len(predicted)
    assert shop.run("rules:\n  - conversion_potential: {gte: 20}\n", as_of=AS_OF) == potential


def test_predictive_profiles_without_the_column_is_a_data_error(shop: Workspace):
    shop.config("predictive: profiles\n")
    for rules in (CLV_SEGMENT.replace("THRESHOLD", "10"), "rules:\n  - not: {clv: {gte: 0}}\n"):
        path = shop.segment(rules)
        result = shop.cli("run", str(path), "--as-of", AS_OF)
        assert result.exit_code == 3 and result.stdout == ""
        assert f"{path}:" in result.stderr and "clv reads column 'clv' of profiles" in result.stderr


def test_profile_values_win_under_auto_and_lose_under_events(shop: Workspace):
    shop.profiles({"visitor_id": "lapsed", "clv": 5000}, {"visitor_id": "profile_only", "clv": 10})
    assert shop.run(CLV_SEGMENT.replace("THRESHOLD", "1000"), as_of=AS_OF) == ["lapsed"]
    shop.config("predictive: events\n")
    assert "lapsed" not in shop.run(CLV_SEGMENT.replace("THRESHOLD", "100"), as_of=AS_OF)


def test_predictive_option_overrides_the_config(shop: Workspace):
    shop.profiles({"visitor_id": "lapsed", "clv": 5000}, {"visitor_id": "profile_only", "clv": 10})
    segment = CLV_SEGMENT.replace("THRESHOLD", "1000")
    shop.config("predictive: events\n")
    assert shop.run(segment, as_of=AS_OF) == []
    assert shop.run(segment, "--predictive", "auto", as_of=AS_OF) == ["lapsed"]
    shop.config("")
    assert shop.run(segment, "--predictive", "events", as_of=AS_OF) == []
    explained = shop.cli("explain", str(shop.segment(segment)), "--as-of", AS_OF, "--predictive", "events")
    assert "clv: computed from events" in explained.stdout
    bad = shop.cli("run", str(shop.segment(segment)), "--as-of", AS_OF, "--predictive", "event")
    assert bad.exit_code == 2 and "--predictive must be one of auto, profiles, events" in bad.stderr


def test_columns_write_each_computed_column_its_own_predictions(shop: Workspace, tmp_path):
    """--columns with two computed columns and a profile column, in any order: each its own values (a
    translation cached by the id of a node that no longer existed gave one column's values to the next)."""
    shop.config("predictive: events\n")
    expected = predict_csv(shop).select("visitor_id", "clv", "conversion_potential")
    path = shop.segment("rules:\n  - conversions: {gte: 0}\n")
    for columns in ("clv,conversion_potential,city", "city,conversion_potential,clv", "clv,city"):
        result = shop.cli("run", str(path), "--as-of", AS_OF, "-o", str(tmp_path / "out.csv"), "--columns", columns)
        assert result.exit_code == 0, result.stderr
        written = pl.read_csv(tmp_path / "out.csv", schema_overrides={"visitor_id": pl.String, "city": pl.String})
        computed = [c for c in columns.split(",") if c != "city"]
        assert written.select("visitor_id", *computed).equals(expected.select("visitor_id", *computed)), columns


def test_predictions_without_a_profiles_table(ws: Workspace):
    purchases = {"x": [("2024-01-10", 10.0), ("2024-03-10", 20.0), ("2024-06-10", 30.0)],
                 "y": [("2024-02-10", 10.0), ("2024-02-20", 12.0)], "z": [("2024-05-10", 5.0)]}
    ws.events(*(c for vid, days in purchases.items() for c in _monthly(vid, [d for d, _ in days], [v for _, v in days])),
              pageview("v"))
    predicted = _independent_predictions(purchases, {"v": "2024-06-01T12:00:00"}, [])
    assert all(np.isfinite(clv) and clv > 0 for clv, _ in predicted.values())
    for vid, (clv, _) in predicted.items():  # each visitor's CLV, to a relative 1e-6, by a band around it
        band = f"rules:\n  - clv: {{between: [{clv * (1 - 1e-6)!r}, {clv * (1 + 1e-6)!r}]}}\n"
        assert vid in ws.run(band, as_of=AS_OF)


def test_explain_and_summary_say_where_clv_came_from(shop: Workspace):
    note = "clv: computed from events (BG/NBD + Gamma-Gamma, fitted on 6 customers)"
    path = shop.segment(CLV_SEGMENT.replace("THRESHOLD", "100"))
    explained = shop.cli("explain", str(path), "--as-of", AS_OF)  # no model fitted to show a plan
    assert explained.exit_code == 0 and "clv: computed from events when the segment runs" in explained.stdout
    explained = shop.cli("explain", str(path), "--as-of", AS_OF, "--prepare")
    assert explained.exit_code == 0 and note in explained.stdout
    summary = shop.cli("run", str(path), "--as-of", AS_OF, "--summary")
    assert note in summary.stdout
    data = json.loads(shop.cli("run", str(path), "--as-of", AS_OF, "--summary", "--format", "json").stdout)
    assert data["computed_predictive"] == {"clv": note.removeprefix("clv: ")}
    shop.config("predictive: profiles\n")
    assert "computed from events" not in shop.cli("explain", str(path), "--as-of", AS_OF).stdout


def test_predict_has_help_and_is_in_the_readme():
    result = CliRunner().invoke(app, ["predict", "--help"])
    assert result.exit_code == 0 and "--horizon" in result.stdout
    readme = (REPO / "docs" / "predictions.md").read_text()
    assert re.search(r"segtool predict\b", readme) and "# Predictions" in readme
