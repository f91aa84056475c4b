"""scratch_numpy is what a student writes: NumPy only, it must run without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import importlib, pkgutil, sys
    import scratch_numpy
    names = [m.name for m in pkgutil.iter_modules(scratch_numpy.__path__)]
    for name in names:
        importlib.import_module("scratch_numpy." + name)
    leaked = sorted(m for m, mod in sys.modules.items()
                    if mod is not None and (m == "torch" or m.startswith("torch.")))
    print(len(names), "modules;", "leaked:", leaked)
    sys.exit(1 if leaked else 0)
""")


def run_probe(prelude: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", prelude + PROBE], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_importing_every_module_does_not_import_torch():
    result = run_probe()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leaked: []" in result.stdout


def test_every_module_imports_where_torch_is_absent():
    # A None entry in sys.modules makes `import torch` raise ImportError.
    result = run_probe("import sys; sys.modules['torch'] = None\n")
    assert result.returncode == 0, result.stdout + result.stderr
