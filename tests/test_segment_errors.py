"""Bad segment and config files: every problem at once, each with file:line:column, before any data is read."""

import ast
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import segtool
from conftest import REPO, Result, Workspace

BAD = """\
name: bad
rules:
  - conversoins: {gte: 1}
  - city: {iss: Milan}
  - clv: {gte: abc}
  - conversions: {gte: 1, period: 7x}
  - city: {is: Milan, period: 7d}
  - retention_grid: {is: loyl}
  - all: []
  - conversions: {gte: 1, items: {brnd: {is: Nike}}}
  - location: {within_km: 5, of: {lat: 95, lon: 9}}
  - city: {between: [1, 2]}
  - conversions: {between: [5, 1]}
  - referrer: {matches: "("}
"""


def test_every_problem_is_reported_with_its_position(ws: Workspace):
    path = ws.segment(BAD)
    result = ws.cli("validate", str(path))
    assert result.exit_code == 1
    err = result.stderr
    expected = [
        (3, 5, "unknown field 'conversoins'", "did you mean 'conversions'"),
        (4, 12, "unknown operator 'iss'", "did you mean 'is'"),
        (5, 16, "gte takes a number", "'abc'"),
        (6, 35, "period", "'7x'"),
        (7, 23, "city does not take `period`", ""),
        (8, 26, "unknown retention grid cell 'loyl'", "did you mean 'loyal'"),
        (9, 10, "all must be a non-empty list", ""),
    ]
    for line, column, what, hint in expected:
        located = [ln for ln in err.splitlines() if f"{path}:{line}:{column}:" in ln]
        assert located, f"no error at {line}:{column} in:\n{err}"
        assert what in located[0] and hint in located[0], located[0]
    for line in (10, 11, 12, 13, 14):
        assert f"{path}:{line}:" in err, f"no error on line {line}:\n{err}"
    assert "brand" in err  # did you mean for the item column


def test_errors_in_several_files_are_all_reported(ws: Workspace):
    one = ws.segment("rules:\n  - cty: {is: x}\n", name="one.yaml")
    two = ws.segment("rules:\n  - city: [unclosed\n", name="two.yaml")
    good = ws.segment("rules:\n  - city: {is: x}\n", name="good.yaml")
    result = ws.cli("validate", str(one), str(two), str(good))
    assert result.exit_code == 1
    assert f"{one}:2:5:" in result.stderr and "did you mean 'city'" in result.stderr
    assert f"{two}:" in result.stderr and "not valid YAML" in result.stderr


def test_bad_segment_is_rejected_before_reading_data(ws: Workspace):
    path = ws.segment("rules:\n  - cty: {is: x}\n")
    result = ws.cli("run", str(path), "--events", "missing.csv")
    assert result.exit_code == 1  # not 3: the data was never looked at
    assert result.stdout == ""


GOLDEN_ERRORS = REPO / "tests" / "fixtures" / "segment_errors.txt"
OTHER_FILE = re.compile(r" (\+\+|//) ([\w.-]+\.yaml): ")  # `++ NAME:` a file of the run, `// NAME:` one beside it


@dataclass(frozen=True)
class Case:
    """One line of tests/fixtures/segment_errors.txt (its header says how a line is written)."""

    text: bytes
    run: tuple[tuple[str, bytes], ...]     # other files of the run: (name, text)
    beside: tuple[tuple[str, bytes], ...]  # files in the folder that only `segment:` rules find
    expected: str

    @classmethod
    def parse(cls, line: str) -> "Case":
        files, expected = line.split(" ;; ")
        text, *rest = OTHER_FILE.split(files)
        others = [(kind, name, _unescape(body)) for kind, name, body in zip(rest[::3], rest[1::3], rest[2::3])]
        return cls(_unescape(text), tuple((n, t) for k, n, t in others if k == "++"),
                   tuple((n, t) for k, n, t in others if k == "//"), expected.replace("\\n", "\n"))

    def pattern(self, path: Path) -> str:
        """The expected stderr as a regular expression: <lib> is a library's words (a line's rest, up to
        what segtool says after them)."""
        places = {"<seg>": re.escape(str(path)), "<dir>": re.escape(str(path.parent)), "<lib>": r"[^\n]+"}
        parts = re.split(r"(<seg>|<dir>|<lib>)", self.expected)
        return "".join(places.get(part, re.escape(part)) for part in parts) + "\n"

    def validate(self, ws: Workspace) -> tuple[Path, Result]:
        path = ws.root / "seg.yaml"
        for name, text in ((path.name, self.text), *self.run, *self.beside):
            (ws.root / name).write_bytes(text)
        return path, ws.cli("validate", str(path), *(str(ws.root / name) for name, _ in self.run))


def _unescape(text: str) -> bytes:
    """`\\n` a line break, `<0xNN>` the byte NN; all else as written (UTF-8)."""
    parts = re.split(r"<0x([0-9A-F]{2})>", text.replace("\\n", "\n"))
    return b"".join(bytes([int(p, 16)]) if i % 2 else p.encode() for i, p in enumerate(parts))


def golden_cases() -> list[Case]:
    lines = GOLDEN_ERRORS.read_text(encoding="utf-8").splitlines()
    return [Case.parse(line) for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c.text[:40].decode(errors="replace"))
def test_bad_segment_files_give_exactly_their_error_line(ws: Workspace, case: Case):
    path, result = case.validate(ws)
    assert result.exit_code == 1
    assert re.fullmatch(case.pattern(path), result.stderr), result.stderr


