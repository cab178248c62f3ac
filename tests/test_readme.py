"""Every example of the README and docs/, run as written on the shipped sample: each `segtool` line of their
```sh blocks, and the nightly job of their ```crontab blocks (twice, on changed data)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = [README, *(path.read_text(encoding="utf-8") for path in sorted((REPO / "docs").glob("*.md")))]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
EXPECTED_EXIT = re.compile(r"#\s*exit (\d+)")


def blocks(language: str, pages: list[str] = DOCS) -> list[str]:
    return [body for page in pages for lang, body in BLOCK.findall(page) if lang == language]


def segtool_lines(pages: list[str] = DOCS) -> list[str]:
    """Each example once, in the order the pages show them (the README's tour repeats some of docs/)."""
    return list(dict.fromkeys(line.strip() for body in blocks("sh", pages) for line in body.splitlines()
                              if line.strip().startswith("segtool ")))


COMMANDS = segtool_lines()
CRON = list(dict.fromkeys(line for body in blocks("crontab") for line in body.splitlines()
                          if re.match(r"^[\d*]", line)))
INSTALL_AND_RUN = [line.strip() for body in blocks("sh", [README]) for line in body.splitlines()
                   if re.match(r"pip install .* && segtool ", line.strip())]
READERS = [line.strip() for body in blocks("sh") for line in body.splitlines() if "realpath lists" in line]


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of what the examples read: the config, the segments and the sample data."""
    for name in ("segments", "sample_data"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "segtool.yaml", tmp_path / "segtool.yaml")
    return tmp_path


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PATH": path, "COLUMNS": "100"}, timeout=300)


def test_the_readme_has_examples():
    """The Quick start and a tour in the README, more in docs/; the README and docs/ show one nightly job."""
    assert len(INSTALL_AND_RUN) == 1 and len(segtool_lines([README])) >= 10 and len(COMMANDS) >= 15
    assert len(CRON) == 1 and len(READERS) == 1


def _tier(command: str):
    """`history` without --every evaluates every segment on each day: an example of the slow tier."""
    daily = command.startswith("segtool history") and "--every" not in command
    return pytest.param(command, marks=pytest.mark.slow) if daily else command


@pytest.mark.parametrize("command", [_tier(command) for command in COMMANDS])
def test_each_example_works_as_written(project: Path, command: str):
    expected = EXPECTED_EXIT.search(command)
    result = shell(command, project)
    assert result.returncode == (int(expected.group(1)) if expected else 0), result.stderr
    assert "Traceback" not in result.stderr


def test_ci_runs_the_readme_test_command_and_every_tier():
    """The default run leaves the tiers pyproject.toml registers (spark, slow) out; the README's test command
    runs them after it, and CI (.ci/run) runs exactly that command, which CONTRIBUTING.md shows too."""
    (command,) = [line.strip() for body in blocks("sh") for line in body.splitlines() if "pytest" in line]
    pytest_config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
    tiers = [line.split(":")[0] for line in pytest_config["ini_options"]["markers"]]
    assert tiers and shlex.split(pytest_config["ini_options"]["addopts"])[-2:] == [
        "-m", " and ".join(f"not {t}" for t in tiers)]
    assert command.endswith("python -m pytest -q && python -m pytest -q -m " + '"' + " or ".join(tiers) + '"')
    assert (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()[-1] == command
    assert command in (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8").splitlines()


def test_the_quick_start_prints_only_the_ids_on_stdout(project: Path):
    """`pip install -q . && segtool run ...`: pip logs what is below a warning on stdout unless -q (warnings go
    to stderr), so the IDs are all that stdout holds. pip is shown that on a package already installed."""
    (command,) = INSTALL_AND_RUN
    install, run = command.split(" && ", 1)
    pip = [sys.executable, "-m", "pip", *install.split()[1:-1], "--no-index", "--no-deps", "pip"]
    quiet = subprocess.run(pip, capture_output=True, text=True, timeout=120)
    loud = subprocess.run([word for word in pip if word not in ("-q", "--quiet")], capture_output=True, text=True,
                          timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "" and loud.stdout.strip(), quiet.stderr
    result = shell(run, project)
    assert result.returncode == 0, result.stderr
    ids = result.stdout.splitlines()
    assert ids and all(re.fullmatch(r"\S+", i) for i in ids)


def test_the_nightly_job_delivers_changes_since_the_acknowledged_upload(project: Path):
    minute, hour, *_ = CRON[0].split(maxsplit=5)
    command = CRON[0].split(maxsplit=5)[5]
    assert (minute, hour) == ("15", "3") and command.startswith("cd /srv/audiences && ")
    command = command.replace("cd /srv/audiences && ", "")
    (reader,) = READERS  # upload-lists.sh: upload the current run's change files, then acknowledge that run
    script = project / "upload-lists.sh"
    script.write_text(f'upload() {{ cat "$@" > uploaded.csv && test ! -e fail; }}\n{reader}\n')
    script.chmod(0o755)
    first = shell(command, project)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    lists = project / "lists"
    manifest = json.loads((lists / "manifest.json").read_text())
    assert manifest["as_of"]["requested"] == "yesterday"
    assert all((lists / f"{name}.added.csv").exists() for name in manifest["segments"])
    delivered = json.loads((lists / ".segtool" / "acknowledged.json").read_text())["files"]
    assert {f["run"] for f in delivered.values()} == {manifest["run"]}
    # the next nights the export has lost a tenth of the visitors' events (and nothing else changed), and the
    # upload fails: nothing is acknowledged, and the night after still holds those changes
    events = pl.read_parquet(project / "sample_data" / "events.parquet")
    events.filter(~pl.col("visitor_id").str.ends_with("7")).write_parquet(project / "sample_data" / "events.parquet")
    (project / "fail").touch()
    for night in range(2):
        assert shell(command, project).returncode != 0
        segments = json.loads((lists / "manifest.json").read_text())["segments"]
        removed = {name: e["delivery_changes"][f"{name}.csv"]["removed"] for name, e in segments.items()}
        assert any(removed.values()), "some visitors must have left some segment"
        for name, count in removed.items():
            ids = (lists / f"{name}.removed.csv").read_text().splitlines()[1:]
            assert len(ids) == count and all(i.endswith("7") for i in ids)
            assert segments[name]["delivery_changes"][f"{name}.csv"]["relative_to"] == manifest["run"]
    run = (lists / "current").resolve()
    changed = [*run.glob("*.added.csv"), *run.glob("*.removed.csv")]  # in the shell's order of names
    assert sorted((project / "uploaded.csv").read_text().splitlines()) == sorted(
        line for path in changed for line in path.read_text().splitlines())
    (project / "fail").unlink()
    assert shell(command, project).returncode == 0
    assert shell(command, project).returncode == 0  # acknowledged: nothing left to deliver
    segments = json.loads((lists / "manifest.json").read_text())["segments"]
    assert not any(d["added"] or d["removed"] for e in segments.values() for d in e["delivery_changes"].values())
