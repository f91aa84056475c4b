"""docs/tolerances.md is what ref_torch/tolerances.py generates, and the table
describes the constants the code really uses, so the two cannot drift."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ref_torch import tolerances
from ref_torch.tolerances import TOLERANCES, tolerance_table_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "tolerances.md"


def test_docs_page_is_the_generated_table():
    assert DOC.read_text(encoding="utf-8") == tolerance_table_markdown(), (
        "docs/tolerances.md differs from ref_torch/tolerances.py: "
        "run `python -m scripts.tolerance_table --write`")


def test_each_row_has_the_value_of_its_constant():
    for row in TOLERANCES:
        constant = getattr(importlib.import_module(row.module), row.name)
        actual = constant if row.dtype is None else constant[np.dtype(row.dtype)]
        assert actual == row.value, row.title


def test_every_tolerance_constant_has_a_row():
    constants = {name for name, value in vars(tolerances).items()
                 if name.isupper() and not name.startswith("_") and isinstance(value, (float, dict))}
    described = {row.name for row in TOLERANCES}
    assert constants <= described, f"no table row for {sorted(constants - described)}"
    for name in constants:
        value = getattr(tolerances, name)
        if isinstance(value, dict):
            keys = {row.dtype for row in TOLERANCES if row.name == name}
            assert keys == {np.dtype(k).name for k in value}, name


def test_rows_are_unique_and_complete():
    titles = [row.title for row in TOLERANCES]
    assert len(titles) == len(set(titles))
    for row in TOLERANCES:
        assert row.applies_to and row.why and row.measured, row.title
