"""The packages import in one direction: scripts -> ref_torch -> scratch_numpy's shared
layer, never back up; and no command of scripts/ imports another (docs/design.md). Read from
the source, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What ref_torch may take from scratch_numpy: data, input checks, model-free training
# bookkeeping, progress display and numerical gradients (the oracle's reference for any
# layer); never a model.
SHARED_NUMPY_MODULES = {"scratch_numpy.data", "scratch_numpy.preprocessing",
                        "scratch_numpy.validation", "scratch_numpy.training",
                        "scratch_numpy.progress", "scratch_numpy.gradient_check"}


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


# ---- commands: none imports another ----------------------------------------------------------
# A command is a module of scripts/ with a ``main`` (knn, sweep, reproduce, ...) or a package of
# scripts/ with one (scripts/sweep/, and scripts/grade/ when it comes), whose own modules may
# import each other. What two commands share lives in a module that is no command (cli,
# configs, report, plots, bench_env, ray_cluster), so that changing one command never
# breaks another.
SCRIPTS = ROOT / "scripts"
# The deliberate exceptions, each with its reason: importer -> the commands it may import
# (None: every command).
ALLOWED = {
    # The main job: it runs every section's command module (its SECTIONS, loaded by name);
    # running the other commands is what it is for.
    "scripts.reproduce": None,
    # The sweep's benchmark runs the very trial code a sweep runs (its models' fit and rows)
    # in a plain loop, against the sweep command: the same work both ways is the point of
    # the comparison.
    "scripts.bench_sweep": {"scripts.sweep"},
    # The grader's benchmark times the grader's own command on the demo class it builds.
    "scripts.bench_grade": {"scripts.grade"},
}
# Modules that load others by name, which no import statement shows: the module-level list
# of the names they load.
LOADED_BY_NAME = {"scripts.reproduce": "SECTIONS"}


def defines_main(path: Path) -> bool:
    return any(isinstance(node, ast.FunctionDef) and node.name == "main"
               for node in ast.parse(path.read_text()).body)


def commands() -> set[str]:
    found = {f"scripts.{path.stem}" for path in SCRIPTS.glob("*.py") if defines_main(path)}
    found |= {f"scripts.{init.parent.name}" for init in SCRIPTS.glob("*/__init__.py")
              if (init.parent / "__main__.py").exists()
              or any(defines_main(path) for path in init.parent.rglob("*.py"))}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolved_imports(path: Path) -> set[str]:
    """Like :func:`imported_modules`, with relative imports (a package's own) resolved, and
    the names a module in :data:`LOADED_BY_NAME` loads."""
    modules = imported_modules(path)
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            parent = package[:len(package) - node.level + 1]
            base = ".".join(parent + [node.module] if node.module else parent)
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    if (names := LOADED_BY_NAME.get(module_name(path))) is not None:
        lists = [node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == names for t in node.targets)]
        assert lists, f"{path.name} no longer has {names}: update LOADED_BY_NAME"
        modules.update(ast.literal_eval(lists[0]))
    return modules


def owner(module: str, known: set[str]) -> str | None:
    """The command ``module`` belongs to, if any."""
    return next((c for c in known if module == c or module.startswith(c + ".")), None)


def script_files() -> list[Path]:
    return sorted(SCRIPTS.rglob("*.py"))


def test_the_commands_are_found():
    found = commands()
    assert {"scripts.knn", "scripts.fc_net", "scripts.two_layer_net", "scripts.sweep",
            "scripts.reproduce", "scripts.bench_sweep"} <= found
    assert not {"scripts.cli", "scripts.configs", "scripts.report", "scripts.plots",
                "scripts.ray_cluster"} & found


@pytest.mark.parametrize("path", script_files(), ids=lambda p: str(p.relative_to(SCRIPTS)))
def test_no_command_imports_another(path):
    """Nor does a shared module of scripts/ import a command (that would couple two
    commands through it)."""
    known = commands()
    me = owner(module_name(path), known)
    allowed = ALLOWED.get(me, set())
    bad = {m for m in resolved_imports(path) if (target := owner(m, known)) not in (None, me)
           and allowed is not None and target not in allowed}
    assert not bad, f"{path.relative_to(ROOT)} imports another command's module: {sorted(bad)}"


def test_every_exception_is_still_needed():
    known = commands()
    for importer, allowed in ALLOWED.items():
        files = [p for p in script_files() if owner(module_name(p), known) == importer]
        used = {owner(m, known) for p in files for m in resolved_imports(p)} - {None, importer}
        assert used and (allowed is None or allowed <= used), f"{importer}: no longer needed"
