"""Local calendars (config `timezone`) and the periods people write: open-ended and datetime windows,
months and years, calendar units. Hand-made edges, and DuckDB (calendar arithmetic in its session time
zone) as the oracle over a dense grid of events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from conftest import Workspace, conversion, pageview

AMSTERDAM = "timezone: Europe/Amsterdam\n"


def buyers_on(day: str) -> str:
    return f"rules:\n  - conversions: {{gte: 1, period: {{from: {day}, to: {day}}}}}\n"


def test_the_buyers_of_a_local_day(ws: Workspace):
    ws.events(conversion("night_owl", "2026-06-20T22:30:00Z", 10),  # 00:30 on 21 June in Amsterdam
              conversion("lunch", "2026-06-21T12:00:00Z", 10),
              conversion("late", "2026-06-21T22:30:00Z", 10))       # 00:30 on 22 June in Amsterdam
    assert ws.run(buyers_on("2026-06-21"), as_of="2026-06-30") == ["late", "lunch"]  # UTC days
    ws.config(AMSTERDAM)
    assert ws.run(buyers_on("2026-06-21"), as_of="2026-06-30") == ["lunch", "night_owl"]


@pytest.mark.parametrize("day, first, last", [
    ("2026-03-29", "2026-03-28T23:00:00Z", "2026-03-29T21:59:59Z"),  # 23 hours: the clocks go forward
    ("2026-10-25", "2026-10-24T22:00:00Z", "2026-10-25T22:59:59Z"),  # 25 hours: the clocks go back
])
def test_days_when_the_clocks_change(ws: Workspace, day, first, last):
    moment = datetime.fromisoformat
    edges = {"before": moment(first) - timedelta(seconds=1), "first": moment(first), "last": moment(last),
             "after": moment(last) + timedelta(seconds=1)}
    ws.events(*(conversion(name, t.isoformat().replace("+00:00", "Z"), 1) for name, t in edges.items()))
    ws.config(AMSTERDAM)
    assert ws.run(buyers_on(day), as_of="2026-11-30") == ["first", "last"]
    # a date as_of is the end of that local day
    assert ws.run("rules:\n  - conversions: {gte: 1}\n", as_of=day) == ["before", "first", "last"]
    hours = (moment(last) + timedelta(seconds=1) - moment(first)).total_seconds() / 3600
    assert hours == (23 if day.endswith("03-29") else 25)


def test_days_since_count_wall_clock_days(ws: Workspace):
    """23:30 on the day before the clocks go forward to 23:45 the next day: 23¼ hours, but a day later on
    the clock, so 1 day in Amsterdam (0 in UTC)."""
    ws.events(conversion("a", "2026-03-28T22:30:00Z", 1))  # 23:30 CET
    as_of = "2026-03-29T23:45:00+02:00"
    rule = "rules:\n  - days_since_last_conversion: {gte: 1}\n"
    assert ws.run(rule, as_of=as_of) == []
    ws.config(AMSTERDAM)
    assert ws.run(rule, as_of=as_of) == ["a"]


def test_the_grid_counts_local_days(ws: Workspace):
    ws.events(conversion("a", "2026-03-28T22:30:00Z", 1))  # 23:30 CET, 28 March
    as_of = "2026-06-27T23:45:00+02:00"                    # 91 days later on the clock, 90 days 23¼ h in time
    assert ws.run("rules:\n  - retention_grid: {is: one_time_buyer}\n", as_of=as_of) == ["a"]
    ws.config(AMSTERDAM)
    assert ws.run("rules:\n  - retention_grid: {is: sleeper}\n", as_of=as_of) == ["a"]


def test_hours_days_and_weeks_stay_exact_durations(ws: Workspace):
    ws.events(pageview("inside", "2026-03-23T22:30:00Z"),   # 23:30 CET on 23 March
              pageview("outside", "2026-03-23T21:30:00Z"))  # 22:30 CET
    ws.config(AMSTERDAM)
    # as_of: the end of 30 March in Amsterdam (22:00 UTC, summer time); 7 × 24 hours before it is 23:00 CET
    assert ws.run("rules:\n  - event: {period: 7d}\n", as_of="2026-03-30") == ["inside"]
    assert ws.run("rules:\n  - event: {period: {from: 2026-03-24, to: 2026-03-30}}\n", as_of="2026-03-30") == []


@pytest.mark.parametrize("period, expected", [
    ("{from: 2026-06-01}", ["june", "today"]),                       # open-ended: up to as_of
    ("{to: 2026-05-31}", ["january", "may"]),                         # from the beginning
    ("{from: 2026-05-31T23:00:00+02:00, to: 2026-06-01T00:30:00+02:00}", ["may"]),
    ("{from: '2026-05-31 22:00', to: '2026-06-01 00:00'}", ["may"]),  # no offset: the configured zone (UTC)
    ("{to: 30d}", ["january"]),                                       # more than 30 days before as_of
])
def test_open_ended_and_datetime_windows(ws: Workspace, period, expected):
    ws.events(pageview("january", "2026-01-15T12:00:00Z"), pageview("may", "2026-05-31T22:00:00Z"),
              pageview("june", "2026-06-05T12:00:00Z"), pageview("today", "2026-06-30T09:00:00Z"),
              pageview("future", "2026-07-02T09:00:00Z"))
    assert ws.run(f"rules:\n  - event: {{period: {period}}}\n", as_of="2026-06-30T12:00:00Z") == expected


# -- DuckDB as the oracle of calendar arithmetic --------------------------------------------------------
CALENDAR_CASES = {  # segtool period -> DuckDB condition on ts (TIMESTAMPTZ), as_of T (a datetime, inclusive)
    "1mo": "ts > T - INTERVAL 1 MONTH",
    "{last: 3, unit: months}": "ts > T - INTERVAL 3 MONTH",
    "1y": "ts > T - INTERVAL 1 YEAR",
    "{from: 2mo, to: 1mo}": "ts > T - INTERVAL 2 MONTH AND ts <= T - INTERVAL 1 MONTH",
    "{this: day}": "ts >= date_trunc('day', T)",
    "{this: week}": "ts >= date_trunc('week', T)",
    "{this: month}": "ts >= date_trunc('month', T)",
    "{this: quarter}": "ts >= date_trunc('quarter', T)",
    "{this: year}": "ts >= date_trunc('year', T)",
    "{previous: day}": "ts >= date_trunc('day', T) - INTERVAL 1 DAY AND ts < date_trunc('day', T)",
    "{previous: week}": "ts >= date_trunc('week', T) - INTERVAL 7 DAY AND ts < date_trunc('week', T)",
    "{previous: month}": "ts >= date_trunc('month', T) - INTERVAL 1 MONTH AND ts < date_trunc('month', T)",
    "{previous: quarter}": "ts >= date_trunc('quarter', T) - INTERVAL 3 MONTH AND ts < date_trunc('quarter', T)",
    "{previous: year}": "ts >= date_trunc('year', T) - INTERVAL 1 YEAR AND ts < date_trunc('year', T)",
}
AS_OFS = ["2028-03-31T12:00:00+00:00", "2028-02-29T00:30:00+00:00", "2026-03-29T01:30:00+00:00",
          "2026-10-25T00:30:00+00:00", "2027-01-03T23:30:00+00:00"]


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """An event every 5 hours and 7 minutes over two and a half years, one visitor each."""
    folder = tmp_path_factory.mktemp("dense")
    start, step = datetime(2025, 9, 1, tzinfo=timezone.utc), timedelta(hours=5, minutes=7)
    times = [start + i * step for i in range(int(timedelta(days=950) / step))]
    lines = ["visitor_id,timestamp,event_type"] + [f"v{i},{t.isoformat()},pageview" for i, t in enumerate(times)]
    (folder / "events.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam", "America/New_York"])
@pytest.mark.parametrize("as_of", AS_OFS)
def test_calendar_periods_agree_with_duckdb(dense, tmp_path, zone, as_of, monkeypatch):
    from segtool.language import timeframe

    # the instants are chosen for their calendar, not for being past or future: a clock after all of them
    monkeypatch.setattr(timeframe, "current_time", lambda: datetime(2030, 1, 1, tzinfo=timezone.utc))
    db = duckdb.connect()
    db.execute(f"SET TimeZone = '{zone}'")
    db.execute(f"CREATE VIEW ev AS SELECT visitor_id, CAST(timestamp AS TIMESTAMPTZ) AS ts "
               f"FROM read_csv('{dense / 'events.csv'}', all_varchar = true)")
    folder = tmp_path / "segments"
    folder.mkdir()
    for i, period in enumerate(CALENDAR_CASES):
        (folder / f"p{i}.yaml").write_text(f"name: p{i}\nrules:\n  - event: {{period: {period}}}\n")
    ws = Workspace(tmp_path)
    (tmp_path / "events.csv").write_bytes((dense / "events.csv").read_bytes())
    ws.config(f"timezone: {zone}\n")
    result = ws.cli("run", str(folder), "--as-of", as_of, "--output-dir", str(tmp_path / "out"), "--format", "txt")
    assert result.exit_code == 0, result.stderr
    for i, (period, condition) in enumerate(CALENDAR_CASES.items()):
        t = f"TIMESTAMPTZ '{as_of}'"
        sql = f"SELECT visitor_id FROM ev WHERE ts <= {t} AND {_t(condition, t)}"
        expected = {row[0] for row in db.execute(sql).fetchall()}
        found = set((tmp_path / "out" / f"p{i}.txt").read_text().split())
        assert found == expected, f"{period} in {zone} as of {as_of}: only segtool {sorted(found - expected)[:3]}, " \
                                  f"only duckdb {sorted(expected - found)[:3]}"
        # a day or a week (Monday 00:30 in Amsterdam) just begun may be empty; the rest must not be
        assert expected or period in ("{this: day}", "{this: week}"), f"{period}: empty, a weak check"


def _t(condition: str, t: str) -> str:
    return condition.replace(" T ", f" {t} ").replace("(T)", f"({t})").replace(", T)", f", {t})")


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - event: {period: {this: fortnight}}\n", "this takes one of day, week, month, quarter, year"),
    ("rules:\n  - event: {period: {from: 2026-01-01, to: 30d}}\n", "both be dates or both be lengths"),
    ("rules:\n  - event: {period: {from: 2026-02-01, to: 2026-01-01}}\n", "from 2026-02-01 is after to 2026-01-01"),
    ("rules:\n  - event: {period: {from: soon}}\n", "from takes a date like 2024-06-01 or a date and time"),
    ("rules:\n  - sequence: {steps: [{type: {is: a}}, {type: {is: b}, within: 1mo}]}\n",
     "within takes hours, days or weeks (an exact length of time)"),
])
def test_period_errors(ws: Workspace, text, message):
    result = ws.cli("validate", str(ws.segment(text)))
    assert result.exit_code == 1 and message in result.stderr, result.stderr
