"""ONNX out and in: ONNX Runtime predicts what digitnet does; PyTorch's graphs import to PyTorch's answers.

Needs the optional extras (``pip install -e '.[onnx]'``): every test here skips cleanly without them.
"""

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from digitnet.cli.main import main  # noqa: E402
from digitnet.errors import ModelFileError  # noqa: E402
from digitnet.extras import MissingExtraError, require  # noqa: E402
from digitnet.interop import export_onnx, import_onnx  # noqa: E402
from digitnet.interop.onnx_export import INPUT_NAME, OUTPUT_NAME, to_onnx  # noqa: E402
from digitnet.modelfile import load_model  # noqa: E402
from digitnet.models import bundled_models  # noqa: E402
from digitnet.nn import (  # noqa: E402
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)


def every_layer_models() -> dict[str, Sequential]:
    """A network of every layer type digitnet has, with batch norm's statistics away from 0 and 1."""
    models = {
        "cnn-batchnorm": Sequential(
            [
                Conv2D(6, 5, padding="same"),
                BatchNorm(),
                ReLU(),
                MaxPool2D(2),
                Conv2D(8, 3, stride=2, padding=1),
                Tanh(),
                AvgPool2D(2, stride=1),
                Dropout(0.3),
                Flatten(),
                Dense(20),
                BatchNorm(eps=1e-3),
                Sigmoid(),
                Identity(),
                Dense(10),
            ],
            input_shape=(1, 28, 28),
            rng=1,
        ),
        "mlp-quadratic-softmax": Sequential(
            [Dense(16), Sigmoid(), Dropout(0.1), Dense(16), Tanh(), Dense(10), Softmax()],
            cost="quadratic",
            rng=2,
        ),
        "mlp-quadratic-sigmoid": Sequential(
            [Dense(30), ReLU(), Dense(10), Sigmoid()], cost="quadratic", rng=3
        ),
    }
    rng = np.random.default_rng(0)
    for model in models.values():
        for layer in model.layers:
            if isinstance(layer, BatchNorm):
                (p,) = layer.buffers["running_mean"].shape
                layer.buffers["running_mean"][...] = rng.normal(0, 0.5, p)
                layer.buffers["running_var"][...] = rng.uniform(0.2, 3.0, p)
                layer.params["gamma"][...] = rng.uniform(0.5, 1.5, p)
                layer.params["beta"][...] = rng.normal(0, 0.2, p)
    return models


def runtime(proto_or_path):
    data = proto_or_path if isinstance(proto_or_path, str) else proto_or_path.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def models_to_check():
    bundled = {name: load_model(path) for name, path in bundled_models().items()}
    return {
        **{k: (v.model, v.metrics) for k, v in bundled.items()},
        **{k: (m, {}) for k, m in every_layer_models().items()},
    }


@pytest.mark.parametrize("name", [*bundled_models(), *every_layer_models()])
def test_onnx_runtime_predicts_what_digitnet_predicts_on_every_test_digit(mnist, tmp_path, name):
    model, metrics = models_to_check()[name]
    path = export_onnx(model, tmp_path / f"{name}.onnx", metrics=metrics)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = model.as_input(mnist.test.images)  # (10000, 784) or (10000, 1, 28, 28)
    theirs = np.concatenate(
        [runtime(str(path)).run(None, {INPUT_NAME: x[i : i + 2500]})[0] for i in range(0, 10000, 2500)]
    )
    ours = model.predict_proba(x)
    assert theirs.shape == (10000, 10)
    np.testing.assert_allclose(theirs, ours, atol=1e-5, rtol=0)
    assert np.array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))


def test_the_graph_has_a_named_dynamic_batch_and_the_records_in_its_metadata():
    loaded = load_model(bundled_models()["lenet5"])
    proto = to_onnx(loaded.model, training=loaded.training, metrics=loaded.metrics)
    (pixels,) = proto.graph.input
    assert pixels.name == INPUT_NAME and "grey levels" in pixels.doc_string
    dims = pixels.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [o.name for o in proto.graph.output] == [OUTPUT_NAME]
    props = {p.key: p.value for p in proto.metadata_props}
    assert float(props["test_accuracy"]) == loaded.metrics["test_accuracy"]
    assert '"Conv2D"' in props["digitnet.architecture"] and '"epochs"' in props["digitnet.training"]
    session = runtime(proto)
    for n in (1, 7):  # any batch
        assert session.run(None, {INPUT_NAME: np.zeros((n, 1, 28, 28), np.float32)})[0].shape == (n, 10)


