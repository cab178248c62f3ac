"""Hostile inputs and a hostile filesystem: never destroy a file, never crash, drifting exports read.

Each test is a case that once destroyed a file, hung, or ended in a traceback."""

import errno
import faulthandler
import fcntl
import gzip
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import REPO, Workspace, conversion, pageview, segtool_command
from segtool.cli.supervisor import OUT_OF_MEMORY_EXIT, supervise

DISK_FULL = os.strerror(errno.ENOSPC)  # the system's words, which segtool passes on

AS_OF = "2024-07-01"
SEGMENT = "rules:\n  - url: {is_set: true}\n"


@pytest.fixture
def site(ws: Workspace) -> Workspace:
    ws.events(pageview("a", url="/"), pageview("b", url="/x"), conversion("a", "2024-06-30T10:00:00Z", 5, "o1"))
    ws.profiles({"visitor_id": "a", "city": "Milan"})
    return ws


def fails(ws: Workspace, *args: str, code: int) -> str:
    result = ws.cli(*args)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*.tmp")]


def segtool_process(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    streams = {} if "stdout" in kwargs else {"capture_output": True}
    return subprocess.run(segtool_command(*args), cwd=cwd, text=True, timeout=120, **streams, **kwargs)


# -- never destroy a file ------------------------------------------------------------------------------------
def test_output_onto_an_input_file_is_refused(site: Workspace):
    before = (site.root / "events.csv").read_bytes()
    seg = str(site.segment(SEGMENT))
    for target in ("events.csv", "profiles.csv", "segtool.yaml", "seg.yaml"):
        err = fails(site, "run", seg, "--as-of", AS_OF, "-o", str(site.root / target), "--format", "csv", code=2)
        assert "refusing to write" in err and "it is an input of this run" in err
    assert (site.root / "events.csv").read_bytes() == before


def test_output_dir_with_a_segment_named_like_an_input(site: Workspace):
    before = (site.root / "events.csv").read_bytes()
    seg = str(site.segment("name: events\n" + SEGMENT))
    assert "refusing to write" in fails(site, "run", seg, "--as-of", AS_OF, "--output-dir", str(site.root), code=2)
    assert (site.root / "events.csv").read_bytes() == before


def test_output_inside_an_input_directory_or_glob_is_refused(ws: Workspace, tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    pl.DataFrame({"visitor_id": ["a"], "timestamp": ["2024-06-30"], "event_type": ["pageview"], "url": ["/"]}
                 ).write_parquet(parts / "events-1.parquet")
    seg = str(ws.segment(SEGMENT))
    assert "refusing" in fails(ws, "run", seg, "--events", str(parts), "--as-of", AS_OF, "-o",
                               str(parts / "ids.csv"), code=2)
    assert "refusing" in fails(ws, "run", seg, "--events", str(parts / "events-*.parquet"), "--as-of", AS_OF,
                               "-o", str(parts / "events-2.parquet"), code=2)
    assert sorted(p.name for p in parts.iterdir()) == ["events-1.parquet"]


def test_a_symlink_is_written_through_and_kept(site: Workspace, tmp_path):
    real, link = tmp_path / "real.txt", tmp_path / "link.txt"
    link.symlink_to(real)
    assert site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(link)).exit_code == 0
    assert link.is_symlink() and real.read_text() == "a\nb\n"


def test_a_fifo_is_written_through(site: Workspace, tmp_path):
    fifo = tmp_path / "ids.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(fifo), "--format", "txt")
    reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert received == ["a\nb\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_dash_and_dev_stdout_mean_stdout(site: Workspace):
    seg = str(site.segment(SEGMENT))
    assert site.cli("run", seg, "--as-of", AS_OF, "-o", "-").stdout == "a\nb\n"
    assert site.cli("run", seg, "--as-of", AS_OF, "-o", "-", "--format", "json").stdout == \
        '[{"visitor_id":"a"},{"visitor_id":"b"}]'
    process = segtool_process("run", seg, "--as-of", AS_OF, "-o", "/dev/stdout", "--config",
                              str(site._write_config()), cwd=site.root)
    assert process.returncode == 0 and process.stdout == "a\nb\n"
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert site.cli("run", seg, "--as-of", AS_OF, "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umask_mode(site: Workspace, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        out = tmp_path / "ids.csv"
        assert site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(out)).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == mode


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_a_write_leaves_no_temporary_file(site: Workspace, tmp_path, signum):
    out = tmp_path / "out" / "ids.csv"
    hook = ("import os, time, polars as pl\n"
            "write = pl.DataFrame.write_csv\n"
            "def slow(self, target, *a, **k):\n"
            "    write(self, target, *a, **k)\n"
            f"    os.kill(os.getppid(), {int(signum)})\n"  # to segtool's parent process, which forwards it here
            "    time.sleep(20)\n"
            "pl.DataFrame.write_csv = slow\n")
    process = subprocess.run(segtool_command("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(out),
                                             "--config", str(site._write_config()), hook=hook),
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == 128 + signum, process.stderr
    assert not out.exists() and no_temp_files(tmp_path) and "Traceback" not in process.stderr


# The search for this needle in these URLs takes seconds a row inside polars' native code, where a Python
# signal handler cannot run; with one thread the rows take their turns, far longer than the test allows.
SLOW_URL, SLOW_NEEDLE = "/" + "a" * 40_000, "a" * 20_000 + "b"
EVALUATING = ("import os, pathlib, time\n"
              "from segtool.backends.polars import plan\n"
              "evaluate = plan.collect_all\n"
              "def marked(*a, **k):\n"
              "    pathlib.Path(os.environ['EVALUATING']).touch()\n"
              "    time.sleep(float(os.environ.get('PAUSE', 0)))\n"
              "    return evaluate(*a, **k)\n"
              "plan.collect_all = marked\n")


def start_slow_run(ws: Workspace, pause: float = 0) -> subprocess.Popen:
    """segtool run --output-dir out over the slow URLs, read from latin-1 through a copy in TMPDIR (tmp);
    the file `evaluating` appears when the evaluation begins, after `pause` seconds in Python."""
    ws.events(*[pageview(f"v{i}", url=SLOW_URL) for i in range(12)])
    ws.config("csv:\n  encoding: latin-1\n")
    (ws.root / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(ws.root / "tmp"), "POLARS_MAX_THREADS": "1",
           "EVALUATING": str(ws.root / "evaluating"), "PAUSE": str(pause)}
    seg = ws.segment(f"rules:\n  - url: {{contains: {SLOW_NEEDLE}}}\n")
    command = segtool_command("run", str(seg), "--as-of", AS_OF, "--output-dir", str(ws.root / "out"), "--config",
                              str(ws._write_config()), hook=EVALUATING)
    process = subprocess.Popen(command, cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (ws.root / "evaluating").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    return process


def left_nothing(ws: Workspace) -> bool:
    """No temporary file or folder left (no run, no staging folder in out/.segtool/runs), and the lock free."""
    with open(ws.root / "out" / ".segtool" / "lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return (not list((ws.root / "tmp").iterdir()) and os.listdir(ws.root / "out") == [".segtool"]
            and not os.listdir(ws.root / "out" / ".segtool" / "runs"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_segtool_ends_a_run_inside_native_code_at_once(ws: Workspace, signum):
    process = start_slow_run(ws)
    time.sleep(0.5)  # well into the search
    sent = time.monotonic()
    process.send_signal(signum)  # to segtool alone, as `kill` does, not to its process group as Ctrl-C does
    try:
        _, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 128 + signum and time.monotonic() - sent < 5, err
    assert "Traceback" not in err and left_nothing(ws)


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux's")
def test_a_sigkill_to_segtool_ends_its_command_too(ws: Workspace):
    process = start_slow_run(ws, pause=30)
    process.kill()
    process.communicate(timeout=10)
    deadline = time.monotonic() + 20
    while True:  # the command, in its own process, gets SIGTERM and ends as it would on any other signal
        try:
            assert left_nothing(ws)
            break
        except (BlockingIOError, AssertionError):
            assert time.monotonic() < deadline, "the command ran on after segtool was killed"
            time.sleep(0.1)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_twin_of_dev_full_stays_a_device(site: Workspace, tmp_path):
    twin = tmp_path / "full"
    os.mknod(twin, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    err = fails(site, "run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(twin), "--format", "txt", code=2)
    assert f"cannot write {twin}: {DISK_FULL}" in err and stat.S_ISCHR(os.stat(twin).st_mode)


# -- YAML that is hostile ------------------------------------------------------------------------------------
LAUGHS = "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10) if p else ', '.join(['lol'] * 10)}]\n"
                 for p, n in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi"))


@pytest.mark.parametrize("text, line, message", [
    (LAUGHS + "rules:\n  - city: {in: *i}\n", None, "values once its aliases are expanded"),
    ("rules: &a [ {any: *a} ]\n", 1, "a recursive alias"),
    ("rules:\n  - city: {is: !!python/name:os.system }\n", 2, "YAML tags are not allowed (!!python/name:os.system)"),
    ("rules:\n  - city: {is: !env HOME}\n", 2, "YAML tags are not allowed (!env)"),
    ("rules:\n  - clv: {gte: !!float abc}\n", 2, "YAML tags are not allowed (!!float)"),
    ("rules:\n  - clv: {gte: " + "9" * 400 + "}\n", 2, "takes a finite number"),
    # segtool's own limit, at the 65th level, whatever libyaml's (1,000 levels in PyYAML 6.0.4) or Python's
    ("rules:\n  - " + "{not: " * 1000 + "{city: {is: x}}" + "}" * 1000 + "\n", 2, ":2:377: nested more than 64 levels"),
    ("rules: " + "[" * 70 + "]" * 70 + "\n", 1, ":1:71: nested more than 64 levels"),
    ("deep: &d " + "[" * 40 + "]" * 40 + "\nrules: " + "[" * 30 + "*d" + "]" * 30 + "\n", 2,
     ":2:38: nested more than 64 levels"),  # an alias brings its own depth along
    ("rules:\n  - city: {is: \"a\x00b\"}\n", 2, "control character U+0000"),
    ("rules:\n  - conversions: {gte: 1, period: {last: " + "9" * 400 + "}}\n", 2, "period: at most 36,525 days"),
])
def test_hostile_yaml_is_a_segment_error_with_its_position(ws: Workspace, text, line, message):
    path = ws.root / "seg.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    err = fails(ws, "validate", str(path), code=1)
    assert time.monotonic() - started < 20  # no hang
    assert message in err and (line is None or f"{path}:{line}:" in err), err
    assert "<unicode string>" not in err


def test_merge_keys_are_ordinary_yaml_in_segment_and_config_files(site: Workspace):
    (site.root / "events.csv").write_text("visitor_id;timestamp;event_type;url;utm_source;utm_medium\n"
                                          "a;2024-06-01T12:00:00Z;pageview;/;Google;CPC\n"
                                          "b;2024-06-01T12:00:00Z;pageview;/;google;mail\n")
    config = site.root / "european.yaml"
    config.write_text("csv: &european {separator: ';'}\ndata:\n  events: {<<: *european, path: events.csv}\n")
    segment = site.segment("rules:\n  - utm_source: &loose {is: google, ignore_case: true}\n"
                           "  - utm_medium: {<<: *loose, is: cpc}\n")
    assert site.cli("run", str(segment), "--as-of", AS_OF, "--config", str(config)).ids == ["a"]
    assert site.cli("validate", str(site.segment("rules:\n  - url: {in: [<<, =]}\n"))).exit_code == 0  # text
    segment = site.segment("rules:\n  - city: {<<: [is, x]}\n")
    assert f"{segment}:2:17: a merge key (<<) takes a mapping or a list of mappings, like `<<: *defaults`, " \
           "found 'is'" in fails(site, "validate", str(segment), code=1)


def test_config_with_a_tag_or_a_bad_as_of_points_into_the_config(ws: Workspace):
    ws.events(pageview("a", url="/"))
    seg = str(ws.segment(SEGMENT))
    ws.config("as_of: !env NOW\n")
    assert "segtool.yaml:5:8: YAML tags are not allowed (!env)" in fails(ws, "validate", seg, code=1)
    ws.config("as_of: last tuesday\n")
    assert "segtool.yaml:5:8: as_of: 'last tuesday' is not a date" in fails(ws, "run", seg, code=1)
    ws.config("as_of: [2024]\n")
    assert fails(ws, "run", seg, code=1).endswith("segtool.yaml:5:8: as_of must be a value, found a list\n")


def test_a_large_in_list_validates_and_runs(ws: Workspace):
    values = ", ".join(f"v{i}" for i in range(200_000))
    ws.events(pageview("a", url="v100000"), pageview("b", url="v200000"), pageview("c", url="/"))
    assert ws.run(f"rules:\n  - url: {{in: [{values}]}}\n", as_of=AS_OF) == ["a"]


# -- dates out of range --------------------------------------------------------------------------------------
@pytest.mark.parametrize("period, message", [("9999999999d", "period: at most 36,525 days"),
                                             ("{from: 9999-12-30, to: 9999-12-31}", "dates run from"),
                                             ("{last: 5300, unit: weeks}", "period: at most")])
def test_periods_beyond_what_the_engine_represents(ws: Workspace, period, message):
    path = ws.segment(f"rules:\n  - conversions: {{gte: 1, period: {period}}}\n")
    assert message in fails(ws, "validate", str(path), code=1)


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01T00:00:00", "1899-12-31", "9999-12-31T23:00:00-05:00"])
def test_as_of_beyond_what_the_engine_represents(site: Workspace, as_of):
    path = site.segment("rules:\n  - conversions: {gte: 1, period: 7d}\n")
    assert "outside the years 1900 to 9998" in fails(site, "run", str(path), "--as-of", as_of, code=2)


# -- regexes the engine rejects ------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["city: {matches: '(l)\\1'}", "url: {matches: 'shop(?=\\.example)'}",
                                  "conversions: {gte: 1, items: {name: {matches: '(?<=a)b'}}}",
                                  "referrer: {matches: '(a{1000}){1000}'}"])
def test_regexes_the_engine_cannot_run_fail_validation(ws: Workspace, rule):
    path = ws.segment(f"rules:\n  - {rule}\n")
    err = fails(ws, "validate", str(path), code=1)
    assert f"{path}:2:" in err and ("a regular expression the engine cannot run" in err or "not portable" in err)


@pytest.mark.parametrize("pattern, instead", [(r"-1\d{3}$", "[0-9] for"), (r"\bsale\b", "write the characters out"),
                                              ("(?i)sale", "use ignore_case: true"), (r"caf\u00e9", "type the character")])
def test_regexes_engines_read_differently_are_refused_with_what_to_write(ws: Workspace, pattern, instead):
    path = ws.segment(f"rules:\n  - url: {{matches: '{pattern}'}}\n")
    err = fails(ws, "validate", str(path), code=1)
    assert f"{path}:2:" in err and "not portable" in err and instead in err


# -- drifting exports ----------------------------------------------------------------------------------------
def _month(folder: Path, name: str, **columns) -> None:
    pl.DataFrame(columns).write_parquet(folder / name)


def test_monthly_parquet_files_whose_schema_drifts(ws: Workspace, tmp_path):
    months = tmp_path / "events"
    months.mkdir()
    _month(months, "2024-04.parquet", visitor_id=[1, 2], timestamp=["2024-04-02T10:00:00Z"] * 2,
           event_type=["conversion", "pageview"], order_value=[120, None], order_id=["o1", None])
    _month(months, "2024-05.parquet", event_type=["conversion", "pageview"], visitor_id=["2", "x"],
           timestamp=["2024-05-02T10:00:00Z"] * 2, order_value=["80.5", None], order_id=["o2", None],
           url=["/checkout?utm_medium=cpc", "/"])  # a column added, another order, ints become text
    _month(months, "2024-06.parquet", visitor_id=["x"], timestamp=["2024-06-02T10:00:00Z"], event_type=["conversion"],
           order_value=[15.25], order_id=["o3"], url=["/"])
    def run(rules: str) -> list[str]:
        return ws.cli("run", str(ws.segment(rules)), "--events", str(months), "--as-of", AS_OF).ids
    assert run("rules:\n  - total_order_value: {gte: 80}\n") == ["1", "2"]
    assert run("rules:\n  - utm_medium: {is: cpc}\n") == ["2"]
    assert run("rules:\n  - conversions: {gte: 1}\n  - url: {is_set: false}\n") == ["1"]
    assert run("rules:\n  - average_order_value: {lt: 20}\n") == ["x"]


def test_parquet_events_with_integer_ids_and_csv_profiles(ws: Workspace, tmp_path):
    pl.DataFrame({"visitor_id": [7, 8], "timestamp": ["2024-06-30T10:00:00Z"] * 2, "event_type": ["pageview"] * 2,
                  "url": ["/", "/"]}).write_parquet(tmp_path / "ev.parquet")
    ws.profiles({"visitor_id": "7", "city": "Milan"}, {"visitor_id": "9", "city": "Milan"})
    path = ws.segment("rules:\n  - city: {is: Milan}\n")
    assert ws.cli("run", str(path), "--events", str(tmp_path / "ev.parquet"), "--as-of", AS_OF).ids == ["7", "9"]


def test_csv_files_that_reorder_or_add_columns(ws: Workspace, tmp_path):
    parts = tmp_path / "csv"
    parts.mkdir()
    (parts / "a.csv").write_text("visitor_id,timestamp,event_type\na,2024-06-30T10:00:00Z,pageview\n")
    (parts / "b.csv").write_text("event_type,url,timestamp,visitor_id\npageview,/sale,2024-06-30T11:00:00Z,b\n")
    path = ws.segment("rules:\n  - url: {contains: sale}\n")
    assert ws.cli("run", str(path), "--events", str(parts), "--as-of", AS_OF).ids == ["b"]
    path = ws.segment("rules:\n  - url: {is_set: false}\n")
    assert ws.cli("run", str(path), "--events", str(parts), "--as-of", AS_OF).ids == ["a"]


def test_ndjson_files_where_a_field_is_null_in_every_row_of_one(ws: Workspace, tmp_path):
    """NDJSON's `null` in every row of a file reads as polars' Null type: it takes the other files' type."""
    parts = tmp_path / "ndjson"
    parts.mkdir()
    (parts / "a.ndjson").write_text('{"visitor_id":"a","timestamp":"2024-06-30T10:00:00Z","event_type":"x","url":null}\n')
    (parts / "b.ndjson").write_text('{"visitor_id":"b","timestamp":"2024-06-30T11:00:00Z","event_type":"x","url":"/sale"}\n')
    path = ws.segment("rules:\n  - url: {is_set: false}\n")
    assert ws.cli("run", str(path), "--events", str(parts), "--as-of", AS_OF).ids == ["a"]


def test_types_that_cannot_be_one_name_both_files(ws: Workspace, tmp_path):
    months = tmp_path / "events"
    months.mkdir()
    base = {"visitor_id": ["a"], "timestamp": ["2024-06-30T10:00:00Z"], "event_type": ["pageview"]}
    _month(months, "1.parquet", **base, url=["/"])
    _month(months, "2.parquet", **base, url=[["/", "/x"]])
    err = fails(ws, "run", str(ws.segment(SEGMENT)), "--events", str(months), "--as-of", AS_OF, code=3)
    assert f"column 'url' is {pl.String} in" in err and "1.parquet" in err and "2.parquet" in err


# -- the filesystem ------------------------------------------------------------------------------------------
def test_output_dir_that_is_a_file(site: Workspace, tmp_path):
    (tmp_path / "afile").write_text("x")
    err = fails(site, "run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "--output-dir", str(tmp_path / "afile"),
                code=2)
    assert "cannot write" in err and "afile" in err


def test_output_onto_an_existing_directory(site: Workspace, tmp_path):
    (tmp_path / "adir").mkdir()
    err = fails(site, "run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(tmp_path / "adir"), code=2)
    assert "it is a directory" in err
    assert "it is a directory" in fails(site, "grid", "--as-of", AS_OF, "-o", str(tmp_path / "adir"), code=2)


@pytest.mark.parametrize("command", [["run"], ["validate"]])
def test_a_very_long_segment_name_is_refused_where_it_is_written(site: Workspace, tmp_path, command):
    """Every command refuses it (an invalid segment, at the name), not only a run into a folder."""
    seg = site.segment(f"name: {'x' * 300}\n" + SEGMENT)
    message = fails(site, *command, str(seg), code=1)
    assert "seg.yaml:1:7: segment name 'xxxxxxxx" in message and "not a safe file name" in message
    assert len(message) < 300


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_directory(site: Workspace, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    err = fails(site, "run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "--output-dir", str(folder), code=2)
    assert "cannot write" in err and os.strerror(errno.EACCES) in err


def test_a_full_disk(site: Workspace):
    err = fails(site, "run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", "/dev/full", "--format", "csv",
                code=2)
    assert f"cannot write /dev/full: {DISK_FULL}" in err
    with open("/dev/full", "w") as full:
        process = segtool_process("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "--config",
                                  str(site._write_config()), cwd=site.root, stdout=full, stderr=subprocess.PIPE)
    assert process.returncode == 2 and f"cannot write stdout: {DISK_FULL}" in process.stderr
    assert "Traceback" not in process.stderr and "Exception ignored" not in process.stderr


def test_a_file_size_limit(site: Workspace, tmp_path):
    rows = [pageview(f"visitor-{i:06d}", url="/") for i in range(20_000)]
    site.events(*rows)
    out = tmp_path / "out" / "ids.csv"
    process = segtool_process("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "-o", str(out), "--config",
                              str(site._write_config()), cwd=site.root,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)))
    assert process.returncode == 2, process.stderr
    assert "cannot write" in process.stderr and "Traceback" not in process.stderr
    assert not out.exists() and no_temp_files(tmp_path)


def test_a_closed_stdout_ends_quietly(site: Workspace):
    rows = [pageview(f"visitor-{i:06d}", url="/") for i in range(50_000)]
    site.events(*rows)
    command = [sys.executable, "-c", "from segtool.cli.main import entry; entry()", "run", str(site.segment(SEGMENT)),
               "--as-of", AS_OF, "--config", str(site._write_config())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=site.root)
    process.stdout.close()  # like `| head -c 0`
    assert process.wait(60) == 141
    assert process.stderr.read() == b""


# -- memory ----------------------------------------------------------------------------------------------------
def test_an_abort_is_reported_as_running_out_of_memory(capfd):
    assert supervise(lambda: (faulthandler.disable(), os.abort())) == OUT_OF_MEMORY_EXIT
    assert "Error: segtool ran out of memory (an allocation failed)" in capfd.readouterr().err


def test_a_memory_error_is_reported_as_running_out_of_memory(site: Workspace, monkeypatch):
    from segtool import api

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(api.Session, "run", exhausted)
    result = site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF)
    assert result.exit_code == OUT_OF_MEMORY_EXIT and "Traceback" not in result.stderr


def test_a_memory_limit_ends_with_one_clear_line(tmp_path):
    process = segtool_process("run", "segments/", "--summary", cwd=REPO,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20)))
    assert process.returncode == OUT_OF_MEMORY_EXIT, process.stderr
    assert "segtool ran out of memory" in process.stderr and "Traceback" not in process.stderr


def test_the_memory_limit_ends_a_run_over_it_with_one_line_and_no_output(site: Workspace, tmp_path):
    """segtool's own limit (--memory-limit, engine.memory_limit) is watched while the engine runs: over it, the
    run ends at once with the one line, naming where the limit was set, and writes nothing."""
    seg = str(site.segment(SEGMENT))
    config = site._write_config()
    out = tmp_path / "out"
    held = "held = bytearray(160 << 20)\nheld[::4096] = b'x' * len(held[::4096])"  # resident in the command too

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(segtool_command("run", seg, "--as-of", AS_OF, "--config", str(config), *args, hook=held),
                              cwd=site.root, text=True, capture_output=True, timeout=120)

    over = run("--output-dir", str(out), "--memory-limit", "128MiB")
    assert over.returncode == OUT_OF_MEMORY_EXIT, over.stderr
    assert len(over.stderr.splitlines()) == 1 and "--memory-limit 128MiB" in over.stderr
    assert not (out / "seg.csv").exists()
    config.write_text(config.read_text() + "engine:\n  memory_limit: 128 MiB\n")
    said = run()
    assert said.returncode == OUT_OF_MEMORY_EXIT and f"engine.memory_limit at {config}:" in said.stderr
    fine = run("--memory-limit", "4GB")  # the flag wins over the config
    assert fine.returncode == 0 and fine.stdout, fine.stderr


def test_a_memory_limit_never_ends_the_program_a_command_runs_in(site: Workspace):
    """In-process (the library, a test's CliRunner) the process's memory is not the command's: the limit is
    left to the engines there, and a 64 MiB limit must not end this test process."""
    result = site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "--memory-limit", "64MiB")
    assert result.exit_code == 0 and result.ids


@pytest.mark.parametrize("limit", ["4 cats", "-1GB", "1MB", "GB"])
def test_a_memory_limit_that_is_no_size_is_refused(site: Workspace, limit):
    flag = site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF, "--memory-limit", limit)
    assert flag.exit_code == 2 and "--memory-limit" in flag.stderr
    site.config(f"engine:\n  memory_limit: {limit}\n")
    config = site.cli("run", str(site.segment(SEGMENT)), "--as-of", AS_OF)
    assert config.exit_code == 1 and "engine.memory_limit" in config.stderr and "segtool.yaml:" in config.stderr


def test_sizes_as_people_write_them():
    from segtool.config import memory_size

    assert [memory_size(t) for t in ("4GB", "1.5 GiB", "800mb", "2000000000", "64MiB")] == \
        [4 * 10**9, 3 * 2**29, 800 * 10**6, 2 * 10**9, 64 * 2**20]


def test_duckdb_keeps_within_its_share_of_the_memory_limit(site: Workspace):
    """--engine duckdb gets the limit as its own memory_limit (it spills beyond it): same members."""
    pytest.importorskip("duckdb")
    seg = str(site.segment(SEGMENT))
    polars = site.cli("run", seg, "--as-of", AS_OF)
    duckdb = site.cli("run", seg, "--as-of", AS_OF, "--engine", "duckdb", "--memory-limit", "1GB")
    assert duckdb.exit_code == 0 and sorted(duckdb.ids) == sorted(polars.ids) and polars.ids


def test_a_gzip_bomb_under_a_memory_limit_ends_with_one_line(ws: Workspace):
    """3 MB that inflate to one field of 3 GiB: the allocator's own report (and a Rust backtrace) never shows."""
    header = "visitor_id,timestamp,event_type,url\n"
    (ws.root / "small.csv.gz").write_bytes(gzip.compress(f"{header}b,2024-06-01T10:00:00Z,pageview,/caf\n".encode()))
    mebibyte = gzip.compress(b"a" * (1 << 20), mtime=0)  # a gzip file may hold many members, inflated in turn
    (ws.root / "bomb.csv.gz").write_bytes(gzip.compress(f"{header}a,2024-06-01T10:00:00Z,pageview,/".encode())
                                          + mebibyte * 3072 + gzip.compress(b"\n"))
    seg, config = str(ws.segment("rules:\n  - url: {contains: caf}\n")), str(ws._write_config())
    env = {**os.environ, "RUST_BACKTRACE": "1", "POLARS_MAX_THREADS": "2"}  # fewer threads reserve less memory

    def run(events: str) -> subprocess.CompletedProcess:
        return segtool_process("run", seg, "--as-of", AS_OF, "--events", events, "--config", config, cwd=ws.root,
                               env=env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)))

    fine = run("small.csv.gz")
    assert fine.returncode == 0 and fine.stdout == "b\n", fine.stderr
    bomb = run("bomb.csv.gz")
    assert bomb.returncode == OUT_OF_MEMORY_EXIT, bomb.stderr
    assert len(bomb.stderr.splitlines()) == 1 and bomb.stderr.startswith("Error: segtool ran out of memory")


