"""wf: the Workflow Service's command-line client and the Python API under it.

from wf import Client

client = Client("http://127.0.0.1:5000", "<PIPELINES_CLIENT key>")
ref, run = client.run("ieee4", ["examples/ieee4.glm"], {"load_w": 50000})
client.download_artifacts(run, "results/")
"""

from .client import FINAL_STATES, ApiError, Client, Event, RunRef

__all__ = ["ApiError", "Client", "Event", "FINAL_STATES", "RunRef"]
