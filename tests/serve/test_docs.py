"""``/docs`` works offline: digitnet's own page, nothing loaded from elsewhere; ``/openapi.json`` stays."""

import re
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient

from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL
from digitnet.serve import create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app({"default": load_model(MLP_MODEL)}, "default", allowed_hosts=["testserver"]))


def test_docs_page_loads_nothing_from_elsewhere(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/openapi.json" in page and "<script>" in page  # it renders the API's own document, inline
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]+)""", page, flags=re.IGNORECASE)
    assert links and all(link.startswith("/") and not link.startswith("//") for link in links), links
    assert not re.search(r"<script[^>]*\bsrc\b", page, flags=re.IGNORECASE)  # no script file at all
    assert not re.search(r"""(?:import|url)\s*\(\s*["']?(?:https?:)?//""", page)  # nor CSS from elsewhere


def test_openapi_document_stays_and_the_cdn_pages_are_gone(client):
    document = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/models", "/api/health", "/api/random-digit"} <= set(document["paths"])
    assert "/docs" not in document["paths"] and "/" not in document["paths"]
    assert client.get("/redoc").status_code == 404


def test_the_documented_request_body_is_the_accepted_one(client):
    body = client.get("/openapi.json").json()["paths"]["/api/predict"]["post"]["requestBody"]
    as_json = body["content"]["application/json"]["schema"]
    assert as_json["additionalProperties"] is False and len(as_json["oneOf"]) == 2  # pixels or image
    flat, rows, null = as_json["properties"]["pixels"]["anyOf"]
    assert flat["minItems"] == flat["maxItems"] == 784 and flat["items"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
    }
    assert (
        rows["minItems"] == rows["maxItems"] == 28
        and rows["items"]["maxItems"] == 28
        and null == {"type": "null"}
    )
    assert as_json["properties"]["model"]["anyOf"] == [
        {"enum": ["default"], "description": ANY},
        {"type": "null"},
    ]
    assert body["content"]["multipart/form-data"]["schema"]["properties"]["model"]["enum"] == ["default", ""]
