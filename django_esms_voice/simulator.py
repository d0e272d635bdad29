"""The simulator's documented old home: ``django_esms_voice.testing.simulator`` under its old name.

``from django_esms_voice.simulator import EsmsSimulator, Script`` and
``python -m django_esms_voice.simulator --port 8765`` keep working.
"""

import sys

from .testing.simulator import *  # noqa: F403
from .testing.simulator import __all__ as __all__
from .testing.simulator import main

if __name__ == "__main__":
    sys.exit(main())
