"""Acknowledged deliveries: each file of an output directory comes with NAME.added and NAME.removed against
the files `segtool ack` last acknowledged; changes accumulate until then, an ack names its run, a full
resend, and the acknowledged state is changed whole or not at all, under the output directory's lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import Workspace, conversion, pageview, segtool_command
from segtool.jobs.deliveries import Acknowledged, write_changes
from segtool.jobs.outdir import store
from test_nightly import BUYERS, hold_lock, kill_hook, lines, nightly, run_of, shop, shown  # noqa: F401


def delivered(shop: Workspace, *args: str, **kwargs):
    """A nightly run that writes the change files of deliveries (--deliveries)."""
    return nightly(shop, "--deliveries", *args, **kwargs)


def ack(ws: Workspace, run: str, *args: str):
    return ws.cli("ack", str(ws.root / "out"), "--run", run, *args)


def changes(out: Path, name: str) -> tuple[list[str], list[str]]:
    """The IDs of NAME.added.csv and NAME.removed.csv, as out shows them."""
    return tuple(lines(out / f"{name}.{kind}.csv")[1:] for kind in ("added", "removed"))


def delivery(out: Path, name: str) -> dict:
    return json.loads((out / "manifest.json").read_text())["segments"][name]["delivery_changes"][f"{name}.csv"]


def test_runs_and_acks_added_and_removed_against_the_acknowledged_delivery(shop: Workspace):
    out = shop.root / "out"
    assert delivered(shop, as_of="2024-06-10").exit_code == 0  # buyers {a}, visitors {a, b}
    first = run_of(out).name
    assert changes(out, "buyers") == (["a"], []) and delivery(out, "buyers")["relative_to"] is None
    assert json.loads((out / "manifest.json").read_text())["run"] == first
    result = ack(shop, first, "--select", "buyers")  # only buyers was uploaded
    assert result.exit_code == 0, result.stderr
    assert delivered(shop).exit_code == 0  # 30 June: buyers {a, b}, visitors {a, b, c}
    assert changes(out, "buyers") == (["b"], []) and delivery(out, "buyers")["relative_to"] == first
    assert changes(out, "visitors") == (["a", "b", "c"], [])  # never acknowledged: everything is added
    # the upload fails (no ack); the data changes: a's order is gone, d buys. The changes accumulate
    shop.events(pageview("a", "2024-06-01T10:00:00Z"), pageview("b", "2024-06-02T10:00:00Z"),
                conversion("b", "2024-06-25T11:00:00Z", 150, "o2"), conversion("d", "2024-06-26T11:00:00Z", 20, "o3"))
    assert delivered(shop).exit_code == 0  # buyers {b, d}
    assert changes(out, "buyers") == (["b", "d"], ["a"])
    again = {name: (out / name).read_bytes() for name in ("buyers.added.csv", "buyers.removed.csv")}
    result = delivered(shop)  # a re-run is idempotent
    assert result.exit_code == 0 and "buyers.csv: 2 added, 1 removed: since the delivery acknowledged in run " \
        f"{first}" in result.stderr
    assert {name: (out / name).read_bytes() for name in again} == again
    sent = run_of(out).name
    assert ack(shop, sent).exit_code == 0
    assert delivered(shop).exit_code == 0
    assert changes(out, "buyers") == ([], []) and changes(out, "visitors") == ([], [])
    assert delivery(out, "buyers") == {"relative_to": sent, "added_file": "buyers.added.csv", "added": 0,
                                       "removed_file": "buyers.removed.csv", "removed": 0}
    assert shown(out)  # the change files are the run's files: checksummed, linked through current


def test_an_ack_names_the_run_it_acknowledges(shop: Workspace):
    out = shop.root / "out"
    assert delivered(shop, as_of="2024-06-10").exit_code == 0
    uploaded = run_of(out).name
    assert delivered(shop).exit_code == 0  # a later run, between the upload and its ack
    later = run_of(out).name
    result = ack(shop, uploaded)
    assert result.exit_code == 0 and f"{later}, are relative to the delivery acknowledged before" in result.stderr
    state = (store(out) / "acknowledged.json").read_bytes()
    assert {f["run"] for f in json.loads(state)["files"].values()} == {uploaded}
    result = ack(shop, later)  # its changes are against nothing, not against what was delivered
    assert result.exit_code == 2 and "Nothing was acknowledged" in result.stderr
    assert (store(out) / "acknowledged.json").read_bytes() == state
    result = ack(shop, uploaded)  # the upload script retried: nothing changes
    assert result.exit_code == 0 and "acknowledged already" in result.stderr
    assert (store(out) / "acknowledged.json").read_bytes() == state
    assert delivered(shop).exit_code == 0  # the next run compares with what was delivered
    assert changes(out, "buyers") == (["b"], []) and ack(shop, run_of(out).name).exit_code == 0
    assert delivered(shop).exit_code == 0
    for run in ("nope", "../runs", ".", later):  # unknown, not a run's name, or no longer kept (two runs ago)
        result = ack(shop, run)
        assert result.exit_code == 2 and "keeps no run" in result.stderr, run
    assert ack(shop, run_of(out).name, "--select", "nobody").exit_code == 2
    result = shop.cli("ack", str(shop.root / "typo"), "--run", run_of(out).name)
    assert result.exit_code == 2 and not (shop.root / "typo").exists()


def test_resend_all_sends_every_row_and_its_ack_is_the_delivery(shop: Workspace):
    out = shop.root / "out"
    assert delivered(shop, as_of="2024-06-10").exit_code == 0
    assert ack(shop, run_of(out).name).exit_code == 0
    assert delivered(shop, "--resend-all").exit_code == 0
    assert changes(out, "buyers") == (["a", "b"], [])
    assert delivery(out, "buyers") == {"relative_to": None, "added_file": "buyers.added.csv", "added": 2,
                                       "removed_file": "buyers.removed.csv", "removed": 0, "resend": True}
    resent = run_of(out).name
    assert delivered(shop, as_of="2024-06-10").exit_code == 0  # relative to the acknowledged delivery again
    assert changes(out, "buyers") == ([], [])
    assert ack(shop, resent).exit_code == 0  # a resend is the delivery, whatever was acknowledged
    assert delivered(shop, as_of="2024-06-10").exit_code == 0
    assert changes(out, "buyers") == ([], ["b"])
    assert shop.cli("run", str(shop.root / "segments" / "buyers.yaml"), "--resend-all").exit_code == 2


def test_a_guard_failure_leaves_no_stale_change_files(shop: Workspace):
    out = shop.root / "out"
    assert delivered(shop, "--changes", as_of="2024-06-10").exit_code == 0
    first = run_of(out).name
    (shop.root / "segments" / "buyers.yaml").write_text(BUYERS + "expect: {max_size: 1}\n")  # 2 by 30 June
    assert delivered(shop, "--changes", "-q").exit_code == 4
    # buyers.csv stays as the last run wrote it, never acknowledged: all its rows are still to deliver
    assert lines(out / "buyers.csv") == ["visitor_id", "a"] and changes(out, "buyers") == (["a"], [])
    assert not os.path.lexists(out / "buyers.entered.csv") and shown(out)
    assert ack(shop, run_of(out).name).exit_code == 0 and ack(shop, first).exit_code == 2
    assert delivered(shop, "-q").exit_code == 4
    assert changes(out, "buyers") == ([], []) and changes(out, "visitors") == ([], [])


@pytest.mark.parametrize("fmt", ["csv", "txt", "ndjson", "json", "parquet"])
def test_rows_compare_in_every_format(shop: Workspace, fmt: str):
    out = shop.root / "out"
    assert delivered(shop, "--format", fmt, as_of="2024-06-10").exit_code == 0
    assert ack(shop, run_of(out).name).exit_code == 0
    assert delivered(shop, "--format", fmt).exit_code == 0
    entry = json.loads((out / "manifest.json").read_text())["segments"]["visitors"]["delivery_changes"][f"visitors.{fmt}"]
    assert (entry["added"], entry["removed"]) == (1, 0)  # c
    assert (entry["added_file"], entry["removed_file"]) == (f"visitors.added.{fmt}", f"visitors.removed.{fmt}")
    import polars as pl

    if fmt in ("parquet", "json"):
        added = (pl.read_parquet if fmt == "parquet" else pl.read_json)(out / entry["added_file"])
        assert added["visitor_id"].to_list() == ["c"]


def test_any_file_of_rows_compares_by_its_rows(tmp_path: Path):
    """A destination's CSV (values quoted, with line breaks inside quotes): rows compare as written, and
    the change files have the file's header; a file of other columns is all added and all removed."""
    state = tmp_path / "out"
    staged = tmp_path / "run"
    staged.mkdir()
    acked = tmp_path / "acked.csv"
    acked.write_bytes(b'Email,Phone\nab12,"+31 6\n1"\ncd34,\nef56,"x,y"\n')
    (staged / "list.csv").write_bytes(b'Email,Phone\nab12,"+31 6\n1"\nef56,"x,y"\ngh78,""\n')
    known = Acknowledged(state, {"list.csv": {"run": "R1", "sha256": "0"}})
    known.path = lambda file, warn: acked  # the acknowledged file as it is
    warnings = []
    record = write_changes(staged, "list.csv", known, False, warnings.append)
    assert record == {"relative_to": "R1", "added_file": "list.added.csv", "added": 1,
                      "removed_file": "list.removed.csv", "removed": 1}
    assert (staged / "list.added.csv").read_bytes() == b'Email,Phone\ngh78,""\n'
    assert (staged / "list.removed.csv").read_bytes() == b"Email,Phone\ncd34,\n"
    (staged / "list.csv").write_bytes(b"Email,Phone,Zip\nab12,1,2\n")  # the columns changed
    record = write_changes(staged, "list.csv", known, False, warnings.append)
    assert (record["added"], record["removed"]) == (1, 3) and "columns" in warnings[0]
    assert (staged / "list.added.csv").read_bytes() == b"Email,Phone,Zip\nab12,1,2\n"
    assert (staged / "list.removed.csv").read_bytes() == acked.read_bytes()


