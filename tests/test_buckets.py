"""Exports in a bucket: s3:// paths read through polars' object store, against a local S3 emulator (moto in
server mode, started here); credentials and the endpoint come from the environment, as the AWS SDKs read
them. Nothing here reaches a real cloud."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from conftest import Workspace, conversion, pageview

AS_OF = "2024-06-30T23:59:59Z"


@pytest.fixture(scope="module")
def bucket():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true"}.items():
            env.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="exports")
        yield s3
    server.stop()


def _put(s3, key: str, frame: pl.DataFrame, tmp_path, compress: bool = False) -> None:
    local = tmp_path / key.replace("/", "_").removesuffix(".gz")
    if key.endswith(".parquet"):
        frame.write_parquet(local)
    elif key.startswith("segment-logs/"):
        frame.write_ndjson(local)
    else:
        frame.write_csv(local)
        if compress:
            local.write_bytes(gzip.compress(local.read_bytes()))
    s3.upload_file(str(local), "exports", key)


@pytest.fixture
def shop(ws: Workspace, bucket, tmp_path) -> Workspace:
    """The same events locally and in the bucket: as one Parquet file per day (hive folders) and as CSV."""
    ws.events(pageview("a", "2024-06-01T12:00:00Z"), conversion("a", "2024-06-02T10:00:00Z", "120", "o1"),
              conversion("b", "2024-06-03T10:00:00Z", "80", "o2"), pageview("c", "2024-06-03T11:00:00Z"),
              conversion("d", "2024-06-04T10:00:00Z", "300", "o3"))
    rows = pl.read_csv(ws.root / "events.csv", infer_schema=False)
    for day, part in rows.group_by(pl.col("timestamp").str.slice(0, 10)):
        _put(bucket, f"events/day={day[0]}/part-0.parquet", part, tmp_path)
    _put(bucket, "csv/2024-06/events.csv.gz", rows.head(3), tmp_path, compress=True)
    _put(bucket, "csv/2024-07/events.csv.gz", rows.tail(2), tmp_path, compress=True)
    for day, part in (("1717200000000", rows.head(3)), ("1717372800000", rows.tail(2))):  # as Segment files them
        _put(bucket, f"segment-logs/Ab12Cd34Ef/{day}/{day}.e5b7f1c2.gz", part, tmp_path, compress=True)
    return ws


RULE = "rules:\n  - total_order_value: {gte: 100}\n"


@pytest.mark.parametrize("events", ["s3://exports/events/", "s3://exports/events/**/*.parquet",
                                    "s3://exports/csv/*/events.csv.gz", "s3://exports/events/day=2024-06-02/part-0.parquet"])
def test_bucket_paths_give_what_local_files_give(shop: Workspace, events):
    expected = ["a"] if "day=2024-06-02" in events else ["a", "d"]
    assert shop.run(RULE, as_of=AS_OF) == ["a", "d"]
    assert shop.run(RULE, "--events", events, as_of=AS_OF) == expected


def test_a_bucket_path_in_the_config_is_not_made_relative(shop: Workspace):
    (shop.root / "own.yaml").write_text("data:\n  events: s3://exports/events/\n")
    assert shop.run(RULE, "--config", str(shop.root / "own.yaml"), as_of=AS_OF) == ["a", "d"]


def test_a_missing_object_names_the_path(shop: Workspace):
    result = shop.cli("run", str(shop.segment(RULE)), "--events", "s3://exports/nothing/events.parquet",
                      "--as-of", AS_OF)
    assert result.exit_code == 3 and "s3://exports/nothing/events.parquet" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_files_whose_names_say_no_format_read_with_the_format_key(shop: Workspace):
    """A bucket's files are not looked into: Segment's `.gz` calls need `format: ndjson` there."""
    (shop.root / "own.yaml").write_text("data:\n  events: {path: s3://exports/segment-logs/, format: ndjson}\n")
    assert shop.run(RULE, "--config", str(shop.root / "own.yaml"), as_of=AS_OF) == ["a", "d"]
    result = shop.cli("run", str(shop.segment(RULE)), "--events", "s3://exports/segment-logs/*/*/*.gz", "--as-of", AS_OF)
    assert result.exit_code == 3 and "set format: csv, ndjson or parquet in data.events" in result.stderr
