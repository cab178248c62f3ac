"""Input files as people have them: compressed CSV and NDJSON, European CSV, other encodings, bad headers."""

from __future__ import annotations

import gzip

import polars as pl
import pytest
import zstandard

from conftest import Workspace, conversion, pageview

AS_OF = "2024-06-30T23:59:59Z"
BUYERS = "rules:\n  - total_order_value: {gte: 1000.5}\n"


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(pageview("a"), conversion("a", "2024-06-02T10:00:00Z", "1000.50", "o1"),
              conversion("b", "2024-06-03T10:00:00Z", "999.99", "o2"), pageview("c", utm_source="mail"),
              conversion("d", "2024-06-04T10:00:00Z", "1234.56", "o3"))
    return ws


def own_config(ws: Workspace, text: str) -> tuple[str, str]:
    """A config of the test's own (the workspace writes its `data:` into segtool.yaml)."""
    path = ws.root / "own.yaml"
    path.write_text(text)
    return "--config", str(path)


def _compressed(data: bytes, ending: str) -> bytes:
    return gzip.compress(data) if ending == ".gz" else zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("name", ["events.csv.gz", "events.csv.zst", "events.ndjson", "events.jsonl",
                                  "events.ndjson.gz", "events.jsonl.zst", "events.tsv"])
def test_every_format_gives_the_same_answer(shop: Workspace, tmp_path, name):
    rows = pl.read_csv(shop.root / "events.csv", infer_schema=False)
    plain = tmp_path / name.removesuffix(".gz").removesuffix(".zst")
    if ".csv" in name:
        rows.write_csv(plain)
    elif ".tsv" in name:
        rows.write_csv(plain, separator="\t")  # .tsv means tabs
    else:
        rows.write_ndjson(plain)
    target = tmp_path / name
    if name.endswith((".gz", ".zst")):
        target.write_bytes(_compressed(plain.read_bytes(), "." + name.rsplit(".", 1)[1]))
    expected = shop.run(BUYERS, as_of=AS_OF)
    assert expected == ["a", "d"]
    assert shop.run(BUYERS, "--events", str(target), as_of=AS_OF) == expected


def test_a_gzipped_semicolon_csv_with_decimal_commas_reads_with_two_config_lines(ws: Workspace):
    text = ("visitor_id;timestamp;event_type;order_id;order_value\n"
            "a;2024-06-02T10:00:00Z;conversion;o1;1.000,50\n"
            "b;2024-06-03T10:00:00Z;conversion;o2;999,99\n"
            "d;2024-06-04T10:00:00Z;conversion;o3;1234,56\n")
    (ws.root / "export.csv.gz").write_bytes(gzip.compress(text.encode()))
    ws.config("csv: {separator: ';', decimal_comma: true}\n")
    assert ws.run(BUYERS, "--events", str(ws.root / "export.csv.gz"), as_of=AS_OF) == ["a", "d"]


@pytest.mark.parametrize("table, rule", [("events", "total_order_value: {gte: 1}"), ("profiles", "clv: {gte: 1}")])
def test_decimal_commas_read_without_decimal_comma_suggest_it(ws: Workspace, table, rule):
    (ws.root / "events.csv").write_text("visitor_id;timestamp;event_type;order_id;order_value\n"
                                        "a;2024-06-02T10:00:00Z;conversion;o1;12,50\n"
                                        "b;2024-06-03T10:00:00Z;conversion;o2;x\n")
    (ws.root / "profiles.csv").write_text("visitor_id;clv\na;1.250,75\n")
    config = own_config(ws, "csv: {separator: ';'}\ndata:\n  events: events.csv\n  profiles: profiles.csv\n")
    result = ws.cli("run", str(ws.segment(f"rules:\n  - {rule}\n")), *config, "--as-of", AS_OF)
    written = "'12,50'" if table == "events" else "'1.250,75'"
    assert result.exit_code == 3 and f"; {written} is a number written with a decimal comma: set `csv: " \
        f"{{decimal_comma: true}}` in the config (or `decimal_comma: true` under data.{table})" in result.stderr


def test_decimal_commas_reach_profile_columns_and_leave_ids_and_text_alone(ws: Workspace):
    ws.events(pageview("1,5"))
    (ws.root / "crm.csv").write_text("visitor_id;clv;note;score\n1,5;1.250,75;size 3,5 please;7,25\n",
                                     encoding="utf-8")
    (ws.root / "events.csv").write_text("visitor_id,timestamp,event_type\n\"1,5\",2024-06-01T12:00:00Z,pageview\n")
    config = own_config(ws, "csv: {decimal_comma: true}\n"
                            "data:\n  events: events.csv\n  profiles: {path: crm.csv, separator: ';'}\n")
    assert ws.run("rules:\n  - clv: {gte: 1250.75}\n", *config, as_of=AS_OF) == ["1,5"]
    assert ws.run("rules:\n  - profile.score: {eq: 7.25}\n", *config, as_of=AS_OF) == ["1,5"]
    assert ws.run("rules:\n  - profile.note: {is: 'size 3,5 please'}\n", *config, as_of=AS_OF) == ["1,5"]


def test_the_data_section_overrides_the_csv_section_per_table(ws: Workspace):
    (ws.root / "ev.csv").write_text("visitor_id|timestamp|event_type\na|2024-06-01T12:00:00Z|pageview\n")
    (ws.root / "crm.csv").write_text("visitor_id;city\na;Milan\n")
    config = own_config(ws, "csv: {separator: ';'}\ndata:\n  events: {path: ev.csv, separator: '|'}\n"
                            "  profiles: crm.csv\n")
    assert ws.run("rules:\n  - city: {is: Milan}\n", *config, as_of=AS_OF) == ["a"]


