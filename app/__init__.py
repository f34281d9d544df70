"""The Workflow API: a Flask app factory."""

import logging

from flask import Flask

from . import config
from .artifacts import models as _artifact_models  # noqa: F401 - register tables
from .artifacts.storage import init_storage
from .database import init_database
from .errors import register_error_handlers
from .extensions import broker
from .input_files import models as _input_file_models  # noqa: F401 - register tables
from .metrics import init_metrics
from .migrations import init_migrations
from .openapi import init_swagger
from .pipelines import models as _pipeline_models  # noqa: F401 - register tables
from .runs import models as _run_models  # noqa: F401 - register tables
from .sweeps import models as _sweep_models  # noqa: F401 - register tables
from .workflows import models as _workflow_models  # noqa: F401 - register tables


def create_app(overrides=None):
    """Build the app from the environment, then ``overrides`` (for tests)."""
    app = Flask(__name__)
    app.config.update(config.from_environment())
    if overrides:
        app.config.update(overrides)
    app.json.sort_keys = False
    logging.basicConfig(level=logging.INFO)

    init_database(app)
    init_migrations(app)
    broker.init_app(app)
    init_storage(app)
    register_error_handlers(app)

    from .artifacts.views import blueprint as artifacts
    from .artifacts.views import retention_blueprint as artifact_retention
    from .health import blueprint as health
    from .input_files.views import blueprint as input_files
    from .pipelines.views import blueprint as pipelines
    from .runs.views import blueprint as runs
    from .runs.views import recovery_blueprint as run_recovery
    from .sweeps.views import blueprint as sweeps
    from .web_console.views import blueprint as web_console
    from .workflows.views import blueprint as workflows

    for blueprint in (
        health,
        pipelines,
        runs,
        run_recovery,
        artifacts,
        artifact_retention,
        sweeps,
        input_files,
        workflows,
    ):
        app.register_blueprint(blueprint)
    init_metrics(app)
    app.register_blueprint(web_console)  # the web page at /, not part of the API document
    init_swagger(app)
    return app
