"""The named presets: each a valid TrainConfig that survives a model file, unknown names refused with the
list, and every description true where a look at the configuration can tell. No training."""

import json
import re
from pathlib import Path

import pytest

from digitnet.nn.schedules import make_schedule
from digitnet.training.config import TrainConfig
from digitnet.training.presets import PRESETS, get_preset

README = Path(__file__).resolve().parents[2] / "README.md"


def parameter_count(config: TrainConfig) -> int:
    """Weights, biases and batch-norm γ, β of the network ``config`` describes, counted from its settings.

    Each convolution is "same"-padded and each stage ends in a 2x2 max-pooling (28 -> 14 -> 7 -> 3 -> 1);
    batch normalisation follows every convolution and every hidden dense layer.
    """
    per_unit = 2 if config.batch_norm else 0
    total, channels, side = 0, 1, 28
    for stage in config.conv:
        for filters in stage:
            total += filters * channels * config.kernel_size**2 + filters + per_unit * filters
            channels = filters
        side //= 2
    n_in = channels * side * side if config.conv else 784
    for n_out in config.hidden:
        total += (n_in + 1) * n_out + per_unit * n_out
        n_in = n_out
    return total + (n_in + 1) * 10


def readme_rows() -> dict[str, list[str]]:
    """Preset name -> cells of the README results row whose command is that preset and nothing more."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        command = re.fullmatch(r"`digitnet train(?: --preset ([\w-]+))?`", cells[-1])
        if line.startswith("|") and command:
            rows[command.group(1) or "default"] = cells
    return rows


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_a_valid_config_that_survives_a_model_file(name):
    description, config = PRESETS[name]
    assert isinstance(description, str) and description.strip()
    assert isinstance(config, TrainConfig) and config.validate() is None
    assert get_preset(name) == config
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_the_default_preset_is_what_train_uses_without_flags():
    assert get_preset("default") == TrainConfig()


def test_an_unknown_preset_is_refused_listing_every_name():
    with pytest.raises(ValueError) as info:
        get_preset("lenet")
    message = str(info.value)
    assert "'lenet'" in message
    assert all(name in message for name in PRESETS), message


# --- the descriptions say nothing false ----------------------------------------------------------------

# A word in a description, and what it promises about the configuration.
PROMISES = {
    "ReLU": lambda c: c.activation == "relu",
    "sigmoid": lambda c: c.activation == "sigmoid",
    "cross-entropy": lambda c: c.cost == "cross-entropy",
    "quadratic cost": lambda c: c.cost == "quadratic",
    "Adam": lambda c: c.optimizer == "adam",
    "SGD": lambda c: c.optimizer == "sgd",
    "Nesterov": lambda c: c.optimizer == "sgd" and c.nesterov and c.momentum > 0,
    "cosine": lambda c: c.schedule == "cosine",
    "L2": lambda c: c.l2 > 0,
    "dropout": lambda c: c.dropout > 0,
    "batch normalisation": lambda c: c.batch_norm,
    "elastically distorted": lambda c: c.augment == "elastic",
    "no augmentation": lambda c: c.augment is None,
    "all 60,000 images": lambda c: c.validation_size == 0 and c.train_size is None,
    "10,000 held-out images": lambda c: c.validation_size == 10_000 and c.train_size is None,
    "convolutional": lambda c: bool(c.conv),
    "writing styles drawn on": lambda c: c.augment == "styles",
    "3 pen-drawn copies": lambda c: c.pen_digits == 3,
    "2 workers": lambda c: c.workers == 2,
}


@pytest.mark.parametrize("name", PRESETS)
def test_every_word_of_a_description_that_names_a_setting_is_true(name):
    description, config = PRESETS[name]
    promised = [word for word in PROMISES if word in description]
    assert promised, f"{name}: the description names no setting this test knows"
    assert [word for word in promised if not PROMISES[word](config)] == [], description


@pytest.mark.parametrize("name", PRESETS)
def test_an_architecture_in_a_description_is_the_one_built(name):
    description, config = PRESETS[name]
    for written in re.findall(r"\b784(?:-\d+)+-10\b", description):
        assert written == config.architecture
    filters = re.search(r"(\d+) and (\d+) (\d+)x\3 filters", description)  # "6 and 16 5x5 filters"
    if filters:
        first, second, k = map(int, filters.groups())
        assert config.conv == ((first,), (second,)) and config.kernel_size == k
    dense = re.search(r"then ([\d-]+-10)\b", description)  # "then 120-84-10"
    if dense:
        assert config.architecture.endswith("pool-" + dense.group(1))


def test_the_presets_chasing_a_published_figure_train_on_all_60000_images():
    """As the presets module says: every preset but the default trains without a validation split."""
    for name, (_, config) in PRESETS.items():
        assert (config.validation_size, config.train_size) == (
            (10_000, None) if name == "default" else (0, None)
        )


def test_seeds_is_the_explainers_network():
    """784-16-16-10 sigmoid, quadratic cost, mini-batch SGD with batch 10 and step 3 decaying to 0."""
    seeds = get_preset("seeds")
    assert seeds.architecture == "784-16-16-10" and not seeds.conv
    assert (seeds.activation, seeds.cost, seeds.optimizer) == ("sigmoid", "quadratic", "sgd")
    assert (seeds.batch_size, seeds.lr, seeds.momentum) == (10, 3.0, 0.0)
    schedule = make_schedule(seeds.schedule, seeds.epochs)
    assert schedule(0.0) == 1.0 and schedule(seeds.epochs) == pytest.approx(0.0, abs=1e-12)
    assert 0 < seeds.l2 < get_preset("default").l2  # "Nielsen's small L2 penalty"


def test_best16_has_the_same_13002_parameters_as_seeds():
    best16, seeds = get_preset("best16"), get_preset("seeds")
    assert best16.architecture == seeds.architecture
    assert parameter_count(best16) == parameter_count(seeds) == 13_002


def test_mlp100_is_the_default_recipe_on_all_images():
    assert get_preset("mlp100") == get_preset("default").replace(validation_size=0)


def test_large_has_the_dropout_rates_it_names():
    large = get_preset("large")
    assert (large.dropout, large.input_dropout) == (0.5, 0.2)  # "dropout 0.5 (input 0.2)"


def test_cnn_has_256_dense_units():
    assert get_preset("cnn").hidden == (256,)


def test_fast_cnn_is_the_small_3x3_network_it_describes():
    """Three stages of 3x3 filters, fewer parameters than LeNet-5, and no dropout: dropout's masks draw from
    the stream that also shuffles, so without it benchmarks/time_to_accuracy.py can hand PyTorch the very
    batches digitnet trains on."""
    fast, cnn, lenet5 = get_preset("fast-cnn"), get_preset("cnn"), get_preset("lenet5")
    assert fast.conv == ((8,), (32,), (64,)) and fast.kernel_size == 3 and fast.batch_norm
    assert (fast.dropout, fast.input_dropout) == (0.0, 0.0)
    assert parameter_count(fast) < parameter_count(lenet5) < parameter_count(cnn)
    assert fast.workers == cnn.workers == 2  # timed against cnn with the same cores


# --- the README's results table, row by row -----------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_the_readme_row_of_each_preset_describes_it(name):
    """Network, parameter count, epochs, batch size and workers, where the row of the preset gives them."""
    rows = readme_rows()
    assert name in rows, f"the README results table has no row for `digitnet train --preset {name}`"
    network, recipe = rows[name][:2]
    config = get_preset(name)
    architecture = re.search(r"784(?:-\d+)+|28x28(?:-\w+)+", network)
    assert architecture and architecture.group() == config.architecture, network
    count = re.search(r"\(([\d,]+)(?: parameters)?\)", network)
    if count:
        assert int(count.group(1).replace(",", "")) == parameter_count(config), network
    for pattern, value in [
        (r"(\d+) epochs", config.epochs),
        (r"batch (\d+)", config.batch_size),
        (r"(\d+) workers", config.workers),
    ]:
        for written in re.findall(pattern, recipe):
            assert int(written) == value, f"{name}: {pattern} in {recipe!r}"
