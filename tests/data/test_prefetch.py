"""prefetch: items in order, exceptions carried over, the background thread gone whenever the consumer
stops, and no deadlock. Every wait is bounded, so a bug fails a test instead of hanging the suite."""

import gc
import threading
import time
import traceback

import numpy as np
import pytest

from digitnet.data.augment import Augment
from digitnet.data.prefetch import prefetch

LIMIT = 2.0  # seconds any wait may take before the test fails


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "digitnet-prefetch"]


def wait_until(condition, limit: float = LIMIT) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def finishes(action, limit: float = LIMIT) -> bool:
    """Run ``action`` in a daemon thread; True if it returned within ``limit`` seconds."""
    worker = threading.Thread(target=action, daemon=True)
    worker.start()
    worker.join(limit)
    return not worker.is_alive()


def counting(log: list, closed: threading.Event | None = None):
    """An endless generator of 0, 1, 2, ... that logs each item as it makes it and flags its closing."""
    try:
        k = 0
        while True:
            log.append(k)
            yield k
            k += 1
    finally:
        if closed is not None:
            closed.set()


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    assert wait_until(lambda: not prefetch_threads())
    before = threading.active_count()
    yield
    assert wait_until(lambda: not prefetch_threads()), "a prefetch thread outlived its test"
    assert wait_until(lambda: threading.active_count() <= before)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_order_is_preserved(depth):
    assert list(prefetch(range(200), depth=depth)) == list(range(200))


def test_empty_iterable():
    assert list(prefetch([])) == []


def test_items_are_the_same_objects():
    items = [np.zeros(3), np.ones(3)]
    assert all(a is b for a, b in zip(prefetch(items), items))


def test_random_batches_are_reproducible():
    def batches(seed):
        rng = np.random.default_rng(seed)
        for _ in range(20):
            yield rng.random(5)

    got = list(prefetch(batches(3), depth=3))
    expected = list(batches(3))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_producer_runs_ahead_in_the_background():
    log = []
    items = prefetch(counting(log), depth=2)
    assert next(items) == 0
    # While the consumer holds item 0, two more wait in the queue and one is made and blocked on put.
    assert wait_until(lambda: len(log) >= 4)
    time.sleep(0.05)
    assert len(log) == 4  # and no further: depth bounds the work done ahead
    items.close()


def test_exception_reaches_the_consumer_with_its_traceback():
    def failing():
        yield 1
        yield 2
        raise KeyError("batch 3 is broken")

    got = []
    with pytest.raises(KeyError, match="batch 3 is broken") as info:
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1, 2]
    assert "failing" in [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]


def test_exception_from_iter_reaches_the_consumer():
    class Broken:
        def __iter__(self):
            raise OSError("cannot open")

    with pytest.raises(OSError, match="cannot open"):
        list(prefetch(Broken()))


def test_break_stops_the_thread_and_closes_the_iterable():
    log, closed = [], threading.Event()
    for item in prefetch(counting(log, closed), depth=2):
        if item == 3:
            break
    assert not prefetch_threads()  # joined before the loop's next line runs
    assert closed.is_set()  # the generator's finally ran


@pytest.mark.parametrize("depth", [1, 3])
def test_close_with_a_full_queue_does_not_deadlock(depth):
    log = []
    items = prefetch(counting(log), depth=depth)
    next(items)
    assert wait_until(lambda: len(log) == depth + 2)  # one taken, depth queued, one blocked in put()
    assert finishes(items.close)
    assert not prefetch_threads()


def test_garbage_collection_stops_the_thread():
    items = prefetch(counting([]), depth=1)
    next(items)
    assert prefetch_threads()
    del items
    gc.collect()
    assert wait_until(lambda: not prefetch_threads())


def test_exception_in_the_consumer_stops_the_thread():
    closed = threading.Event()

    def consume():
        for item in prefetch(counting([], closed), depth=2):
            if item == 2:
                raise RuntimeError("training failed")

    with pytest.raises(RuntimeError, match="training failed"):
        consume()
    assert wait_until(closed.is_set)
    assert wait_until(lambda: not prefetch_threads())


def test_slow_producer_stops_after_its_current_item():
    def slow():
        while True:
            time.sleep(0.1)
            yield "batch"

    items = prefetch(slow(), depth=2)
    next(items)
    start = time.monotonic()
    assert finishes(items.close)
    assert time.monotonic() - start < 0.5


def test_no_thread_until_the_first_item_is_asked_for():
    items = prefetch(counting([]))
    time.sleep(0.02)
    assert not prefetch_threads()
    items.close()  # never started: nothing to stop


def test_the_thread_is_a_daemon():
    items = prefetch(counting([]))
    next(items)
    assert all(t.daemon for t in prefetch_threads())
    items.close()


@pytest.mark.parametrize("depth", [0, -1, 1.5, True, "2", None])
def test_bad_depth_is_refused_at_the_call(depth):
    with pytest.raises(ValueError, match="depth must be a positive int") as info:
        prefetch(range(3), depth=depth)
    assert repr(depth) in str(info.value)


def test_prefetched_augmentation_matches_augmenting_in_the_loop():
    x = np.random.default_rng(0).random((300, 784), dtype=np.float32)

    def batches(seed):
        rng = np.random.default_rng(seed)
        for start in range(0, len(x), 64):
            yield Augment()(x[start : start + 64], rng)

    got = list(prefetch(batches(5)))
    assert all(np.array_equal(a, b) for a, b in zip(got, batches(5), strict=True))
