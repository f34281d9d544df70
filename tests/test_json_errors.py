"""A body that is not JSON: the 400 says where the syntax breaks."""

import pytest

from .helpers import assert_error


@pytest.mark.parametrize(
    "body, where",
    [
        ('{"name": ,}', "line 1, column 10"),
        ('{\n  "name": "feeder",\n  "model": "m.glm"\n', "line 4, column 1"),
        ('{"name": "feeder" "model": "m.glm"}', "line 1, column 19"),
    ],
)
def test_json_syntax_error_gives_line_and_column(client, keys, body, where):
    response = client.post("/v1/pipelines", data=body, content_type="application/json", headers=keys.client)
    message = assert_error(response, 400)["message"]
    assert message.startswith("The body is not valid JSON: ") and where in message, message
    assert client.get("/v1/pipelines", headers=keys.client).get_json() == []