# -- errors reading a file name the file -----------------------------------------------------------------------
def test_a_latin1_csv_names_the_file(ws: Workspace):
    (ws.root / "events.csv").write_bytes("visitor_id,timestamp,event_type,url\na,2024-06-01,pageview,/caf\xe9\n"
                                         .encode("latin-1"))
    err = fails(ws, "run", str(ws.segment("rules:\n  - url: {contains: caf}\n")), "--as-of", AS_OF, code=3)
    assert "not UTF-8" in err and "events.csv" in err


def test_a_corrupt_parquet_file_names_the_file(ws: Workspace, tmp_path):
    pl.DataFrame({"visitor_id": [str(i) for i in range(100_000)], "timestamp": ["2024-06-01"] * 100_000,
                  "event_type": ["pageview"] * 100_000, "url": ["/x"] * 100_000}).write_parquet(tmp_path / "ev.parquet")
    data = bytearray((tmp_path / "ev.parquet").read_bytes())
    for i in range(2000, 4000):
        data[i] ^= 0x5A
    (tmp_path / "ev.parquet").write_bytes(bytes(data))
    err = fails(ws, "run", str(ws.segment(SEGMENT)), "--events", str(tmp_path / "ev.parquet"), "--as-of", AS_OF,
                code=3)
    assert "ev.parquet" in err


@pytest.mark.parametrize("words", ["out of memory", "Cannot allocate memory (os error 12)",
                                   "memory allocation of 3221225472 bytes failed"])
def test_the_engine_reporting_out_of_memory_is_the_one_line_report(ws: Workspace, monkeypatch, words):
    """However polars words it (an error it raises, not an abort), running out of memory is the same line."""
    from segtool.inputs import source

    def out_of_memory(frames, optimizations=None, **kwargs):
        raise pl.exceptions.ComputeError(f"cannot read events: {words}")

    ws.events({"visitor_id": "a", "timestamp": "2024-06-01T10:00:00Z", "event_type": "pageview", "url": "/caf"})
    monkeypatch.setattr(source.pl, "collect_all", out_of_memory)
    err = fails(ws, "run", str(ws.segment("rules:\n  - url: {contains: caf}\n")), "--as-of", AS_OF, code=3)
    assert len(err.splitlines()) == 1 and err.startswith("Error: segtool ran out of memory (while reading the data)")
