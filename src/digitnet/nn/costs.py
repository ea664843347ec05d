"""Costs: how wrong the network's output is for the true labels, and that error's gradient.

Labels come in as integer class ids, shape (N,); the one-hot target y (N, C) exists only inside the
cost that needs it. Both costs average over the batch, so the learning rate does not depend on the
batch size.
"""

from __future__ import annotations

import numpy as np

from digitnet.nn.activations import softmax

__all__ = ["COSTS", "CrossEntropy", "Quadratic"]


class Quadratic:
    """C = 1/(2N) Σ_n ‖a_n - y_n‖²;  dC/da = (a - y) / N.

    The "sum of squared differences" cost of the explainers, on whatever the last layer outputs
    (usually sigmoid activations). Its gradient through a saturated sigmoid is tiny even when the
    answer is badly wrong, which is why it learns slower than cross-entropy.

    Shape: output a (N, C), labels (N,) int -> scalar; gradient (N, C).
    """

    name = "quadratic"

    def _diff(self, output, labels):
        diff = output.copy()  # (N, C): a - y, y one-hot
        diff[np.arange(len(labels)), labels] -= 1
        return diff

    def loss(self, output: np.ndarray, labels: np.ndarray) -> float:
        diff = self._diff(output, labels)
        return float(0.5 * np.vdot(diff, diff) / len(labels))

    def loss_and_gradient(self, output, labels):
        diff = self._diff(output, labels)
        n = len(labels)
        loss = float(0.5 * np.vdot(diff, diff) / n)
        diff *= diff.dtype.type(1.0 / n)
        return loss, diff

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """The outputs are activations, not probabilities: clip at 0 and rescale each row to sum 1.

        A row with no positive output becomes uniform.
        """
        p = np.maximum(output, 0)
        total = p.sum(axis=-1, keepdims=True)  # (N, 1)
        c = p.shape[-1]
        return np.divide(p, total, out=np.full_like(p, 1.0 / c), where=total > 0)


class CrossEntropy:
    """Softmax and the negative log-likelihood, fused.

    With z the output logits (N, C) and p = softmax(z)::

        C = -1/N Σ_n log p_{n, y_n} = 1/N Σ_n (logsumexp(z_n) - z_{n, y_n})
        dC/dz = (p - y) / N

    log-sum-exp with the row maximum subtracted never overflows, and the fused gradient stays large
    while the answer is wrong (no saturation), which is why it learns faster than the quadratic cost.
    """

    name = "cross-entropy"

    def _log_softmax(self, z):
        shifted = z - z.max(axis=-1, keepdims=True)  # (N, C), max entry 0
        lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (N, 1)
        shifted -= lse
        return shifted  # log p, (N, C)

    def loss(self, output, labels):
        logp = self._log_softmax(output)
        return float(-logp[np.arange(len(labels)), labels].mean(dtype=np.float64))

    def loss_and_gradient(self, output, labels):
        logp = self._log_softmax(output)
        rows = np.arange(len(labels))
        loss = float(-logp[rows, labels].mean(dtype=np.float64))
        grad = np.exp(logp, out=logp)  # p, (N, C)
        grad[rows, labels] -= 1
        grad *= grad.dtype.type(1.0 / len(labels))
        return loss, grad

    def probabilities(self, output):
        return softmax(output)


COSTS = {"quadratic": Quadratic, "cross-entropy": CrossEntropy}
"""Cost names, as the CLI and model files spell them, to their classes."""
