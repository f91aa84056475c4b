"""Print docs/tolerances.md as generated from ref_torch/tolerances.py.

    python -m scripts.tolerance_table            # to stdout
    python -m scripts.tolerance_table --write    # replace docs/tolerances.md

``parity_tests/test_tolerance_table.py`` fails when the file and the
generator differ: after changing a tolerance, run this with ``--write``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ref_torch.tolerances import tolerance_table_markdown

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "tolerances.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH} instead of printing")
    args = parser.parse_args(argv)
    text = tolerance_table_markdown()
    if not args.write:
        sys.stdout.write(text)
        return 0
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=DOC_PATH.parent, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, DOC_PATH)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