def test_ack_holds_the_lock(shop: Workspace):
    out = shop.root / "out"
    assert delivered(shop).exit_code == 0
    handle = hold_lock(out)
    result = ack(shop, run_of(out).name, "--no-wait")
    assert result.exit_code == 5 and not (store(out) / "acknowledged.json").exists()
    handle.close()
    assert ack(shop, run_of(out).name, "--no-wait").exit_code == 0


@pytest.mark.parametrize("after", [False, True])
def test_an_ack_killed_at_its_rename_leaves_the_old_state_or_the_new(shop: Workspace, after: bool):
    out = shop.root / "out"
    assert delivered(shop, as_of="2024-06-10").exit_code == 0
    assert ack(shop, run_of(out).name).exit_code == 0
    before = (store(out) / "acknowledged.json").read_bytes()
    assert delivered(shop).exit_code == 0
    hook = f"STATE = {str(store(out) / 'acknowledged.json')!r}\n" + kill_hook(
        "os.replace", after, "str(args[1]) == STATE")
    command = segtool_command("ack", str(out), "--run", run_of(out).name, hook=hook)
    process = subprocess.run(command, cwd=shop.root, capture_output=True, text=True, timeout=120,
                             start_new_session=True)
    assert process.returncode == -signal.SIGKILL, process.stderr
    state = json.loads((store(out) / "acknowledged.json").read_bytes())
    assert ((store(out) / "acknowledged.json").read_bytes() == before) != after
    assert {f["run"] for f in state["files"].values()} == {run_of(out).name if after else json.loads(before)[
        "files"]["buyers.csv"]["run"]}
    result = ack(shop, run_of(out).name)  # the next ack finishes, and removes what the killed one left
    assert result.exit_code == 0, result.stderr
    kept = {f["sha256"] for f in json.loads((store(out) / "acknowledged.json").read_bytes())["files"].values()}
    assert {p.name for p in (store(out) / "acknowledged").iterdir()} == kept
    assert not list(store(out).glob(".*.tmp"))
    assert delivered(shop).exit_code == 0 and changes(out, "buyers") == ([], [])


def test_change_files_of_deliveries_only_when_asked(shop: Workspace):
    """A plain --output-dir run writes the segments' files alone (scripts glob DIR/*.csv); `ack` of such a run
    says how to write the change files it acknowledges."""
    out = shop.root / "out"
    assert nightly(shop).exit_code == 0
    assert not list(out.glob("*.added.csv")) and not list(out.glob("*.removed.csv"))
    result = ack(shop, run_of(out).name)
    assert result.exit_code == 2 and "--deliveries" in result.stderr
    assert not (store(out) / "acknowledged.json").exists()
