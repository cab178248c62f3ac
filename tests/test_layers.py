"""The layers point one way: no import circle in segtool/, reading below planning and predictions, and a CLI
that renders the library's results without importing the engine. Imports inside functions count too."""

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "segtool"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the segtool modules it imports, anywhere in its code."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.level and node.module else node.module or base
                submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules]
                candidates = submodules or [target]  # `from pkg import module`, else `from module import name`
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {c for c in candidates if c in modules and c != name}
    return graph


def _reaches(graph, start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_the_import_graph_has_no_cycle():
    graph = _imports()
    cycles = sorted(name for name in graph if name in _reaches(graph, name))
    assert not cycles, f"modules on an import circle: {cycles}"


def test_reading_imports_nothing_that_plans_or_predicts():
    graph = _imports()
    for reader in ("segtool.inputs.tables", "segtool.inputs.drift", "segtool.inputs.source", "segtool.inputs.health"):
        reached = _reaches(graph, reader)
        bad = {m for m in reached if m.startswith(("segtool.backends.polars.plan", "segtool.backends.polars.features",
                                                   "segtool.backends.polars.compile", "segtool.predict"))}
        assert not bad, f"{reader} reaches {sorted(bad)}"


def test_predictions_read_through_the_input_layer_only():
    graph = _imports()
    for module in (m for m in graph if m.startswith("segtool.predict")):
        bad = {m for m in graph[module] if m.startswith("segtool.backends")}
        assert not bad, f"{module} imports {sorted(bad)}"


def test_the_cli_never_imports_the_engine():
    graph = _imports()
    for module in (*(m for m in graph if m.startswith("segtool.cli")), "segtool.jobs.output", "segtool.predict.command"):
        bad = {m for m in graph[module] if m.startswith(("segtool.backends", "segtool.inputs"))}
        assert not bad, f"{module} imports {sorted(bad)}"


def test_the_rule_tree_knows_nothing_of_polars():
    for path in (PACKAGE / "language").glob("*.py"):
        if path.name == "regex.py":  # asks polars' regex engine, as it asks Python's, whether a pattern compiles
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in imported if m.split(".")[0] == "polars"}, path.name


def test_explain_reads_no_rows(monkeypatch, tmp_path):
    """Planning is pure: explain shows a plan (as_of latest, predictions, the event sample stood in for)
    without running a single query; only schemas are read."""
    import polars as pl
    from typer.testing import CliRunner

    from segtool.cli.main import app

    def refuse(*args, **kwargs):
        raise AssertionError("explain ran a query")

    monkeypatch.chdir(REPO)  # the shipped config: as_of latest
    monkeypatch.setattr(pl.LazyFrame, "collect", refuse)
    monkeypatch.setattr(pl, "collect_all", refuse)
    for segment in ("instagram_no_purchase_30d", "valuable_customers", "near_milan_store", "one_time_buyers"):
        result = CliRunner().invoke(app, ["explain", f"segments/{segment}.yaml", "--predictive", "events"])
        assert result.exit_code == 0, result.stderr
        assert "polars plan" in result.stdout and "latest: the newest event's timestamp" in result.stdout
