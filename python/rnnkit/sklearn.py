"""scikit-learn estimators: :class:`RNNRegressor`, :class:`GRURegressor` and
:class:`LSTMRegressor`.

Each wraps :class:`rnnkit.models.SequenceRegressor` trained by :func:`rnnkit.train.fit`
and follow scikit-learn's conventions, so they work in ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and ``clone``, and pass ``sklearn.utils.estimator_checks``.

X is either 2-D, ``(n_samples, n_steps)``, one feature per time step (a table of
lags, as scikit-learn's transformers produce), or 3-D, ``(n_samples, n_steps,
n_features)``, the windows of :func:`rnnkit.data.make_windows`. y is ``(n_samples,)``
or ``(n_samples, n_outputs)``, one row per window (for instance the next ``horizon``
values).

scikit-learn is an optional dependency: ``pip install "rnnkit[sklearn]"``. ``import
rnnkit`` never imports it; only this module does.
"""

import copy
import math

import numpy as np

try:
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.utils.validation import (
        check_is_fitted,
        check_random_state,
        check_X_y,
        validate_data,
    )
except ImportError as err:  # missing, or older than 1.6 (no validate_data)
    raise ImportError(
        'rnnkit.sklearn needs scikit-learn >= 1.6: pip install "rnnkit[sklearn]"'
    ) from err

from . import train
from ._checks import check_bool, check_fraction, is_int
from ._estimator import defaults
from .models import RECOMMENDED_FORGET_BIAS, SequenceRegressor

__all__ = ["GRURegressor", "LSTMRegressor", "RNNRegressor"]

_MODEL = defaults(SequenceRegressor)
_FIT = defaults(train.fit)
# float64, not the model's float32: scikit-learn holds a sample's prediction alone and in a
# batch to 1e-7 (check_methods_subset_invariance), and a float32 head rounds differently for
# different batch sizes (NumPy's BLAS sums in another order), by 1-2 ulps (~2e-7).
# dtype="float32" trains about 3-4 times faster, where that does not matter.
_DTYPE = "float64"
# 3e-3, not fit's 1e-3 (Adam's own default): scikit-learn's data sets are often hundreds of
# samples, not the thousands of windows of a price series, and at 1e-3 an LSTM falls short
# of a fit within its epochs there. On check_estimator's regression data (200 samples,
# linear R^2 0.81) its training R^2 over 20 seeds is 0.47-0.77 at 1e-3 and 0.83-0.92 at
# 3e-3 with the forget bias below (0.65-0.91 without it), in the same time. The RNN fits
# either way.
_LR = 3e-3
# X as validated: float64, or float32 kept as it is (the model casts to its dtype once).
_FLOATS = (np.float64, np.float32)

_SHARED_DOC = """\
    hidden_size : int
        Hidden units of every recurrent layer.
    num_layers : int
        Stacked recurrent layers.
    dropout : float
        Dropout rate while training, in [0, 1): on the inputs, between recurrent layers
        and before the head (see :class:`rnnkit.models.SequenceRegressor`).
    nonlinearity : {{"tanh", "relu"}}
        The RNN's activation; not used by the LSTM and the GRU.
    forget_bias : float
        Added to the LSTM's forget-gate biases at initialisation (1.0 keeps the cell's
        memory open early in training; 0.0 is PyTorch's initialisation); not used by
        the RNN and the GRU.
    variant : str
        The LSTM's variant: "vanilla", or one of Greff et al.'s ("nig", "nfg", "nog",
        "niaf", "noaf", "cifg"; see :class:`rnnkit.models.LSTM`); the other cells take
        only "vanilla".
    dtype : {{"float32", "float64"}}
        Precision of the network's weights and arithmetic. float64 by default, as
        scikit-learn expects; float32 trains several times faster. Predictions are
        float64 either way.
    epochs : int
        Most passes over the training samples.
    batch_size : int
        Samples per optimizer step.
    optimizer : {{"adam", "sgd", "rmsprop"}} or rnnkit.train.Optimizer
        An instance is copied by ``fit``, never updated in place.
    lr : float
        Learning rate of a named optimizer.
    loss : {{"mse", "mae"}} or callable
        A callable takes (pred, target) and returns (value, dvalue/dpred).
    clip_norm : float or None
        Clip the global gradient norm of every step to this (None: no clipping).
    patience : int or None
        Stop after this many epochs without a lower monitored loss: the validation
        loss with ``early_stopping``, else the training loss (None: never stop early).
    restore_best_weights : bool
        Keep the weights of the epoch with the lowest monitored loss.
    reduce_lr_on_plateau : None, True or dict
        Lower the learning rate when the monitored loss stalls (see
        :func:`rnnkit.train.fit`).
    shuffle : bool
        Shuffle the training samples every epoch (never into the validation block).
    early_stopping : bool
        Hold out the last ``validation_fraction`` of the samples, in their order, and
        monitor the loss on them. Samples are taken to be in time order: the
        validation block is the most recent one and is never shuffled in.
    validation_fraction : float
        Share of the samples in the validation block, in [0, 1); used with
        ``early_stopping`` only.
    random_state : None, int or numpy.random.RandomState
        Seeds the initial weights, the dropout masks and the batch order. An int
        makes ``fit`` reproducible, bit for bit (the core's sums run in the same order
        on any number of threads).
    verbose : int
        0 silent; 1 a progress bar over epochs (stderr).

    Attributes
    ----------
    model_ : rnnkit.models.SequenceRegressor
        The trained network.
    history_ : rnnkit.train.History
        Losses per epoch and why training stopped.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Time steps per sample, ``X.shape[1]``: scikit-learn counts the columns of a
        2-D X as its features, and the count is kept for 3-D X too. The features per
        step are ``model_.input_size`` (1 for 2-D X).
    feature_names_in_ : ndarray of str
        Column names of a DataFrame X (one per time step); only set for a DataFrame
        whose column names are all strings.
    n_outputs_ : int
        Columns of y (1 for a 1-D y).
"""


