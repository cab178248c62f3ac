"""The documentation: the generated references are current."""

from __future__ import annotations

import pytest

from conftest import REPO
from segtool.cli import reference


@pytest.mark.parametrize("page", sorted(reference.PAGES))
def test_the_generated_reference_is_current(page: str):
    written = (REPO / page).read_text(encoding="utf-8") if (REPO / page).exists() else ""
    assert written == reference.PAGES[page](), f"{page} is stale: run `{reference.REGENERATE}` and commit it"
