"""``python -m digitnet`` is the ``digitnet`` command."""

import sys

from digitnet.cli.main import main

sys.exit(main())
