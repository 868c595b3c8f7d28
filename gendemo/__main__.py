"""`python -m gendemo`: see gendemo.cli."""

import sys

from gendemo.cli import main

sys.exit(main())
