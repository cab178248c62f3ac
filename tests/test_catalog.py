"""Every field of the catalog, through every backend: a field is one catalog entry and its measure one entry of
the lowering's table, so a new entry that a backend cannot compute fails here, not in a user's run.

Each field is run with operators of its value type (negations included), with its qualifiers where it takes
them, on the shipped sample (Parquet), by the polars engine and by DuckDB, and the members must be equal."""

from __future__ import annotations

import pytest

from conftest import REPO
from segtool.api import Overrides, Session
from segtool.language.catalog import FIELDS, PREDICTED_COLUMNS
from segtool.plan.lower import MEASURES

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

SAMPLE = REPO / "sample_data"
OPERATORS = {  # value type -> operator mappings (YAML) that every field of the type takes
    "text": ["{is_set: true}", "{matches: 'a|e'}", "{is_not: x, ignore_case: true}"],
    "number": ["{gte: 1}", "{lt: 50.5}", "{ne: 0}", "{is_set: false}"],
    "instant": ["{within: 30d}", "{before: 60d}", "{gte: 10}", "{is_set: true}"],
    "grid": ["{in: [loyal, sleeper]}", "{is_not: never_converted}"],
    "location": ["{within_km: 300, of: Milan}"],
}
QUALIFIERS = {"period": "period: 90d", "items": "items: {brand: {is_set: true}}"}


def rules_for(name: str) -> list[str]:
    spec = FIELDS[name]
    found = []
    for operator in OPERATORS[spec.value_type]:
        found.append(f"{name}: {operator}")
        for qualifier in sorted(spec.qualifiers):
            found.append(f"{name}: {operator[:-1]}, {QUALIFIERS[qualifier]}}}")
    return found


def session(predictive: str) -> Session:
    files = {t: str(SAMPLE / f"{t}.parquet") for t in ("events", "profiles", "items")}
    return Session.open(REPO / "segtool.yaml", Overrides(as_of="2026-06-30T12:00:00Z", predictive=predictive,
                                                         **files))


def test_every_field_has_a_lowering_and_operators_to_test_it_with():
    for name, spec in FIELDS.items():
        assert spec.measure in MEASURES, f"{name}: no lowering for the measure {spec.measure!r}"
        assert spec.value_type in OPERATORS, f"{name}: no operators to test a {spec.value_type} field with"


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_field_gives_the_same_members_on_every_backend(name, tmp_path):
    paths = []
    for i, rule in enumerate(rules_for(name)):
        path = tmp_path / f"r{i}.yaml"
        path.write_text(f"name: r{i}\nrules:\n  - {rule}\n", encoding="utf-8")
        paths.append(path)
    for predictive in ("auto", "events") if FIELDS[name].predicted else ("auto",):
        opened = session(predictive)
        segments = opened.load_segments(paths)
        polars = {s.segment.name: list(s.members["visitor_id"]) for s in opened.run(segments).segments}
        duckdb = {s.segment.name: list(s.members["visitor_id"]) for s in opened.run_sql(segments, "duckdb").segments}
        for i, rule in enumerate(rules_for(name)):
            assert polars[f"r{i}"] == duckdb[f"r{i}"], f"{rule} ({predictive}): the backends disagree"
        assert any(polars.values()), f"{name}: every rule is empty on the sample; pick operators that select someone"


def test_predicted_columns_are_what_the_models_compute():
    from segtool.predict.predictions import COLUMNS

    assert set(PREDICTED_COLUMNS) <= set(COLUMNS)
