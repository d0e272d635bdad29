"""The example project's configuration package; loading it loads the Celery app.

Importing the app here makes `shared_task` tasks (the app's place_call and sweep) use it
whenever Django runs: in the development server, the shell and management commands.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
