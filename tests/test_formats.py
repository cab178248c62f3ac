"""Input files as people have them: compressed CSV and NDJSON, European CSV, other encodings, bad headers."""

from __future__ import annotations

import gzip
import io
import zipfile

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


def _rows(shop: Workspace) -> pl.DataFrame:
    return pl.read_csv(shop.root / "events.csv", infer_schema=False)


def _as(rows: pl.DataFrame, path, content: str, packing: str = "") -> None:
    """`rows` written to `path` as `content` (csv, ndjson, parquet), then gzip or zstd as `packing` says."""
    if content == "parquet":
        rows.write_parquet(path)
    else:
        path.write_bytes(rows.write_csv().encode() if content == "csv" else rows.write_ndjson().encode())
    if packing:
        path.write_bytes(_compressed(path.read_bytes(), packing))


@pytest.mark.parametrize("name, content, packing", [
    ("events.txt", "csv", ""), ("events", "csv", ".gz"), ("events.json", "ndjson", ""),
    ("events_20240601-000000000000.json.gz", "ndjson", ".gz"), ("1717200000000.gz", "ndjson", ".gz"),
    ("export.bin", "ndjson", ".zst"), ("events.dat", "parquet", ""), ("events.csv", "csv", ".gz"),
])
def test_the_format_comes_from_the_bytes_where_the_name_does_not_say(shop: Workspace, tmp_path, name, content,
                                                                     packing):
    _as(_rows(shop), tmp_path / name, content, packing)
    assert shop.run(BUYERS, "--events", str(tmp_path / name), as_of=AS_OF) == ["a", "d"]


