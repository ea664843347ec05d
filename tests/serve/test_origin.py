"""Other web pages cannot use the API: a foreign ``Origin`` or a cross-site fetch gets 403."""

import json
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient

from digitnet.cli.main import main
from digitnet.modelfile import load_model
from digitnet.models import DEFAULT_MODEL
from digitnet.serve import create_app
from digitnet.serve.api import parse_origin

DRAWING = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
"""A vertical bar: a 1."""


def client(allowed=(), base_url="http://testserver"):
    return TestClient(
        create_app({"default": load_model(DEFAULT_MODEL)}, "default", allowed), base_url=base_url
    )


@pytest.fixture(scope="module")
def own():
    return client()  # its requests carry Host: testserver, so its own origin is http://testserver


def predict(app, **headers):
    return app.post("/api/predict", json={"pixels": DRAWING}, headers=headers)


def test_own_origin_and_no_origin_pass(own):
    assert predict(own, origin="http://testserver").status_code == 200
    assert own.get("/api/models", headers={"origin": "http://testserver"}).status_code == 200
    assert predict(own).status_code == 200  # curl, scripts, tests: no Origin at all
    assert predict(own, **{"sec-fetch-site": "same-origin", "origin": "http://testserver"}).status_code == 200


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://testserver", "http://testserver:8080", "null"]
)
def test_foreign_origins_get_403_on_post_and_get(own, origin):
    preflight = {"origin": origin, "access-control-request-method": "POST"}
    for response in (
        predict(own, origin=origin),
        own.get("/api/models", headers={"origin": origin}),
        own.options("/api/predict", headers=preflight),
    ):
        assert response.status_code == 403
        assert "cross-origin request refused" in response.json()["detail"]
        assert (f"--allow-origin {origin}" in response.json()["detail"]) == (origin != "null")


def test_localhost_and_127_0_0_1_are_different_origins():
    app = client(base_url="http://127.0.0.1:8000")
    assert predict(app, origin="http://127.0.0.1:8000").status_code == 200
    assert predict(app, origin="http://localhost:8000").status_code == 403


def test_allowed_origins_pass_and_others_still_fail():
    app = client(allowed=["http://localhost:3000", "HTTPS://Tools.Example/"])
    assert predict(app, origin="http://localhost:3000").status_code == 200
    assert app.get("/api/models", headers={"origin": "https://tools.example"}).status_code == 200
    assert predict(app, origin="http://localhost:3001").status_code == 403
    assert predict(app, origin="http://testserver").status_code == 200  # its own pages, as ever


def test_cross_site_fetches_without_origin_get_403_but_links_to_the_page_work(own):
    for site in ("cross-site", "same-site"):  # e.g. <img src> or <script src> on another page
        response = own.get("/api/models", headers={"sec-fetch-site": site, "sec-fetch-mode": "no-cors"})
        assert response.status_code == 403 and f"Sec-Fetch-Site: {site}" in response.json()["detail"]
    # following a link from elsewhere shows the page to the user, not to the page that linked
    assert (
        own.get("/", headers={"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}).status_code
        == 200
    )
    navigated_post = predict(own, **{"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"})
    assert navigated_post.status_code == 403  # a form posted from another site: refused


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://localhost:3000", "http://localhost:3000"),
        ("HTTP://LocalHost:80/", "http://localhost"),
        ("https://tools.example:443", "https://tools.example"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_parse_origin(url, origin):
    assert parse_origin(url) == origin


@pytest.mark.parametrize(
    "url", ["not-a-url", "localhost:3000", "ftp://x.example", "http://x.example/app", "http://x.example?q=1",
            "http://user@x.example", "http://x.example:99999", "http://", " http://x.example", "null"],
)  # fmt: skip
def test_parse_origin_refuses_what_is_no_origin(url):
    with pytest.raises(ValueError, match="expected an origin like http://localhost:3000"):
        parse_origin(url)


def test_create_app_refuses_a_bad_allowed_origin():
    with pytest.raises(ValueError, match="'localhost:3000'"):
        client(allowed=["localhost:3000"])


def test_allow_origin_with_no_url_is_a_clear_cli_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--allow-origin", "not-a-url"])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert (
        "argument --allow-origin: expected an origin like http://localhost:3000" in error
        and "'not-a-url'" in error
    )


def test_digitnet_serve_checks_origins_end_to_end(start_server):
    with start_server(args=["--allow-origin", "http://localhost:3000"]) as (url, _):
        for origin, status in [(url, 200), ("http://localhost:3000", 200), ("http://evil.example", 403)]:
            headers = {"content-type": "application/json", "origin": origin}
            body = json.dumps({"pixels": DRAWING}).encode()
            request = urllib.request.Request(url + "/api/predict", data=body, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    assert reply.status == status == 200
            except urllib.error.HTTPError as refused:
                assert refused.code == status == 403, (origin, refused.read())
