"""``digitnet train --tensorboard DIR``: the run as TensorBoard event files, so ``tensorboard --logdir DIR``
shows it learn.

Written with tensorboardX (``pip install 'digitnet[tensorboard]'``), a well-kept writer of TensorBoard's
event format that needs neither TensorFlow nor PyTorch. What each step and epoch writes:

==========================  ============================================================================
tag                         what
==========================  ============================================================================
``batch/cost``              each mini-batch's cost, step = batches since the start
``epoch/cost``              the epoch's mean training cost; ``epoch/accuracy`` its running accuracy
``epoch/val_cost``          validation cost and accuracy (``epoch/val_accuracy``), with a validation split
``epoch/learning_rate``     the step size at the epoch's start (a schedule's curve)
``weights/<layer>``         a histogram of each weighted layer's W at the end of each epoch
``first_layer/neurons``     the first layer's weights as images: an MLP's first 16 neurons as 28x28 pictures
                            of their 784 incoming weights, a CNN's first 16 kernels (first channel)
==========================  ============================================================================
"""

from __future__ import annotations

from pathlib import Path

from digitnet.extras import require
from digitnet.nn import Callback
from digitnet.nn.inspect import first_layer_images

__all__ = ["TensorBoardLog"]


class TensorBoardLog(Callback):
    """A callback that writes the run into ``folder`` as TensorBoard event files (see the module)."""

    def __init__(self, folder: str | Path):
        tensorboardx = require("tensorboardX", "tensorboard", "digitnet train --tensorboard")
        self.writer = tensorboardx.SummaryWriter(logdir=str(folder), flush_secs=5)
        self.step = 0

    def on_batch_end(self, epoch: int, batch: int, loss: float) -> None:
        self.step += 1
        self.writer.add_scalar("batch/cost", loss, self.step)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        w = self.writer
        w.add_scalar("epoch/cost", logs["loss"], epoch)
        w.add_scalar("epoch/accuracy", logs["accuracy"], epoch)
        w.add_scalar("epoch/learning_rate", logs["lr"], epoch)
        if "val_loss" in logs:
            w.add_scalar("epoch/val_cost", logs["val_loss"], epoch)
            w.add_scalar("epoch/val_accuracy", logs["val_accuracy"], epoch)
        for i, layer in enumerate(self.model.layers):
            if layer.has_weights:
                w.add_histogram(f"weights/{i}-{type(layer).__name__}", layer.params["W"], epoch)
        images = first_layer_images(self.model)
        if images is not None:
            w.add_images("first_layer/neurons", images[:, None], epoch, dataformats="NCHW")
        w.flush()

    def on_train_end(self, history) -> None:
        self.writer.close()
