"""Serve the console's built files: ``/`` is its page, ``/ui/<file>`` its assets.

The files are built from ``console/`` by ``bin/install-console`` into
``WEB_CONSOLE_FOLDER``. The page talks to the API with the client key in the
``Workflow-API-Key`` header only; these routes need no key, set no cookie,
and forbid the page to load anything from another host (the CSP below).
"""

import os

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import NotFound

blueprint = Blueprint("web_console", __name__)

# The page and its scripts come from this host alone; images are blob: URLs of
# charts and downloads; uPlot sizes its elements with inline style attributes.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = (
    "The web console is not built: run bin/install-console "
    "(bin/serve and bin/test do it), or set WEB_CONSOLE_FOLDER.\n"
)


def _folder():
    return current_app.config["WEB_CONSOLE_FOLDER"]


@blueprint.route("/", methods=["GET"])
def index():
    """The console's page; its hashed asset names change with every build,
    so the page itself is never cached."""
    if not os.path.isfile(os.path.join(_folder(), "index.html")):
        return NOT_BUILT, 503, {"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS}
    response = send_from_directory(_folder(), "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers.update(SECURITY_HEADERS)
    return response


@blueprint.route("/ui/<path:name>", methods=["GET"])
def asset(name):
    """A built script or style sheet; its name carries its content hash."""
    if name == "index.html":
        raise NotFound()
    response = send_from_directory(_folder(), name, max_age=365 * 24 * 3600)
    response.headers.update(SECURITY_HEADERS)
    return response
