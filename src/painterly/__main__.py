"""``python -m painterly``: the command line."""

import sys

from painterly.cli import main

sys.exit(main())
