"""`digitnet train --tensorboard DIR`: TensorBoard's own reader reads back every scalar, histogram and
image the run wrote."""

import sys

import numpy as np
import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

from digitnet.cli.main import main  # noqa: E402
from digitnet.nn.inspect import first_layer_images  # noqa: E402
from digitnet.training import TrainConfig, train  # noqa: E402
from digitnet.training.tensorboard import TensorBoardLog  # noqa: E402


def read(folder):
    everything = {"scalars": 0, "images": 0, "histograms": 0}
    return event_accumulator.EventAccumulator(str(folder), size_guidance=everything).Reload()


def test_every_scalar_histogram_and_image_is_read_back(mnist, tmp_path):
    config = TrainConfig(hidden=(16, 16), epochs=3, batch_size=100, train_size=2000, validation_size=1000)
    result = train(config, mnist, callbacks=[TensorBoardLog(tmp_path)], progress=False)
    events = read(tmp_path)
    epochs = result.history.epochs
    batches = [e.value for e in events.Scalars("batch/cost")]
    assert len(batches) == 3 * 20 and all(np.isfinite(batches))
    for tag, key in [
        ("epoch/cost", "loss"),
        ("epoch/accuracy", "accuracy"),
        ("epoch/learning_rate", "lr"),
        ("epoch/val_cost", "val_loss"),
        ("epoch/val_accuracy", "val_accuracy"),
    ]:
        written = events.Scalars(tag)
        assert [e.step for e in written] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in written], [e[key] for e in epochs], rtol=1e-6)
    assert sorted(events.Tags()["histograms"]) == ["weights/0-Dense", "weights/2-Dense", "weights/4-Dense"]
    assert [h.step for h in events.Histograms("weights/0-Dense")] == [1, 2, 3]
    histogram = events.Histograms("weights/0-Dense")[-1].histogram_value
    assert histogram.num == 784 * 16  # every weight of the first layer, at the last epoch
    images = events.Images("first_layer/neurons")
    assert [i.step for i in images] == [1, 2, 3] and images[0].width > 28 and images[0].height > 28


def test_the_first_layers_images_are_its_neurons_or_kernels():
    from digitnet.training import build_model

    mlp = build_model(TrainConfig(hidden=(16, 16)))
    pictures = first_layer_images(mlp)
    w = mlp.layers[0].params["W"]
    assert pictures.shape == (16, 28, 28) and pictures.min() >= 0 and pictures.max() <= 1
    np.testing.assert_allclose(pictures[3].ravel() - 0.5, 0.5 * w[:, 3] / np.abs(w[:, :16]).max(), atol=1e-6)
    cnn = build_model(TrainConfig(conv=((6,), (16,)), hidden=(32,)))
    assert first_layer_images(cnn).shape == (6, 5, 5)


def test_the_command_line_writes_the_events_and_says_so_when_the_extra_is_missing(
    mnist_dir, tmp_path, capsys, monkeypatch
):
    argv = ["train", "--hidden", "8", "--epochs", "1", "--train-size", "500", "--no-progress"]
    argv += ["--data", str(mnist_dir), "--out", str(tmp_path / "run"), "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 0
    assert len(read(tmp_path / "tb").Scalars("epoch/cost")) == 1
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if it were not installed
    argv[-3] = str(tmp_path / "run2")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "pip install 'digitnet[tensorboard]'" in err and "Traceback" not in err
    assert not (tmp_path / "run2" / "model.safetensors").exists()
