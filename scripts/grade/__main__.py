import sys

from scripts.grade.command import main

sys.exit(main())