def _docstring(summary):
    return f"{summary}\n\n    Parameters\n    ----------\n{_SHARED_DOC.format()}"


def _as_windows(X):
    """Validated X as (n_samples, n_steps, n_features): a 2-D X has one feature per step."""
    if X.ndim == 2:
        return X[:, :, np.newaxis]
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 1:
        raise ValueError(
            "X must have shape (n_samples, n_steps) or (n_samples, n_steps, n_features) with "
            f"n_steps, n_features >= 1, got shape {X.shape}"
        )
    return X


def _seeds(random_state):
    """Two int seeds from random_state: the model's (weights, dropout) and fit's (batch order).

    scikit-learn's convention: an int gives the same seeds every time, a RandomState is
    advanced, None draws from NumPy's global RandomState.
    """
    value = random_state
    if not (value is None or is_int(value) or isinstance(value, np.random.RandomState)):
        raise TypeError(
            "random_state must be None, an int or a numpy.random.RandomState, got "
            f"{type(value).__name__} {value!r}"
        )
    if is_int(value) and not 0 <= value < 2**32:
        raise ValueError(f"random_state must be an int in [0, 2**32), got {value}")
    rng = check_random_state(value)
    return tuple(int(s) for s in rng.randint(np.iinfo(np.int32).max, size=2))