@pytest.mark.parametrize("name", [*bundled_models(), *every_layer_models()])
def test_export_then_import_gives_the_very_same_model(tmp_path, name):
    model, metrics = models_to_check()[name]
    imported = import_onnx(export_onnx(model, tmp_path / "m.onnx", metrics=metrics))
    assert imported.model.config() == model.config()
    x = np.random.default_rng(0).random((300, *model.input_shape), dtype=np.float32)
    assert np.array_equal(imported.model.predict_proba(x), model.predict_proba(x))
    assert imported.metrics == metrics


def test_a_graph_without_digitnet_records_imports_from_its_nodes_alone(tmp_path):
    model = every_layer_models()["cnn-batchnorm"]
    proto = to_onnx(model)
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    imported = import_onnx(tmp_path / "bare.onnx").model
    kinds = [type(layer).__name__ for layer in imported.layers]
    assert "Dropout" not in kinds and "Identity" not in kinds and kinds.count("BatchNorm") == 2
    x = np.random.default_rng(1).random((200, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(imported.predict_proba(x), model.predict_proba(x), atol=1e-6)


# ----- PyTorch's graphs ----------------------------------------------------------------------------


def torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    mlp = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)
    )
    cnn = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 12, 3, stride=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(12 * 6 * 6, 32),
        nn.Sigmoid(),
        nn.Linear(32, 10),
        nn.LogSoftmax(dim=1),
    )
    for model in (mlp, cnn):  # statistics away from 0 and 1, as training leaves them
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.3, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.2, 0.2)
    return torch, {"mlp": mlp.eval(), "cnn": cnn.eval()}


def torch_export(torch, model, path, dynamo: bool):
    example = (torch.zeros(2, 1, 28, 28),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch")
            torch.onnx.export(model, example, str(path), dynamic_shapes=({0: batch},), dynamo=True)
        else:
            torch.onnx.export(
                model,
                example,
                str(path),
                dynamic_axes={"input": {0: "N"}},
                input_names=["input"],
                dynamo=False,
            )


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_pytorch_networks_import_to_pytorchs_answers_on_every_test_digit(mnist, tmp_path, name, exporter):
    torch, models = torch_models()
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    module = models[name]
    torch_export(torch, module, tmp_path / f"{name}.onnx", dynamo=exporter == "dynamo")
    model = import_onnx(tmp_path / f"{name}.onnx").model
    images = mnist.test.images.reshape(-1, 1, 28, 28)  # (10000, 1, 28, 28)
    with torch.no_grad():
        scores = module(torch.from_numpy(images))
    theirs = torch.softmax(scores, dim=1).numpy()  # probabilities, from logits or log-probabilities
    ours = model.predict_proba(images)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    assert np.array_equal(ours.argmax(axis=1), theirs.argmax(axis=1))


# ----- refusals ------------------------------------------------------------------------------------


def graph_file(tmp_path, nodes, weights=(), shape=("N", 784)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph(
        nodes, "g", [x], [y], initializer=[numpy_helper.from_array(w, n) for n, w in weights]
    )
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def dense_weights():
    rng = np.random.default_rng(0)
    return [("W", rng.normal(size=(784, 10)).astype(np.float32)), ("b", np.zeros(10, np.float32))]


def test_an_operator_digitnet_lacks_is_refused_by_name_and_node(tmp_path):
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="dense"),
        helper.make_node("LeakyRelu", ["z"], ["a"], name="leaky", alpha=0.1),
    ]
    with pytest.raises(
        ModelFileError, match=r"node 'leaky' \(LeakyRelu\): operator LeakyRelu is not one digitnet"
    ):
        import_onnx(graph_file(tmp_path, nodes, dense_weights()))


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="g", alpha=2.0), "alpha = beta = 1"),
        (helper.make_node("Gemm", ["x", "x", "b"], ["y"], name="g"), "computed, not a constant"),
    ],
)
def test_attributes_digitnet_cannot_honour_are_refused(tmp_path, node, message):
    with pytest.raises(ModelFileError, match=message):
        import_onnx(graph_file(tmp_path, [node], dense_weights()))


