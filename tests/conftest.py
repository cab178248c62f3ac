"""Shared helpers: tiny hand-written exports in a temporary directory, and segtool run on them."""

from __future__ import annotations

import csv
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segtool.cli.main import app

REPO = Path(__file__).resolve().parent.parent
EVENT_COLUMNS = ["visitor_id", "timestamp", "event_type", "url", "referrer", "utm_source", "utm_medium",
                 "utm_campaign", "order_id", "order_value"]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return path


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ids(self) -> list[str]:
        assert self.exit_code == 0, self.stderr
        return self.stdout.splitlines()


class Workspace:
    """A directory with events.csv (and optionally profiles.csv, items.csv) and a segtool.yaml."""

    def __init__(self, root: Path):
        self.root = root
        self.config_extra = ""
        self.site_domains = "[shop.example]"

    def events(self, *rows: dict, columns: list[str] | None = None) -> "Workspace":
        write_csv(self.root / "events.csv", list(rows), columns or _event_columns(rows))
        return self

    def profiles(self, *rows: dict, columns: list[str] | None = None) -> "Workspace":
        write_csv(self.root / "profiles.csv", list(rows), columns)
        return self

    def items(self, *rows: dict) -> "Workspace":
        write_csv(self.root / "items.csv", list(rows),
                  ["order_id", "item_id", "name", "brand", "category", "price", "quantity"])
        return self

    def config(self, text: str) -> "Workspace":
        self.config_extra = textwrap.dedent(text)
        return self

    def segment(self, text: str, name: str = "seg.yaml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def _write_config(self) -> Path:
        data = {t: f"{t}.csv" for t in ("events", "profiles", "items") if (self.root / f"{t}.csv").exists()}
        lines = (["data:"] if data else []) + [f"  {t}: {p}" for t, p in data.items()]
        lines += ["site:", f"  domains: {self.site_domains}"]
        path = self.root / "segtool.yaml"
        path.write_text("\n".join(lines) + "\n" + self.config_extra, encoding="utf-8")
        return path

    def cli(self, *args: str) -> Result:
        config = self._write_config()
        command = list(args)
        if command and command[0] in ("run", "explain", "grid", "validate") and "--config" not in command:
            command += ["--config", str(config)]
        result = CliRunner().invoke(app, command, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def run(self, rules: str, *args: str, as_of: str = "2024-06-30T23:59:59Z") -> list[str]:
        """The IDs of a segment whose rules are `rules` (YAML), as of `as_of`."""
        path = self.segment(rules)
        return self.cli("run", str(path), "--as-of", as_of, *args).ids


UPDATE_GOLDEN = "SEGTOOL_UPDATE_GOLDEN"


def assert_golden(path: Path, text: str) -> None:
    """`text` is exactly the golden file `path`. A missing golden fails like a changed one; only with
    SEGTOOL_UPDATE_GOLDEN=1 in the environment is the file (re)written, to be reviewed in the diff."""
    if os.environ.get(UPDATE_GOLDEN) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.exists(), f"{path} is missing: {UPDATE_GOLDEN}=1 writes it"
    assert path.read_bytes() == text.encode(), f"{path} differs from the output: {UPDATE_GOLDEN}=1 rewrites it"


def segtool_command(*args: str, hook: str = "") -> list[str]:
    """segtool as a command of its own (the supervisor and its child), after `hook`: Python code run first in
    the process that forks, so that what it patches reaches the command."""
    return [sys.executable, "-c", f"{hook}\nfrom segtool.cli.main import entry; entry()", *args]


def _event_columns(rows) -> list[str]:
    present = {k for row in rows for k in row}
    return [c for c in EVENT_COLUMNS if c in present or c in ("visitor_id", "timestamp", "event_type")] + \
        sorted(present - set(EVENT_COLUMNS))


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path)


def pageview(vid: str, ts: str = "2024-06-01T12:00:00Z", **extra) -> dict:
    return {"visitor_id": vid, "timestamp": ts, "event_type": "pageview", **extra}


def conversion(vid: str, ts: str, value=None, order_id=None, **extra) -> dict:
    return {"visitor_id": vid, "timestamp": ts, "event_type": "conversion", "order_value": value,
            "order_id": order_id, **extra}


def _spark_missing() -> str | None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java on this machine (Spark needs Java 17)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install '.[test]' installs it)"
    return None


def spark(test):
    """A test that runs a Spark session: the `spark` tier (pyproject.toml), skipped where Java or PySpark is missing."""
    return pytest.mark.spark(pytest.mark.skipif(_spark_missing() is not None, reason=_spark_missing() or "")(test))
