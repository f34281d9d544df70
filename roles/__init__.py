"""Role-based authentication for Flask applications.

Importable on its own: the tables live on ``roles.models.db``, views are
guarded with ``roles.decorators.make_permission_decorator`` and keys are
created with ``roles.services.create_application_key``.
"""