# -- every problem the segment language words has a golden case ---------------------------------------------
PACKAGE = Path(segtool.__file__).parent  # where the code that runs is (the repository, or site-packages)
LANGUAGE, PLACES, REGEX = PACKAGE / "language", PACKAGE / "places.py", PACKAGE / "language" / "regex.py"


def _is_report(call: ast.Call) -> bool:
    """A call that words a problem: Problem(...), a checker's or the YAML reader's fail(...) (also as
    attempt(self.fail, ...)), or an UnknownPlace(...)."""
    def named(node, *names):
        return (isinstance(node, ast.Name) and node.id in names) or \
            (isinstance(node, ast.Attribute) and node.attr in names)

    return named(call.func, "Problem", "fail", "UnknownPlace") or bool(call.args and named(call.args[0], "fail"))


def reporting_sites() -> dict[tuple[str, int, int], str]:
    """Every call in segtool/language and places.py that words a problem of a segment file, outside the
    `fail` helpers themselves (which pass a message on): (file, first line, last line) -> its source."""
    sites = {}
    for path in [*sorted(LANGUAGE.glob("*.py")), PLACES]:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        helpers = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "fail"]
        inside = {id(n) for f in helpers for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in inside and _is_report(node):
                sites[(str(path), node.lineno, node.end_lineno)] = ast.get_source_segment(source, node)
    return sites


def path_problems(root: Path, monkeypatch) -> list[tuple[Path, str]]:
    """Problems with a path a command names rather than with a file's text: (the path, the stderr)."""
    (root / "empty").mkdir()
    unreadable = root / "unreadable.yaml"
    unreadable.write_text("rules:\n  - city: {is: a}\n")
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *args, **kwargs: read_text(self, *args, **kwargs)
                        if self != unreadable else _raise(PermissionError(13, "Permission denied", str(self))))
    return [(root / "nowhere.yaml", "no such segment file or directory"),
            (root / "empty", "no .yaml or .yml segment files in this directory"),
            (unreadable, "cannot read: Permission denied")]


def _raise(exc: Exception):
    raise exc


def test_paths_that_name_no_readable_segment_file(ws: Workspace, monkeypatch):
    for path, message in path_problems(ws.root, monkeypatch):
        result = ws.cli("validate", str(path))
        assert (result.exit_code, result.stderr) == (1, f"Error: {path}: {message}\n")


def test_every_problem_the_segment_language_words_has_a_golden_case(monkeypatch, tmp_path):
    """Each site that words a problem (reporting_sites) is reached by a line of the golden file (or, for the
    problems with a path, by path_problems), seen by recording where every Problem and UnknownPlace is made
    while they run; each reason of segtool/language/regex.py is given by a line of the file too."""
    from segtool import places
    from segtool.errors import Problem

    reached: set[tuple[str, int]] = set()
    messages: list[str] = []

    def recording(cls):
        made = cls.__init__

        def init(self, *args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None:
                reached.add((frame.f_code.co_filename, frame.f_lineno))
                frame = frame.f_back
            made(self, *args, **kwargs)
            messages.append(str(getattr(self, "message", "")))
        monkeypatch.setattr(cls, "__init__", init)

    recording(Problem)
    recording(places.UnknownPlace)
    for case in golden_cases():
        with tempfile.TemporaryDirectory() as folder:
            case.validate(Workspace(Path(folder)))
    ws = Workspace(tmp_path)
    for path, _ in path_problems(tmp_path, monkeypatch):
        ws.cli("validate", str(path))
    missing = [f"{Path(file).relative_to(PACKAGE.parent)}:{first}: {source}"
               for (file, first, last), source in reporting_sites().items()
               if not any(file == f and first <= line <= last for f, line in reached)]
    assert not missing, "no line in tests/fixtures/segment_errors.txt reaches:\n" + "\n".join(missing)
    for pattern in regex_reasons():
        assert any(re.fullmatch(pattern, m) for m in messages), f"no golden case words {pattern!r}"


def regex_reasons() -> list[str]:
    """A pattern for each reason regex.py gives for refusing a `matches` pattern: each portability rule, and
    each message it returns (a library's words, where it passes them on, match anything)."""
    from segtool.language.regex import NON_PORTABLE

    reasons = [re.escape("not portable: " + template).replace(re.escape("{0}"), ".+") for _, template in NON_PORTABLE]
    for node in ast.walk(ast.parse(REGEX.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.JoinedStr):
            reasons.append("".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                                   for part in node.value.values))
    return reasons


def test_unknown_config_key(ws: Workspace):
    ws.config("as_off: latest\n")
    result = ws.cli("validate", str(ws.segment("rules:\n  - city: {is: x}\n")))
    assert result.exit_code == 1
    assert "segtool.yaml:" in result.stderr and "did you mean 'as_of'" in result.stderr


def test_config_grid_cells_are_known_to_the_checker(ws: Workspace):
    ws.config("""
        retention_grid:
          - {name: vip, conversions: [10, null]}
          - {name: rest, conversions: [0, null]}
    """)
    assert ws.cli("validate", str(ws.segment("rules:\n  - retention_grid: {is: vip}\n"))).exit_code == 0
    result = ws.cli("validate", str(ws.segment("rules:\n  - retention_grid: {is: loyal}\n")))
    assert result.exit_code == 1 and "vip" in result.stderr


def test_debug_shows_a_traceback(ws: Workspace):
    from typer.testing import CliRunner

    from segtool.cli.main import app
    from segtool.errors import SegmentError

    path = ws.segment("rules:\n  - cty: {is: x}\n")
    result = CliRunner().invoke(app, ["--debug", "validate", str(path)])
    assert isinstance(result.exception, SegmentError)
