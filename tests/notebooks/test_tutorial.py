"""The tutorial notebook runs top to bottom on the real MNIST, draws every figure, and reports the
accuracies the explainers lead one to expect; the copy in git carries no outputs.

Needs the optional extra (``pip install -e '.[notebook]'``): skips cleanly without it.
"""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "tutorial.ipynb"


def read_notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_the_committed_notebook_is_valid_and_carries_no_outputs():
    notebook = read_notebook()
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the tutorial has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), (
        "notebooks/tutorial.ipynb is committed with outputs: clear them (Jupyter: Edit > Clear outputs of "
        "all cells), so git holds the lesson and CI computes every number"
    )


@pytest.fixture(scope="module")
def executed(mnist_dir, tmp_path_factory):
    """The tutorial run top to bottom in a fresh kernel, in an empty folder, on the shared MNIST."""
    notebook = read_notebook()
    folder = tmp_path_factory.mktemp("notebook")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIGITNET_DATA", str(mnist_dir))  # absolute: the kernel runs in ``folder``
        client = nbclient.NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    return notebook


def outputs_of(cell, kind):
    return [out for out in cell.outputs if kind in out.get("data", {})]


def printed(notebook) -> str:
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return "".join(out.text for cell in code for out in cell.outputs if "text" in out)


def test_every_figure_is_drawn_inline(executed):
    drawing = [cell for cell in executed.cells if cell.cell_type == "code" and "plt.show()" in cell.source]
    assert len(drawing) >= 7
    for cell in drawing:
        assert outputs_of(cell, "image/png"), f"no figure came out of the cell:\n{cell.source[:200]}"
    assert not any(out.output_type == "error" for cell in executed.cells for out in cell.get("outputs", []))


def test_the_numbers_are_computed_and_are_those_the_explainers_lead_one_to_expect(executed):
    text = printed(executed)
    assert "Total parameters: 13,002" in text
    accuracies = [float(a) for a in re.findall(r"test accuracy (\d+\.\d+)%", text)]
    assert len(accuracies) == 3, text  # the classic network, then the CNN next to it
    classic, cnn, classic_again = accuracies
    assert classic == classic_again
    assert 93 < classic < 98 and cnn > 97.5 and cnn > classic
    # Fooling: every target reached, each image moved less than a noise image's own length (about 16).
    sure = re.search(r"probability of each target: \[([^\]]*)\]", text)
    assert sure and all(float(p) >= 0.99 for p in sure.group(1).split()), text
    moved = re.search(r"distance moved from the noise: \[([^\]]*)\]", text)
    assert moved and all(float(d) < 16 for d in moved.group(1).split()), text
