"""The nightly job: an output directory with a manifest, changes against the last run, guards, a lock,
--keep-going, --select/--exclude and tags, and script-friendly output; the output directory, whose link
`current` is switched from one run's folder to the next, and whose files are links through it."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import Workspace, conversion, pageview, segtool_command
from segtool import __version__
from segtool.jobs.outdir import store

BUYERS = "name: buyers\ntags: [nightly, email]\nrules:\n  - conversions: {gte: 1}\n"
VISITORS = "name: visitors\ntags: [nightly]\nrules:\n  - event: {type: {is: pageview}}\n"
BIG = "name: big_spenders\nrules:\n  - total_order_value: {gte: 100}\n"


@pytest.fixture
def shop(ws: Workspace) -> Workspace:
    ws.events(pageview("a", "2024-06-01T10:00:00Z"), pageview("b", "2024-06-02T10:00:00Z"),
              pageview("c", "2024-06-20T10:00:00Z"),
              conversion("a", "2024-06-01T11:00:00Z", 50, "o1"), conversion("b", "2024-06-25T11:00:00Z", 150, "o2"))
    folder = ws.root / "segments"
    folder.mkdir()
    for name, text in (("buyers", BUYERS), ("visitors", VISITORS), ("big_spenders", BIG)):
        (folder / f"{name}.yaml").write_text(text)
    return ws


def nightly(ws: Workspace, *args: str, as_of: str = "2024-06-30"):
    return ws.cli("run", str(ws.root / "segments"), "--output-dir", str(ws.root / "out"), "--as-of", as_of, *args)


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def whole_run(folder: Path) -> dict[str, bytes]:
    """The files of one run, read from `folder`: each as its manifest's checksum says, and nothing else
    (but segtool's own folder, and what a segtool before runs kept in DIR)."""
    manifest = json.loads((folder / "manifest.json").read_bytes())
    files = {}
    for entry in manifest["segments"].values():
        for name, digest in entry["checksums"].items():
            files[name] = (folder / name).read_bytes()
            assert "sha256:" + hashlib.sha256(files[name]).hexdigest() == digest, f"{folder / name} is another run's"
    assert {p.name for p in folder.iterdir() if not p.name.startswith(".segtool")} == {*files, "manifest.json"}
    return files


def requested(folder: Path) -> str:
    return json.loads((folder / "manifest.json").read_text())["as_of"]["requested"]


def run_of(out: Path) -> Path:
    """The folder of the run DIR shows, as a reader finds it: `realpath DIR/current`."""
    return Path(os.path.realpath(out / "current"))


def shown(out: Path) -> dict[str, bytes]:
    """The files of the run DIR shows: that run's folder whole, and DIR's own files each a link through
    current to it (and no other link of segtool's)."""
    files = whole_run(run_of(out))
    links = {p.name for p in out.iterdir() if p.is_symlink() and os.readlink(p) == f"current/{p.name}"}
    assert links == {*files, "manifest.json"}
    assert {name: (out / name).read_bytes() for name in files} == files
    return files


def versions(out: Path) -> list[str]:
    """What out/.segtool/runs holds: the folders of runs (and what killed runs left)."""
    return sorted(os.listdir(store(out) / "runs"))


def test_the_manifest_records_the_run(shop: Workspace):
    result = nightly(shop)
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((shop.root / "out" / "manifest.json").read_text())
    assert manifest["segtool_version"] == __version__
    assert manifest["as_of"]["requested"] == "2024-06-30" and manifest["as_of"]["instant"] == "2024-07-01T00:00:00Z"
    assert manifest["universe"] == 3 and manifest["duration_s"] >= 0
    events = manifest["inputs"][0]
    assert events["table"] == "events" and events["rows"] == 5 and events["files"][0]["bytes"] > 0
    assert "modified" in events["files"][0] and manifest["config"]["text"].startswith("data:")
    buyers = manifest["segments"]["buyers"]
    assert buyers["size"] == 2 and buyers["share"] == pytest.approx(2 / 3, abs=1e-6)
    assert buyers["output"] == "buyers.csv" and buyers["tags"] == ["nightly", "email"]
    assert buyers["checksums"]["buyers.csv"].startswith("sha256:") and buyers["status"] == "written"
    assert lines(shop.root / "out" / "buyers.csv") == ["visitor_id", "a", "b"]
    assert not list((shop.root / "out").glob(".*.tmp"))


def test_changes_against_what_the_last_run_wrote(shop: Workspace):
    assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    out = shop.root / "out"
    assert lines(out / "buyers.entered.csv") == ["visitor_id", "a"]  # no earlier file: everyone entered
    # the data changes: a's order is refunded away, d buys; the next night compares with the files on disk
    shop.events(pageview("a", "2024-06-01T10:00:00Z"), pageview("b", "2024-06-02T10:00:00Z"),
                conversion("b", "2024-06-25T11:00:00Z", 150, "o2"), conversion("d", "2024-06-26T11:00:00Z", 20, "o3"))
    result = nightly(shop, "--changes", as_of="2024-06-30")
    assert result.exit_code == 0, result.stderr
    assert lines(out / "buyers.entered.csv") == ["visitor_id", "b", "d"]
    assert lines(out / "buyers.exited.csv") == ["visitor_id", "a"]
    assert "buyers: 2 entered, 1 exited since the last run" in result.stderr
    entry = json.loads((out / "manifest.json").read_text())["segments"]["buyers"]
    assert (entry["entered"], entry["exited"]) == (2, 1)
    # a run without --changes removes the change files of the last run: they would be stale
    assert nightly(shop).exit_code == 0
    assert not os.path.lexists(out / "buyers.entered.csv") and (out / "buyers.csv").exists() and shown(out)


def test_a_guard_breach_keeps_the_old_file_writes_the_others_and_exits_4(shop: Workspace):
    assert nightly(shop, as_of="2024-06-10").exit_code == 0
    out = shop.root / "out"
    (shop.root / "segments" / "buyers.yaml").write_text(BUYERS + "expect: {min_size: 1, max_change: 50%}\n")
    (shop.root / "segments" / "visitors.yaml").write_text(VISITORS + "expect: {max_size: 2}\n")
    result = nightly(shop, "-q")  # buyers 1 -> 2 (+100%), visitors 2 -> 3 (> max_size)
    assert result.exit_code == 4
    assert "buyers: 2 visitors against 1 in the last run (100.0%), more than max_change 50%" in result.stderr
    assert "visitors: 3 visitors, more than max_size 2" in result.stderr and "buyers.yaml:5:9" in result.stderr
    assert lines(out / "buyers.csv") == ["visitor_id", "a"] and lines(out / "visitors.csv") == ["visitor_id", "a", "b"]
    assert lines(out / "big_spenders.csv") == ["visitor_id", "b"]  # written
    manifest = json.loads((out / "manifest.json").read_text())["segments"]
    assert manifest["buyers"]["status"] == "guard_failed" and manifest["buyers"]["size"] == 1
    assert manifest["big_spenders"]["status"] == "written"


def test_a_guard_keeps_the_old_files_run_after_run_but_not_their_stale_changes(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop, "--changes", "--deliveries", as_of="2024-06-10").exit_code == 0
    assert lines(out / "buyers.entered.csv") == ["visitor_id", "a"]
    kept = {name: (out / name).read_bytes() for name in ("buyers.csv", "buyers.added.csv")}
    first = run_of(out)
    (shop.root / "segments" / "buyers.yaml").write_text(BUYERS + "expect: {max_size: 1}\n")  # 2 by 30 June
    for _ in range(3):  # the folder they were written to is removed meanwhile: they go on in each run's folder
        assert nightly(shop, "--changes", "--deliveries", "-q").exit_code == 4
        assert {name: (out / name).read_bytes() for name in kept} == kept and shown(out)
        # the last run's entered/exited described a change this run did not make: they are gone, not kept
        assert not os.path.lexists(out / "buyers.entered.csv") and not os.path.lexists(out / "buyers.exited.csv")
        entry = json.loads((out / "manifest.json").read_text())["segments"]["buyers"]
        assert entry["status"] == "guard_failed" and "entered" not in entry and "entered_file" not in entry
    assert not first.exists()


def test_a_guard_on_stdout_prints_nothing(shop: Workspace):
    path = shop.segment("rules:\n  - conversions: {gte: 1}\nexpect: {min_size: 5}\n")
    result = shop.cli("run", str(path), "--as-of", "2024-06-30")
    assert result.exit_code == 4 and result.stdout == "" and "fewer than min_size 5" in result.stderr


def test_files_of_a_deleted_segment_are_removed_and_nothing_else(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop, "--changes").exit_code == 0
    (shop.root / "segments" / "big_spenders.yaml").unlink()
    result = nightly(shop)
    assert result.exit_code == 0
    assert not (out / "big_spenders.csv").exists() and not (out / "big_spenders.entered.csv").exists()
    assert (out / "buyers.csv").exists() and "big_spenders: its files are gone" in result.stderr
    assert "big_spenders" not in json.loads((out / "manifest.json").read_text())["segments"] and shown(out)


def test_select_exclude_and_tags(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop, "--select", "tag:nightly", "--exclude", "visitors").exit_code == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["buyers.csv"]
    for _ in range(2):  # a kept file goes into each run's folder, whatever becomes of the earlier ones
        assert nightly(shop, "--select", "big_*").exit_code == 0
        assert sorted(p.name for p in out.glob("*.csv")) == ["big_spenders.csv", "buyers.csv"]  # buyers kept
    assert lines(out / "buyers.csv") == ["visitor_id", "a", "b"] and shown(out)
    assert set(json.loads((out / "manifest.json").read_text())["segments"]) == {"buyers", "big_spenders"}
    result = nightly(shop, "--select", "tag:weekly")
    assert result.exit_code == 2 and "matches no segment" in result.stderr and "nightly" in result.stderr


def test_keep_going_writes_the_valid_segments(shop: Workspace):
    (shop.root / "segments" / "broken.yaml").write_text("name: broken\nrules:\n  - cty: {is: x}\n")
    result = nightly(shop)
    assert result.exit_code == 1 and not (shop.root / "out").exists()  # all or nothing
    result = nightly(shop, "--keep-going")
    assert result.exit_code == 1 and "broken.yaml:3:5: unknown field 'cty'" in result.stderr
    assert (shop.root / "out" / "buyers.csv").exists() and (shop.root / "out" / "manifest.json").exists()


def hold_lock(out):
    store(out).mkdir(parents=True, exist_ok=True)
    handle = open(store(out) / "lock", "a+")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def test_an_overlapping_run_fails_at_once_or_waits(shop: Workspace):
    out = shop.root / "out"
    handle = hold_lock(out)
    result = nightly(shop, "--no-wait")
    assert result.exit_code == 5 and "another segtool run is writing into" in result.stderr
    assert not (out / "manifest.json").exists()
    threading.Timer(1.0, lambda: (fcntl.flock(handle, fcntl.LOCK_UN), handle.close())).start()
    started = time.monotonic()
    result = nightly(shop)
    assert result.exit_code == 0 and time.monotonic() - started >= 0.9
    assert "waiting for another segtool run" in result.stderr and (out / "manifest.json").exists()


def test_quiet_and_formats_on_stdout(shop: Workspace):
    out = nightly(shop, "-q")
    assert out.exit_code == 0 and out.stderr == ""
    shop.events(pageview("000143", "2024-06-01T10:00:00Z"), pageview("7", "2024-06-01T10:00:00Z"))
    path = shop.segment("rules:\n  - event: {type: {is: pageview}}\n")
    as_json = shop.cli("run", str(path), "--as-of", "2024-06-30", "--format", "json")
    assert json.loads(as_json.stdout) == [{"visitor_id": "000143"}, {"visitor_id": "7"}]
    ndjson = shop.cli("run", str(path), "--as-of", "2024-06-30", "--format", "ndjson")
    assert ndjson.stdout == '{"visitor_id":"000143"}\n{"visitor_id":"7"}\n'
    assert shop.cli("run", str(path), "--as-of", "2024-06-30", "--format", "csv").stdout == "visitor_id\n000143\n7\n"


def test_version_and_relative_as_of(shop: Workspace, monkeypatch):
    assert shop.cli("--version").stdout == f"segtool {__version__}\n"
    from segtool.language import timeframe

    monkeypatch.setattr(timeframe, "current_time", lambda: datetime(2024, 6, 25, 9, 0, tzinfo=UTC))
    path = shop.segment("rules:\n  - conversions: {gte: 1}\n")
    assert shop.cli("run", str(path), "--as-of", "yesterday").ids == ["a"]  # through 24 June
    assert shop.cli("run", str(path), "--as-of", "today").ids == ["a", "b"]  # through 25 June: b's 11:00 order
    assert shop.cli("run", str(path), "--as-of", "now").ids == ["a"]         # 09:00
    assert shop.cli("run", str(path), "--as-of", "-23d").ids == ["a"]        # 2 June 09:00, after a's order


def clock(monkeypatch, *moment: int) -> None:
    """Set segtool's wall clock (timeframe.current_time): no test depends on the real one."""
    from segtool.language import timeframe

    monkeypatch.setattr(timeframe, "current_time", lambda: datetime(*moment, tzinfo=UTC))


def test_freshness_warns_or_fails_on_the_newest_event_against_now(shop: Workspace, monkeypatch):
    shop.config("freshness: {warn_after: 24h, error_after: 2d}\n")
    clock(monkeypatch, 2024, 6, 26, 9, 0)  # the newest event, b's order at 25 June 11:00, is 22 hours old
    fresh = nightly(shop, as_of="2024-06-25")
    assert fresh.exit_code == 0 and "Freshness" not in fresh.stderr
    assert json.loads((shop.root / "out" / "manifest.json").read_text())["freshness"] == {
        "newest_event": "2024-06-25T11:00:00Z", "status": "fresh"}
    clock(monkeypatch, 2024, 6, 26, 12, 30)  # 25h30m
    warned = nightly(shop, as_of="2024-06-25")
    assert warned.exit_code == 0
    assert "Freshness: the newest event (2024-06-25T11:00:00Z) is 1d 1h 30m old, older than freshness.warn_after " \
           "24h (" in warned.stderr and "segtool.yaml:5:" in warned.stderr
    assert json.loads((shop.root / "out" / "manifest.json").read_text())["freshness"]["status"] == "warn"
    before = shown(shop.root / "out")
    clock(monkeypatch, 2024, 6, 28, 12, 0)  # 3d 1h: past error_after, nothing written
    failed = nightly(shop, as_of="2024-06-25")
    assert failed.exit_code == 6 and "older than freshness.error_after 2d" in failed.stderr
    assert shown(shop.root / "out") == before


def test_freshness_settings_are_checked_at_their_line(shop: Workspace):
    path = shop.root / "segments" / "buyers.yaml"
    shop.config("freshness: {warn_after: 3d, error_after: 1d}\n")
    out = shop.cli("run", str(path), "--as-of", "2024-06-30")
    assert out.exit_code == 1 and "segtool.yaml:5:25: freshness.warn_after is longer than error_after" in out.stderr
    shop.config("freshness: {warn_after: 2 days}\n")
    out = shop.cli("run", str(path), "--as-of", "2024-06-30")
    assert out.exit_code == 1 and "freshness.warn_after takes a length of time like 26h, 3d or 1w" in out.stderr


def test_an_as_of_in_the_future_is_an_error_unless_allowed(shop: Workspace, monkeypatch):
    clock(monkeypatch, 2024, 6, 25, 9, 0)
    path = shop.root / "segments" / "buyers.yaml"
    future = shop.cli("run", str(path), "--as-of", "2024-06-26")
    assert future.exit_code == 2 and "--as-of end of 2024-06-26 (UTC) is in the future (now is " \
                                     "2024-06-25T09:00:00Z); pass --allow-future" in future.stderr
    assert shop.cli("run", str(path), "--as-of", "2024-06-26", "--allow-future").ids == ["a", "b"]
    assert shop.cli("run", str(path), "--as-of", "2024-06-25").ids == ["a", "b"]  # today is no future
    assert shop.cli("run", str(path), "--as-of", "2024-06-25T09:00:01Z").exit_code == 2
    shop.config("as_of: 2025-01-01\n")
    assert "Error: as_of end of 2025-01-01 (UTC) is in the future" in shop.cli("run", str(path)).stderr
    history = shop.cli("history", str(path), "--to", "2024-07-01", "--last", "2d", "--config",
                       str(shop.root / "segtool.yaml"))
    assert history.exit_code == 2 and "--to end of 2024-07-01 (UTC) is in the future" in history.stderr


def test_no_color_turns_off_every_style_on_a_terminal(monkeypatch):
    from typer.testing import CliRunner

    from conftest import REPO
    from segtool.cli.main import app

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then draws as on a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in CliRunner().invoke(app, ["grid"]).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    for command in (["grid"], ["run", "segments/", "--summary"], ["fields"]):
        assert "\x1b[" not in CliRunner().invoke(app, command).stdout, command


def test_tables_fit_60_columns(monkeypatch):
    from typer.testing import CliRunner

    from conftest import REPO
    from segtool.cli.main import app

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("COLUMNS", "60")
    grid = CliRunner().invoke(app, ["grid"]).stdout
    assert max(map(len, grid.splitlines())) <= 60 and "…" not in grid
    for name in ("never_converted", "one_time_buyer", "red_alert"):
        assert name in grid
    history = CliRunner().invoke(app, ["history", "segments/", "--last", "2w", "--every", "1w"]).stdout
    assert max(map(len, history.splitlines())) <= 60 and "abandoned_cart" in history


def test_progress_only_on_a_terminal():
    from rich.console import Console

    from segtool.cli.feedback import Feedback

    terminal = Console(force_terminal=True, record=True, width=60)
    list(Feedback(terminal).steps(range(3), "writing", total=3))
    assert "writing" in terminal.export_text()
    piped = Console(force_terminal=False, record=True, width=60)
    list(Feedback(piped).steps(range(3), "writing", total=3))
    with Feedback(piped).phase("evaluating"):
        pass
    assert piped.export_text() == ""
    quiet = Console(force_terminal=True, record=True, width=60)
    list(Feedback(quiet, quiet=True).steps(range(3), "writing", total=3))
    assert quiet.export_text() == ""


def test_json_summaries_keep_whole_rules(shop: Workspace):
    long = " or ".join(["x"] * 40)
    path = shop.segment(f"rules:\n  - event: {{type: {{is: '{long}'}}}}\n")
    data = json.loads(shop.cli("run", str(path), "--as-of", "2024-06-30", "--summary", "--format", "json").stdout)
    assert long in data["segments"][0]["rules"][0]["rule"]


def test_file_names_that_would_collide_are_refused(shop: Workspace):
    (shop.root / "segments" / "clash.yaml").write_text("name: buyers.entered\nrules:\n  - conversions: {gte: 1}\n")
    result = nightly(shop, "--changes")
    assert result.exit_code == 2 and "would write buyers.entered.csv" in result.stderr
    (shop.root / "segments" / "clash.yaml").write_text("name: manifest\nrules:\n  - conversions: {gte: 1}\n")
    result = nightly(shop, "--format", "json")
    assert result.exit_code == 2 and "segtool's own file" in result.stderr
    assert not (shop.root / "out" / "manifest.json").exists()


def test_a_hand_edited_manifest_never_removes_files_outside_the_folder(shop: Workspace):
    assert nightly(shop).exit_code == 0
    outside = shop.root / "precious.txt"
    outside.write_text("keep\n")
    manifest = shop.root / "out" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["segments"]["ghost"] = {"segment_file": "/nonexistent.yaml", "files": ["../precious.txt", str(outside),
                                                                              "manifest.json", "current", ".segtool"]}
    manifest.write_text(json.dumps(data))  # through the link, into the run's folder
    assert nightly(shop).exit_code == 0
    assert outside.read_text() == "keep\n" and manifest.exists() and shown(shop.root / "out")
    assert "ghost" not in json.loads(manifest.read_text())["segments"]


# -- what an adversarial review found (each was a defect) -----------------------------------------------
def test_an_empty_segment_in_json_compares_as_no_ids(shop: Workspace):
    (shop.root / "segments" / "empty.yaml").write_text("name: empty\nrules:\n  - conversions: {gte: 100}\n")
    for fmt in ("json", "ndjson", "json"):
        result = nightly(shop, "--changes", "--format", fmt, "-q")
        assert result.exit_code == 0, result.stderr


def test_a_run_that_fails_midway_leaves_the_folder_as_it_was(shop: Workspace, monkeypatch):
    from segtool.jobs import run as run_command
    from segtool.jobs.output import OutputError

    assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    out = shop.root / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    calls = []
    real = run_command.write_members

    def failing(frame, path, fmt):
        calls.append(path)
        if len(calls) == 3:
            raise OutputError(f"cannot write {path}: disk full")
        return real(frame, path, fmt)

    monkeypatch.setattr(run_command, "write_members", failing)
    assert nightly(shop, "--changes").exit_code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert versions(out) == [run_of(out).name]  # no staging folder left


def test_the_next_run_removes_what_killed_runs_left(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop).exit_code == 0
    written = whole_run(run_of(out))
    runs = store(out) / "runs"
    stale = runs / ".20240101T000000Z-0123456789ab"  # a staging folder, as a run killed while writing left it
    stale.mkdir()
    (stale / "buyers.csv").write_text("visitor_id\nz\n")
    (runs / f"{stale.name}.4567.link").symlink_to(f".segtool/runs/{stale.name[1:]}")
    (runs / ".89abcdef0123.link").symlink_to("current/gone.csv")  # a link made to be renamed into out
    unswitched = runs / "20240101T000001Z-0123456789ab"  # a whole run, killed before it switched
    shutil.copytree(run_of(out), unswitched)
    (out / "gone.csv").symlink_to("current/gone.csv")  # of a run killed after its switch, before its links
    (out / "buyers.csv").unlink()
    handle = hold_lock(out)  # a run that is writing: what it writes stays
    assert nightly(shop, "--no-wait").exit_code == 5 and (stale / "buyers.csv").exists()
    handle.close()
    first = run_of(out)
    result = nightly(shop)
    assert result.exit_code == 0 and f"removed {stale}, left by a run that was killed" in result.stderr
    assert shown(out) == written and versions(out) == sorted([first.name, run_of(out).name])


def kill_hook(target: str, after: bool, condition: str = "True") -> str:
    """Python code that has segtool and its command killed (SIGKILL to the process group: no `finally` runs,
    and no supervisor removes what the command left) when `target` is called with arguments that meet
    `condition`, before or after it does its work."""
    module, name = target.rsplit(".", 1)
    return (f"import os, signal, {module} as m\n"
            f"real = m.{name}\n"
            "def dies(*args, **kwargs):\n"
            f"    if {not after} and ({condition}):\n"
            "        os.killpg(0, signal.SIGKILL)\n"
            "    value = real(*args, **kwargs)\n"
            f"    if {after} and ({condition}):\n"
            "        os.killpg(0, signal.SIGKILL)\n"
            "    return value\n"
            f"m.{name} = dies\n")


def plain_folder(shop: Workspace, *extra: str) -> Path:
    """out as a segtool before runs left it, as of 2024-06-10: a plain folder with the files, the manifest,
    the lock, a killed run's staging folder, and `extra` files of the user's."""
    out = shop.root / "out"
    assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    files = {**whole_run(run_of(out)), "manifest.json": (out / "manifest.json").read_bytes()}
    shutil.rmtree(out)
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    (out / ".segtool.lock").touch()
    (out / ".segtool-staging-0123456789ab").mkdir()
    for name in extra:
        (out / name).write_text("mine\n")
    return out


def reader_folder(out: Path) -> Path:
    """Where a reader of out finds the files of one run: out/current, else (as a segtool before runs left it)
    out itself."""
    return run_of(out) if os.path.lexists(out / "current") else out


KILLS = {  # where a run into out (as of 2024-06-30, over out as of 2024-06-10) is killed -> which run out shows
    "while writing": (False, "segtool.jobs.run.write_members", True, "True", "2024-06-10"),
    "the manifest written": (False, "segtool.jobs.outdir.write_manifest", True, "True", "2024-06-10"),
    "before the switch": (False, "os.replace", False, "str(args[1]) == OUT + '/current'", "2024-06-10"),
    "after the switch": (False, "os.replace", True, "str(args[1]) == OUT + '/current'", "2024-06-30"),
    "migrating, before the switch": (True, "os.replace", False, "str(args[1]) == OUT + '/current'", "2024-06-10"),
    "migrating, after the switch": (True, "os.replace", True, "str(args[1]) == OUT + '/current'", "2024-06-10"),
    "migrating, one file linked": (True, "os.replace", True, "str(args[1]) == OUT + '/buyers.csv'", "2024-06-10"),
}


@pytest.mark.parametrize("point", KILLS)
def test_a_run_killed_anywhere_leaves_one_whole_run_and_the_next_cleans_up(shop: Workspace, point):
    plain, target, after, condition, seen = KILLS[point]
    out = shop.root / "out"
    if plain:
        plain_folder(shop)
    else:
        assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    hook = f"OUT = {str(out)!r}\n" + kill_hook(target, after, condition)
    command = segtool_command("run", str(shop.root / "segments"), "--output-dir", str(out), "--as-of", "2024-06-30",
                              "--changes", "--config", str(shop._write_config()), hook=hook)
    process = subprocess.run(command, cwd=shop.root, capture_output=True, text=True, timeout=120,
                             start_new_session=True)
    assert process.returncode == -signal.SIGKILL, process.stderr
    before = reader_folder(out)
    files = whole_run(before)  # a reader of several files: one whole run
    assert requested(before) == seen and {name: (out / name).read_bytes() for name in files} == files  # of one
    result = nightly(shop, "--changes")
    assert result.exit_code == 0, result.stderr
    assert requested(out) == "2024-06-30" and shown(out)
    assert len(versions(out)) == 2 and run_of(out).name in versions(out)  # this run's, the one it replaced
    assert before == out or before.name in versions(out)
    assert all(whole_run(store(out) / "runs" / name) for name in versions(out))
    assert not [p for p in out.iterdir() if p.name.startswith((".segtool.", ".segtool-"))]  # an older segtool's


def test_a_lock_file_that_is_a_link_is_refused(shop: Workspace):
    out = shop.root / "out"
    store(out).mkdir(parents=True)
    victim = shop.root / "victim.txt"
    victim.write_text("data\n")
    (store(out) / "lock").symlink_to(victim)
    result = nightly(shop)
    assert result.exit_code == 2 and "symbolic link" in result.stderr and victim.read_text() == "data\n"
    (store(out) / "lock").unlink()
    (store(out) / "runs").symlink_to(shop.root)  # nor is a folder of runs that is a link: it would be emptied
    result = nightly(shop)
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr and victim.read_text() == "data\n"
    shutil.rmtree(store(out))
    store(out).symlink_to(shop.root)  # nor segtool's folder
    result = nightly(shop)
    assert result.exit_code == 2 and "is a symbolic link" in result.stderr and victim.read_text() == "data\n"


def test_manifest_universe_and_kept_entries(shop: Workspace):
    assert nightly(shop, as_of="2024-06-10").exit_code == 0
    (shop.root / "segments" / "visitors.yaml").write_text("name: visitors\nrules:\n  - cty: {is: x}\n")
    assert nightly(shop, "--keep-going").exit_code == 1
    manifest = json.loads((shop.root / "out" / "manifest.json").read_text())
    assert manifest["universe"] == 3  # profiles ∪ events, however narrow the plan of big_spenders
    visitors = manifest["segments"]["visitors"]
    assert visitors["status"] == "kept" and visitors["as_of"] == "end of 2024-06-10 (UTC)"
    assert manifest["segments"]["buyers"]["as_of"] == "end of 2024-06-30 (UTC)"
    assert set(manifest["segments"]["buyers"]["checksums"]) == {"buyers.csv"}


def test_a_name_that_collides_with_a_kept_segments_file_is_refused(shop: Workspace):
    (shop.root / "segments" / "clash.yaml").write_text("name: buyers.entered\nrules:\n  - conversions: {gte: 1}\n")
    assert nightly(shop).exit_code == 0
    result = nightly(shop, "--select", "buyers", "--changes")
    assert result.exit_code == 2 and "buyers.entered.csv" in result.stderr
    assert lines(shop.root / "out" / "buyers.entered.csv") == ["visitor_id", "a", "b"]


def test_changes_files_have_checksums_and_txt_ids_with_separators_are_stable(shop: Workspace):
    shop.events(pageview("a\x0cb", "2024-06-01T10:00:00Z"), pageview("c\u2028d", "2024-06-01T10:00:00Z"),
                conversion("a\x0cb", "2024-06-01T11:00:00Z", 50, "o1"))
    assert nightly(shop, "--changes", "--format", "txt").exit_code == 0
    result = nightly(shop, "--changes", "--format", "txt")
    entry = json.loads((shop.root / "out" / "manifest.json").read_text())["segments"]["visitors"]
    assert (entry["entered"], entry["exited"]) == (0, 0), result.stderr
    assert set(entry["checksums"]) == {"visitors.txt", "visitors.entered.txt", "visitors.exited.txt"}


@pytest.mark.parametrize("change, code, message", [
    (lambda out: (out / "buyers.csv").write_text("garbage,\n\x00\x01"), 3, "cannot read the IDs the last run wrote"),
    (lambda out: (out / "manifest.json").write_text('{"segments": []}'), 3, "is not a manifest segtool wrote"),
    (lambda out: (out / "manifest.json").write_text("{"), 3, "move it away"),
    (lambda out: (out / "current" / "buyers.csv").unlink(), 3, "buyers.csv is missing, though"),  # deleted by hand
])
def test_damaged_files_of_the_last_run_are_data_errors(shop: Workspace, change, code, message):
    assert nightly(shop).exit_code == 0
    change(shop.root / "out")
    result = nightly(shop, "--changes")
    assert result.exit_code == code and message in result.stderr and "Traceback" not in result.stderr
    assert "move" in result.stderr and not (shop.root / "out" / "buyers.entered.csv").exists()


def test_an_edited_file_of_the_last_run_is_compared_with_a_warning(shop: Workspace):
    assert nightly(shop).exit_code == 0
    (shop.root / "out" / "buyers.csv").write_text("visitor_id\na\n")
    result = nightly(shop, "--changes")
    assert result.exit_code == 0 and "changed since the last run wrote it" in result.stderr
    assert lines(shop.root / "out" / "buyers.entered.csv") == ["visitor_id", "b"]


@pytest.mark.parametrize("args, message", [
    (["--split", "nan:nan"], "--split takes shares"),
    (["--no-wait"], "--no-wait is about the lock"),
    (["--split-seed", "x"], "--split-seed seeds --split"),
    (["--select", ""], "--select needs a segment name"),
    (["--select", "[bold]zzz"], "'[bold]zzz' matches no segment"),
    (["--format", ""], "--format must be one of"),
    (["--as-of", ""], "as_of: '' is not a date"),
])
def test_options_that_would_be_ignored_are_usage_errors(shop: Workspace, args, message):
    result = shop.cli("run", str(shop.root / "segments" / "buyers.yaml"), *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


# -- the output directory switched at once ------------------------------------------------------------------
def test_a_reader_that_resolves_current_once_reads_one_whole_run(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    before = run_of(out)
    old = shown(out)
    assert os.readlink(out / "current") == f".segtool/runs/{before.name}"  # relative: DIR may move
    assert os.readlink(out / "buyers.csv") == "current/buyers.csv" and not out.is_symlink()
    assert nightly(shop, "--changes").exit_code == 0
    after = run_of(out)
    assert after != before and whole_run(before) == old  # a reader still reading the last run reads it whole
    new = shown(out)
    assert new["buyers.csv"] != old["buyers.csv"] and requested(out) == "2024-06-30"
    assert nightly(shop, "--changes", as_of="2024-06-10").exit_code == 0
    assert not before.exists() and whole_run(after) == new  # one earlier run stays, no more
    assert versions(out) == sorted([after.name, run_of(out).name])


def test_a_reader_during_many_runs_never_sees_a_mix(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop, "--changes").exit_code == 0
    seen, failed, files, stop = set(), [], [], threading.Event()

    def read() -> None:  # several files: resolve current once, read every file from there
        while not stop.is_set():
            folder = run_of(out)
            try:
                whole_run(folder)
                seen.add(folder.name)
            except (FileNotFoundError, AssertionError) as exc:  # a mix, or a folder being removed
                failed.append((folder, exc))

    def read_one() -> None:  # one file, through DIR's link: always there, always one run's
        while not stop.is_set():
            files.append((out / "buyers.csv").read_text())

    readers = [threading.Thread(target=read), threading.Thread(target=read_one)]
    for reader in readers:
        reader.start()
    try:
        for night in range(8):  # files of every other night differ
            assert nightly(shop, "--changes", "-q", as_of=("2024-06-10", "2024-06-30")[night % 2]).exit_code == 0
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert len(seen) >= 3
    assert not [(folder, exc) for folder, exc in failed if folder.exists()]  # only one removed as a whole failed
    assert set(files) == {"visitor_id\na\n", "visitor_id\na\nb\n"}


def test_the_benchmarks_loop_empties_and_makes_the_folder_before_each_run(shop: Workspace):
    """As benchmarks/run_bench.py and many scripts do: remove the output folder, make it, run, read DIR/*.txt."""
    out = shop.root / "out"
    nights = [("2024-06-10", {"buyers.txt": ["a"], "visitors.txt": ["a", "b"], "big_spenders.txt": []}),
              ("2024-06-30", {"buyers.txt": ["a", "b"], "visitors.txt": ["a", "b", "c"], "big_spenders.txt": ["b"]}),
              ("2024-06-10", {"buyers.txt": ["a"], "visitors.txt": ["a", "b"], "big_spenders.txt": []})]
    for as_of, expected in nights:
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        result = nightly(shop, "--format", "txt", "-q", as_of=as_of)
        assert result.exit_code == 0, result.stderr
        assert {p.name: p.read_text().split() for p in out.glob("*.txt")} == expected
    assert shown(out) and len(versions(out)) == 1


def test_a_plain_folder_of_an_earlier_segtool_becomes_the_first_run(shop: Workspace):
    out = plain_folder(shop, "notes.txt", "upload.log")
    old = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name.endswith((".csv", ".json"))}
    result = nightly(shop, "--changes")
    assert result.exit_code == 0 and f"{out}: the files of its last run are now in" in result.stderr
    assert not out.is_symlink() and lines(out / "buyers.entered.csv") == ["visitor_id", "b"]  # against the old files
    (adopted,) = set(versions(out)) - {run_of(out).name}
    assert {**whole_run(store(out) / "runs" / adopted), "manifest.json": (out / "current" / "manifest.json")
            .read_bytes()} != old  # the run after it: its own manifest
    assert whole_run(store(out) / "runs" / adopted) == {k: v for k, v in old.items() if k != "manifest.json"}
    assert (store(out) / "runs" / adopted / "manifest.json").read_bytes() == old["manifest.json"]
    assert shown(out) and not [p for p in out.iterdir() if p.name.startswith((".segtool.", ".segtool-"))]
    assert (out / "notes.txt").read_text() == (out / "upload.log").read_text() == "mine\n"  # the user's stay
    assert nightly(shop, "--changes").exit_code == 0 and adopted not in versions(out)
    assert (out / "notes.txt").read_text() == "mine\n" and shown(out)


def test_an_empty_folder_is_used_as_it_is(shop: Workspace):
    out = shop.root / "out"
    out.mkdir()
    assert nightly(shop).exit_code == 0
    assert not out.is_symlink() and shown(out) and len(versions(out)) == 1


def test_the_users_files_in_DIR_stay_and_one_at_a_name_a_run_writes_is_refused(shop: Workspace):
    out = shop.root / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "archive").mkdir()
    (out / "latest.csv").symlink_to("current/buyers.csv")  # the user's own link through current
    (out / "big_spenders.csv").write_text("visitor_id\nz\n")  # at a name the run writes
    result = nightly(shop)
    assert result.exit_code == 2 and "holds big_spenders.csv, which segtool did not write" in result.stderr
    assert not os.path.lexists(out / "current") and versions(out) == []
    assert lines(out / "big_spenders.csv") == ["visitor_id", "z"]
    (out / "big_spenders.csv").rename(out / "archive" / "big_spenders.csv")
    for args in (["--changes"], [], ["--select", "buyers"]):
        assert nightly(shop, *args).exit_code == 0 and shown(out)
    assert lines(out / "latest.csv") == ["visitor_id", "a", "b"]
    (shop.root / "segments" / "big_spenders.yaml").unlink()  # its link goes, and nothing of the user's
    assert nightly(shop).exit_code == 0 and shown(out) and not os.path.lexists(out / "big_spenders.csv")
    assert (out / "notes.txt").read_text() == "mine\n" and lines(out / "archive" / "big_spenders.csv")[1:] == ["z"]
    assert os.readlink(out / "latest.csv") == "current/buyers.csv"


def test_an_earlier_run_with_files_segtool_did_not_write_is_kept(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop).exit_code == 0
    first = run_of(out)
    assert nightly(shop).exit_code == 0
    (first / "notes.txt").write_text("mine\n")  # into the folder of the run before last, resolved long ago
    result = nightly(shop)
    assert result.exit_code == 0 and f"kept {first}, an earlier run of {out}" in result.stderr
    assert (first / "notes.txt").read_text() == "mine\n" and len(versions(out)) == 3


def test_each_runs_folder_has_the_mode_of_the_one_it_replaces(shop: Workspace):
    current = shop.root / "out" / "current"
    mask = os.umask(0o022)
    try:
        assert nightly(shop).exit_code == 0
        assert stat.S_IMODE(current.stat().st_mode) == 0o755  # as any new folder: others may read what cron wrote
    finally:
        os.umask(mask)
    current.chmod(0o750)
    assert nightly(shop).exit_code == 0 and stat.S_IMODE(current.stat().st_mode) == 0o750


def test_DIR_may_be_a_link_and_current_is_segtools_name(shop: Workspace):
    out, elsewhere = shop.root / "out", shop.root / "elsewhere"
    elsewhere.mkdir()
    out.symlink_to(elsewhere)
    assert nightly(shop).exit_code == 0 and os.readlink(out) == str(elsewhere) and shown(elsewhere)
    (elsewhere / "current").unlink()
    (elsewhere / "current").mkdir()  # a folder of the user's
    result = nightly(shop)
    assert result.exit_code == 2 and "segtool needs that name" in result.stderr
    assert not list((elsewhere / "current").iterdir())


def test_a_filesystem_without_symbolic_links_is_a_clear_error(shop: Workspace, monkeypatch):
    def refused(*args, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "symlink", refused)
    out = shop.root / "out"
    result = nightly(shop)
    assert result.exit_code == 2 and "needs a filesystem with symbolic links" in result.stderr
    assert "Traceback" not in result.stderr and os.listdir(out) == [".segtool"] and versions(out) == []


def test_diff_writes_no_files_into_a_folder_that_run_switches(shop: Workspace):
    out = shop.root / "out"
    assert nightly(shop).exit_code == 0
    written = shown(out)
    result = shop.cli("diff", str(shop.root / "segments"), "--from", "2024-06-10", "--to", "2024-06-30",
                      "--output-dir", str(out), "--config", str(shop._write_config()))
    assert result.exit_code == 2 and "where `segtool run` writes its runs" in result.stderr
    assert shown(out) == written
