"""digitnet's network as a scikit-learn classifier: ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``
tune and score it like any other estimator.

Needs the extra: ``pip install 'digitnet[sklearn]'``. The constructor's arguments are
:class:`~digitnet.training.config.TrainConfig`'s fields (``random_state`` is its ``seed``), and ``fit`` trains
through the same path as ``digitnet train`` (:mod:`digitnet.training.runs`): on the same images with the same
settings and seed it gives the very same weights, so the same accuracy.

Any data will do: X is (n_samples, n_features) of numbers (a convolutional network reads each row as a
square image: 784 as 28x28, ``load_digits``'s 64 as 8x8, others with zeros after them), y any labels,
``classes_`` mapping them to the outputs 0..C-1. Scale the features yourself (MNIST's pixels are in
[0, 1]; a ``StandardScaler`` in a ``Pipeline`` for other data).

Examples
--------
>>> from digitnet.sklearn import DigitNetClassifier
>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> clf = DigitNetClassifier(hidden=(32,), lr=1e-2, epochs=20, random_state=0).fit(X / 16, y)
>>> clf.score(X / 16, y) > 0.95
True
"""

from __future__ import annotations

import numpy as np

from digitnet.extras import require
from digitnet.nn import Sequential
from digitnet.nn.training import fit as fit_network
from digitnet.training.config import TrainConfig
from digitnet.training.progress import EpochLines
from digitnet.training.runs import build_model, fit_settings, make_optimizer, training_rng
from digitnet.training.setting import parameter_docs
from digitnet.training.settings import SETTINGS

