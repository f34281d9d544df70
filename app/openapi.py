"""The OpenAPI 3 document and Swagger UI at /apidocs (flasgger)."""

from flasgger import Swagger

TEMPLATE = {
    "openapi": "3.0.3",
    "info": {
        "title": "Workflow Service",
        "description": "Run GridLAB-D simulations as a service.",
        "version": "1.0.0",
    },
    "components": {
        "securitySchemes": {
            "WorkflowApiKey": {"type": "apiKey", "in": "header", "name": "Workflow-API-Key"}
        },
    },
    "security": [{"WorkflowApiKey": []}],
}

CONFIG = {
    "openapi": "3.0.3",
    "headers": [],
    "specs": [
        {
            "endpoint": "apispec",
            "route": "/apispec.json",
            "rule_filter": lambda rule: True,
            "model_filter": lambda tag: True,
        }
    ],
    "static_url_path": "/flasgger_static",
    "swagger_ui": True,
    "specs_route": "/apidocs/",
}


def init_swagger(app):
    app.config.setdefault("SWAGGER", {"title": "Workflow Service", "openapi": "3.0.3", "uiversion": 3})
    Swagger(app, template=TEMPLATE, config=CONFIG)
