"""``python -m airsweep`` runs the ``airsweep`` command."""

import sys

from airsweep.cli import main

sys.exit(main())
