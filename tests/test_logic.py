"""all/any/not and match: segtool agrees with set algebra over the atoms' own answers, for random rule trees."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Workspace, conversion, pageview

ATOMS = [
    "city: {is: Amsterdam}",
    "city: {is_set: false}",
    "clv: {gte: 100}",
    "country: {not_in: [NL]}",
    "referrer_domain: {is: instagram.com}",
    "utm_medium: {is_not: cpc}",
    "conversions: {gte: 1}",
    "conversions: {lt: 1, period: 30d}",
    "average_order_value: {gt: 20}",
    "retention_grid: {is: one_time_buyer}",
]


@pytest.fixture(scope="module")
def logic_ws(tmp_path_factory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("logic"))
    ws.profiles(
        {"visitor_id": "p1", "city": "Amsterdam", "country": "NL", "clv": 150},
        {"visitor_id": "p2", "city": "Milan", "country": "IT", "clv": 50},
        {"visitor_id": "p3", "city": "", "country": "", "clv": ""},
        {"visitor_id": "p4", "city": "Amsterdam", "country": "BE", "clv": 500},
    )
    ws.events(
        pageview("p1", referrer="https://www.instagram.com/x", utm_medium="cpc"),
        pageview("p2", referrer="https://t.co/abc", utm_medium="email"),
        conversion("p2", "2024-06-20T10:00:00Z", 30),
        pageview("e1", referrer="https://instagram.com/"),
        conversion("e1", "2024-01-05T10:00:00Z", 10),
        conversion("e2", "2024-06-29T10:00:00Z", 100),
        conversion("e2", "2024-05-29T10:00:00Z", ""),
        pageview("e3"),
    )
    return ws


def _yaml(tree) -> str:
    kind, value = tree
    if kind == "atom":
        return "{" + ATOMS[value] + "}"
    if kind == "not":
        return "{not: " + _yaml(value) + "}"
    return "{" + kind + ": [" + ", ".join(_yaml(t) for t in value) + "]}"


def _expected(tree, atoms: list[set], universe: set) -> set:
    kind, value = tree
    if kind == "atom":
        return atoms[value]
    if kind == "not":
        return universe - _expected(value, atoms, universe)
    sets = [_expected(t, atoms, universe) for t in value]
    if kind == "all":
        return set.intersection(universe, *sets)
    return set().union(*sets)


trees = st.recursive(
    st.tuples(st.just("atom"), st.integers(0, len(ATOMS) - 1)),
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.sampled_from(["all", "any"]), st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


def _evaluate(ws: Workspace, rule_lists: list[list[str]], match: str = "all") -> list[set]:
    from segtool.api import Overrides, Session

    paths = []
    for i, rules in enumerate(rule_lists):
        body = "".join(f"  - {r}\n" for r in rules)
        paths.append(ws.segment(f"name: s{i}\nmatch: {match}\nrules:\n{body}", name=f"s{i}.yaml"))
    session = Session.open(ws._write_config(), Overrides(as_of="2024-06-30"))
    result = session.run(session.load_segments(paths))
    return [set(item.members["visitor_id"]) for item in result.segments]


@pytest.fixture(scope="module")
def atom_sets(logic_ws):
    sets = _evaluate(logic_ws, [[a] for a in ATOMS] + [["not: {city: {is: nowhere}}"]])
    return sets[:-1], sets[-1]


def test_universe_and_atoms(atom_sets):
    atoms, universe = atom_sets
    assert universe == {"p1", "p2", "p3", "p4", "e1", "e2", "e3"}
    assert atoms[ATOMS.index("country: {not_in: [NL]}")] == universe - {"p1"}
    assert atoms[ATOMS.index("referrer_domain: {is: instagram.com}")] == {"p1", "e1"}
    assert atoms[ATOMS.index("utm_medium: {is_not: cpc}")] == universe - {"p1"}
    assert atoms[ATOMS.index("conversions: {lt: 1, period: 30d}")] == universe - {"p2", "e2"}
    assert atoms[ATOMS.index("average_order_value: {gt: 20}")] == {"p2", "e2"}
    assert atoms[ATOMS.index("retention_grid: {is: one_time_buyer}")] == {"p2"}


@settings(max_examples=15, deadline=None)
@given(st.lists(trees, min_size=1, max_size=8))
def test_random_trees_follow_set_algebra(logic_ws, atom_sets, batch):
    atoms, universe = atom_sets
    answers = _evaluate(logic_ws, [[_yaml(t)] for t in batch])
    for tree, answer in zip(batch, answers):
        assert answer == _expected(tree, atoms, universe), _yaml(tree)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(0, len(ATOMS) - 1), min_size=1, max_size=4))
def test_match_any_is_union_and_all_is_intersection(logic_ws, atom_sets, picks):
    atoms, universe = atom_sets
    rules = [ATOMS[i] for i in picks]
    (any_answer,) = _evaluate(logic_ws, [rules], match="any")
    (all_answer,) = _evaluate(logic_ws, [rules], match="all")
    assert any_answer == set().union(*(atoms[i] for i in picks))
    assert all_answer == set.intersection(universe, *(atoms[i] for i in picks))


def test_double_negation_and_de_morgan(atom_sets, logic_ws):
    atoms, universe = atom_sets
    a, b = ATOMS[0], ATOMS[6]
    answers = _evaluate(logic_ws, [
        [f"not: {{not: {{{a}}}}}"],
        [f"not: {{any: [{{{a}}}, {{{b}}}]}}"],
        [f"all: [{{not: {{{a}}}}}, {{not: {{{b}}}}}]"],
    ])
    assert answers[0] == atoms[0]
    assert answers[1] == answers[2] == universe - atoms[0] - atoms[6]
