def test_create_and_read_pipeline(api, client, keys):
    pipeline = api.create_pipeline(description="IEEE 4 node")
    response = client.get(f"/v1/pipelines/{pipeline['uuid']}", headers=keys.client)
    assert response.status_code == 200
    assert response.get_json()["description"] == "IEEE 4 node"
