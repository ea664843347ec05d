"""ONNX digit models as other tools publish them import and agree with ONNX Runtime, input scaling included.

The files are made here with each exporter's own idioms (no published file is redistributed): PyTorch's
TorchScript and dynamo exporters with ``x.view(x.size(0), -1)`` and input normalisation in ``forward``;
a Keras/TensorFlow channels-last CNN (``Cast``, ``Rescaling(1/255)`` as ``Div``, ``Transpose`` at the
input and before the flatten, ``auto_pad="SAME_UPPER"``, ``MatMul`` + ``Add``, ``Softmax``); a Keras MLP
trained on bytes with no scaling in its graph; a skl2onnx-style MLP; and an ONNX Model Zoo mnist-8-style
CNN (batch fixed at 1, ``SAME_UPPER``, biases as separate ``Add`` nodes, a weight computed by a
``Reshape`` of a constant, 3x3 pooling) with its nodes in reverse order. Each must import and give ONNX
Runtime's probabilities for the test digits, fed as that graph expects them.
"""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from digitnet.cli.main import main  # noqa: E402
from digitnet.errors import ModelFileError  # noqa: E402
from digitnet.interop import import_onnx  # noqa: E402
from digitnet.modelfile import load_model  # noqa: E402

RNG = np.random.default_rng(0)


def weights(*shape, scale=0.1):
    return (RNG.normal(size=shape) * scale).astype(np.float32)


def graph(nodes, inputs, output, initializers, opset=13):
    x = helper.make_tensor_value_info(inputs[0], TensorProto.FLOAT, inputs[1])
    y = helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])
    inits = [nh.from_array(v, k) for k, v in initializers.items()]
    return helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], initializer=inits),
        opset_imports=[helper.make_opsetid("", opset)],
    )


