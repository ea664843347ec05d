"""The README's Python example runs as written, and its quick-start test command is the one CI runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_example_runs(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIGITNET_DATA", str(mnist_dir))
    monkeypatch.chdir(tmp_path)
    (example,) = [block for block in code_blocks("python") if "load_mnist" in block]
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Total parameters: 79,510" in out and "test accuracy" in out
    assert namespace["probabilities"].shape == (3, 10)
    assert (tmp_path / "mlp.safetensors").is_file()


def test_ci_runs_the_readme_test_command():
    quick_start = code_blocks("bash")[0].strip().splitlines()
    assert len(quick_start) == 2, "the quick start is two commands"
    test_command = quick_start[1]
    assert "pytest" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_scikit_learn_example_runs(capsys):
    pytest.importorskip("sklearn")
    (example,) = [block for block in code_blocks("python") if "DigitNetClassifier" in block]
    namespace = {}
    exec(compile(example, "README.md", "exec"), namespace)
    search = namespace["search"]
    assert len(search.cv_results_["params"]) == 4 and search.best_score_ > 0.9
    assert "digitnetclassifier__hidden" in capsys.readouterr().out


def test_sweep_file_example_is_a_valid_sweep():
    tomllib = pytest.importorskip("tomllib")
    from digitnet.sweeps import spec_from_mapping

    (example,) = code_blocks("toml")
    spec = spec_from_mapping(tomllib.loads(example))
    assert len(spec.runs()) == (3 * 2 + 1 + 8) * 3
    assert spec.base.epochs == 10 and spec.base.activation == "sigmoid"


def test_sweep_command_example_parses_into_the_sweep_it_shows():
    from digitnet.cli.main import build_parser
    from digitnet.cli.sweep import spec_from_args

    (command,) = [b for b in code_blocks("bash") if b.startswith("digitnet sweep --preset seeds")]
    args = build_parser().parse_args(command.replace("\\\n", " ").split()[1:])
    assert len(spec_from_args(args).runs()) == 18 and "18 runs trained now" in README