def test_a_branching_graph_is_refused(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="r"),
        helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="skip"),  # reads x again, not r
    ]
    with pytest.raises(ModelFileError, match="not a chain"):
        import_onnx(graph_file(tmp_path, nodes, dense_weights()))


def test_matmul_and_add_read_as_one_dense_layer(tmp_path):
    (_, w), (_, b) = dense_weights()
    b = np.arange(10, dtype=np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Add", ["z", "b"], ["y"])]
    model = import_onnx(graph_file(tmp_path, nodes, [("W", w), ("b", b)])).model
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    np.testing.assert_allclose(model.forward(x), x @ w + b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("scale", "image"), [(1e37, "fully inked"), (np.inf, None)])
def test_finite_weights_too_large_for_float32_are_refused_at_import(tmp_path, scale, image):
    """A flipped exponent bit makes a weight 1e37: finite, so the file's checks pass, but every answer
    overflows. Found by the ONNX fuzz test: imported, then every prediction failed."""
    (_, w), (_, b) = dense_weights()
    w = (
        (w * scale).astype(np.float32)
        if np.isfinite(scale)
        else np.where(w > 2, np.inf, w).astype(np.float32)
    )
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Add", ["z", "b"], ["y"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ModelFileError) as refused:
            import_onnx(graph_file(tmp_path, nodes, [("W", w), ("b", b)]))
    said = str(refused.value)
    if image is None:  # an infinity itself is refused by the file's checks, before any answer
        assert "NaN or infinite values" in said
    else:
        assert f"the network's outputs for a {image} image are NaN or infinite" in said


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x00\xffnot a model" * 10)
    with pytest.raises(ModelFileError, match="not a valid ONNX model"):
        import_onnx(tmp_path / "junk.onnx")
    with pytest.raises(ModelFileError, match="no such ONNX file"):
        import_onnx(tmp_path / "missing.onnx")


def test_a_missing_extra_names_the_extra_to_install(monkeypatch):
    with pytest.raises(MissingExtraError, match=r"pip install 'digitnet\[onnx\]'"):
        require("no_such_module_here", "onnx", "ONNX export")


# ----- the command line ----------------------------------------------------------------------------


def test_export_and_import_from_the_command_line_then_evaluate_the_imported_model(
    mnist_dir, tmp_path, capsys
):
    out = tmp_path / "lenet5.onnx"
    assert main(["export", "lenet5", "--out", str(out)]) == 0
    assert "checked with onnx.checker" in capsys.readouterr().out
    assert main(["export", "lenet5", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    model_file = tmp_path / "lenet5.safetensors"
    assert main(["import", str(out), "--out", str(model_file)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model_file), "--data", str(mnist_dir), "--json"]) == 0
    assert '"accuracy": 0.9909' in capsys.readouterr().out


def test_import_refuses_a_network_that_does_not_read_digits(tmp_path, capsys):
    small = Sequential([Dense(3)], input_shape=(5,), rng=0)
    export_onnx(small, tmp_path / "small.onnx")
    assert main(["import", str(tmp_path / "small.onnx"), "--out", str(tmp_path / "m.safetensors")]) == 1
    assert "784 pixels" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_a_fifo_or_a_device_named_as_an_onnx_file_is_refused_at_once(tmp_path):
    import os

    pipe = tmp_path / "model.onnx"
    os.mkfifo(pipe)  # onnx.load would wait for a writer forever
    with pytest.raises(ModelFileError, match="named pipe"):
        import_onnx(pipe)
    with pytest.raises(ModelFileError, match="device"):
        import_onnx("/dev/zero")
