"""``python -m classifier ...``: see :mod:`classifier.cli`."""

import sys

from classifier.cli import main

sys.exit(main())
