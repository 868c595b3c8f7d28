"""`python -m gendemo`: see gendemo.cli."""

import sys

from gendemo.cli import main

if __name__ == "__main__":  # a spawned worker process imports this module as __mp_main__: it must not run the CLI
    sys.exit(main())
