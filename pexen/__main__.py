"""``python -m pexen``: the ``pexen`` command."""

import sys

from pexen.cli import main

if __name__ == "__main__":
    sys.exit(main())
