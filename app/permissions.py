"""The permissions of the Workflow API and the decorator that checks them."""

from enum import IntEnum, unique

from flask import g

from roles.decorators import make_permission_decorator


@unique
class WorkflowPermissions(IntEnum):
    """Permissions used for the Workflow endpoints."""

    PIPELINES_CLIENT = 1
    PIPELINES_WORKER = 2


permissions_required = make_permission_decorator(WorkflowPermissions)

client_only = permissions_required([WorkflowPermissions.PIPELINES_CLIENT])
worker_only = permissions_required([WorkflowPermissions.PIPELINES_WORKER])
client_or_worker = permissions_required(
    [WorkflowPermissions.PIPELINES_CLIENT, WorkflowPermissions.PIPELINES_WORKER]
)


def is_worker():
    """Whether the guarded request's key holds the worker permission."""
    return WorkflowPermissions.PIPELINES_WORKER.value in g.application.permission_ids


def is_client():
    """Whether the guarded request's key holds the client permission."""
    return WorkflowPermissions.PIPELINES_CLIENT.value in g.application.permission_ids
