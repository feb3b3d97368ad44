"""``python -m benchmarks``: run W1..W9 against the peers and print one table."""

import sys

from .harness import main

sys.exit(main())
