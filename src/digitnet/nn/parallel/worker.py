"""The worker process of data-parallel training (:mod:`digitnet.nn.parallel`), run as
``python -m digitnet.nn.parallel.worker READ_FD WRITE_FD`` by the training process, never by hand.

It builds the network from the configuration it is sent, on the weights the training process keeps in
shared memory, then computes shard after shard with the model's ``train_step``, the gradient written
into its shared gradient array, the shard's mean cost and predictions sent back through the pipe.
"""

from __future__ import annotations

import signal
import sys
import traceback
from multiprocessing.connection import Connection

import numpy as np
from threadpoolctl import threadpool_limits

from digitnet.nn.model import Sequential
from digitnet.nn.parallel.shared_memory import mapped_array
from digitnet.nn.parameters import Parameters


def serve(receive: Connection, send: Connection) -> None:
    """The worker's loop: build the network on the shared weights, then compute shard after shard."""
    setup = receive.recv()
    threadpool_limits(1, user_api="blas")  # one core per worker
    dtype = np.dtype(setup["dtype"])
    model = Sequential.from_config(setup["config"])
    if model.dtype != dtype:
        model = model.astype(dtype)
    params_fd, grads_fd, inputs_fd = setup["files"]
    shape = model.parameters.values.shape  # (P,)
    params = mapped_array(params_fd, shape, dtype)
    grads = mapped_array(grads_fd, shape, dtype)
    inputs = mapped_array(inputs_fd, (setup["shard_inputs"],), dtype)
    model.parameters = Parameters(model.layers, params, grads, copy=False)  # the calling process's weights
    rng = np.random.default_rng(setup["seed"])
    send.send(("ready", None))
    while True:
        try:
            task = receive.recv()
        except EOFError:  # the training process is gone
            return
        if task is None:  # training is over
            return
        n, y, weights = task
        x = inputs[: n * int(np.prod(model.input_shape))].reshape(n, *model.input_shape)
        predicted = np.empty(n, np.intp)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as in fit
                loss = model.train_step(x, y, example_weights=weights, rng=rng, predicted=predicted)
            send.send(("done", (loss, predicted)))
        except Exception:
            send.send(("error", traceback.format_exc()))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the calling process's to handle
    serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
