"""The records beside the weights: training settings, history and metrics, checked for type and range."""

import math

import pytest
from modelfile_helpers import make_model, resaved

from digitnet.errors import ModelFileError
from digitnet.modelfile import load_model, save_model

# fmt: off
WRONG_FIELDS = [
    ("history", [1, 2], "history must be a JSON object, got a list"),
    ("history", {"epochs": {"1": 0.5}}, "history.epochs must be a list"),
    ("history", {"epochs": [{"epoch": 1, "loss": "low"}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"epoch": 1, "loss": None}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"epoch": 1, "loss": math.nan}]},
     r"history.epochs\[0\].loss must be a finite number"),
    ("history", {"epochs": [{"loss": 0.5}]}, r"history.epochs\[0\].epoch must be the epoch's number"),
    ("history", {"epochs": [{"epoch": 1, "loss": 1}, {"epoch": 2}]}, r"history.epochs\[1\] records other"),
    ("history", {"best_epoch": "3"}, "history.best_epoch must be an epoch number"),
    ("history", {"stopped_early": 0}, "history.stopped_early must be true or false"),
    ("metrics", "0.97", "metrics must be a JSON object, got a string"),
    ("metrics", {"test_accuracy": "97%"}, "metrics.test_accuracy must be a finite number"),
    ("metrics", {"test_accuracy": math.nan}, "metrics.test_accuracy must be a finite number"),
    ("metrics", {"architecture": {"layers": []}}, "metrics.architecture must be a string"),
    ("metrics", {"note": [1, 2]}, "metrics.note must be a finite number, a string, true/false or null"),
    ("training", [100], "training must be a JSON object, got a list"),
    ("training", {"hidden": [[1]]},
     r"training.hidden is \[\[1\]\], but the setting takes a list of integers"),
    ("training", {"hidden": 100}, "training.hidden is 100, but the setting takes a list of integers"),
    ("training", {"lr": "fast"}, "training.lr is 'fast', but the setting takes a number"),
    ("training", {"lr": math.inf}, "training.lr is inf, but the setting takes a number"),
    ("training", {"conv": [6, 16]}, "training.conv .* takes a list of lists of integers"),
    ("training", {"init": 3}, "training.init is 3, but the setting takes a string or null"),
    ("training", {"extra": {"a": 1}}, "training.extra must be a finite number, a string"),
    ("digitnet_version", 1, "digitnet_version must be a string"),
    ("created", None, "created must be a string"),
    ("architecture", [], "the architecture is a JSON array, not an object"),
    ("architecture", {"input_shape": [784], "cost": "cross-entropy"},
     "must hold exactly input_shape, cost and layers"),
]
# fmt: on


@pytest.mark.parametrize("field, value, reason", WRONG_FIELDS)
def test_every_field_is_checked_for_type(tmp_path, field, value, reason):
    path = save_model(tmp_path / "m.safetensors", make_model())
    resaved(path, path, lambda header: header.update({field: value}))
    with pytest.raises(ModelFileError, match=reason) as info:
        load_model(path)
    assert str(info.value).startswith(str(path)) and "retrain" in str(info.value)


@pytest.mark.parametrize(
    "metrics, reason",
    [
        ({"test_accuracy": 5.0}, r"metrics.test_accuracy must be a share from 0 to 1, got 5.0"),
        ({"val_accuracy": -1e300}, r"metrics.val_accuracy must be a share from 0 to 1"),
        ({"train_seconds": -3}, r"metrics.train_seconds must be >= 0, got -3"),
        ({"test_accuracy": 10**400}, r"metrics.test_accuracy must be a finite number"),
        ({"temperature": 0.0}, r"metrics.temperature must be > 0 \(it divides the scores\), got 0.0"),
        ({"temperature": -2}, r"metrics.temperature must be >= 0, got -2"),
        ({"temperature": "hot"}, r"metrics.temperature must be a finite number"),
        ({"min_confidence": 1.5}, r"metrics.min_confidence must be a confidence from 0 to 1, got 1.5"),
        ({"min_confidence": math.inf}, r"metrics.min_confidence must be a finite number"),
    ],
)
def test_recorded_scores_must_be_in_range(tmp_path, metrics, reason):
    path = save_model(tmp_path / "m.safetensors", make_model(), metrics=metrics)
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)
