"""DigitNetClassifier against scikit-learn's MLPClassifier on the same 5,000 MNIST images.

Both with a 100-unit hidden layer, Adam and their defaults otherwise (MLPClassifier: up to 200 epochs,
stopping when the training loss stalls; DigitNetClassifier: 40 epochs, cosine schedule, L2 3e-4), then
both with early stopping on a held-out tenth. Prints each one's test accuracy on MNIST's 10,000 test
digits, its fit time on this machine and its epochs.

    DIGITNET_DATA=... python benchmarks/sklearn_parity.py
"""

from __future__ import annotations

import os
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from digitnet.data import load_mnist
from digitnet.sklearn import DigitNetClassifier


def main() -> None:
    mnist = load_mnist(os.environ.get("DIGITNET_DATA"), validation_size=0, progress=False)
    x, y = mnist.train.x[:5000], mnist.train.y[:5000]
    candidates = {
        "MLPClassifier((100,)), defaults": MLPClassifier(hidden_layer_sizes=(100,), random_state=0),
        "DigitNetClassifier(), defaults": DigitNetClassifier(random_state=0),
        "MLPClassifier, early_stopping": MLPClassifier(
            hidden_layer_sizes=(100,), early_stopping=True, random_state=0
        ),
        "DigitNetClassifier, validation 0.1, patience 5": DigitNetClassifier(
            validation_fraction=0.1, patience=5, random_state=0
        ),
    }
    for name, clf in candidates.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            clf.fit(x, y)
            seconds = time.perf_counter() - start
        accuracy = clf.score(mnist.test.x, mnist.test.y)
        print(f"{name:<48} test {100 * accuracy:.2f}%  fit {seconds:5.1f} s  {clf.n_iter_} epochs")


if __name__ == "__main__":
    main()
