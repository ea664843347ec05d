"""The training view: start, watch, pause, stop a training from the page; the one training path; limits.

The API through Starlette's TestClient, and the page end to end in headless Chromium (skipped cleanly
without Debian's chromium).
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from digitnet.cli.main import build_parser
from digitnet.data import load_mnist
from digitnet.modelfile import load_model
from digitnet.serve.training_routes import PAGE_SETTINGS, TrainRequest, page_config
from digitnet.training.runs import train
from digitnet.training.settings import SETTINGS

QUICK = {"epochs": "2", "train_size": "3000"}


@pytest.fixture
def client(mnist_dir, tmp_path, training_app):
    app = training_app(tmp_path, mnist_dir)
    with TestClient(app) as c:
        yield c


def events(client, after=-1) -> list[dict]:
    """Every event of the stream until it ends (it ends with the training)."""
    out = []
    with client.stream("GET", f"/api/train/events?after={after}") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:") and "type" in (event := json.loads(line[5:])):  # not the status
                out.append(event)
    return out


def test_the_pages_settings_are_rows_of_the_settings_table():
    """One definition: the page is sent each setting's help, kind and choices from the table, and every
    setting it offers is a `digitnet train` flag."""
    from digitnet.serve.training_routes import training_router

    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in PAGE_SETTINGS:
        assert SETTINGS[name].option in train_help
    routes = {route.path: route for route in training_router(None).routes}
    assert "/api/train/settings" in routes


def test_settings_lists_presets_and_rows(client):
    answer = client.get("/api/train/settings").json()
    assert list(answer["presets"]) == ["seeds", "default", "lenet5"]
    assert answer["presets"]["seeds"]["architecture"] == "784-16-16-10"
    assert answer["presets"]["seeds"]["values"]["hidden"] == "16x16"
    rows = {row["name"]: row for row in answer["settings"]}
    assert list(rows) == list(PAGE_SETTINGS)
    assert rows["lr"]["help"] == SETTINGS["lr"].help and rows["activation"]["choices"] == [
        "sigmoid",
        "tanh",
        "relu",
    ]
    assert answer["status"]["state"] == "idle"


def test_a_training_streams_its_events_saves_its_run_and_is_served_at_once(client, mnist_dir):
    started = client.post("/api/train", json={"preset": "seeds", "settings": QUICK})
    assert started.status_code == 202 and started.json()["architecture"] == "784-16-16-10"
    seen = events(client)
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert "batch" in kinds and kinds.count("snapshot") >= 3
    epoch = next(e for e in seen if e["type"] == "epoch")
    assert np.array(epoch["confusion"]).sum() == 10_000  # the validation split
    snapshot = [e for e in seen if e["type"] == "snapshot"][-1]  # the newest keeps its images
    assert np.array(snapshot["weights"]).shape == (16, 28, 28) and len(snapshot["answers"]) == 10
    done = seen[-1]
    assert done["state"] == "done" and Path(done["folder"], "model.safetensors").is_file()
    assert done["model"] in [m["name"] for m in client.get("/api/models").json()]
    pixels = np.zeros((28, 28))
    pixels[4:24, 13:15] = 1
    answer = client.post("/api/predict", json={"pixels": pixels.tolist(), "model": done["model"]})
    assert answer.status_code == 200 and answer.json()["model"] == done["model"]
    # the one training path: the same settings and seed give the weights `digitnet train` gives
    config = page_config(TrainRequest(preset="seeds", settings=QUICK))
    data = load_mnist(mnist_dir, validation_size=config.validation_size, train_size=config.train_size)
    direct = train(config, data, progress=False).model
    saved = load_model(Path(done["folder"], "model.safetensors")).model
    for name, array in direct.named_state().items():
        np.testing.assert_array_equal(saved.named_state()[name], array)


def test_one_training_at_a_time_and_bad_settings_refused_as_digitnet_train_refuses_them(client):
    for settings, message in [
        ({"epochs": "500"}, "epochs must be at most 100 here"),
        ({"hidden": "16,a"}, "hidden must be hidden layer sizes such as 100 or 16x16"),
        ({"lr": "-1"}, "lr must be a positive finite number, got -1.0"),
        ({"workers": "4"}, "the page does not set workers"),
        ({"hidden": "2000"}, "at most 4 layers of at most 1,024 units"),
    ]:
        answer = client.post("/api/train", json={"preset": "seeds", "settings": settings})
        assert answer.status_code == 422 and message in answer.json()["detail"], answer.json()
    assert client.post("/api/train", json={"preset": "nope"}).status_code == 422
    assert client.post("/api/train/stop").status_code == 409  # nothing to stop
    assert (
        client.post("/api/train", json={"preset": "seeds", "settings": {"epochs": "30"}}).status_code == 202
    )
    busy = client.post("/api/train", json={"preset": "default"})
    assert busy.status_code == 409 and "784-16-16-10" in busy.json()["detail"]
    assert client.post("/api/train/resume").status_code == 409  # not paused
    assert client.post("/api/train/pause").json()["state"] == "paused"
    time.sleep(0.5)
    paused_at = client.get("/api/train/settings").json()["status"]["events"]
    time.sleep(0.5)
    assert client.get("/api/train/settings").json()["status"]["events"] == paused_at  # nothing moves
    assert client.post("/api/train/resume").json()["state"] == "running"
    time.sleep(1.5)
    assert client.post("/api/train/stop").json()["state"] in ("stopping", "stopped")
    done = events(client)[-1]
    assert done["type"] == "done" and done["state"] == "stopped"
    if done["model"]:  # it got past an epoch: that epoch's model, as Ctrl-C on digitnet train keeps it
        assert load_model(Path(done["folder"], "model.safetensors")).metrics["interrupted"] is True


def test_predictions_answer_while_a_training_runs(client):
    assert (
        client.post("/api/train", json={"preset": "default", "settings": {"epochs": "3"}}).status_code == 202
    )
    pixels = np.zeros((28, 28))
    pixels[4:24, 13:15] = 1
    for _ in range(5):
        assert client.post("/api/predict", json={"pixels": pixels.tolist()}).status_code == 200
    assert client.get("/api/train/settings").json()["status"]["state"] == "running"
    client.post("/api/train/stop")
    assert events(client)[-1]["type"] == "done"


def test_a_server_stopped_mid_training_keeps_the_last_finished_epoch(mnist_dir, tmp_path, training_app):
    app = training_app(tmp_path, mnist_dir)
    with TestClient(app) as c:
        c.post("/api/train", json={"preset": "seeds", "settings": {"epochs": "50", "train_size": "5000"}})
        for _ in range(400):
            if any(e["type"] == "epoch" for e in app.state.training.events_after(-1)):
                break
            time.sleep(0.05)
    # leaving the block shuts the app down: the training stops and saves its last finished epoch
    assert not app.state.training._thread.is_alive()
    saved = sorted(tmp_path.glob("page-*/model.safetensors"))
    assert len(saved) == 1 and load_model(saved[0]).metrics["interrupted"] is True


# ----- the page, in Chromium ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_the_page_trains_the_lessons_network_and_the_drawing_pad_uses_it(start_server, tmp_path, mnist_dir):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    args = ["--runs", str(tmp_path / "runs"), "--data", str(mnist_dir)]
    with start_server(args=args) as (url, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 1280, "height": 1100})
        try:
            tab.goto(url + "/train")
            tab.wait_for_selector("#s-epochs")
            assert tab.input_value("#s-hidden") == "16x16" and tab.input_value("#s-cost") == "quadratic"
            tab.fill("#s-epochs", "30")
            tab.click("#start")
            tab.wait_for_function(
                "(+document.querySelector('#weights').dataset.updates || 0) >= 5", timeout=60_000
            )
            tab.wait_for_function(
                "[...document.querySelectorAll('#epochs tbody tr')]"
                ".some(r => parseFloat(r.cells[2].textContent) > 90)",
                timeout=120_000,
            )
            tab.screenshot(path=str(tmp_path / "training.png"))
            tab.click("#stop")
            tab.wait_for_selector("#draw-on-it", timeout=60_000)
            name = tab.locator("#draw-on-it").get_attribute("href").split("=")[-1]
            tab.click("#draw-on-it")
            tab.wait_for_function(f"document.querySelector('#model').value === '{name}'")
            box = tab.locator("#pad").bounding_box()
            tab.mouse.move(box["x"] + 150, box["y"] + 50)
            tab.mouse.down()
            tab.mouse.move(box["x"] + 150, box["y"] + 230, steps=12)
            tab.mouse.up()
            tab.wait_for_function(
                "document.querySelector('#answer').dataset.pending === 'no'", timeout=10_000
            )
            assert tab.locator("#answer").text_content().strip() != "draw a digit"
        except Exception:
            tab.screenshot(path=str(tmp_path / "failed.png"))
            raise
        finally:
            browser.close()


def test_ctrl_c_on_the_server_ends_the_streams_and_keeps_the_finished_epoch(
    start_server, tmp_path, mnist_dir
):
    """A listener's event stream must not hold the server's shutdown; the training saves what it finished."""
    import threading
    import urllib.request

    args = ["--runs", str(tmp_path), "--data", str(mnist_dir)]
    with start_server(args=args) as (url, process):
        body = json.dumps({"preset": "default", "settings": {"epochs": "100"}}).encode()
        request = urllib.request.Request(
            url + "/api/train", data=body, headers={"Content-Type": "application/json"}
        )
        assert urllib.request.urlopen(request, timeout=10).status == 202
        listener = threading.Thread(
            target=lambda: urllib.request.urlopen(url + "/api/train/events", timeout=60).read()
        )
        listener.start()
        time.sleep(4)  # 784-100-10 trains 100 epochs in about 38 s here (AMD EPYC, 2 cores): stopped early
        started = time.monotonic()
        process.terminate()
        process.wait(timeout=20)
        assert time.monotonic() - started < 10
        listener.join(timeout=10)
        assert not listener.is_alive()
    saved = list(tmp_path.glob("page-*/model.safetensors"))
    assert len(saved) == 1 and load_model(saved[0]).metrics["interrupted"] is True


def test_a_training_started_from_the_command_line_can_be_watched_and_stopped_from_the_page(
    tmp_path, mnist_dir, pick_port
):
    """`digitnet train --watch PORT`: the same events; the page's Stop is Ctrl-C (the epoch is kept)."""
    import subprocess
    import sys
    import urllib.request

    port = pick_port()
    command = [sys.executable, "-m", "digitnet", "train", "--preset", "default", "--epochs", "100"]
    command += [
        "--watch",
        str(port),
        "--data",
        str(mnist_dir),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout.readline().startswith("digitnet: ")  # which path runs, said first
        assert process.stdout.readline().strip() == f"watch it learn at http://127.0.0.1:{port}/train"
        seen, stopped = [], False
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/train/events", timeout=60) as stream:
            for raw in stream:
                if raw.startswith(b"data:") and "type" in (event := json.loads(raw[5:])):
                    seen.append(event)
                    if event["type"] == "epoch" and not stopped:
                        stop = urllib.request.Request(
                            f"http://127.0.0.1:{port}/api/train/stop", method="POST"
                        )
                        assert json.loads(urllib.request.urlopen(stop).read())["state"] == "stopping"
                        stopped = True
        out = process.communicate(timeout=60)[0]
    finally:
        process.kill()
    assert seen[0]["type"] == "start" and seen[-1]["type"] == "done" and seen[-1]["state"] == "stopped"
    assert "saved the model of that epoch" in out and "Traceback" not in out
    assert load_model(tmp_path / "run" / "model.safetensors").metrics["interrupted"] is True


def test_only_this_machine_may_train_keep_drawings_or_fine_tune_unless_told(
    mnist_dir, tmp_path, training_app
):
    app = training_app(tmp_path, mnist_dir, remote_training=False)
    with TestClient(app, client=("192.168.1.20", 50000)) as other:
        for path, body in [
            ("/api/train", {"preset": "seeds"}),
            ("/api/train/stop", None),
            ("/api/fine-tune", {"model": "mlp"}),
        ]:
            answer = other.post(path, json=body)
            assert answer.status_code == 403 and "--remote-training" in answer.json()["detail"]
        assert other.get("/api/train/settings").status_code == 200  # watching is for everyone
    with TestClient(app, client=("127.0.0.1", 50000)) as mine:
        assert mine.post("/api/train/stop").status_code == 409  # past the guard: nothing to stop


def test_a_long_training_keeps_one_snapshots_images_and_its_start_for_late_pages():
    from digitnet.serve.training_session import MAX_EVENTS, TrainingSession

    session = TrainingSession({}, Path("."))
    session.emit({"type": "start", "architecture": "784-16-16-10"})
    for i in range(MAX_EVENTS + 10):
        session.emit({"type": "snapshot", "weights": [[0.5] * 28] * 16} if i % 6 == 0 else {"type": "batch"})
    kept = session.events_after(-1)
    assert kept[0]["type"] == "start"  # evicted from the store, still sent first
    assert (
        sum("weights" in e for e in kept) == 1
        and "weights" in [e for e in kept if e["type"] == "snapshot"][-1]
    )


def test_the_watch_page_starts_nothing():
    from digitnet.serve.training_session import Busy, TrainingSession
    from digitnet.training import TrainConfig

    session = TrainingSession({}, Path("."))
    session.watching(TrainConfig(), "watched", np.zeros((1, 784), np.float32), np.zeros(1, int))
    session.watched_end("done", None, "", "done")
    with pytest.raises(Busy, match="watches a training started by digitnet train --watch"):
        session.start(TrainConfig(), "from the page")
