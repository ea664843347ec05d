"""The prediction API: right answers, a clear 4xx for every bad input, never a 500 (fuzzed)."""

import base64
import io
import json
import struct
import urllib.request
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitnet.modelfile import load_model
from digitnet.models import DEFAULT_MODEL, MLP_MODEL, bundled_models
from digitnet.serve import MAX_BODY_BYTES, create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app({"default": load_model(MLP_MODEL)}, "default", allowed_hosts=["testserver"]))


def png_bytes(digit28: np.ndarray, scale: int = 10) -> bytes:
    """A 28x28 digit in [0, 1] as a large PNG, dark ink on white paper."""
    pixels = (255 * (1 - digit28)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_bundled_models_ship_are_good_and_calibrated():
    assert list(bundled_models()) == ["cnn", "lenet5", "mlp"]  # the default first
    assert DEFAULT_MODEL == bundled_models()["cnn"]
    mlp = load_model(MLP_MODEL)
    assert mlp.model.n_params == 79_510 and mlp.metrics["test_accuracy"] > 0.975
    assert mlp.training["augment"] == "styles"
    lenet5 = load_model(bundled_models()["lenet5"])
    assert lenet5.model.input_shape == (1, 28, 28) and lenet5.metrics["test_accuracy"] > 0.99
    cnn = load_model(DEFAULT_MODEL)
    assert cnn.model.input_shape == (1, 28, 28) and cnn.metrics["test_accuracy"] >= 0.991
    assert cnn.training["augment"] == "styles" and cnn.training["conv"] == [[8], [32], [64]]
    for loaded in (mlp, lenet5, cnn):  # digitnet calibrate fitted each on drawn digits
        assert loaded.metrics["temperature"] >= 1 and 0.3 < loaded.metrics["min_confidence"] < 1


def test_health_models_and_schema(client):
    assert client.get("/api/health").json()["status"] == "ok"
    page = client.head("/")
    assert (
        page.status_code == 200 and page.headers["content-type"].startswith("text/html") and not page.content
    )
    (model,) = client.get("/api/models").json()
    assert model["name"] == "default" and model["default"] and model["parameters"] == 79_510
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)


def test_predicts_real_digits_three_ways(client, mnist):
    digits, labels = mnist.test.images[:20], mnist.test.y[:20]
    right = {"pixels": 0, "base64": 0, "multipart": 0}
    for image, label in zip(digits, labels):
        answers = {
            "pixels": client.post("/api/predict", json={"pixels": image.tolist()}),
            "base64": client.post(
                "/api/predict", json={"image": base64.b64encode(png_bytes(image)).decode()}
            ),
            "multipart": client.post(
                "/api/predict", files={"file": ("d.png", png_bytes(image), "image/png")}
            ),
        }
        for way, response in answers.items():
            assert response.status_code == 200, response.text
            right[way] += response.json()["digit"] == label
    assert all(count >= 18 for count in right.values()), right


def test_answer_holds_probabilities_activations_and_input(client, mnist):
    answer = client.post("/api/predict", json={"pixels": mnist.test.x[0].tolist()}).json()
    assert len(answer["probabilities"]) == 10 and abs(sum(answer["probabilities"]) - 1) < 1e-4
    assert answer["digit"] == int(np.argmax(answer["probabilities"]))
    assert [len(layer["values"]) for layer in answer["activations"]] == [100, 100, 10]
    assert np.array(answer["input"]).shape == (28, 28) and answer["model"] == "default"
    sizes = [column["size"] for column in answer["network"]]
    assert sizes == [784, 100, 10] and len(answer["network"][1]["shown"]) == 16
    drawn = [set(range(784)), set(answer["network"][1]["shown"]), set(range(10))]
    for source, i, target, j, strength in answer["connections"]:
        assert target == source + 1 and i in drawn[source] and j in drawn[target] and strength > 0
    box = answer["steps"]["box"]
    assert 0 <= box[0] < box[2] <= 28 and 0 <= box[1] < box[3] <= 28
    assert max(np.array(answer["steps"]["fitted"]).shape) == 20


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"pixels": [0.5] * 10}, 422, "28 rows of 28"),
        ({"pixels": [[0.5] * 27] * 28}, 422, "28 rows of 28"),
        ({"pixels": [[0.5] * 28] * 27 + [[0.5] * 27]}, 422, "rows of 27 to 28 values"),  # ragged
        ({"pixels": [[0.5] * 28] * 27 + [[]]}, 422, "rows of 0 to 28 values"),
        ({"pixels": [[[0.5] * 28] * 28]}, 422, "nested no deeper"),
        (
            {"pixels": [[0.5] * 28] * 27 + [0.5]},
            422,
            "784 numbers or 28 rows of 28 numbers",
        ),  # rows and numbers
        (
            {"pixels": ["0.5"] * 784},
            422,
            "pixels[0]: Input should be a valid number",
        ),  # no strings for numbers
        ({"pixels": [True] * 784}, 422, "valid number"),
        ({"pixels": {"0": 0.5}}, 422, "pixels"),
        ({"pixels": [2.0] * 784}, 422, "[0, 1]"),
        ({"pixels": [-0.1] * 784}, 422, "[0, 1]"),
        ({"pixels": [0.0] * 784}, 422, "no ink"),
        ({"image": "not base64!"}, 422, "base64"),
        ({"image": base64.b64encode(b"plain text").decode()}, 415, "not an image"),
        ({"pixels": [0.2] * 784, "model": "nope"}, 404, "unknown model 'nope'"),
        ({"pixels": [0.2] * 784, "model": ""}, 404, "unknown model ''"),  # null or no "model" for the default
        ({}, 422, "exactly one"),
        ({"pixels": [0.1] * 784, "image": "aGk="}, 422, "exactly one"),
        ({"pixelz": []}, 422, "schema"),
    ],
)
def test_bad_json_bodies_get_a_clear_4xx(client, body, status, message):
    response = client.post("/api/predict", json=body)
    assert response.status_code == status and message in response.json()["detail"]


