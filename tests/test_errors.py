"""Every error digitnet raises on purpose survives pickling with its message and attributes, so it can
cross from a worker process (a sweep, ``fit(workers=2)``) to the process that reports it."""

import inspect
import pickle

import pytest

import digitnet.errors
from digitnet.extras import MissingExtraError

ERRORS = [
    cls
    for _, cls in inspect.getmembers(digitnet.errors, inspect.isclass)
    if issubclass(cls, digitnet.errors.DigitnetError)
] + [MissingExtraError]

EXAMPLES = {digitnet.errors.NonFiniteError: {"what": "layers.2.W", "epoch": 3, "batch": 17}}


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_pickles_with_its_message_and_attributes(cls):
    error = cls("what went wrong, and what to do", **EXAMPLES.get(cls, {}))
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls and str(again) == str(error)
    assert {k: v for k, v in vars(again).items()} == {k: v for k, v in vars(error).items()}


def test_every_error_with_keyword_attributes_has_an_example_here():
    for cls in ERRORS:
        if cls.__init__ is BaseException.__init__:
            continue  # takes the message only
        parameters = inspect.signature(cls.__init__).parameters.values()
        keywords = [p for p in parameters if p.kind is p.KEYWORD_ONLY]
        assert not keywords or cls in EXAMPLES, f"add an example of {cls.__name__}'s keywords to EXAMPLES"
