"""``python -m scripts.sweep``: the sweep command (``scripts.sweep.command``)."""

import sys

from scripts.sweep.command import main

# argparse names the program after sys.argv[0], which is this file (``__main__.py``) here:
# name it as it was run instead.
sys.argv[0] = "python -m scripts.sweep"
sys.exit(main())
