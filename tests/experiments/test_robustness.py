"""``digitnet experiment robustness`` in quick mode on real MNIST, and its transforms on small images."""

import numpy as np
import pytest

from digitnet.experiments.robustness import TRANSFORMS, dilate, erode, robustness_table, rotate, scale, shift


@pytest.fixture(scope="module")
def robust(quick_run):
    return quick_run("robustness")


def test_writes_figures_results_and_summary(robust):
    out, _ = robust
    for name in ("robustness_curves", "transform_gallery"):
        assert (out / f"{name}.png").stat().st_size > 5_000
    assert "Shift" in (out / "summary.txt").read_text()


def test_accuracy_falls_with_shift_and_rotation(robust):
    _, r = robust
    acc = r["accuracy"]  # JSON keys are strings
    assert acc["shift"]["0"] > acc["shift"]["1"] > acc["shift"]["4"]
    assert acc["rotation"]["30"] < acc["rotation"]["0"]
    assert acc["rotation"]["-30"] < acc["rotation"]["0"]
    assert acc["scale"]["0.7"] < acc["scale"]["1.0"]
    assert acc["original"] > 0.8
    cnn = r["cnn_accuracy"]
    assert r["cnn"]["architecture"] == "28x28-c4-pool-c8-pool-32-10" and cnn["original"] > 0.8
    assert cnn["shift"]["4"] < cnn["shift"]["0"]


def test_transforms_keep_shape_and_range(mnist):
    images = mnist.test.images[:50]
    for t in TRANSFORMS:
        out = t.apply(images)
        assert out.shape == (50, 28, 28), t.label
        assert out.dtype == np.float32, t.label
        assert out.min() >= 0 and out.max() <= 1, t.label


def test_shift_moves_pixels_and_fills_with_zero():
    x = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28) / (2 * 28 * 28)
    y = shift(x, 2, -3)
    np.testing.assert_array_equal(y[:, 2:, :-3], x[:, :-2, 3:])
    assert not y[:, :2].any() and not y[:, :, -3:].any()


def test_rotate_and_scale_identities_and_a_quarter_turn():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 14, 20] = 1.0  # 6 pixels right of the centre (14, 14)
    np.testing.assert_allclose(rotate(x, 0), x, atol=1e-6)
    np.testing.assert_allclose(scale(x, 1.0), x, atol=1e-6)
    turned = rotate(x, 90)  # anticlockwise on screen: right of centre -> above it
    assert np.unravel_index(turned[0].argmax(), (28, 28)) == (8, 14)
    assert np.unravel_index(scale(x, 2.0)[0].argmax(), (28, 28)) == (14, 26)


def test_dilate_and_erode():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 10:13, 10:13] = 1.0  # a 3x3 square
    assert dilate(x, 3).sum() == 25  # grows to 5x5
    assert erode(x, 3).sum() == 1  # shrinks to its centre
    assert dilate(x, 2).sum() == 16 and erode(x, 2).sum() == 4


def test_robustness_table_accepts_any_model_with_predict():
    class Oracle:  # right on untouched images, wrong once they change
        def __init__(self, images, labels):
            self.images, self.labels = images, labels

        def predict(self, batch):
            same = np.all(np.abs(batch - self.images) < 1e-6, axis=(1, 2))
            return np.where(same, self.labels, (self.labels + 1) % 10)

    rng = np.random.default_rng(0)
    images = np.zeros((5, 28, 28), np.float32)
    images[:, 8:20, 8:20] = rng.random((5, 12, 12), dtype=np.float32)
    labels = np.arange(5)
    table = robustness_table(Oracle(images, labels), images.reshape(5, 784), labels)
    assert table["original"] == 1.0 and table["shift"][0] == 1.0 and table["rotation"][0] == 1.0
    assert table["shift"][1] == 0.0 and table["rotation"][30] == 0.0 and table["scale"][1.3] == 0.0
    assert set(table["stroke"]) == {
        "original",
        "thinner (3×3 min)",
        "thinner (2×2 min)",
        "thicker (2×2 max)",
        "thicker (3×3 max)",
    }
