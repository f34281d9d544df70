"""Calls of the workflow API that the workflow tests share."""

from .helpers import assert_error


class Workflows:
    """``api`` (tests/conftest.py) plus the workflow endpoints."""

    def __init__(self, api):
        self.api = api
        self.client = api.client
        self.keys = api.keys

    def post(self, path, body, status=201):
        response = self.client.post(path, json=body, headers=self.keys.client)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def get(self, path, status=200):
        response = self.client.get(path, headers=self.keys.client)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def create(self, name="study", description=None):
        return self.post("/v1/workflows", {"name": name, "description": description})

    def add_node(self, workflow, pipeline, sources=(), destinations=()):
        return self.post(
            f"/v1/workflows/{workflow['uuid']}/pipelines",
            {
                "pipeline_uuid": pipeline["uuid"],
                "source_workflow_pipelines": [node["uuid"] for node in sources],
                "destination_workflow_pipelines": [node["uuid"] for node in destinations],
            },
        )

    def refused_node(self, workflow, body, field=None):
        response = self.client.post(
            f"/v1/workflows/{workflow['uuid']}/pipelines", json=body, headers=self.keys.client
        )
        return assert_error(response, 400, [field] if field else ())

    def start(self, workflow, inputs=(), **body):
        return self.post(f"/v1/workflows/{workflow['uuid']}/runs", {"inputs": list(inputs), **body})

    def read(self, workflow_run):
        return self.get(f"/v1/workflows/{workflow_run['workflow_uuid']}/runs/{workflow_run['uuid']}")

    def cancel(self, workflow_run, status=200):
        response = self.client.post(
            f"/v1/workflows/{workflow_run['workflow_uuid']}/runs/{workflow_run['uuid']}/cancel",
            headers=self.keys.client,
        )
        assert response.status_code == status, response.get_json()
        return response.get_json()

    @staticmethod
    def node_run(workflow_run, node):
        """The pipeline run of ``node`` in ``workflow_run``."""
        (found,) = [
            item["pipeline_run"]
            for item in workflow_run["workflow_pipeline_runs"]
            if item["workflow_pipeline_uuid"] == node["uuid"]
        ]
        return found

    def states(self, workflow_run):
        """``{node uuid: its run's state}`` and the workflow run's state, read now."""
        current = self.read(workflow_run)
        by_node = {
            item["workflow_pipeline_uuid"]: item["pipeline_run"]["state"]
            for item in current["workflow_pipeline_runs"]
        }
        return by_node, current["state"]

    def report(self, run, *states):
        """The worker's ``PUT .../state`` for each of ``states``; the last answer."""
        response = None
        for state in states:
            response = self.api.set_state(run["pipeline_uuid"], run["uuid"], state)
            assert response.status_code == 200, (state, response.get_json())
        return response.get_json()

    def console(self, run):
        return self.get(self.api.run_path(run["pipeline_uuid"], run["uuid"], "/console"))
