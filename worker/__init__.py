"""The Celery worker that runs GridLAB-D pipelines: ``celery -A worker worker``.

The Celery app (``worker.app``, also ``worker.celery``) is built on first
access, so that ``python -m worker.gridlabd_cli`` starts fast and leaves no
broker folders in a run's working directory.
"""


def __getattr__(name):
    if name in ("app", "celery"):
        from . import tasks  # registers the tasks on the app

        return tasks.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