@pytest.mark.parametrize(
    "content, kind, status",
    [
        (b'{"pixels": [NaN, 1]}', "application/json", 422),
        (b'{"pixels": [' + b"NaN," * 783 + b"NaN]}", "application/json", 422),
        (b"[1, 2", "application/json", 422),
        (b"hello", "text/plain", 415),
        (b"x" * (MAX_BODY_BYTES + 1), "application/json", 413),
    ],
)
def test_bad_raw_bodies_get_a_clear_4xx(client, content, kind, status):
    response = client.post("/api/predict", content=content, headers={"content-type": kind})
    assert response.status_code == status and response.json()["detail"]


def test_multipart_without_a_file_or_with_a_non_image(client):
    assert (
        client.post("/api/predict", data={"model": "default"}, files={"other": ("a", b"b")}).status_code
        == 422
    )
    response = client.post("/api/predict", files={"file": ("notes.png", b"not an image", "image/png")})
    assert response.status_code == 415 and "notes.png" in response.json()["detail"]


nested_pixels = st.recursive(  # numbers in lists in lists ..., of any depth and ragged
    st.floats(0, 1), lambda children: st.lists(children, max_size=30), max_leaves=200
)
ragged_rows = st.lists(st.lists(st.floats(0, 1), min_size=26, max_size=30), min_size=27, max_size=29)

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.dictionaries(st.sampled_from(["pixels", "image", "model", "x"]), json_values, max_size=3),
        st.builds(
            lambda v: {"pixels": v}, st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=800)
        ),
        st.builds(
            lambda v: {"pixels": v},
            st.lists(st.lists(st.floats(-1, 2), min_size=28, max_size=28), min_size=27, max_size=29),
        ),
        st.builds(lambda v: {"pixels": v}, nested_pixels | ragged_rows),
        json_values,
    )
)
def test_fuzzed_bodies_never_cause_a_server_error(client, body):
    content = json.dumps(body, allow_nan=True).encode()
    response = client.post("/api/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.status_code == 200 or response.json()["detail"]


content_types = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON; charset=utf-16",
        "multipart/form-data",
        "image/png",
        "",
        "multipart/form-data; boundary=b",
        "application/x-www-form-urlencoded",
        "text/plain",
        ";;",
        "multipart/mixed; boundary=b",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=content_types, content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzzed_raw_bodies_of_any_content_type_never_cause_a_server_error(client, kind, content):
    if kind.startswith("multipart") and "boundary=b" in kind and content[:1] == b"0":
        # the start of a real form, then anything: the parser gets as far as the file before it goes wrong
        content = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + content
    response = client.post("/api/predict", content=content, headers={"content-type": kind})
    assert response.status_code < 500, response.text
    assert response.json()["detail"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(
        st.sampled_from(["file", "model", "pixels", "x"]),
        st.binary(max_size=200) | st.sampled_from(["default", "nope", ""]),
        max_size=3,
    )
)
def test_fuzzed_forms_never_cause_a_server_error(client, fields):
    files = {
        name: ("f.png", value, "image/png") for name, value in fields.items() if isinstance(value, bytes)
    }
    data = {name: value for name, value in fields.items() if isinstance(value, str)}
    response = client.post("/api/predict", data=data, files=files or None)
    assert response.status_code < 500, response.text
    assert response.json()["detail"]


def test_digitnet_serve_starts_with_no_dataset_and_answers(tmp_path, start_server):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DIGITNET_DATA": str(tmp_path / "no-data-here")}
    with start_server(env) as (url, process):
        drawing = [[0.0] * 28] * 10 + [[0.0] * 12 + [1.0] * 4 + [0.0] * 12] * 10 + [[0.0] * 28] * 8
        request = urllib.request.Request(
            url + "/api/predict",
            data=json.dumps({"pixels": drawing}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert 0 <= json.loads(reply.read())["digit"] <= 9
    assert url in process.stdout.read()


def test_digitnet_serve_takes_run_folders_and_bundled_names(tmp_path, start_server):
    run = tmp_path / "run-1"
    run.mkdir()
    (run / "model.safetensors").write_bytes(MLP_MODEL.read_bytes())  # as `digitnet train` leaves it
    with start_server(args=[str(run), "lenet5", str(run / "model.safetensors")]) as (url, _):
        with urllib.request.urlopen(url + "/api/models", timeout=10) as reply:
            served = {model["name"]: model["default"] for model in json.loads(reply.read())}
    assert served == {"cnn": False, "lenet5": False, "mlp": False, "run-1": True}  # each once; the last given


def test_random_test_digit(client, mnist_dir):
    digit = client.get("/api/random-digit", params={"index": 0}).json()
    assert digit["index"] == 0 and digit["label"] == 7 and np.array(digit["pixels"]).shape == (28, 28)
    assert 0 <= client.get("/api/random-digit").json()["label"] <= 9
    assert client.get("/api/random-digit", params={"index": 10_000}).status_code == 422


def test_random_test_digit_without_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path / "empty"))
    bare = TestClient(create_app({"default": load_model(MLP_MODEL)}, "default", allowed_hosts=["testserver"]))
    response = bare.get("/api/random-digit")
    assert response.status_code == 404 and "DIGITNET_DATA" in response.json()["detail"]


def test_a_convolutional_model_answers_with_channel_summaries(mnist):
    from digitnet.modelfile import LoadedModel
    from digitnet.training.config import TrainConfig
    from digitnet.training.runs import build_model

    cnn = build_model(TrainConfig(conv=((4,),), kernel_size=3, batch_norm=True, hidden=(16,)))
    app = TestClient(create_app({"cnn": LoadedModel(cnn)}, "cnn", allowed_hosts=["testserver"]))
    answer = app.post("/api/predict", json={"pixels": mnist.test.x[0].tolist()}).json()
    assert len(answer["probabilities"]) == 10 and 0 <= answer["digit"] <= 9
    maps = [layer for layer in answer["activations"] if "shape" in layer]
    assert maps and maps[0]["shape"] == [4, 28, 28] and len(maps[0]["values"]) == 4  # one mean per channel
    assert [column["size"] for column in answer["network"]] == [784, 16, 10]
    assert all(link[0] >= 1 for link in answer["connections"])  # no links from pixels to dense units
    assert sum(layer.get("column", False) for layer in answer["activations"]) == 1  # the one hidden column


def png_header(width: int, height: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` 8-bit grey pixels,
    with 16 bytes of compressed zeros as its data.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(bytes(16))) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "content, status, message",
    [
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", 415, "PostScript"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", 415, "PDF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', 415, "SVG"),
        (png_header(12_000, 12_000), 413, "too large"),
        (png_header(2_500, 2_500), 413, "4,000,000 pixels"),  # fine for `digitnet predict`, not for the API
        (png_header(28, 28), 422, "PNG"),  # the header promises pixels that never come
    ],
)
def test_hostile_uploads_are_refused_from_their_first_bytes(client, content, status, message):
    for response in (
        client.post("/api/predict", files={"file": ("upload", content, "application/octet-stream")}),
        client.post("/api/predict", json={"image": base64.b64encode(content).decode()}),
    ):
        assert response.status_code == status, response.text
        assert message in response.json()["detail"]


def test_a_model_whose_outputs_overflow_answers_422_not_500():
    crafted = load_model(MLP_MODEL)
    crafted.model.layers[0].params["W"][...] = 3e38  # finite weights whose sums overflow float32
    client = TestClient(create_app({"default": crafted}, "default", allowed_hosts=["testserver"]))
    response = client.post("/api/predict", json={"pixels": [[0.0] * 28] * 10 + [[1.0] * 28] * 18})
    assert response.status_code == 422 and "NaN or infinite" in response.json()["detail"]


@pytest.mark.parametrize("squash", ["sigmoid", "tanh"])
def test_infinite_hidden_values_before_a_squashing_activation_answer_422_naming_the_layer(squash):
    """A sigmoid or tanh turns infinite sums into finite answers: every layer's values are checked."""
    from digitnet.nn import Dense, Sequential, Sigmoid, Tanh

    model = Sequential([Dense(32), Sigmoid() if squash == "sigmoid" else Tanh(), Dense(10)], rng=0)
    model.layers[0].params["W"][...] = 3e38
    crafted = load_model(MLP_MODEL)
    crafted.model = model
    client = TestClient(create_app({"m": crafted}, "m", allowed_hosts=["testserver"]))
    response = client.post("/api/predict", json={"pixels": [[0.0] * 28] * 10 + [[1.0] * 28] * 18})
    assert response.status_code == 422
    assert (
        response.json()["detail"].startswith("layer 0 (Dense(units=32")
        and "NaN or infinite" in (response.json()["detail"])
    )


def test_two_dense_layers_in_a_row_are_answered_and_drawn():
    """The first of two dense layers with no activation between is drawn by its own values."""
    from digitnet.nn import Dense, Sequential

    crafted = load_model(MLP_MODEL)
    crafted.model = Sequential([Dense(32), Dense(10)], rng=0)
    client = TestClient(create_app({"m": crafted}, "m", allowed_hosts=["testserver"]))
    response = client.post("/api/predict", json={"pixels": [[0.0] * 28] * 10 + [[1.0] * 28] * 18})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [column["size"] for column in answer["network"]] == [784, 32, 10]
    assert len(answer["network"][1]["shown"]) == 16 and {c[2] for c in answer["connections"]} == {1, 2}


def test_every_answer_says_whether_it_is_sure_by_the_models_threshold_or_the_callers(client, mnist):
    pixels = mnist.test.x[0].tolist()
    answer = client.post("/api/predict", json={"pixels": pixels}).json()
    assert answer["min_confidence"] == load_model(MLP_MODEL).metrics["min_confidence"]  # the model's own
    assert answer["sure"] == (answer["confidence"] >= answer["min_confidence"])
    ranked = np.argsort(answer["probabilities"])[::-1]
    assert [answer["digit"], answer["runner_up"]] == ranked[:2].tolist()
    assert answer["runner_up_confidence"] == pytest.approx(answer["probabilities"][ranked[1]], abs=1e-6)
    always = client.post("/api/predict", json={"pixels": pixels, "min_confidence": 0}).json()
    assert always["sure"] and always["min_confidence"] == 0
    never = client.post("/api/predict", json={"pixels": pixels, "min_confidence": 1.0}).json()
    assert never["sure"] == (never["confidence"] >= 1.0) and never["digit"] == always["digit"]
    form = client.post(
        "/api/predict",
        files={"file": ("d.png", png_bytes(mnist.test.images[0]), "image/png")},
        data={"min_confidence": "0.999999"},
    ).json()
    assert form["min_confidence"] == 0.999999 and form["sure"] == (form["confidence"] >= 0.999999)


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "0.5", [0.5]])
def test_a_bad_threshold_is_refused_with_a_message(client, bad):
    reply = client.post("/api/predict", json={"pixels": [0.0] * 784, "min_confidence": bad})
    assert reply.status_code == 422 and "min_confidence" in reply.json()["detail"]


@pytest.mark.parametrize("bad", ["abc", "nan", "2", "-1", "1e-1", "0.5 "])
def test_a_bad_threshold_in_a_form_is_refused_with_a_message(client, bad):
    image = (255 * np.ones((28, 28))).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    reply = client.post(
        "/api/predict",
        files={"file": ("d.png", buffer.getvalue(), "image/png")},
        data={"min_confidence": bad},
    )
    assert (
        reply.status_code == 422 and "min_confidence must be a number from 0 to 1" in reply.json()["detail"]
    )


@pytest.mark.parametrize(
    "pixels, where",
    [
        ([["x"]] * 140_000, "body: it holds 280,002 quotation marks, more than 2,000"),  # 1 MB of ["x"],
        ([[1]] * 120_000, "pixels: the body holds 240,000 commas and brackets outside strings"),  # not parsed
        ([0.5] * 900, "pixels: 900 values, more than 784"),
        ([[0.0] * 28] * 27 + [[0.0] * 27 + ["x"]], "pixels[27][27]: Input should be a valid number"),
        ([0.0] * 783 + [True], "pixels[783]: Input should be a valid number"),
        ([[0.0] * 28, 0.5], "pixels[1]: Input should be a valid list"),
    ],
)
def test_bad_pixels_are_refused_at_the_first_bad_one_not_listed_one_by_one(client, pixels, where):
    reply = client.post("/api/predict", json={"pixels": pixels})
    assert reply.status_code == 422 and where in reply.json()["detail"]
    assert len(reply.content) < 500  # one error, not 280,000
