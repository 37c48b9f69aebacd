"""``python -m ddbes_cli``: the ``ddbes`` command."""

import sys

from ddbes_cli import main

sys.exit(main())