require("sklearn", "sklearn", "digitnet.sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data  # noqa: E402

__all__ = ["DigitNetClassifier"]

# the estimator's own parameters; every other one is a TrainConfig field, defaulting to TrainConfig's own
OWN_PARAMETERS = ("random_state", "validation_fraction", "class_weight", "warm_start", "verbose")
DEFAULTS = TrainConfig()


class DigitNetClassifier(ClassifierMixin, BaseEstimator):
    """A digitnet network trained by mini-batch gradient descent, as a scikit-learn classifier.

    Parameters
    ----------
    First TrainConfig's settings and defaults, from the settings table (:mod:`digitnet.training.settings`);
    ``augment`` needs square images, ``patience`` watches the split ``validation_fraction`` holds out.

    {settings}
    validation_fraction : float
        The share of the training data held out, drawn at random with ``random_state`` and stratified by
        class (as ``MLPClassifier`` holds out its validation set), to record validation scores each epoch
        and, with ``patience``, stop early. 0 (the default) trains on everything.
    class_weight : None, "balanced" or dict
        Each class's weight in the cost, as scikit-learn's estimators take it: "balanced" weighs class c
        by n / (C · n_c); a dict maps labels to weights (others weigh 1).
    warm_start : bool
        ``fit`` goes on from the network it trained before (its optimiser's state too) instead of
        starting afresh, as long as the features and classes are the same.
    verbose : bool
        Print each epoch's cost (and validation accuracy) as it ends.
    random_state : int
        The seed of the initial weights, the validation split, the shuffling and the dropout masks:
        same seed, same model.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The labels seen in ``fit``, sorted; output c of the network is ``classes_[c]``.
    n_features_in_ : int
    model_ : Sequential
        The trained network.
    n_iter_ : int
        Epochs trained, over every ``fit`` and ``partial_fit`` since the last ``fit``.
    loss_curve_ : list of float
        The mean training cost of each of those epochs.
    validation_scores_ : list of float
        Each epoch's validation accuracy (empty when ``validation_fraction`` is 0).
    best_validation_score_ : float or None
        The best of ``validation_scores_`` (None without a validation split).
    best_loss_ : float
        The lowest of ``loss_curve_``.
    coefs_, intercepts_ : list of ndarray
        Each dense layer's weights (n_in, n_out) and biases (n_out,), as ``MLPClassifier`` names them
        (copies; the network's own are ``model_``'s).
    config_ : TrainConfig
        The settings it was trained with.
    """

    def __init__(
        self,
        hidden=DEFAULTS.hidden,
        conv=DEFAULTS.conv,
        kernel_size=DEFAULTS.kernel_size,
        batch_norm=DEFAULTS.batch_norm,
        augment=DEFAULTS.augment,
        activation=DEFAULTS.activation,
        cost=DEFAULTS.cost,
        optimizer=DEFAULTS.optimizer,
        lr=DEFAULTS.lr,
        momentum=DEFAULTS.momentum,
        nesterov=DEFAULTS.nesterov,
        schedule=DEFAULTS.schedule,
        batch_size=DEFAULTS.batch_size,
        epochs=DEFAULTS.epochs,
        l2=DEFAULTS.l2,
        clip_norm=DEFAULTS.clip_norm,
        dropout=DEFAULTS.dropout,
        input_dropout=DEFAULTS.input_dropout,
        init=DEFAULTS.init,
        patience=DEFAULTS.patience,
        oversample=DEFAULTS.oversample,
        class_weighted=DEFAULTS.class_weighted,
        workers=DEFAULTS.workers,
        output_activation=DEFAULTS.output_activation,
        validation_fraction=0.0,
        class_weight=None,
        warm_start=False,
        verbose=False,
        random_state=0,
    ):
        self.hidden = hidden
        self.conv = conv
        self.kernel_size = kernel_size
        self.batch_norm = batch_norm
        self.augment = augment
        self.activation = activation
        self.cost = cost
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.schedule = schedule
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.clip_norm = clip_norm
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.init = init
        self.patience = patience
        self.oversample = oversample
        self.class_weighted = class_weighted
        self.workers = workers
        self.output_activation = output_activation
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    # ----- the settings --------------------------------------------------------------------------

    def _config(self, n_samples: int) -> TrainConfig:
        """The TrainConfig of the current parameters for ``n_samples`` rows, checked by TrainConfig
        itself; its ``validation_size`` is the rows that ``validation_fraction`` holds out."""
        if not isinstance(self.random_state, (int, np.integer)) or isinstance(self.random_state, bool):
            raise ValueError(
                f"random_state must be an integer seed, got {self.random_state!r}: digitnet draws every "
                "random number from one seed, so the same seed gives the same model"
            )
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        held = int(n_samples * float(self.validation_fraction))
        if self.patience is not None and held == 0:
            raise ValueError(
                "patience (early stopping) watches a validation split: set validation_fraction > 0 "
                f"(it holds out {held} of {n_samples} rows now)"
            )
        own = OWN_PARAMETERS  # the estimator's; the rest are TrainConfig's
        fields = {k: v for k, v in self.get_params().items() if k not in own}
        return TrainConfig(**fields, seed=int(self.random_state), validation_size=held)

    # ----- training ------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train for ``epochs`` epochs on (X, y): a fresh network, or with ``warm_start`` the one trained
        before. ``sample_weight`` (n_samples,) weighs each example in the cost. Returns self.

        Shape: X (n_samples, n_features), y (n_samples,).
        """
        warm = bool(self.warm_start) and hasattr(self, "model_")
        X, y = self._checked(X, y, reset=not warm)
        classes, codes = np.unique(y, return_inverse=True)
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start goes on with the classes {self.classes_.tolist()}, but y has "
                f"{classes.tolist()}; set warm_start=False to start afresh"
            )
        self.classes_ = classes
        weights = self._weights(X, y, sample_weight)  # checked before anything fitted is replaced
        if warm:
            self._renew_settings(X.shape[0])
        else:
            self._start(X.shape)
        self._train(X, codes, epochs=self.config_.epochs, weights=weights)
        return self

    def _renew_settings(self, n_samples: int) -> None:
        """For a warm fit: the current parameters (epochs, lr, l2, ...) for the network trained before,
        whose shape cannot change; a new optimiser only if another one is asked for."""
        config = self._config(n_samples)
        built = ("hidden", "conv", "kernel_size", "batch_norm", "activation", "cost", "output_activation")
        changed = [name for name in built if getattr(config, name) != getattr(self.config_, name)]
        if changed:
            raise ValueError(
                f"warm_start goes on with the network trained before, but {', '.join(changed)} changed; set "
                "warm_start=False to build a new one"
            )
        if any(getattr(config, k) != getattr(self.config_, k) for k in ("optimizer", "momentum", "nesterov")):
            self._optimizer = make_optimizer(config)
        self._optimizer.lr = config.lr
        self.config_ = config

    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y), continuing from the network so far (its optimiser state included).

        The first call builds the network and needs every class that will ever appear: pass them in
        ``classes`` (or have all of them in this first y). Its learning rate stays at ``lr``: a schedule
        needs to know how many epochs there will be, which a stream of ``partial_fit`` calls does not.
        """
        first = not hasattr(self, "model_")
        X, y = self._checked(X, y, reset=first)
        if first:
            self.classes_ = np.unique(y if classes is None else column_or_1d(classes))
            self._start(X.shape)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes {np.unique(classes)} differ from those of the first call, {self.classes_}"
            )
        unseen = np.setdiff1d(y, self.classes_)
        if len(unseen):
            raise ValueError(
                f"labels {unseen[:5]} are not among classes_ {self.classes_}; pass every class to the first "
                "partial_fit as classes=..."
            )
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' needs every class's count, which a stream of partial_fit calls "
                "does not know; give a dict of class weights, or use fit"
            )
        codes = np.searchsorted(self.classes_, y)
        self._train(X, codes, epochs=1, schedule="constant", weights=self._weights(X, y, None))
        return self

    def _weights(self, X, y, sample_weight) -> np.ndarray | None:
        """Each example's weight in the cost (n_samples,): ``sample_weight`` times its class's, or None."""
        from sklearn.utils.class_weight import compute_sample_weight
        from sklearn.utils.validation import _check_sample_weight

        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        if weights is not None and not (weights >= 0).all():
            raise ValueError("sample_weight must be >= 0: a negative weight would reward the wrong answer")
        if self.class_weight is not None:
            by_class = compute_sample_weight(self.class_weight, y)
            weights = by_class if weights is None else weights * by_class
        if weights is not None and not weights.any():
            raise ValueError("every sample weighs 0: there is nothing to learn from")
        return weights

    def _checked(self, X, y, *, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float32, np.float64))
        check_classification_targets(y)
        return np.asarray(X, dtype=np.float32), y

    def _start(self, shape: tuple[int, int]) -> None:
        """A fresh network, optimiser and random stream for data of ``shape`` (n_samples, n_features)."""
        if len(self.classes_) < 2:
            raise ValueError(
                f"a classifier needs at least 2 classes to learn, got the one class {self.classes_.tolist()}"
            )
        self.config_ = self._config(shape[0])
        self.model_ = build_model(self.config_, features=shape[1], classes=len(self.classes_))
        self._optimizer = make_optimizer(self.config_)
        self._rng = training_rng(self.config_)
        self.n_iter_, self.loss_curve_, self.validation_scores_ = 0, [], []

    def _laid_out(self, X: np.ndarray) -> np.ndarray:
        """X as the network reads it: a convolutional one's square images, zeros after the features."""
        missing = int(np.prod(self.model_.input_shape)) - X.shape[1]
        return np.pad(X, ((0, 0), (0, missing))) if missing else X

    def _train(self, X, codes, *, epochs: int, schedule: str | None = None, weights=None) -> None:
        config, X = self.config_, self._laid_out(X)
        held = int(len(X) * float(self.validation_fraction))
        validation = None
        if held:
            kept, out = self._split(codes, held)
            validation = (X[out], codes[out])
            X, codes = X[kept], codes[kept]
            weights = None if weights is None else weights[kept]
        if schedule is not None:
            config = config.replace(schedule=schedule)
        settings = fit_settings(config, codes, classes=len(self.classes_), epochs=epochs)
        history = fit_network(
            self.model_,
            X,
            codes,
            optimizer=self._optimizer,
            settings=settings,
            rng=self._rng,
            validation=validation,
            callbacks=[EpochLines()] if self.verbose else [],
            sample_weights=weights,
        )
        self.n_iter_ += len(history)
        self.loss_curve_ += [float(e["loss"]) for e in history.epochs]
        self.validation_scores_ += [float(e["val_accuracy"]) for e in history.epochs if "val_accuracy" in e]

    def _split(self, codes: np.ndarray, held: int) -> tuple[np.ndarray, np.ndarray]:
        """(kept, held out) row indices: ``held`` rows drawn with ``random_state``, stratified by class
        when every class has two rows or more (else drawn plainly)."""
        from sklearn.model_selection import train_test_split

        counts = np.bincount(codes, minlength=len(self.classes_))
        classes = int((counts > 0).sum())
        stratify = (
            codes if counts[counts > 0].min() >= 2 and classes <= held <= len(codes) - classes else None
        )
        kept, out = train_test_split(
            np.arange(len(codes)), test_size=held, stratify=stratify, random_state=int(self.random_state)
        )
        return np.sort(kept), np.sort(out)

    # ----- using it ------------------------------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Each class's probability, (n_samples, n_features) -> (n_samples, n_classes), rows summing to 1.

        Computed in float64 from the float32 weights, so that a row's probabilities do not depend on
        which other rows share its batch (float32 BLAS sums in another order for another batch size).
        """
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        return self.model_.astype(np.float64).predict_proba(self._laid_out(np.asarray(X, dtype=np.float64)))

    def predict_log_proba(self, X) -> np.ndarray:
        """The log of :meth:`predict_proba`, (n_samples, n_features) -> (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    @property
    def best_validation_score_(self) -> float | None:
        check_is_fitted(self, "model_")
        return max(self.validation_scores_) if self.validation_scores_ else None

    @property
    def best_loss_(self) -> float:
        check_is_fitted(self, "model_")
        return min(self.loss_curve_)

    @property
    def coefs_(self) -> list[np.ndarray]:
        check_is_fitted(self, "model_")
        return [layer.params["W"].copy() for layer in self.model_.layers if type(layer).__name__ == "Dense"]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        check_is_fitted(self, "model_")
        return [layer.params["b"].copy() for layer in self.model_.layers if type(layer).__name__ == "Dense"]

    def predict(self, X) -> np.ndarray:
        """The most probable label of each sample, (n_samples, n_features) -> (n_samples,)."""
        proba = self.predict_proba(X)  # checks that it was fitted, before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    # ----- pickling ------------------------------------------------------------------------------

    def __getstate__(self):
        """The network as its architecture and arrays (a model file's content), not live objects: the
        layers' parameters are views of one flat array, which pickle would copy apart."""
        state = dict(self.__dict__)
        if "model_" in state:
            model = state.pop("model_")
            state["_model_state"] = (model.config(), {k: v.copy() for k, v in model.named_state().items()})
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "_model_state" in state:
            config, arrays = state.pop("_model_state")
            model = Sequential.from_config(config)
            model.set_state(arrays)
            state["model_"] = model
        self.__dict__.update(state)  # the optimiser's moments and step count come back as they were


if DigitNetClassifier.__doc__:  # None under python -OO
    DigitNetClassifier.__doc__ = DigitNetClassifier.__doc__.replace(
        "    {settings}", parameter_docs(SETTINGS.values(), DEFAULTS)
    )
