"""Other web pages cannot use the API: a foreign ``Origin``, a cross-site fetch or a foreign ``Host`` gets
403; pages allowed with ``--allow-origin`` get the CORS answers a browser needs."""

import json
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient

from digitnet.cli.main import main
from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL
from digitnet.serve import create_app
from digitnet.serve.api import parse_host, parse_origin

DRAWING = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
"""A vertical bar: a 1."""


def client(allowed=(), base_url="http://testserver", hosts=("testserver",)):
    app = create_app({"default": load_model(MLP_MODEL)}, "default", allowed, allowed_hosts=hosts)
    return TestClient(app, base_url=base_url)


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
    "url",
    [
        "not-a-url",
        "localhost:3000",
        "ftp://x.example",
        "http://x.example/app",
        "http://x.example?q=1",
        "http://user@x.example",
        "http://x.example:99999",
        "http://",
        " http://x.example",
        "null",
    ],
)
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


def test_a_rebound_name_is_refused_though_host_and_origin_agree(own):
    """DNS rebinding: evil.example now resolves to this machine, so its page is "same-origin"."""
    rebound = {"host": "evil.example:8000", "origin": "http://evil.example:8000"}
    for response in (predict(own, **rebound), own.get("/", headers={"host": "evil.example:8000"})):
        assert response.status_code == 403
        detail = response.json()["detail"]
        assert "host 'evil.example:8000' refused" in detail and "--allow-host evil.example" in detail


@pytest.mark.parametrize(
    "host", ["localhost:8000", "LocalHost", "127.0.0.1:8000", "[::1]:8000", "192.168.1.20:8000", "testserver"]
)
def test_localhost_and_ip_addresses_pass_the_host_check(own, host):
    assert predict(own, host=host, origin=f"http://{host}").status_code == 200
    assert own.get("/api/models", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["testserver:abc", "testserver:99999", "testserver/x", "a@testserver", "a b", ""]
)
def test_malformed_host_headers_are_refused(own, host):
    response = own.get("/api/health", headers={"host": host})
    assert response.status_code == 403 and "refused" in response.json()["detail"]


def test_allowed_hosts_and_the_hosts_of_allowed_origins_pass():
    app = client(allowed=["http://tools.example:3000"], hosts=["MyBox.Local"])
    assert app.get("/api/models", headers={"host": "mybox.local:8000"}).status_code == 200
    assert predict(app, host="mybox.local:8000", origin="http://mybox.local:8000").status_code == 200
    assert app.get("/api/models", headers={"host": "tools.example:3000"}).status_code == 200
    assert app.get("/api/models").status_code == 403  # Host: testserver, not allowed this time
    assert app.get("/api/models", headers={"host": "other.local"}).status_code == 403


@pytest.mark.parametrize(
    "text, name",
    [("MyBox.Local", "mybox.local"), ("my_box", "my_box"), ("[::1]", "::1"), ("10.0.0.7", "10.0.0.7")],
)
def test_parse_host(text, name):
    assert parse_host(text) == name


@pytest.mark.parametrize("text", ["mybox.local:8000", "http://mybox.local", "a b", "", "-x", "x..y", " x"])
def test_parse_host_refuses_what_is_no_host_name(text):
    with pytest.raises(ValueError, match="expected a host name such as mybox.local"):
        parse_host(text)


def test_an_allowed_page_gets_cors_answers_and_others_none():
    app = client(allowed=["http://localhost:3000"])
    preflight = app.options(
        "/api/predict",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    answer = predict(app, origin="http://localhost:3000")
    assert (
        answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    )
    assert "Origin" in answer.headers["vary"]
    wrong = app.post(
        "/api/predict", json={"pixels": [2.0] * 784}, headers={"origin": "http://localhost:3000"}
    )
    assert (
        wrong.status_code == 422 and wrong.headers["access-control-allow-origin"] == "http://localhost:3000"
    )
    assert "retry-after" in answer.headers["access-control-expose-headers"].lower()  # the 503's hint
    own_page = predict(app, origin="http://testserver")
    assert own_page.status_code == 200 and "access-control-allow-origin" not in own_page.headers
    assert "access-control-allow-origin" not in predict(client(), origin="http://testserver").headers


def test_a_preflight_asking_for_more_is_refused_with_json():
    app = client(allowed=["http://localhost:3000"])
    for method, extra in (("PUT", None), ("POST", "x-secret")):
        headers = {"origin": "http://localhost:3000", "access-control-request-method": method}
        if extra:
            headers["access-control-request-headers"] = extra
        response = app.options("/api/predict", headers=headers)
        assert response.status_code == 400 and "CORS preflight refused" in response.json()["detail"]
        assert "GET and POST with Content-Type" in response.json()["detail"]


def test_serve_flags_are_checked_as_the_command_line_is_read(capsys):
    for args, message in [
        (["--port", "0"], "--port must be an integer from 1 to 65535, got 0"),
        (["--port", "http"], "--port must be an integer from 1 to 65535, got 'http'"),
        (["--allow-host", "mybox.local:8000"], "expected a host name such as mybox.local"),
    ]:
        with pytest.raises(SystemExit) as exit:
            main(["serve", *args])
        assert exit.value.code == 2 and message in capsys.readouterr().err


def test_digitnet_serve_checks_origins_and_hosts_end_to_end(start_server):
    args = ["--allow-origin", "http://localhost:3000", "--allow-host", "mybox.local"]
    with start_server(args=args) as (url, _):
        port = url.rsplit(":", 1)[1]
        cases = [
            ({"origin": url}, 200),
            ({"origin": "http://localhost:3000"}, 200),
            ({"origin": "http://evil.example"}, 403),
            ({"host": f"mybox.local:{port}", "origin": f"http://mybox.local:{port}"}, 200),
            ({"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}"}, 403),  # rebinding
        ]
        for headers, status in cases:
            body = json.dumps({"pixels": DRAWING}).encode()
            request = urllib.request.Request(
                url + "/api/predict", data=body, headers={"content-type": "application/json", **headers}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    assert reply.status == status == 200, headers
                    cors = reply.headers.get("access-control-allow-origin")
                    assert cors == ("http://localhost:3000" if headers["origin"].endswith(":3000") else None)
            except urllib.error.HTTPError as refused:
                assert refused.code == status == 403, (headers, refused.read())
