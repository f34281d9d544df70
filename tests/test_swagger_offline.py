"""Swagger UI (/apidocs) loads nothing from another host: an offline
deployment gets the whole page from the API itself."""

import re

OUTSIDE = re.compile(r"(?:https?:)?//(?!localhost[:/])[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def test_swagger_ui_references_no_other_host(client):
    page = client.get("/apidocs/").get_data(as_text=True)
    assert "swagger-ui" in page

    references = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', page)
    assert references, page
    assert [ref for ref in references if OUTSIDE.match(ref)] == []
    assert OUTSIDE.findall(page) == [], "the page names another host"
    stylesheets = [ref for ref in references if ref.endswith(".css")]
    assert stylesheets
    for ref in references:
        if ref.startswith("/"):
            asset = client.get(ref)
            assert asset.status_code == 200, ref
            if ref.endswith(".css"):
                css = asset.get_data(as_text=True)
                assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", css), ref
