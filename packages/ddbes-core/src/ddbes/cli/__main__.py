"""``python -m ddbes.cli``: the ``ddbes`` command."""

import sys

from ddbes.cli import main

sys.exit(main())
