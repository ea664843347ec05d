"""Teach it your handwriting: drawings kept as prepared inputs, a fine-tuned copy, the original untouched."""

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from digitnet.modelfile import load_model
from digitnet.models import MLP_MODEL


def png(strokes) -> str:
    image = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line(stroke, fill=0, width=18)
    data = io.BytesIO()
    image.save(data, "PNG")
    return "data:image/png;base64," + base64.b64encode(data.getvalue()).decode()


def sevens(n, seed=0):
    """A learner's crossed sevens, each a little different."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        j = rng.uniform(-20, 20, 5)
        yield [[(80 + j[0], 60 + j[1]), (200 + j[2], 60), (120 + j[3], 230 + j[4])], [(95, 150), (195, 148)]]


@pytest.fixture
def client(mnist_dir, tmp_path, training_app):
    app = training_app(tmp_path, mnist_dir)
    with TestClient(app) as c:
        yield c


def test_drawings_are_kept_prepared_as_predictions_are_and_counted(client, tmp_path):
    assert client.get("/api/drawings").json()["mine"]["total"] == 0
    for i, strokes in enumerate(sevens(5)):
        answer = client.post("/api/drawings", json={"image": png(strokes), "label": 7, "kept_apart": i == 0})
        assert answer.status_code == 200
    counts = answer.json()
    assert counts["mine"]["per_digit"][7] == 4 and counts["kept"]["per_digit"][7] == 1
    saved = np.asarray(Image.open(next((tmp_path / "drawings" / "mine" / "7").glob("*.png"))))
    assert saved.shape == (28, 28) and saved.max() > 200 and saved[0].max() == 0  # ink bright, centred
    blank = client.post("/api/drawings", json={"image": png([]), "label": 3})
    assert blank.status_code == 422 and "no ink" in blank.json()["detail"]
    assert client.post("/api/drawings", json={"image": png([]), "label": 12}).status_code == 422


def test_fine_tuning_makes_a_new_model_and_leaves_the_original_as_it_was(client, tmp_path):
    assert client.post("/api/fine-tune", json={"model": "mlp"}).status_code == 422  # nothing to learn from
    assert client.post("/api/fine-tune", json={"model": "nope"}).status_code == 404
    for i, strokes in enumerate(sevens(24)):
        client.post("/api/drawings", json={"image": png(strokes), "label": 7, "kept_apart": i % 4 == 0})
    before = MLP_MODEL.read_bytes()
    assert client.post("/api/fine-tune", json={"model": "mlp", "epochs": 1}).status_code == 202
    assert client.post("/api/fine-tune", json={"model": "mlp"}).status_code == 409  # one at a time
    done = None
    with client.stream("GET", "/api/train/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("type") == "done":
                done = json.loads(line[5:])
    assert done["state"] == "done" and "MNIST's test digits:" in done["said"]
    assert done["model"] in [m["name"] for m in client.get("/api/models").json()]
    metrics = load_model(Path(done["folder"], "model.safetensors")).metrics
    assert metrics["fine_tuned_from"] == "mlp" and metrics["drawings"] == 18 and metrics["kept_drawings"] == 6
    assert abs(metrics["test_accuracy"] - metrics["test_accuracy_before"]) < 0.02  # it forgets little
    assert MLP_MODEL.read_bytes() == before


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_drawing_pad_adds_drawings_and_fine_tunes(start_server, tmp_path, mnist_dir):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with start_server(args=["--runs", str(tmp_path), "--data", str(mnist_dir), "mlp"]) as (url, _):
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            tab = browser.new_page(viewport={"width": 1100, "height": 1000})
            try:
                tab.goto(url)
                tab.wait_for_selector("#teach-add", state="visible")
                tab.select_option("#teach-label", "7")
                box = tab.locator("#pad").bounding_box()
                for strokes in sevens(3):
                    for stroke in strokes:
                        tab.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                        tab.mouse.down()
                        for x, y in stroke[1:]:
                            tab.mouse.move(box["x"] + x, box["y"] + y, steps=6)
                        tab.mouse.up()
                    tab.click("#teach-add")
                    tab.wait_for_function(
                        "document.querySelector('#teach-status').textContent === 'added as a 7'"
                    )
                    tab.evaluate("document.querySelector('#teach-status').textContent = ''")
                assert "3 drawings to learn from" in tab.text_content("#teach-counts")
                tab.click("#teach-tune")
                tab.wait_for_function(
                    "document.querySelector('#teach-status').dataset.model", timeout=120_000
                )
                name = tab.get_attribute("#teach-status", "data-model")
                tab.wait_for_function(f"document.querySelector('#model').value === '{name}'")
                assert name.startswith("mlp-mine-")
                tab.screenshot(path=str(tmp_path / "fine-tuned.png"))
            except Exception:
                tab.screenshot(path=str(tmp_path / "failed.png"))
                raise
            finally:
                browser.close()
