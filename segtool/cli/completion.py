"""Shell completion of option values (after `segtool --install-completion`): the formats, engines, dialects,
presets and predictive sources each command takes, and for --select/--exclude the names and tags of the
segments named before them (else of ./segments). The values are read where the commands check them, and
imported only when completing, so starting segtool stays light."""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import SegtoolError


def values_of(module: str, name: str):
    """A completion from segtool's `module.name`: a tuple of values, or a dict's keys."""
    return lambda incomplete: _starting(getattr(importlib.import_module(f"segtool.{module}"), name),
                                        incomplete)


def one_of(*values: str):
    return lambda incomplete: _starting(values, incomplete)


def sample_formats(ctx, incomplete: str) -> list[str]:
    """`sample --format`: the formats of the --preset given before it (a comma-separated list)."""
    from ..synth.vendors import formats_for

    return _listed(formats_for(ctx.params.get("preset")), incomplete)


def segment_patterns(ctx, incomplete: str) -> list[str]:
    """--select/--exclude: the names of the segments, then `tag:` and their tags (a comma-separated list)."""
    given = ctx.params.get("segments") or ctx.args  # while completing, the SEGMENT words are left unparsed
    names, tags = _names_and_tags([Path(path) for path in given] or [Path("segments")])
    return _listed([*names, *(f"tag:{tag}" for tag in tags)], incomplete)


def _names_and_tags(paths: list[Path]) -> tuple[list[str], list[str]]:
    """Read as a run reads them (a file's name, else its stem); files that cannot be read are left out."""
    from ..language.parse import Checker, segment_files
    from ..language.yamlsource import load_yaml

    names, tags = [], []
    try:
        files = segment_files(paths)
    except SegtoolError:
        return [], []
    for path in files:
        try:
            root = load_yaml(path)
        except SegtoolError:
            continue
        if root is None or not root.is_map:
            continue
        checker = Checker((), [])
        name = checker.attempt(checker.segment_name, root.value.get("name"), path.stem)
        names += [name] if name else []
        tags += checker.attempt(checker.tags, root.value.get("tags")) or []
    return sorted(set(names)), sorted(set(tags))


def _starting(values, incomplete: str) -> list[str]:
    return [value for value in values if value.startswith(incomplete)]


def _listed(values, incomplete: str) -> list[str]:
    """The values that can end a comma-separated list begun as `incomplete`, the list's start kept."""
    start, comma, last = incomplete.rpartition(",")
    chosen = start.split(",") if comma else []
    return [start + comma + value for value in _starting(values, last) if value not in chosen]
