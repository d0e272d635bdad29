#!/usr/bin/env python
"""Django's command-line utility for the example project.

Runs from anywhere, e.g. `python example_project/manage.py migrate` from the repository root:
this file's folder goes on sys.path, so `config` and `shop` import.
"""

import os
import sys
from pathlib import Path


def main() -> None:
    """Run administrative tasks."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
