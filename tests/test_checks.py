"""The shared argument checks and the one JSON clean-up."""

import json
import math

import numpy as np
import pytest

from digitnet.checks import checked_integer, is_integer
from digitnet.jsonable import plain


@pytest.mark.parametrize("value", [0, 5, np.int64(3), np.uint8(7)])
def test_integers_of_python_and_numpy_are_integers(value):
    assert is_integer(value)


@pytest.mark.parametrize("value", [True, np.bool_(True), 1.0, np.float32(2), "3", None, [1]])
def test_bools_floats_and_text_are_not_integers(value):
    assert not is_integer(value)


def test_bounds_are_inclusive_and_open_when_none():
    assert is_integer(1, 1, 1) and not is_integer(0, 1) and not is_integer(65, 1, 64) and is_integer(-5)


def test_a_checked_integer_comes_back_as_a_python_int():
    value = checked_integer("epochs", np.int64(3))
    assert value == 3 and type(value) is int


@pytest.mark.parametrize(
    ("low", "high", "wanted"),
    [
        (1, None, "a positive integer"),
        (0, None, "a non-negative integer"),
        (2, None, "an integer of at least 2"),
        (1, 64, "an integer from 1 to 64"),
        (None, 9, "an integer of at most 9"),
    ],
)
def test_the_message_names_the_setting_the_range_and_the_value(low, high, wanted):
    with pytest.raises(ValueError) as caught:
        checked_integer("workers", 99.5, low, high)
    assert str(caught.value) == f"workers must be {wanted}, got 99.5"


def test_plain_makes_numpy_results_standard_json():
    value = {
        "accuracy": np.float32(0.5),
        "counts": np.arange(3),
        "pair": (1, np.int64(2)),
        "loss": np.float64("nan"),
        "worst": -math.inf,
        np.int64(7): "a NumPy key",
        True: "a bool key",
    }
    out = plain(value)
    text = json.dumps(out, allow_nan=False)  # strict JSON: no NaN or Infinity left
    assert json.loads(text) == {
        "accuracy": 0.5,
        "counts": [0, 1, 2],
        "pair": [1, 2],
        "loss": None,
        "worst": None,
        "7": "a NumPy key",
        "true": "a bool key",
    }
    assert type(out["accuracy"]) is float and type(out["pair"][1]) is int
