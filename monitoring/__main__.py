"""`python -m monitoring`: the drift job's one command line (monitoring/cli.py)."""

import sys

from monitoring.cli import main

sys.exit(main())
