"""The packages import in one direction: scripts -> ref_torch -> scratch_numpy's shared
layer, never back up (docs/design.md). Read from the source, so a lazy import inside a
function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What ref_torch may take from scratch_numpy: data, input checks, model-free
# training bookkeeping and progress display; never a model.
SHARED_NUMPY_MODULES = {"scratch_numpy.data", "scratch_numpy.preprocessing",
                        "scratch_numpy.validation", "scratch_numpy.training",
                        "scratch_numpy.progress"}


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


@pytest.mark.parametrize("path", package_files("scratch_numpy"), ids=lambda p: p.name)
def test_scratch_numpy_imports_no_other_package(path):
    bad = {m for m in imported_modules(path)
           if m.split(".")[0] in {"torch", "ref_torch", "scripts"}}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", package_files("ref_torch"), ids=lambda p: p.name)
def test_ref_torch_uses_only_the_shared_numpy_layer(path):
    modules = imported_modules(path)
    assert not {m for m in modules if m.split(".")[0] == "scripts"}, f"{path.name} imports scripts"
    numpy_side = {m for m in modules if m.startswith("scratch_numpy.")}
    bad = {m for m in numpy_side
           if not any(m == s or m.startswith(s + ".") for s in SHARED_NUMPY_MODULES)}
    assert not bad, f"{path.name} uses NumPy-side models: {sorted(bad)}"