def test_a_folder_of_compressed_ndjson_in_nested_folders_leaves_side_files_out(shop: Workspace, tmp_path):
    """Segment's S3 layout (segment-logs/<source>/<day>/<file>.gz), with the side files other deliveries
    leave: each would be an error if read."""
    rows, logs = _rows(shop), tmp_path / "segment-logs" / "Ab12Cd34Ef"
    for day, part in zip(("1717200000000", "1717286400000"), (rows.head(2), rows.tail(3))):
        (logs / day).mkdir(parents=True)
        _as(part, logs / day / "0f8e3c2a-4b1d-4c6e-9a7f-1d2e3f4a5b6c.gz", "ndjson", ".gz")
    (logs / "_SUCCESS").write_bytes(b"")
    (logs / "1717200000000.crc").write_bytes(b"\x00crc")
    (logs / "manifest.json").write_text('{\n  "files": []\n}\n')
    (logs / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (logs / "_temporary" / "0").mkdir(parents=True)
    (logs / "_temporary" / "0" / "part.gz").write_bytes(b"%PDF-1.4")
    (logs / "1717200000000" / "empty.gz").write_bytes(gzip.compress(b""))
    assert shop.run(BUYERS, "--events", str(tmp_path / "segment-logs"), as_of=AS_OF) == ["a", "d"]


def test_a_folder_of_csv_files(shop: Workspace, tmp_path):
    rows = _rows(shop)
    (tmp_path / "orders").mkdir()
    _as(rows.head(2), tmp_path / "orders" / "orders_export_1.csv", "csv")
    _as(rows.tail(3), tmp_path / "orders" / "orders_export_2.csv", "csv")
    assert shop.run(BUYERS, "--events", str(tmp_path / "orders"), as_of=AS_OF) == ["a", "d"]


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize("name, data, words", [
    ("events.csv", b"%PDF-1.7\n%\xe2\xe3", "a PDF document (it starts with `%PDF-`)"),
    ("events.csv", b"\xef\xbb\xbf<!DOCTYPE html>\n<html><body>Sign in</body></html>", "an HTML page"),
    ("events.zip", None, "a ZIP archive: unzip it first"),
    ("events.xlsx", None, "an Excel workbook (.xlsx): export the sheet as CSV"),
    ("events.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "an Excel 97-2003 workbook"),
    ("events.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data, not CSV, NDJSON or Parquet (it starts "
                                                          "with the bytes 89 50 4e 47 0d 0a 1a 0a)"),
    ("events.json", b'[{"visitor_id": "a"}, {"visitor_id": "b"}]', "a JSON array, not one JSON object per line"),
    ("events.json", b'{\n  "visitor_id": "a"\n}\n', "a JSON document over several lines"),
    ("events.gz", gzip.compress(b"%PDF-1.7 ...")[:-8], "gzip-compressed, and inside a PDF document"),
    ("events.ndjson.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 20, "a damaged gzip file"),
    ("events.csv.bz2", b"BZh91AY&SY\x00\x01", "bzip2-compressed: decompress it"),
])
def test_a_file_that_is_no_data_says_what_it_looks_like(ws: Workspace, name, data, words):
    path = ws.root / name
    path.write_bytes(_xlsx() if name.endswith(".xlsx") else data if data is not None else _zip())
    result = ws.cli("run", str(ws.segment(BUYERS)), "--events", str(path), "--as-of", AS_OF)
    assert result.exit_code == 3 and f"events: the file is {words}" in result.stderr, result.stderr
    assert f"(file {path})" in result.stderr and "Traceback" not in result.stderr


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("orders_export_1.csv", "Name,Email\n")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, words", [
    ("events.csv", "parquet", "the file is Parquet, but its name says CSV"),
    ("events.parquet", "csv", "the file is CSV text, but its name says Parquet"),
    ("events.ndjson", "csv", "the file is CSV or other text, not JSON, but its name says NDJSON (one JSON object per line)"),
])
def test_a_name_the_bytes_contradict_is_an_error_naming_both(shop: Workspace, tmp_path, name, content, words):
    _as(_rows(shop), tmp_path / name, content)
    result = shop.cli("run", str(shop.segment(BUYERS)), "--events", str(tmp_path / name), "--as-of", AS_OF)
    assert result.exit_code == 3 and f"events: {words}: rename it, or set format: in data.events (file " \
        f"{tmp_path / name})" in result.stderr, result.stderr


def test_the_format_key_overrides_the_name_and_must_fit_the_bytes(shop: Workspace, tmp_path):
    _as(_rows(shop), tmp_path / "events.ndjson", "csv")  # CSV saved under a wrong name
    _as(_rows(shop), tmp_path / "events.parquet", "parquet")
    config = own_config(shop, "data:\n  events: {path: events.ndjson, format: csv}\n")
    (shop.root / "events.ndjson").write_bytes((tmp_path / "events.ndjson").read_bytes())
    assert shop.run(BUYERS, *config, as_of=AS_OF) == ["a", "d"]
    result = shop.cli("run", str(shop.segment(BUYERS)), *config, "--events", str(tmp_path / "events.parquet"),
                      "--as-of", AS_OF)
    assert result.exit_code == 3 and "the file is Parquet, but data.events.format says csv" in result.stderr


def test_a_folder_that_mixes_formats_names_a_file_of_each(shop: Workspace, tmp_path):
    rows = _rows(shop)
    (tmp_path / "exports").mkdir()
    _as(rows.head(2), tmp_path / "exports" / "a.json.gz", "ndjson", ".gz")
    _as(rows.tail(3), tmp_path / "exports" / "b.csv", "csv")
    result = shop.cli("run", str(shop.segment(BUYERS)), "--events", str(tmp_path / "exports"), "--as-of", AS_OF)
    assert result.exit_code == 3 and (f"mixes NDJSON (one JSON object per line) ({tmp_path / 'exports' / 'a.json.gz'}) "
                                      f"and CSV ({tmp_path / 'exports' / 'b.csv'})") in result.stderr, result.stderr


def test_an_empty_file_named_alone_is_an_error(ws: Workspace):
    (ws.root / "events.csv").write_bytes(b"")
    result = ws.cli("run", str(ws.segment(BUYERS)), "--as-of", AS_OF)
    assert result.exit_code == 3 and "events: the file is empty" in result.stderr


def test_format_takes_csv_ndjson_or_parquet(shop: Workspace):
    result = shop.cli("validate", str(shop.segment(BUYERS)),
                      *own_config(shop, "data:\n  events: {path: events.csv, format: jsonl}\n"))
    assert result.exit_code == 1 and ("data.events.format must be one of csv, ndjson, parquet, found 'jsonl'"
                                      in result.stderr), result.stderr
