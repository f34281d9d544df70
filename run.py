"""The WSGI entry point: ``gunicorn run:app`` and ``FLASK_APP=run.py flask ...``.

Importing this module builds the app and starts no server.
"""

from app import create_app

app = create_app()
