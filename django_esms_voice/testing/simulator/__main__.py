"""``python -m django_esms_voice.testing.simulator``: serve the fake eSMS API until Ctrl-C."""

import sys

from .cli import main

sys.exit(main())