def test_a_header_that_does_not_split_names_the_separator_it_looks_like(ws: Workspace):
    (ws.root / "events.csv").write_text("visitor_id;timestamp;event_type\na;2024-06-01T12:00:00Z;pageview\n")
    result = ws.cli("run", str(ws.segment("rules:\n  - url: {is_set: false}\n")), "--as-of", AS_OF)
    assert result.exit_code == 3
    assert ("found one column 'visitor_id;timestamp;event_type': is the separator ';'? Set csv: {separator: ';'}"
            in result.stderr)


def test_other_encodings_and_null_values(ws: Workspace):
    text = "visitor_id,timestamp,event_type,order_value\n" \
           "zoë,2024-06-01T12:00:00Z,conversion,NA\nrené,2024-06-02T12:00:00Z,conversion,12\n"
    (ws.root / "events.csv").write_bytes(text.encode("latin-1"))
    (ws.root / "crm.csv").write_bytes("visitor_id,city\nzoë,Besançon\n".encode("cp1252"))
    config = own_config(ws, "csv: {encoding: latin-1, null_values: [NA]}\n"
                            "data:\n  events: events.csv\n  profiles: {path: crm.csv, encoding: cp1252}\n")
    assert ws.run("rules:\n  - city: {is: Besançon}\n", *config, as_of=AS_OF) == ["zoë"]
    assert ws.run("rules:\n  - order_value: {is_set: false}\n", *config, as_of=AS_OF) == ["zoë"]
    assert ws.run("rules:\n  - total_order_value: {gte: 12}\n", *config, as_of=AS_OF) == ["rené"]


def test_null_values_take_aliases_and_null_as_written(ws: Workspace):
    (ws.root / "events.csv").write_text("visitor_id,timestamp,event_type,url\n"
                                        "a,2024-06-01T12:00:00Z,pageview,NULL\nb,2024-06-01T12:00:00Z,pageview,n/a\n"
                                        "c,2024-06-01T12:00:00Z,pageview,-\nd,2024-06-01T12:00:00Z,pageview,/\n")
    config = own_config(ws, "csv: {null_values: &nulls [NULL, ~]}\n"
                            "data:\n  events: {path: events.csv, null_values: [*nulls, n/a, '-']}\n")
    assert ws.run("rules:\n  - url: {is_set: true}\n", *config, as_of=AS_OF) == ["d"]


def test_a_file_in_another_encoding_read_as_utf8_says_so(ws: Workspace):
    (ws.root / "events.csv").write_bytes("visitor_id,timestamp,event_type\nzoë,2024-06-01T12:00:00Z,x\n"
                                         .encode("latin-1"))
    result = ws.cli("run", str(ws.segment("rules:\n  - event: {type: {is: x}}\n")), "--as-of", AS_OF)
    assert result.exit_code == 3 and "events.csv" in result.stderr and "UTF-8" in result.stderr


def test_a_quote_character_of_ones_own(ws: Workspace):
    (ws.root / "events.csv").write_text("visitor_id,timestamp,event_type,url\n"
                                        "'a,1',2024-06-01T12:00:00Z,pageview,'/x,y'\n")
    ws.config("csv: {quote_char: \"'\"}\n")
    assert ws.run("rules:\n  - url: {is: '/x,y'}\n", as_of=AS_OF) == ["a,1"]


@pytest.mark.parametrize("config, message", [
    ("csv: {separator: ';;'}\n", "csv.separator must be one single-byte character"),
    ("csv: {encoding: latin-9000}\n", "unknown encoding 'latin-9000'"),
    ("csv: {decimal_coma: true}\n", "unknown csv key 'decimal_coma' (did you mean 'decimal_comma'?)"),
    ("csv: {}\ndata:\n  events: {file: x.csv}\n", "unknown data.events key 'file'"),
    ("preset: ga5\n", "preset must be one of ga4, shopify_orders, segment, found 'ga5' (did you mean 'ga4'?)"),
    ("timezone: Europe/Amsterdm\n", "not an IANA time zone name like Europe/Amsterdam (did you mean "
                                    "'Europe/Amsterdam'?)"),
    ("timezone: europe/paris\n", "(did you mean 'Europe/Paris'?)"),
    ("timezone: ''\n", "timezone: '' is not an IANA time zone name"),
    ("timezone: CEST\n", "'CEST' is an abbreviation, not an IANA time zone name; name the zone by a place, such "
                         "as 'Europe/Paris'"),
    ("timezone: PDT\n", "such as 'America/Los_Angeles'"),
    ("library: nowhere\n", "nowhere does not exist; name the folder of the segments"),
    ("library: events.csv\n", "events.csv is not a folder"),
    ("csv: {null_values: [{NA: 1}]}\n", "own.yaml:1:21: csv.null_values: each item must be a value, found a mapping"),
])
def test_bad_input_settings_are_config_errors(shop: Workspace, config, message):
    result = shop.cli("validate", str(shop.segment(BUYERS)), *own_config(shop, config))
    assert result.exit_code == 1 and message in result.stderr, result.stderr


def test_a_file_name_that_tells_no_format(ws: Workspace):
    (ws.root / "events.txt").write_text("visitor_id,timestamp,event_type\n")
    result = ws.cli("run", str(ws.segment(BUYERS)), "--events", str(ws.root / "events.txt"), "--as-of", AS_OF)
    assert result.exit_code == 3 and "name it .parquet, .csv, .ndjson or .jsonl" in result.stderr
