"""ONNX files digitnet should not build are refused before anything is allocated, by name: too large,
declaring sizes beyond the model file's limits, weights that are not finite, a negative variance,
weights stored outside the file's folder, behind a link or in a FIFO; and what import writes always loads."""

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.external_data_helper import convert_model_to_external_data  # noqa: E402

from digitnet.cli.main import main  # noqa: E402
from digitnet.errors import ModelFileError  # noqa: E402
from digitnet.interop import import_onnx  # noqa: E402
from digitnet.interop.onnx_checks import MAX_ONNX_BYTES  # noqa: E402


def model(nodes, weights=(), shape=("N", 784)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph(
        nodes, "g", [x], [y], initializer=[numpy_helper.from_array(w, n) for n, w in weights]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def dense(w=None):
    w = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32) if w is None else w
    return [helper.make_node("Gemm", ["x", "W", "b"], ["z"], name="dense")], [
        ("W", w),
        ("b", np.zeros(10, np.float32)),
    ]


def saved(tmp_path, proto, name="g.onnx"):
    path = tmp_path / name
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_weights_that_are_not_finite_are_refused_by_tensor(tmp_path, bad):
    w = np.zeros((784, 10), np.float32)
    w[3, 4] = bad
    with pytest.raises(ModelFileError, match="tensor 'W' holds NaN or infinite values"):
        import_onnx(saved(tmp_path, model(*dense(w))))


def test_a_negative_running_variance_is_refused(tmp_path):
    nodes, weights = dense()
    nodes.append(helper.make_node("BatchNormalization", ["z", "g", "b2", "m", "v"], ["y"], name="bn"))
    weights += [
        ("g", np.ones(10, np.float32)),
        ("b2", np.zeros(10, np.float32)),
        ("m", np.zeros(10, np.float32)),
    ]
    weights.append(("v", -np.ones(10, np.float32)))
    with pytest.raises(
        ModelFileError, match="node 'bn' \\(BatchNormalization\\): has a negative running variance"
    ):
        import_onnx(saved(tmp_path, model(nodes, weights)))


def test_a_huge_declared_input_is_refused_before_anything_is_built(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    with pytest.raises(ModelFileError, match="input 'x' declares \\[50000000\\] values per example"):
        import_onnx(saved(tmp_path, model(nodes, shape=("N", 50_000_000))))


def test_a_file_larger_than_any_digitnet_network_is_refused_unread(tmp_path):
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:
        f.truncate(MAX_ONNX_BYTES + 1)  # sparse: no disk, and never read
    with pytest.raises(ModelFileError, match="digitnet reads ONNX files of at most 33,554,432"):
        import_onnx(path)


def external(tmp_path, location):
    """A dense network whose weights an exporter put in the file ``location`` beside it."""
    proto = model(*dense())
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location="w.data", size_threshold=0)
    path = saved(tmp_path, proto)  # writes g.onnx and w.data
    for t in proto.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(proto, str(path), save_as_external_data=False)
    return path


def test_weights_beside_the_file_are_read_as_pytorchs_exporter_writes_them(tmp_path):
    assert import_onnx(external(tmp_path, "w.data")).model.n_params == 7850


@pytest.mark.parametrize("location", ["../w.data", "/etc/passwd", "sub/w.data"])
def test_weights_stored_outside_the_folder_are_refused(tmp_path, location):
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.raises(ModelFileError, match="outside its folder"):
        import_onnx(external(folder, location))


def test_weights_behind_a_link_in_a_fifo_or_a_device_are_refused(tmp_path):
    path = external(tmp_path, "w.data")
    (tmp_path / "w.data").rename(tmp_path / "real.data")
    os.symlink(tmp_path / "real.data", tmp_path / "w.data")
    with pytest.raises(ModelFileError, match="which is a link"):
        import_onnx(path)
    os.unlink(tmp_path / "w.data")
    os.mkfifo(tmp_path / "w.data")
    with pytest.raises(ModelFileError, match="named pipe"):
        import_onnx(path)


@pytest.mark.parametrize("trick", ["link", "../w.data", "/etc/passwd"])
def test_the_onnx_package_required_refuses_the_same_tricks_itself(tmp_path, trick):
    """pyproject asks for onnx >= 1.21, the first whose own loader refuses external data behind a link
    (1.20.1 reads through it): a program that loads our users' files with onnx directly is safe too."""
    folder = tmp_path / "m"
    folder.mkdir()
    path = external(folder, "w.data" if trick == "link" else trick)
    if trick == "link":
        (folder / "w.data").rename(tmp_path / "real.data")
        os.symlink(tmp_path / "real.data", folder / "w.data")
    with pytest.raises(Exception, match="symbolic link|relative path|should be stored in|outside"):
        onnx.load(str(path))


def test_import_writes_only_what_digitnet_can_load_and_leaves_nothing_else(tmp_path, capsys):
    nodes, weights = dense()
    nodes += [
        helper.make_node("Relu", [f"a{i}" if i else "z"], [f"a{i + 1}"], name=f"r{i}") for i in range(1000)
    ]
    path = saved(tmp_path, model(nodes, weights))
    out = tmp_path / "deep.safetensors"
    code = main(["import", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "is not a model digitnet can load" in err and "1,000 layers" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]


def test_an_exported_files_records_are_kept_only_for_the_weights_they_describe(tmp_path):
    from digitnet.interop import export_onnx
    from digitnet.modelfile import load_model
    from digitnet.models import MLP_MODEL

    loaded = load_model(MLP_MODEL)
    path = export_onnx(loaded.model, tmp_path / "mlp.onnx", training=loaded.training, metrics=loaded.metrics)
    kept = import_onnx(path)
    assert kept.metrics["test_accuracy"] == loaded.metrics["test_accuracy"] and kept.training
    proto = onnx.load(str(path))
    first = proto.graph.initializer[0]
    weights = numpy_helper.to_array(first).copy()
    weights.flat[0] += 1.0  # someone's other weights, under the file's old records
    first.CopyFrom(numpy_helper.from_array(weights, first.name))
    onnx.save(proto, str(path))
    altered = import_onnx(path)
    assert altered.metrics == {} and altered.training == {}


@pytest.mark.parametrize("op", ["Gemm", "MatMul"])
def test_a_dense_weight_that_is_not_a_matrix_is_refused_by_node(tmp_path, op):
    inputs = ["x", "W", "b"] if op == "Gemm" else ["x", "W"]
    weights = [("W", np.zeros(784, np.float32)), ("b", np.zeros(10, np.float32))][: len(inputs) - 1]
    proto = model([helper.make_node(op, inputs, ["z"], name="d")], weights)
    with pytest.raises(ModelFileError, match=f"node 'd' \\({op}\\): needs a constant 2-D weight matrix"):
        import_onnx(saved(tmp_path, proto))


def test_metadata_nested_too_deep_is_left_out_not_a_traceback(tmp_path):
    proto = model(*dense())
    helper.set_model_props(proto, {"digitnet.architecture": "[" * 100_000 + "]" * 100_000})
    imported = import_onnx(saved(tmp_path, proto))
    assert imported.model.n_params == 7850 and imported.metrics == {}


def test_a_tensor_whose_values_do_not_match_its_shape_is_refused_by_name(tmp_path):
    proto = model(*dense())
    proto.graph.initializer[0].dims[0] = 5  # 5x10 declared, 784x10 stored: a damaged or edited file
    with pytest.raises(ModelFileError, match=r"tensor 'W' declares shape \[5, 10\] \(50 values\) but stores"):
        import_onnx(saved(tmp_path, proto))
    proto.graph.initializer[0].data_type = 99  # a type no ONNX release defines
    with pytest.raises(ModelFileError, match=r"tensor 'W' holds an unknown type \(99\) values"):
        import_onnx(saved(tmp_path, proto))
