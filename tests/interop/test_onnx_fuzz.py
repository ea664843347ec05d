"""Fuzzing ``digitnet import``: whatever the ONNX file, a model that loads or a clear refusal, bounded.

Every example mutates a real exported file (an MLP with batch normalisation, and a CNN): bit flips,
truncation and inserted bytes in the serialised file, and edits of its graph as a careless exporter or an
attacker would make them: an initializer's shape, type or values, a node's operator, attributes, inputs
or place in the order, the input's declared shape, the metadata. ``digitnet import`` must then either write
a model file that ``load_model`` reads and that predicts ten finite probabilities, or exit 1 with one line
that says why, never a traceback; tracemalloc (which NumPy reports its arrays to) must see at most
20 times the file's size plus 5 MB allocated meanwhile.
"""

import contextlib
import io
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")

from onnx import helper, numpy_helper  # noqa: E402

from digitnet.cli.main import main  # noqa: E402
from digitnet.interop.onnx_export import to_onnx  # noqa: E402
from digitnet.modelfile import load_model  # noqa: E402
from digitnet.nn import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential  # noqa: E402


def _exported() -> dict[str, bytes]:
    mlp = Sequential([Dense(32), BatchNorm(), ReLU(), Dense(10)], rng=0)
    cnn = Sequential(
        [Conv2D(4, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(10)], input_shape=(1, 28, 28), rng=0
    )
    metrics = {"test_accuracy": 0.97}
    return {
        name: to_onnx(model, training={"epochs": 1}, metrics=metrics).SerializeToString()
        for name, model in (("mlp", mlp), ("cnn", cnn))
    }


EXPORTED = _exported()
OPERATORS = ["Gemm", "MatMul", "Add", "Relu", "Sigmoid", "Conv", "MaxPool", "Flatten", "Reshape", "Cast"]
OPERATORS += ["Transpose", "Sub", "Div", "Softmax", "BatchNormalization", "Loop", "If", "", "Nonsense"]
NUMBERS = st.sampled_from([0, 1, -1, 2, 3, 7, 28, 784, 10**6, 2**31, 2**40, -(2**40)])
TEXT = st.text(max_size=40) | st.sampled_from(["{", "[" * 5000, '{"architecture": "x"}', "NaN", "1e999"])


@st.composite
def mutated(draw) -> bytes:
    proto = onnx.load_from_string(EXPORTED[draw(st.sampled_from(sorted(EXPORTED)))])
    graph = proto.graph
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dims", "type", "values", "op", "attribute", "order", "input", "meta"]))
        if kind == "dims" and graph.initializer:
            tensor = graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))]
            if tensor.dims:
                tensor.dims[draw(st.integers(0, len(tensor.dims) - 1))] = draw(NUMBERS)
            else:
                tensor.dims.append(draw(NUMBERS))
        elif kind == "type" and graph.initializer:
            graph.initializer[draw(st.integers(0, len(graph.initializer) - 1))].data_type = draw(
                st.integers(0, 30)
            )
        elif kind == "values" and graph.initializer:
            index = draw(st.integers(0, len(graph.initializer) - 1))
            try:
                values = numpy_helper.to_array(graph.initializer[index]).copy()
            except Exception:  # an earlier edit of its shape or type: this edit has nothing to change
                values = np.zeros(0)
            if values.dtype.kind == "f" and values.size:
                values.flat[draw(st.integers(0, values.size - 1))] = draw(
                    st.sampled_from([np.nan, np.inf, -np.inf, 1e38, -1e38])
                )
                graph.initializer[index].CopyFrom(
                    numpy_helper.from_array(values, graph.initializer[index].name)
                )
        elif kind == "op" and graph.node:
            graph.node[draw(st.integers(0, len(graph.node) - 1))].op_type = draw(st.sampled_from(OPERATORS))
        elif kind == "attribute" and graph.node:
            node = graph.node[draw(st.integers(0, len(graph.node) - 1))]
            name = draw(st.sampled_from(["kernel_shape", "pads", "strides", "axis", "epsilon", "transB"]))
            value = draw(st.lists(NUMBERS, min_size=1, max_size=4) | NUMBERS)
            kept = [a for a in node.attribute if a.name != name]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute(name, value)])
        elif kind == "order" and len(graph.node) > 1:
            nodes = list(graph.node)
            i = draw(st.integers(0, len(nodes) - 1))
            if draw(st.booleans()):
                nodes.insert(draw(st.integers(0, len(nodes) - 1)), nodes.pop(i))
            else:
                nodes.pop(i)
            del graph.node[:]
            graph.node.extend(nodes)
        elif kind == "input":
            dims = graph.input[0].type.tensor_type.shape.dim
            if dims:
                dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(NUMBERS.filter(lambda n: n >= 0))
        elif kind == "meta":
            props = {p.key: p.value for p in proto.metadata_props}
            key = draw(st.sampled_from([*sorted(props), "digitnet.metrics", "other"]))
            props[key] = draw(TEXT)
            del proto.metadata_props[:]
            helper.set_model_props(proto, props)
    data = bytearray(proto.SerializeToString())
    for _ in range(draw(st.integers(0, 2))):  # and a few raw byte edits on top
        edit = draw(st.sampled_from(["flip", "truncate", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_any_onnx_file_imports_as_a_loadable_model_or_is_refused_in_one_line(tmp_path, data):
    source, out = tmp_path / "net.onnx", tmp_path / "net.safetensors"
    source.write_bytes(data)
    out.unlink(missing_ok=True)
    stdout, stderr = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["import", str(source), "--out", str(out)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(data) + 5_000_000, f"{peak:,} bytes allocated for a {len(data):,}-byte file"
    err = stderr.getvalue()
    assert "Traceback" not in err
    if code != 0:
        assert code == 1 and err.startswith("digitnet import: error: ") and not out.exists()
        return
    loaded = load_model(out)  # what import writes always loads
    with np.errstate(all="ignore"):
        probabilities = loaded.model.predict_proba(np.zeros((1, 784), np.float32))
    assert probabilities.shape == (1, 10) and np.isfinite(probabilities).all()