class _RecurrentRegressor(RegressorMixin, BaseEstimator):
    """What RNNRegressor, GRURegressor and LSTMRegressor share: everything but the cell
    (``_cell``).

    Each takes the parameters of every cell, as :class:`SequenceRegressor` does, so that
    one signature serves the three classes.
    """

    _cell = None

    # The defaults are SequenceRegressor's and train.fit's, except where noted:
    def __init__(
        self,
        *,
        hidden_size=_MODEL["hidden_size"],
        num_layers=_MODEL["num_layers"],
        dropout=_MODEL["dropout"],
        nonlinearity=_MODEL["nonlinearity"],
        # the package's recommended offset, as the Forecaster's, not the layers' PyTorch-exact 0.0
        forget_bias=RECOMMENDED_FORGET_BIAS,
        variant=_MODEL["variant"],
        dtype=_DTYPE,
        epochs=_FIT["epochs"],
        batch_size=_FIT["batch_size"],
        optimizer=_FIT["optimizer"],
        lr=_LR,
        loss=_FIT["loss"],
        clip_norm=_FIT["clip_norm"],
        patience=_FIT["patience"],
        restore_best_weights=_FIT["restore_best_weights"],
        reduce_lr_on_plateau=_FIT["reduce_lr_on_plateau"],
        shuffle=_FIT["shuffle"],
        # MLPRegressor's early stopping, parameters and defaults
        early_stopping=False,
        validation_fraction=0.1,
        # scikit-learn's convention; replaces the model's and fit's seeds
        random_state=None,
        # a search fits dozens of times, and scikit-learn's estimators are silent by default
        verbose=0,
    ):
        params = dict(locals())
        del params["self"]
        vars(self).update(params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # windows (n_samples, n_steps, n_features)
        tags.target_tags.multi_output = True  # y (n_samples, n_outputs): a horizon
        return tags

    def _split(self, X, y):
        """(training block, validation block or None): the validation block comes last."""
        fraction = check_fraction("validation_fraction", self.validation_fraction)
        if not check_bool("early_stopping", self.early_stopping):
            return (X, y), None
        n = len(X)
        n_val = math.ceil(fraction * n)  # as MLPRegressor's split rounds
        if not 1 <= n_val < n:
            raise ValueError(
                f"early_stopping needs at least 1 sample for training and 1 for validation; "
                f"validation_fraction={fraction} of {n} samples gives {n - n_val} and {n_val}"
            )
        return (X[:-n_val], y[:-n_val]), (X[-n_val:], y[-n_val:])

    def fit(self, X, y):
        """Train a new network on X and y.

        Every parameter is checked here (none in ``__init__``), with errors that name it.
        The fitted attributes are set together at the end: a failed fit leaves the
        estimator as it was.

        Parameters
        ----------
        X : array_like (n_samples, n_steps) or (n_samples, n_steps, n_features)
            Samples in time order if ``early_stopping`` is set.
        y : array_like (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        given = X  # validate_data records its column count and names once fit has succeeded
        X, y = check_X_y(
            X, y, allow_nd=True, multi_output=True, y_numeric=True, dtype=_FLOATS, estimator=self
        )
        X = _as_windows(X)
        targets = y.reshape(len(y), -1)
        # train.fit reads these two as truth values; a search with shuffle="no" must fail.
        check_bool("shuffle", self.shuffle)
        check_bool("restore_best_weights", self.restore_best_weights)
        model_seed, fit_seed = _seeds(self.random_state)
        (X_train, y_train), validation = self._split(X, targets)
        # The model and the trainer check their own arguments, naming each one.
        model = SequenceRegressor(
            cell=self._cell,
            input_size=X.shape[2],
            hidden_size=self.hidden_size,
            output_size=targets.shape[1],
            num_layers=self.num_layers,
            dropout=self.dropout,
            nonlinearity=self.nonlinearity,
            forget_bias=self.forget_bias,
            variant=self.variant,
            dtype=self.dtype,
            seed=model_seed,
        )
        history = train.fit(
            model,
            X_train,
            y_train,
            validation_data=validation,
            epochs=self.epochs,
            batch_size=self.batch_size,
            # an Optimizer instance keeps state between steps: the parameter must not change
            optimizer=copy.deepcopy(self.optimizer),
            lr=self.lr,
            loss=self.loss,
            clip_norm=self.clip_norm,
            patience=self.patience,
            restore_best_weights=self.restore_best_weights,
            reduce_lr_on_plateau=self.reduce_lr_on_plateau,
            shuffle=self.shuffle,
            seed=fit_seed,
            verbose=self.verbose,
        )
        validate_data(self, given, reset=True, skip_check_array=True)
        self.model_ = model
        self.history_ = history
        self.n_iter_ = history.stopped_epoch
        self.n_outputs_ = targets.shape[1]
        self._y_ndim = y.ndim
        return self

    def predict(self, X):
        """Predictions of the trained network, in float64.

        Parameters
        ----------
        X : array_like (n_samples, n_steps) or (n_samples, n_steps, n_features)
            The time steps and features per step that ``fit`` saw.

        Returns
        -------
        ndarray (n_samples,) or (n_samples, n_outputs)
            1-D if ``fit`` was given a 1-D y.
        """
        check_is_fitted(self)
        X = _as_windows(validate_data(self, X, reset=False, allow_nd=True, dtype=_FLOATS))
        features = self.model_.input_size
        if X.shape[2] != features:
            raise ValueError(
                f"X has {X.shape[2]} features per time step, but {type(self).__name__} was "
                f"fitted with {features}"
            )
        # scikit-learn's metrics and checks expect float64 predictions
        pred = self.model_.predict(X).astype(np.float64)
        return pred[:, 0] if self._y_ndim == 1 else pred


class RNNRegressor(_RecurrentRegressor):
    __doc__ = _docstring(
        "A vanilla (Elman) RNN and a linear head on its last hidden state, for scikit-learn."
    )
    _cell = "rnn"


class GRURegressor(_RecurrentRegressor):
    __doc__ = _docstring("A GRU and a linear head on its last hidden state, for scikit-learn.")
    _cell = "gru"


class LSTMRegressor(_RecurrentRegressor):
    __doc__ = _docstring("An LSTM and a linear head on its last hidden state, for scikit-learn.")
    _cell = "lstm"
