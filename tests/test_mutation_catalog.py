"""The mutation check (tests/mutations/run.py) stays meaningful: every mutation's pattern still
occurs exactly once in the product file it breaks, and names default-suite tests that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutations.catalog import MUTATIONS

ROOT = Path(__file__).resolve().parents[1]


def test_names_are_unique():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("m", MUTATIONS, ids=lambda m: m.name)
def test_pattern_matches_the_product_source_once(m):
    assert not m.file.startswith("tests/"), "a mutation breaks product code, not a test"
    text = (ROOT / m.file).read_text()
    assert text.count(m.old) == 1, f"{m.name}: {m.old!r} occurs {text.count(m.old)} times in {m.file}; update the catalogue"
    assert m.old != m.new
    for t in m.tests:
        assert (ROOT / t.split("::")[0]).is_file(), f"{m.name}: no test file {t}"