def agree(path, digits, feed, batch_of_one=False, **kwargs):
    """Import ``path`` and compare with ONNX Runtime on ``feed`` (the digits as the graph takes them)."""
    model = import_onnx(path, **kwargs).model
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if batch_of_one:
        expected = np.concatenate([session.run(None, {name: feed[i : i + 1]})[0] for i in range(len(feed))])
    else:
        expected = session.run(None, {name: feed})[0]
    if not np.allclose(expected.sum(axis=1), 1, atol=1e-4):  # logits out: their softmax
        expected = np.exp(expected - expected.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
    mine = model.predict_proba(digits.reshape(len(digits), *model.input_shape))
    np.testing.assert_allclose(mine, expected, atol=2e-5)
    assert (mine.argmax(axis=1) == expected.argmax(axis=1)).all()
    return model


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.test.x[:500].astype(np.float32)  # (500, 784) in [0, 1]


def _torch_cnn(normalise: bool, padding: int):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = torch.nn.Conv2d(1, 8, 3, padding=padding), torch.nn.Conv2d(8, 16, 3)
            side = ((28 + 2 * padding - 2) // 2 - 2) // 2
            self.fc = torch.nn.Linear(16 * side * side, 10)

        def forward(self, x):
            if normalise:
                x = (x - 0.1307) / 0.3081  # torchvision's Normalize((0.1307,), (0.3081,)), in the graph
            x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
            return self.fc(x.view(x.size(0), -1))

    return torch, Net().eval()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_pytorch_exports_with_view_and_normalisation_in_the_graph(tmp_path, digits, exporter):
    torch, net = _torch_cnn(normalise=True, padding=0)
    path = tmp_path / "net.onnx"
    example = torch.zeros(2, 1, 28, 28)
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
        batch = torch.export.Dim("N")
        torch.onnx.export(net, (example,), path, dynamo=True, dynamic_shapes={"x": {0: batch}})
    else:
        torch.onnx.export(net, example, path, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    agree(path, digits, digits.reshape(-1, 1, 28, 28))


def test_normalisation_given_on_the_command_line_for_a_graph_without_it(tmp_path, digits, capsys):
    torch, net = _torch_cnn(normalise=False, padding=0)
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, dynamo=False, input_names=["x"])
    out = tmp_path / "net.safetensors"
    assert main(["import", str(path), "--normalize", "0.1307,0.3081", "--out", str(out)]) == 0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = ((digits - 0.1307) / 0.3081).reshape(-1, 1, 28, 28)
    expected = np.concatenate([session.run(None, {"x": feed[i : i + 1]})[0] for i in range(len(feed))])
    loaded = load_model(out)
    mine = loaded.model.predict_proba(digits.reshape(-1, 1, 28, 28))
    assert (mine.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert loaded.metrics["input_range"] == f"{-0.1307 / 0.3081:g},{(1 - 0.1307) / 0.3081:g}"


def test_a_shift_before_a_padded_convolution_is_kept_as_the_models_input_transform(tmp_path, digits, capsys):
    """Folding (x - m)/s into a zero-padded first convolution would pad with m/s instead of 0: the scaling
    stays a layer of its own, saved in the model file, so evaluate, predict and export all apply it."""
    from digitnet.interop import export_onnx
    from digitnet.nn import Rescaling

    torch, net = _torch_cnn(normalise=True, padding=1)
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, dynamo=False, input_names=["x"])
    model = agree(path, digits[:100], digits[:100].reshape(-1, 1, 28, 28), batch_of_one=True)
    first = model.layers[0]
    assert isinstance(first, Rescaling)
    assert (first.scale, first.offset) == pytest.approx((1 / 0.3081, -0.1307 / 0.3081), rel=1e-6)
    out = tmp_path / "net.safetensors"
    assert main(["import", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "input transform  layer 0 maps them to x·3.2457 - 0.424213" in capsys.readouterr().out
    loaded = load_model(out).model
    np.testing.assert_array_equal(
        loaded.predict_proba(digits[:100].reshape(-1, 1, 28, 28)),
        model.predict_proba(digits[:100].reshape(-1, 1, 28, 28)),
    )
    again = tmp_path / "again.onnx"
    export_onnx(loaded, again)  # Mul and Add at the input, then the convolution with its zero padding
    agree(again, digits[:100], digits[:100].reshape(-1, 1, 28, 28))


def test_a_scaling_before_an_activation_is_kept_where_the_graph_has_it(tmp_path, digits):
    """Sub, then ReLU, then Div, then Gemm: the Sub cannot pass the ReLU, so it stays a layer before it;
    the Div, with nothing but the flatten between it and the Gemm, is folded into the weights."""
    from digitnet.nn import ReLU, Rescaling

    w, b = weights(784, 10), weights(10)
    nodes = [
        helper.make_node("Sub", ["x", "m"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("Div", ["r", "d"], ["q"]),
        helper.make_node("Flatten", ["q"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["p"], axis=-1),
    ]
    init = {"m": np.float32(0.2), "d": np.float32(0.5), "W": w, "b": b}
    path = tmp_path / "net.onnx"
    onnx.save(graph(nodes, ("x", ["N", 784]), ("p", ["N", 10]), init), path)
    model = agree(path, digits, digits)
    assert [type(layer) for layer in model.layers[:2]] == [Rescaling, ReLU]
    assert (model.layers[0].scale, model.layers[0].offset) == pytest.approx((1.0, -0.2))
    np.testing.assert_allclose(model.layers[3].params["W"], 2 * w, rtol=1e-6)  # the Div, folded


def keras_cnn():
    """Keras 3 / tf2onnx: NHWC bytes in, Rescaling(1/255), Conv2D(padding="same"), MaxPool, Flatten, Dense."""
    nodes = [
        helper.make_node("Cast", ["image"], ["c0"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["c0", "k255"], ["c1"]),
        helper.make_node("Transpose", ["c1"], ["t0"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t0", "K", "B"], ["c2"], auto_pad="SAME_UPPER", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["p1"], ["t1"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t1", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    init = {
        "k255": np.array(255, np.float32),
        "K": weights(8, 1, 3, 3, scale=0.5),
        "B": weights(8),
        "shape": np.array([-1, 8 * 14 * 14], np.int64),
        "W": weights(8 * 14 * 14, 10),
        "b": weights(10),
    }
    return graph(nodes, ("image", ["N", 28, 28, 1]), ("probabilities", ["N", 10]), init)


def test_a_keras_channels_last_cnn_taking_bytes(tmp_path, digits):
    path = tmp_path / "keras.onnx"
    onnx.save(keras_cnn(), str(path))
    imported = import_onnx(path)
    assert imported.metrics["input_range"] == "0,255"  # it divides by 255 itself: it takes bytes
    agree(path, digits, digits.reshape(-1, 28, 28, 1) * 255)


def test_a_keras_mlp_trained_on_bytes_with_its_range_given(tmp_path, digits):
    nodes = [
        helper.make_node("Cast", ["image"], ["c"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["c", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "W1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"]),
    ]
    init = {"shape": np.array([-1, 784], np.int64), "W1": weights(784, 32, scale=0.01), "b1": weights(32)}
    init |= {"W2": weights(32, 10), "b2": weights(10)}
    path = tmp_path / "mlp.onnx"
    onnx.save(graph(nodes, ("image", ["N", 28, 28]), ("probabilities", ["N", 10]), init), str(path))
    agree(path, digits, digits.reshape(-1, 28, 28) * 255, input_range=(0, 255))


def test_a_skl2onnx_style_mlp(tmp_path, digits):
    nodes = [
        helper.make_node("Cast", ["X"], ["Xc"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["Xc", "W1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "W2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["a2"]),
        helper.make_node("Softmax", ["a2"], ["probabilities"], axis=1),
    ]
    init = {"W1": weights(784, 64, scale=0.05), "b1": weights(64), "W2": weights(64, 10), "b2": weights(10)}
    path = tmp_path / "skl.onnx"
    onnx.save(graph(nodes, ("X", ["N", 784]), ("probabilities", ["N", 10]), init), str(path))
    agree(path, digits, digits)


def model_zoo_style(reverse: bool):
    """The shape of the ONNX Model Zoo's mnist-8: batch 1, SAME_UPPER convolutions, biases as Add nodes,
    the dense weight a Reshape of a constant, 3x3 pooling; nodes in reverse order if asked."""
    nodes = [
        helper.make_node("Reshape", ["P193", "s193"], ["W193"]),
        helper.make_node("Conv", ["Input3", "P5"], ["c28"], auto_pad="SAME_UPPER", kernel_shape=[5, 5]),
        helper.make_node("Add", ["c28", "P6"], ["p30"]),
        helper.make_node("Relu", ["p30"], ["r32"]),
        helper.make_node("MaxPool", ["r32"], ["m66"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["m66", "P87"], ["c110"], auto_pad="SAME_UPPER", kernel_shape=[5, 5]),
        helper.make_node("Add", ["c110", "P88"], ["p112"]),
        helper.make_node("Relu", ["p112"], ["r114"]),
        helper.make_node("MaxPool", ["r114"], ["m160"], kernel_shape=[3, 3], strides=[3, 3]),
        helper.make_node("Reshape", ["m160", "s256"], ["f"]),
        helper.make_node("MatMul", ["f", "W193"], ["t212"]),
        helper.make_node("Add", ["t212", "P194"], ["Plus214_Output_0"]),
    ]
    init = {"P193": weights(16, 4, 4, 10), "s193": np.array([256, 10], np.int64)}
    init |= {"P5": weights(8, 1, 5, 5, scale=0.02), "P6": weights(8, 1, 1), "P87": weights(16, 8, 5, 5)}
    init |= {"P88": weights(16, 1, 1), "s256": np.array([1, 256], np.int64), "P194": weights(1, 10)}
    nodes = nodes[::-1] if reverse else nodes
    return graph(nodes, ("Input3", [1, 1, 28, 28]), ("Plus214_Output_0", [1, 10]), init, opset=8)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_model_zoo_style_cnn_in_any_node_order(tmp_path, digits, reverse):
    path = tmp_path / "zoo.onnx"
    onnx.save(model_zoo_style(reverse), str(path))
    agree(
        path, digits[:200], digits[:200].reshape(-1, 1, 28, 28) * 255, batch_of_one=True, input_range=(0, 255)
    )


def test_operators_that_make_large_tensors_are_refused_by_name_before_any_rewriting(tmp_path):
    proto = keras_cnn()
    proto.graph.node.insert(0, helper.make_node("ConstantOfShape", ["shape"], ["zeros"], name="grow"))
    path = tmp_path / "grow.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(
        ModelFileError, match="node 'grow' \\(ConstantOfShape\\): operator ConstantOfShape is not"
    ):
        import_onnx(path)


def test_a_transpose_that_is_no_channels_last_layout_is_refused_by_name(tmp_path):
    proto = keras_cnn()
    proto.graph.node[2].attribute[0].ints[:] = [0, 2, 1, 3]  # swaps height and width: not a layout
    proto.graph.node[2].name = "swap"
    path = tmp_path / "swap.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match="permutes axes \\[0, 2, 1, 3\\]"):
        import_onnx(path)


@pytest.mark.parametrize("pool", ["GlobalAveragePool", "ReduceMean"])
def test_global_average_pooling_before_the_classifier(tmp_path, digits, pool):
    """An all-convolutional head: the mean of each feature map, then a dense layer."""
    if pool == "GlobalAveragePool":
        pooled = [
            helper.make_node("GlobalAveragePool", ["r"], ["g"]),
            helper.make_node("Flatten", ["g"], ["f"]),
        ]
    else:
        pooled = [helper.make_node("ReduceMean", ["r"], ["f"], axes=[2, 3], keepdims=0)]
    nodes = [
        helper.make_node("Conv", ["x", "K", "B"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        *pooled,
        helper.make_node("Gemm", ["f", "W", "b"], ["logits"]),
    ]
    init = {
        "K": weights(16, 1, 3, 3, scale=0.5),
        "B": weights(16),
        "W": weights(16, 10, scale=1.0),
        "b": weights(10),
    }
    path = tmp_path / "gap.onnx"
    onnx.save(graph(nodes, ("x", ["N", 1, 28, 28]), ("logits", ["N", 10]), init, opset=13), str(path))
    agree(path, digits, digits.reshape(-1, 1, 28, 28))


def test_a_negation_after_max_pooling_is_not_moved_before_it(tmp_path, digits):
    """Sub, MaxPool, Mul(-1), Gemm: -max(x) is not max(-x), so the Mul stays after the pooling (folded into
    the Gemm), and the Sub before it (kept as a Rescaling layer)."""
    w, b = weights(196, 10), weights(10)
    nodes = [
        helper.make_node("Sub", ["x", "m"], ["s"]),
        helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Mul", ["p", "neg"], ["q"]),
        helper.make_node("Flatten", ["q"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    init = {"m": np.float32(0.5), "neg": np.float32(-1.0), "W": w, "b": b}
    path = tmp_path / "net.onnx"
    onnx.save(graph(nodes, ("x", ["N", 1, 28, 28]), ("y", ["N", 10]), init), path)
    agree(path, digits, digits.reshape(-1, 1, 28, 28))


def test_nodes_in_reverse_order_are_sorted_in_linear_time_and_too_many_are_refused(tmp_path):
    from digitnet.interop.onnx_normalise import MAX_NODES

    relus = [helper.make_node("Relu", [f"a{i}"], [f"a{i + 1}"]) for i in range(MAX_NODES + 1)]
    proto = graph(
        [helper.make_node("Identity", ["x"], ["a0"]), *relus[::-1]], ("x", ["N", 784]), ("y", ["N", 784]), {}
    )
    proto.graph.output[0].name = f"a{MAX_NODES + 1}"
    path = tmp_path / "many.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelFileError, match=f"{MAX_NODES + 2:,} nodes; digitnet reads at most"):
        import_onnx(path)


def test_a_graph_whose_output_is_a_constant_is_refused_in_words(tmp_path):
    const = helper.make_node("Constant", [], ["y"], value=nh.from_array(weights(1, 10), "v"))
    path = tmp_path / "constant.onnx"
    onnx.save(graph([const], ("x", ["N", 784]), ("y", ["N", 10]), {}), str(path))
    with pytest.raises(ModelFileError, match="computes nothing from its input|one input"):
        import_onnx(path)
