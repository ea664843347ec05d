"""Costs: how wrong the network's output is for the true labels, and that error's gradient.

Labels come in as integer class ids, shape (N,); the one-hot target y (N, C) exists only inside the
cost that needs it. Both costs average over the batch, so the learning rate does not depend on the
batch size. With per-example ``weights`` s (N,), for example a class weight per label, the average
becomes a weighted one: C = Σ_n s_n c_n / Σ_n s_n (PyTorch's convention for class weights).
"""

from __future__ import annotations

import numpy as np

from digitnet import kernels
from digitnet.nn.activations import softmax

__all__ = ["COSTS", "CrossEntropy", "Quadratic", "balanced_class_weights"]


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """w_c = N / (C · n_c): every class contributes equally to the cost, however rare it is.

    Shape: labels (N,) -> (C,). A class with no examples gets weight 0.
    """
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)  # (C,)
    return np.divide(len(labels), n_classes * counts, out=np.zeros(n_classes), where=counts > 0)


def _batch_weights(weights, n, dtype):
    """Each example's share of the mean, (N, 1): 1/N, or s_n / Σ s without or with weights."""
    if weights is None:
        return dtype.type(1.0 / n)
    w = np.asarray(weights, dtype=dtype)
    total = w.sum()
    if total == 0:  # every example of this batch weighs 0: it teaches nothing (not 0/0)
        return np.zeros((len(w), 1), dtype)
    return (w / total)[:, None]


class Quadratic:
    """C = 1/(2N) Σ_n ‖a_n - y_n‖²;  dC/da = (a - y) / N.

    The "sum of squared differences" cost of the explainers, on whatever the last layer outputs
    (usually sigmoid activations). Its gradient through a saturated sigmoid is tiny even when the
    answer is badly wrong, which is why it learns slower than cross-entropy.

    Shape: output a (N, C), labels (N,) int -> scalar; gradient (N, C).
    """

    def _diff(self, output, labels):
        diff = output.copy()  # (N, C): a - y, y one-hot
        diff[np.arange(len(labels)), labels] -= 1
        return diff

    def loss(self, output: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
        return self.loss_and_gradient(output, labels, weights)[0]

    def loss_and_gradient(self, output, labels, weights=None):
        diff = self._diff(output, labels)
        share = _batch_weights(weights, len(labels), diff.dtype)  # 1/N or (N, 1)
        if weights is None:
            loss = 0.5 * float(np.vdot(diff, diff)) / len(labels)  # ½ Σ_n ‖a_n - y_n‖² / N
        else:
            per_example = 0.5 * np.einsum("nc,nc->n", diff, diff)  # (N,)
            loss = float(np.sum(per_example * np.ravel(share)))
        diff *= share
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

    def _log_softmax(self, z):
        # ufunc reductions rather than z.max() and .sum(): the same sums, without the wrappers' cost,
        # which at batch 10 is more than the arithmetic's
        shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)  # (N, C), max entry 0
        lse = np.log(np.add.reduce(np.exp(shifted), axis=-1, keepdims=True))  # (N, 1)
        shifted -= lse
        return shifted  # log p, (N, C)

    def _mean_nll(self, logp, labels, share, weights):
        picked = logp[np.arange(len(labels)), labels]  # (N,) log p of the true class
        if weights is None:
            return -float(np.add.reduce(picked, dtype=np.float64)) / len(labels)
        return -float(np.add.reduce(picked * np.ravel(share)))

    def loss(self, output, labels, weights=None):
        logp = self._log_softmax(output)
        return self._mean_nll(logp, labels, _batch_weights(weights, len(labels), logp.dtype), weights)

    def loss_and_gradient(self, output, labels, weights=None):
        ids = isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu"
        fast = kernels.for_arrays(output) if weights is None and output.ndim == 2 and ids else None
        if fast is not None:  # the same in one pass (kernels' softmax_cross_entropy)
            return fast.softmax_cross_entropy(output, labels)
        logp = self._log_softmax(output)
        share = _batch_weights(weights, len(labels), logp.dtype)  # 1/N or (N, 1)
        loss = self._mean_nll(logp, labels, share, weights)
        grad = np.exp(logp, out=logp)  # p, (N, C)
        grad[np.arange(len(labels)), labels] -= 1
        grad *= share
        return loss, grad

    def probabilities(self, output):
        return softmax(output)


COSTS = {"quadratic": Quadratic, "cross-entropy": CrossEntropy}
"""Cost names, as the CLI and model files spell them, to their classes."""
