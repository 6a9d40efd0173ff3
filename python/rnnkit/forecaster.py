"""From a price series to a trained network, compared honestly with simple baselines.

The pipeline, and where honesty is kept (each step is :func:`rnnkit.data.split_windows`,
the one place that cuts windows and decides blocks):

1. Missing values are refused unless the caller chose to drop or forward-fill them.
2. The network sees log returns by default (``transform="log_return"``): prices
   wander over decades (WTI: 10 to 145 dollars) and a scaler fitted on the
   training years meets levels in the test years it has never seen, while daily
   log returns keep one scale. ``transform="none"`` models prices directly.
3. Every window is assigned to train, validation or test by the time of its
   last target, so no window trains on a value that is later used to judge it;
   windows are never shuffled across blocks.
4. The scaler is fitted on the training block only.
5. Forecasts are turned back into prices (``p_t * exp(cumulative predicted
   returns)``), and the network and every baseline are scored on the same test
   windows in the same units, with the same last observed price.

With ``stateful=True`` the network reads the rows in order instead of windows, carrying
its state from row to row (:func:`rnnkit.data.split_rows` cuts those rows into the same
blocks): it is trained by truncated backpropagation through time and scored on the same
test targets and origins as the baselines, its state continued from the end of the
validation block.

A Forecaster follows scikit-learn's estimator conventions (``get_params``,
``set_params``, ``sklearn.base.clone``; arguments checked in :meth:`Forecaster.fit`)
and owns its state: :meth:`Forecaster.to_state` turns a fitted one into arrays and a
JSON-safe dict, which :mod:`rnnkit.io` writes.
"""

import time

import numpy as np

from . import _jobs
from . import baselines as _baselines
from . import data as _data
from . import intervals as _intervals
from . import metrics as _metrics
from . import train as _train
from ._checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_level,
    check_quantiles,
    check_seed,
    finite_array,
    is_int,
)
from ._estimator import Estimator, defaults
from .models import CELLS, RECOMMENDED_FORGET_BIAS, SequenceRegressor

_MODEL = defaults(SequenceRegressor)
_FIT = defaults(_train.fit)
_SPLIT = defaults(_data.split_windows)
# The course's rule of thumb: under about this many observations, simpler models
# (the baselines) usually beat a recurrent network.
THIN_DATA = 500
RULE_OF_THUMB = (
    f"Rule of thumb: under about {THIN_DATA} observations, simpler models usually win; "
    "trust the baselines' rows, or use a shorter lookback, fewer units or more data."
)


class ThinDataWarning(UserWarning):
    """Fewer training windows than the network has parameters, or than THIN_DATA."""


# A loss given as a function is saved by its name only (a file never holds code):
# a loaded Forecaster's loss is this prefix and the name, refused by fit.
_NAMED_LOSS = "function:"


class Forecaster(Estimator):
    """Forecast the next ``horizon`` values of a price series with an LSTM or RNN.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn"}
    lookback : int
        Past steps each forecast sees.
    horizon : int
        Future steps forecast at once.
    hidden_size, num_layers, dropout
        The network (see :class:`rnnkit.models.SequenceRegressor`). ``dropout``, in
        [0, 1), acts while training on the inputs, between layers and before the head,
        so with one layer too.
    forget_bias : float
        The LSTM's forget-gate bias at initialisation (see :class:`rnnkit.models.LSTM`);
        ignored by the other cells.
    variant : str
        The LSTM's variant: "vanilla", or one of Greff et al.'s ("nig", "nfg", "nog",
        "niaf", "noaf", "cifg": see :class:`rnnkit.models.LSTM`); the other cells take
        only "vanilla" (fit refuses another).
    transform : {"log_return", "return", "none", "volatility"}
        What the network models (see the module docstring).
    scaler : {"standard", "minmax", "none"}
        Fitted on the training block only.
    target : str or int, optional
        For a DataFrame, the column to forecast (default the first column).
    inputs : list of str or int, optional
        The columns the network reads (default all; the baselines read the target).
    unscaled : list of str or int
        Columns the network reads as they are (event flags, calendar dummies).
    val, test : float
        Fractions of the series, in time order, for validation (early stopping)
        and for the final test.
    missing : {"raise", "drop", "ffill"}
        What to do with NaN or inf in the series.
    epochs, batch_size, optimizer, lr, loss, clip_norm, patience
        Training (see :func:`rnnkit.train.fit`). ``optimizer`` is a name; ``loss`` a
        name or a function ``(pred, target) -> (value, gradient)``, which a saved
        model records by name (it must be set again before a loaded model refits).
    quantiles : list of float, optional
        Forecast these quantiles of every step instead of one value: the head has one
        output per step and level, trained on the pinball loss
        (:class:`rnnkit.train.PinballLoss`, which replaces ``loss``). Strictly increasing levels in (0, 1),
        0.5 among them: the median is the point forecast. :meth:`predict_quantiles`
        gives them all; ``predict(series, interval=level)`` the conformalized interval
        between the two around ``level``. A quantile of the price h steps ahead is not
        a sum of quantiles of returns, so with ``horizon > 1`` the transform must be
        "none" or "volatility".
        With ``stateful=True``, ``batch_size`` is the number of contiguous streams.
    stateful : bool
        False: every forecast reads a window of ``lookback`` rows from a zero state.
        True: the network reads the rows in order, carrying its state from row to row,
        and forecasts after every row (see the Notes below).
    tbptt : int or None
        With ``stateful=True``, the steps of each chunk of truncated backpropagation
        through time (required; at most the training rows per stream); None otherwise.
    dtype : {"float32", "float64"}
    seed : int or None
        Fixes initialisation, dropout and batch order.
    verbose : int
        0 silences training; 1 shows a progress bar.

    Attributes
    ----------
    model_ : rnnkit.models.SequenceRegressor
        The trained network (the best epoch's weights). It reads windows that are
        already transformed and scaled: give it ``pipeline_.windows(series).X``, not
        prices (:meth:`predict` and :meth:`gates` do this for you).
    pipeline_ : rnnkit.data.WindowPipeline
        The fitted transform and scaler, to cut windows from new data and turn
        forecasts back into the series' units (``to_levels``).
    scaler_ : rnnkit.data.StandardScaler, MinMaxScaler or None
        ``pipeline_.scaler``: fitted on the training block only.
    history_ : rnnkit.train.History
        Losses, learning rate and time per epoch, the best epoch and why training
        stopped.
    baselines_ : list of Baseline
        Fitted on the training windows, scored beside the network.
    train_seconds_ : float
        Wall time of the network's training.
    n_features_in_ : int
        Columns of the series.
    test_values_, test_index_
        The rows of the series the test windows read (and their index, or None):
        enough to rebuild every test window after loading.
    calibration_ : dict or None
        What the intervals are calibrated on (:mod:`rnnkit.intervals`): ``"actual"``,
        the validation block's targets (n, horizon) in the series' units, and every
        model's forecasts of them by name (the network's (n, horizon, Q) with
        quantiles); None without a validation block.
    test_state_ : list or None
        A stateful network's state at the start of the test block (per layer ``(h, c)``
        for the LSTM, ``(h,)`` otherwise, arrays (1, hidden_size)); None for a windowed
        one.

    Every fitted attribute is set at the end of :meth:`fit`, together, and saved by
    :meth:`save`.

    Notes
    -----
    With ``stateful=True`` the network reads the transformed, scaled rows one after
    another, and the forecast it makes after each row targets the ``horizon`` rows that
    follow; that forecast belongs to the block of its last target, as a window does
    (:func:`rnnkit.data.split_rows`). It is trained on the training block's rows, from
    the first, by :func:`rnnkit.train.fit` with ``stateful=True``: ``batch_size``
    contiguous streams read in chunks of ``tbptt`` steps, every epoch from a zero
    state. Validation continues the state from the end of the training rows; the test
    forecasts continue it from the end of the validation rows (kept as
    ``test_state_``), and are made at the test windows' origins, for the same targets
    the baselines are scored on. ``lookback`` still cuts the baselines' windows and
    says where :meth:`predict`'s forecasts begin.
    """

    def __init__(
        self,
        cell=_MODEL["cell"],
        lookback=30,
        horizon=_SPLIT["horizon"],
        hidden_size=_MODEL["hidden_size"],
        num_layers=_MODEL["num_layers"],
        dropout=_MODEL["dropout"],
        forget_bias=RECOMMENDED_FORGET_BIAS,
        variant=_MODEL["variant"],
        transform=_SPLIT["transform"],
        scaler=_SPLIT["scaler"],
        target=_SPLIT["target"],
        inputs=_SPLIT["inputs"],
        unscaled=_SPLIT["unscaled"],
        val=_SPLIT["val"],
        test=_SPLIT["test"],
        missing=_SPLIT["missing"],
        epochs=_FIT["epochs"],
        batch_size=_FIT["batch_size"],
        optimizer=_FIT["optimizer"],
        lr=_FIT["lr"],
        loss=_FIT["loss"],
        clip_norm=_FIT["clip_norm"],
        patience=_FIT["patience"],
        quantiles=None,
        stateful=_FIT["stateful"],
        tbptt=_FIT["tbptt"],
        dtype=_MODEL["dtype"],
        seed=_FIT["seed"],
        verbose=_FIT["verbose"],
    ):
        self.cell = cell
        self.lookback = lookback
        self.horizon = horizon
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.forget_bias = forget_bias
        self.variant = variant
        self.transform = transform
        self.scaler = scaler
        self.target = target
        self.inputs = inputs
        self.unscaled = unscaled
        self.val = val
        self.test = test
        self.missing = missing
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.loss = loss
        self.clip_norm = clip_norm
        self.patience = patience
        self.quantiles = quantiles
        self.stateful = stateful
        self.tbptt = tbptt
        self.dtype = dtype
        self.seed = seed
        self.verbose = verbose

    @property
    def scaler_(self):
        """The fitted scaler (``pipeline_.scaler``), or None with ``scaler="none"``."""
        self._check_fitted()
        return self.pipeline_.scaler

    @property
    def name(self):
        """The network's name in tables and plots: "LSTM", "GRU" or "RNN", and an LSTM
        variant's after a dash ("LSTM-CIFG"): the fitted one's."""
        if hasattr(self, "model_"):
            return _network_name(self.model_.cell, self.model_.variant)
        return _network_name(str(self.cell), str(self.variant))

    # ------------------------------------------------------------------ fit

    def _saved_params(self):
        """The parameters as JSON-safe values, or an error naming the one a file cannot hold.

        Called by ``fit`` before any training, so that a fitted Forecaster can always be
        saved.
        """
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name == "loss" and callable(value):
                function = getattr(value, "func", value)  # a functools.partial names its own
                label = getattr(function, "__qualname__", type(function).__qualname__)
                value = f"{_NAMED_LOSS}{getattr(function, '__module__', '?')}.{label}"
            elif name == "dtype":
                value = np.dtype(value).name  # checked by the model already
            params[name] = _json_value(name, value)
        return params

    def _check_training_params(self):
        check_choice("cell", self.cell, CELLS)
        # by name, in any case, as rnnkit.train.fit takes it: an instance cannot be saved
        check_choice("optimizer", getattr(self.optimizer, "lower", str)(), tuple(_train.OPTIMIZERS))
        if self.test == 0:
            raise ValueError("test must be above 0: a Forecaster is judged on its test block")
        if isinstance(self.loss, str) and self.loss.startswith(_NAMED_LOSS):
            raise ValueError(
                f"loss is {self.loss!r}: this Forecaster was saved with a loss function, which "
                "a file cannot hold; set_params(loss=<that function>) before fitting again"
            )
        check_seed("seed", self.seed)
        if self.quantiles is not None:
            check_quantiles("quantiles", self.quantiles)
            if self.loss != _FIT["loss"]:
                raise ValueError(
                    f"loss={self.loss!r} cannot train quantiles: a quantile head learns from "
                    f"the pinball loss; leave loss at {_FIT['loss']!r} with quantiles="
                )
            if self.horizon != 1 and self.transform not in ("none", "volatility"):
                raise ValueError(
                    f"quantiles with horizon={self.horizon} need transform='none' or "
                    f"'volatility', got transform={self.transform!r}: the quantile of a price "
                    "several steps ahead is not the sum of the quantiles of the returns; use "
                    "horizon=1, or point forecasts with conformal intervals (predict(..., "
                    "interval=))"
                )

    def fit(self, series):
        """Split, scale, window and train the network and the baselines.

        Every argument is checked before any training. The fitted attributes are set
        together at the end: a failed fit leaves the Forecaster as it was. Ctrl-C
        (KeyboardInterrupt) after at least one finished epoch leaves it fitted with the
        best epoch's weights instead, its ``history_.stop_reason`` saying so, and the
        interrupt goes on to stop the script.

        Parameters
        ----------
        series : ndarray (n,) or (n, F), pandas Series or DataFrame
            Prices in time order; a DataFrame's other columns are extra inputs.

        Returns
        -------
        self
        """
        split, rows, model, params = self._prepare(series)
        pipeline = split.pipeline
        train = split.train
        # what the network reads: the windows, or the rows of a stateful network
        fed = split if rows is None else rows
        _warn_if_thin(model.cell.upper(), len(train.X), model.num_parameters(), pipeline.lookback)
        chosen = (
            _baselines.volatility_baselines
            if pipeline.transform == "volatility"
            else _baselines.default_baselines
        )
        baselines = chosen(pipeline.lookback, target=pipeline.target)
        for baseline in baselines:
            baseline.fit(train.X_raw, train.y_raw)
        start = time.perf_counter()
        try:
            history = _train.fit(
                model,
                fed.train.X,
                fed.train.y,
                validation_data=(fed.val.X, fed.val.y) if len(fed.val.X) else None,
                epochs=self.epochs,
                batch_size=self.batch_size,
                optimizer=self.optimizer,
                lr=self.lr,
                loss=self._training_loss(),
                clip_norm=self.clip_norm,
                patience=self.patience,
                seed=self.seed,
                verbose=self.verbose,
                stateful=self.stateful,
                tbptt=self.tbptt,
            )
        except KeyboardInterrupt as err:
            # Ctrl-C after a finished epoch keeps what was learned: the Forecaster becomes
            # fitted with the best epoch's weights (fit restored them) and the history says
            # it was interrupted. Before that, it stays as it was.
            history = getattr(err, "history", None)  # None: before training started
            if history is not None and history.best_epoch:
                self._set_fitted(split, rows, model, history, baselines, start, params)
            raise
        self._set_fitted(split, rows, model, history, baselines, start, params)
        return self

    def _training_loss(self):
        """The loss the network trains on: the pinball loss of the quantiles, or ``loss``."""
        return self.loss if self.quantiles is None else _train.PinballLoss(self.quantiles)

    def _prepare(self, series):
        """Every parameter checked, and what a fit trains: (the split, a stateful network's
        rows or None, the untrained network, the parameters as a saved model keeps them).
        Nothing is trained."""
        self._check_training_params()
        _train.check_settings(
            epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            loss=self._training_loss(), clip_norm=self.clip_norm, patience=self.patience,
            verbose=self.verbose, stateful=self.stateful, tbptt=self.tbptt,
        )  # fmt: skip
        split = (_data.split_rows if self.stateful else _data.split_windows)(
            series,
            check_int("lookback", self.lookback),
            check_int("horizon", self.horizon),
            target=self.target,
            inputs=self.inputs,
            transform=self.transform,
            scaler=self.scaler,
            val=self.val,
            test=self.test,
            missing=self.missing,
            unscaled=self.unscaled,
        )
        rows = None
        if self.stateful:
            rows, split = split, split.windows
            _train.check_streams(len(rows.train.X), self.batch_size, self.tbptt)
        pipeline = split.pipeline
        model = SequenceRegressor(
            cell=self.cell,
            input_size=pipeline.n_inputs,
            hidden_size=self.hidden_size,
            output_size=pipeline.horizon * len(self.quantiles or [None]),
            num_layers=self.num_layers,
            dropout=self.dropout,
            forget_bias=self.forget_bias if self.cell == "lstm" else 0.0,
            variant=self.variant,
            dtype=self.dtype,
            seed=self.seed,
        )
        params = self._saved_params()
        _check_saveable(split)
        return split, rows, model, params

    def _set_fitted(self, split, rows, model, history, baselines, start, params):
        """Every fitted attribute at once: a fit is all there or not at all."""
        test_state, val_pred = None, None
        if rows is not None:
            # as validation read it: the training rows from zeros, then the validation
            # rows, whose forecasts are the validation windows' (their origins' rows)
            test_state = model.state_after(rows.train.X)
            if len(rows.val.X):
                val_pred, test_state = model.predict_sequence(rows.val.X[None], test_state)
                val_pred = val_pred[0]
        elif len(split.val.X):
            val_pred = model.predict(split.val.X)
        calibration = None
        if val_pred is not None:
            # the validation block, forecast by the fitted models: what intervals widen by
            val = split.val
            network = _network_levels(split.pipeline, params["quantiles"], val_pred, val.last)
            calibration = {"actual": val.y_raw.copy()}
            calibration |= _forecasts(_network_name(model.cell, model.variant), network,
                                      baselines, val)  # fmt: skip
        self.__dict__.update(
            model_=model,
            pipeline_=split.pipeline,
            history_=history,
            baselines_=baselines,
            train_seconds_=time.perf_counter() - start,
            n_features_in_=split.pipeline.n_columns,
            test_values_=split.test_values,
            test_index_=split.test_index,
            test_state_=test_state,
            calibration_=calibration,
            _params_at_fit=params,
        )

    # ------------------------------------------------------------------ use

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("this Forecaster is not fitted yet: call fit(series) first")

    @property
    def _stateful(self):
        """Whether the fitted network is stateful (it carries a state into the test block)."""
        return self.test_state_ is not None

    def predict(self, series, interval=None):
        """Forecast the next ``horizon`` values after every row with a full lookback.

        Parameters
        ----------
        series : like fit's
            Must have the columns the forecaster was fitted on.
        interval : float in (0, 1), optional
            Also the prediction interval of this level (0.9: 90%), split-conformal on the
            validation block (:mod:`rnnkit.intervals`).

        Returns
        -------
        ndarray (N, horizon), or a pandas DataFrame indexed by the time of each
        forecast's origin (the last observed row) with columns ``t+1 .. t+h``
        when the series came from pandas. Values are in the series' units. With
        ``interval``, an :class:`rnnkit.intervals.Interval` ``(lower, point, upper)`` of
        three such arrays or DataFrames.

        Notes
        -----
        A stateful network reads ``series`` from its first row, from a zero state, and
        forecasts after every row; the forecasts are given from the row where a
        windowed one's first would be (its ``lookback``-th), so that the shapes are the
        same. They depend on where the series starts: the state knows only the rows
        given.
        """
        level = _interval_level(interval)
        block, forecast = self._predict_levels(series)
        point = _point(forecast, self._quantiles())
        parts = [point] if level is None else self._bounds(self.name, forecast, level)
        parts = [self._forecast_frame(part, block) for part in parts]
        if level is None:
            return parts[0]
        lower, upper = parts
        return _intervals.Interval(lower, self._forecast_frame(point, block), upper)

    def predict_quantiles(self, series):
        """Every quantile the network forecasts after every row with a full lookback.

        Only for a Forecaster fitted with ``quantiles``. Returns an ndarray (N, horizon,
        Q) in the series' units, the last axis in the order of ``quantiles``; for pandas
        input a DataFrame indexed as :meth:`predict`'s, with columns (step, level).
        """
        self._check_fitted()
        quantiles = self._quantiles()
        if quantiles is None:
            raise ValueError(
                "predict_quantiles needs a Forecaster fitted with quantiles=[...]; this one "
                "forecasts one value per step (predict, or predict(..., interval=))"
            )
        block, forecast = self._predict_levels(series)
        if block.origin is None:
            return forecast
        import pandas as pd

        steps = [f"t+{k}" for k in range(1, self.pipeline_.horizon + 1)]
        columns = pd.MultiIndex.from_product([steps, quantiles], names=["step", "quantile"])
        return pd.DataFrame(forecast.reshape(len(forecast), -1), block.origin, columns)

    def _predict_levels(self, series):
        """(the forecast windows of ``series``, the network's forecasts of them in the
        series' units): :meth:`predict`'s work before its output takes shape."""
        self._check_fitted()
        values, index = self.pipeline_.table(series, self._params_at_fit["missing"])
        block = self.pipeline_.forecast_windows(values, index)
        if self._stateful:
            rows = self.pipeline_.sequence(values).X
            pred = self.model_.predict_sequence(rows[None])[0][0, self.pipeline_.lookback - 1 :]
        else:
            pred = self.model_.predict(block.X)
        return block, _network_levels(self.pipeline_, self._quantiles(), pred, block.last)

    def _quantiles(self):
        """The fitted quantile levels, a tuple, or None for a point forecaster."""
        quantiles = self._params_at_fit.get("quantiles")
        return None if quantiles is None else tuple(quantiles)

    def _forecast_frame(self, forecast, block):
        """Forecasts (N, horizon) as predict returns them: a DataFrame for pandas input."""
        if block.origin is None:
            return forecast
        import pandas as pd

        columns = [f"t+{k}" for k in range(1, self.pipeline_.horizon + 1)]
        return pd.DataFrame(forecast, index=block.origin, columns=columns)

    def _bounds(self, name, forecast, level):
        """(lower, upper) of model ``name``'s forecasts at ``level``, calibrated."""
        if self.calibration_ is None:
            raise ValueError(
                "intervals are calibrated on the validation block, and this Forecaster was "
                f"fitted without one (val={self._params_at_fit['val']} held no window): fit "
                "it with a larger val"
            )
        return _intervals.bounds(
            forecast, self.calibration_[name], self.calibration_["actual"], level,
            self._quantiles(), name,
        )  # fmt: skip

    def stream(self, history):
        """Live forecasts from the end of ``history`` on: a :class:`rnnkit.stream.Stream`
        whose ``update(value)`` takes the next observation and returns the next forecast
        (``forecast()`` the current one), equal to :meth:`predict`'s last row on the
        history with every update appended.

        Parameters
        ----------
        history : like fit's
            At least ``lookback`` rows (one more with a return transform); only its end
            is kept, except by a stateful network, which reads all of it from its first
            row (as :meth:`predict` does) and then carries its state from update to update.
        """
        from .stream import Stream

        return Stream(self, history)

    def state_after(self, history):
        """A stateful network's state after reading ``history``: what a live forecast
        starts from.

        ``history`` goes through the fitted transform and scaler, as in :meth:`predict`,
        and the network reads it from a zero state at its first row. The forecast after
        its last row, :meth:`predict`'s last, is the head on the last layer's ``h``;
        ``model_.predict_sequence(rows[None], state)`` continues from here on new rows
        (scaled as ``pipeline_.sequence`` scales them).

        Parameters
        ----------
        history : like fit's

        Returns
        -------
        list, one entry per layer (first layer first)
            ``(h, c)`` for the LSTM, ``(h,)`` for the GRU and the RNN; each an ndarray
            (1, hidden_size) in the network's dtype.
        """
        self._check_fitted()
        if not self._stateful:
            raise ValueError(
                "state_after needs a stateful Forecaster (fitted with stateful=True); a "
                "windowed one starts every forecast from zeros"
            )
        values, _ = self.pipeline_.table(history, self._params_at_fit["missing"])
        rows = self.pipeline_.sequence(values).X
        if len(rows) == 0:
            raise ValueError(
                f"history has {len(values)} row(s); a state needs at least "
                f"{1 + self.pipeline_.spent_rows}"
            )
        return self.model_.state_after(rows)

    def gates(self, series, at=-1):
        """Gates, cell and hidden state of every layer over the window behind one forecast.

        ``series`` goes through the fitted transform and scaler, as in :meth:`predict`;
        the network then reads the window that the forecast made at ``at`` reads, and
        :func:`rnnkit.inspect.gates` splits what it computed.

        Parameters
        ----------
        series : like fit's
        at : int or time label
            Which forecast: a position among :meth:`predict`'s rows (default -1, the
            newest), or for pandas input the time of its last observed row. An int is
            always a position, as with ``.iloc``, even for an index of integers.

        Returns
        -------
        list of dict, one per layer (first layer first)
            For an LSTM ``"input"``, ``"forget"``, ``"output"`` (gates, in (0, 1)),
            ``"cell"`` and ``"hidden"``; for a GRU ``"reset"``, ``"update"``,
            ``"candidate"`` and ``"hidden"``; for an RNN ``"hidden"``. Each is a DataFrame
            (lookback rows indexed by the window's times, one column per unit) for
            pandas input, else an ndarray (lookback, hidden_size).
        """
        self._check_fitted()
        if self._stateful:
            raise ValueError(
                "gates shows the window behind a windowed forecast; a stateful Forecaster's "
                "forecast depends on every row before it, which gates does not show"
            )
        from . import inspect as _inspect

        values, index = self.pipeline_.table(series, self._params_at_fit["missing"])
        block = self.pipeline_.forecast_windows(values, index)
        window = _forecast_position(block, at)
        x = block.X[window]
        if index is not None:
            import pandas as pd

            x = pd.DataFrame(x, index=self.pipeline_.window_index(index, window))
        return _inspect.gates(self.model_, x)

    def gate_heatmap(self, series, at=-1, units=None, layer=-1):
        """:meth:`gates` drawn by :func:`rnnkit.inspect.gate_heatmap`: one panel per gate
        and state, units as rows, the window's times as columns; a matplotlib Figure."""
        from . import inspect as _inspect

        states = self.gates(series, at)
        hidden = states[0]["hidden"]
        origin = _inspect.time_label(hidden.index[-1]) if hasattr(hidden, "index") else at
        title = f"{self.name}: inside the window behind the forecast made at {origin}"
        return _inspect.gate_heatmap(states, units=units, layer=layer, title=title)

    def _test_block(self):
        self._check_fitted()
        return self.pipeline_.test_block(self.test_values_, self.test_index_)

    def _test_forecasts(self, block):
        """Every model's forecasts of the test ``block`` by name (the network's quantiles
        too)."""
        if self._stateful:
            # the test rows, read on from the state at the end of the validation block
            pred = self.model_.predict_sequence(block.origin_rows[None], self.test_state_)[0][0]
        else:
            pred = self.model_.predict(block.X)
        network = _network_levels(self.pipeline_, self._quantiles(), pred, block.last)
        return _forecasts(self.name, network, self.baselines_, block)

    def _test_intervals(self, forecasts, level):
        """Every model's (lower, upper) at ``level`` (None: no interval) by name."""
        if level is None:
            return {}
        return {name: self._bounds(name, forecast, level) for name, forecast in forecasts.items()}

    def test_predictions(self, step=1, interval=None):
        """Actual values and every model's forecast on the test windows, ``step`` ahead.

        Parameters
        ----------
        step : int
            Which step of the horizon.
        interval : float in (0, 1), optional
            Also every model's prediction interval of this level (see :meth:`predict`),
            as the columns "<model> lower" and "<model> upper".

        Returns
        -------
        dict of name -> ndarray (N,) with "actual", the network (:attr:`name`) and every
        baseline, plus "time" when the series had an index. With pandas installed, a
        DataFrame indexed by the target's time.
        """
        block = self._test_block()
        horizon = self.pipeline_.horizon
        if check_int("step", step) > horizon:
            raise ValueError(f"step must be between 1 and horizon={horizon}, got {step!r}")
        level = _interval_level(interval)
        k = step - 1
        forecasts = self._test_forecasts(block)
        columns = {"actual": block.y_raw[:, k]}
        quantiles = self._quantiles()
        columns |= {name: _point(pred, quantiles)[:, k] for name, pred in forecasts.items()}
        for name, (lower, upper) in self._test_intervals(forecasts, level).items():
            columns |= {f"{name} lower": lower[:, k], f"{name} upper": upper[:, k]}
        try:
            import pandas as pd
        except ImportError:
            return columns if block.times is None else {"time": block.times[:, k], **columns}
        index = None if block.times is None else pd.Index(block.times[:, k], name="time")
        return pd.DataFrame(columns, index=index)

    def evaluate(self, as_frame=True, interval=None):
        """One table of every metric for the network and every baseline on the test windows.

        Parameters
        ----------
        as_frame : bool
            A DataFrame (True) or a list of dict rows (False).
        interval : float in (0, 1), optional
            Also score every model's prediction interval of this level (see
            :meth:`predict`): ``coverage`` (the share of test targets inside, to set
            beside ``interval``), ``width`` (mean, in the series' units) and ``winkler``
            (the interval score: the width plus 2 / (1 - interval) times each miss).

        Returns
        -------
        pandas DataFrame (one row per model) or a list of dict rows; the network's row
        also has its training seconds and parameter count.
        """
        level = _interval_level(interval)
        block = self._test_block()
        baselines = {b.name: b for b in self.baselines_}
        last = block.last[:, None]
        forecasts = self._test_forecasts(block)
        points = {name: _point(f, self._quantiles()) for name, f in forecasts.items()}
        table = _metrics.evaluate(block.y_raw, points, last, as_frame=False)
        for row, (lower, upper) in zip(
            table, self._test_intervals(forecasts, level).values(), strict=False
        ):
            row |= _metrics.interval_row(block.y_raw, lower, upper, level)
        for row in table:
            is_net = row["model"] == self.name
            row["train_seconds"] = self.train_seconds_ if is_net else 0.0
            row["parameters"] = (
                self.model_.num_parameters() if is_net else baselines[row["model"]].num_fitted()
            )
        return _metrics.as_table(table, as_frame)

    def backtest(
        self, series, folds=5, return_models=False, n_jobs=1, backend=None, threads_per_job=None,
        interval=None,
    ):  # fmt: skip
        """Expanding-window walk-forward evaluation.

        The last ``test`` fraction of the series is cut into ``folds`` consecutive
        blocks; for each, a fresh Forecaster with these parameters fits the scaler,
        the network and the baselines on everything before it only, and is scored on it.
        This Forecaster is left as it was (fitted or not): the folds are its clones.

        The folds are independent jobs: ``n_jobs`` of them at once through joblib, on
        its default process backend or on ``backend`` ("threading", "dask" with a
        ``dask.distributed`` Client, "ray"), each job shipped only the rows it fits on.
        A job in another process runs the kernels on ``threads_per_job`` threads (by
        default the cores divided among the jobs). The table is the same, bit for bit,
        however the folds run.

        ``interval`` (a level in (0, 1)) scores every model's prediction interval in
        every fold too (see :meth:`evaluate`), each fold calibrated on its own validation
        block.

        Returns
        -------
        table
            The rows of :meth:`evaluate` for every fold, with a ``fold`` column and, for
            a series with an index, the times of the fold's first and last target
            (``test_start``, ``test_end``); a DataFrame when pandas is installed.
        models : list of Forecaster
            Only with ``return_models=True``: the fold's fitted Forecasters, in order.
        """
        level = _interval_level(interval)
        jobs = [
            (type(self), params, past, test, val, k, return_models, level)
            for k, (params, past, test, val) in enumerate(self._folds(series, folds))
        ]
        done = _jobs.run(_fit_fold, jobs, n_jobs, backend, threads_per_job)
        rows = [row for fold_rows, _ in done for row in fold_rows]
        models = [model for _, model in done]
        try:
            import pandas as pd
        except ImportError:
            table = rows
        else:
            table = pd.DataFrame(rows)
        return (table, models) if return_models else table

    def _folds(self, series, folds):
        """The walk-forward folds of ``series``: per fold, (parameters, the rows before
        its block's end, the block's share of them as ``test``, the matching ``val``)."""
        folds = check_int("folds", folds)
        horizon, test = check_int("horizon", self.horizon), check_fraction("test", self.test)
        val = check_fraction("val", self.val)
        # Folds are cut from the rows the folds' fits keep, so that their test blocks
        # tile the test share exactly even when missing values are dropped.
        series = _data.handle_missing(series, self.missing)
        n = len(series)
        test_rows = round(n * test)
        # fold k is scored on rows ends[k] .. ends[k + 1] - 1; the last fold ends with the series
        ends = n - test_rows + np.linspace(0, test_rows, folds + 1).round().astype(int)
        if np.diff(ends).min() < horizon + 1:
            raise ValueError(
                f"test={self.test} of {n} rows is {test_rows} rows: too few for {folds} folds "
                f"of horizon {horizon}"
            )
        params = self.get_params(deep=False)
        return [
            (params, series.iloc[:end] if hasattr(series, "iloc") else series[:end],
             (end - start) / end, val * (n - test_rows) / end)
            for start, end in zip(ends[:-1].tolist(), ends[1:].tolist(), strict=True)
        ]  # fmt: skip

    # ------------------------------------------------------------------ state

    def to_state(self):
        """The fitted Forecaster as (JSON-safe dict, dict of arrays); see :meth:`from_state`.

        The parameters are those of the last ``fit`` (a later ``set_params`` takes effect
        at the next fit, not here).
        """
        self._check_fitted()
        meta = {
            "params": self._params_at_fit,
            "pipeline": self.pipeline_.to_state(),
            "history": self.history_.to_state(),
            "train_seconds": self.train_seconds_,
            "baselines": [],
        }
        model_meta, arrays = self.model_.to_state()
        meta["model"] = model_meta
        arrays = {f"model/{k}": v for k, v in arrays.items()}
        for i, baseline in enumerate(self.baselines_):
            b_meta, b_arrays = baseline.to_state()
            meta["baselines"].append(b_meta)
            arrays |= {f"baseline{i}/{k}": v for k, v in b_arrays.items()}
        meta["test_index"], index = _index_state(self.test_index_)
        arrays["test/values"] = self.test_values_
        if index is not None:
            arrays["test/index"] = index
        if self._stateful:
            state = self.model_.state_arrays(self.test_state_)
            arrays |= {f"state/{k}": v for k, v in state.items()}
        # the network's forecasts as "calibration/network", the baselines' by position:
        # names are for people, positions for files
        meta["calibrated"] = self.calibration_ is not None
        if self.calibration_ is not None:
            forecasts = list(self.calibration_.values())
            arrays["calibration/actual"], arrays["calibration/network"] = forecasts[:2]
            arrays |= {f"calibration/baseline{i}": f for i, f in enumerate(forecasts[2:])}
        return meta, arrays

    @classmethod
    def from_state(cls, meta, arrays):
        """The Forecaster that :meth:`to_state` described: it predicts and evaluates
        bit-identically."""

        def part(prefix):
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        forecaster = cls(**meta["params"])
        pipeline = _data.WindowPipeline.from_state(meta["pipeline"])
        model = SequenceRegressor.from_state(meta["model"], part("model/"))
        quantiles = meta["params"].get("quantiles")
        if quantiles is not None:
            quantiles = check_quantiles("quantiles", quantiles)
        if (model.cell, model.input_size, model.output_size) != (
            forecaster.cell,
            pipeline.n_inputs,
            pipeline.horizon * len(quantiles or [None]),
        ):
            raise ValueError("the model does not match the parameters and the pipeline")
        baselines = [
            _baselines.from_state(b, part(f"baseline{i}/")) for i, b in enumerate(meta["baselines"])
        ]
        fitted_on = (pipeline.n_columns, pipeline.lookback, pipeline.horizon, [pipeline.target])
        for b in baselines:
            if (b.n_features_, b.lookback_, b.horizon_, b.targets_) != fitted_on:
                raise ValueError(f"baseline {b.name} does not match the pipeline")
        values = finite_array("test/values", arrays["test/values"])
        index = _index_from_state(meta["test_index"], arrays.get("test/index"))
        if values.ndim != 2 or values.shape[1] != pipeline.n_columns:
            raise ValueError(f"test/values has shape {values.shape}")
        if index is not None and len(index) != len(values):
            raise ValueError(f"the test index has {len(index)} rows, its values {len(values)}")
        state = part("state/")
        test_state = None
        if check_bool("stateful", forecaster.stateful):
            test_state = model.state_from_arrays(state)
        elif state:
            raise ValueError(f"a windowed model's file holds state arrays {sorted(state)}")
        calibration = None
        if meta["calibrated"]:
            calibration = _calibration_from_state(
                part("calibration/"), pipeline.horizon, quantiles,
                [_network_name(model.cell, model.variant)] + [b.name for b in baselines],
            )  # fmt: skip
        forecaster.__dict__.update(
            calibration_=calibration,
            model_=model,
            pipeline_=pipeline,
            history_=_train.History.from_state(meta["history"]),
            baselines_=baselines,
            train_seconds_=float(meta["train_seconds"]),
            n_features_in_=pipeline.n_columns,
            test_values_=values,
            test_index_=index,
            test_state_=test_state,
            _params_at_fit=meta["params"],
        )
        return forecaster

    def save(self, path):
        """Write the fitted forecaster to ``path`` (.npz of arrays + a JSON header)."""
        from .io import save

        save(self, path)


def _interval_level(interval):
    """An ``interval=`` argument checked: None (no interval) or a level in (0, 1)."""
    return None if interval is None else check_level("interval", interval)


def _network_name(cell, variant):
    """ "LSTM", "GRU", "RNN", and an LSTM variant's after a dash ("LSTM-CIFG")."""
    suffix = f"-{variant.upper()}" if variant.lower() not in ("", "vanilla") else ""
    return cell.upper() + suffix


def _network_levels(pipeline, quantiles, pred, last):
    """The network's scaled predictions (N, outputs) as forecasts in the series' units,
    from each window's ``last`` value: (N, horizon), or with ``quantiles`` (N, horizon,
    Q), sorted along the levels."""
    if quantiles is None:
        return pipeline.to_levels(pred, last)
    pred = pred.reshape(len(pred), pipeline.horizon, len(quantiles))
    levels = np.stack([pipeline.to_levels(pred[..., k], last) for k in range(len(quantiles))])
    # Sorted, so that quantiles never cross (the rearrangement of Chernozhukov et al. 2010,
    # which can only lower the pinball loss) and a decreasing transform keeps their order.
    return np.sort(np.moveaxis(levels, 0, -1), axis=-1)


def _point(forecast, quantiles):
    """The point forecast (N, horizon) of forecasts that may be quantiles (N, horizon, Q):
    their median (check_quantiles makes sure 0.5 is among them)."""
    return forecast if forecast.ndim == 2 else forecast[..., quantiles.index(0.5)]


def _forecasts(name, network, baselines, block):
    """Every model's forecasts of ``block`` by name: the network's given (``network``,
    named ``name``), then every baseline's."""
    return {name: network} | {b.name: b.predict(block.X_raw) for b in baselines}


def _warn_if_thin(name, windows, parameters, lookback):
    """A ThinDataWarning, with the numbers, when the training block is too small to trust."""
    if windows >= max(parameters, THIN_DATA):
        return
    import warnings

    reasons = []
    if windows < parameters:
        reasons.append(f"fewer than the network's {parameters:,} parameters")
    if windows < THIN_DATA:
        reasons.append(f"under {THIN_DATA}")
    advice = RULE_OF_THUMB if windows < THIN_DATA else "Fewer units or more data may do better."
    warnings.warn(
        f"{name}: only {windows:,} training windows (lookback {lookback}), "
        f"{' and '.join(reasons)}: the network may learn the noise. {advice}",
        ThinDataWarning,
        stacklevel=3,
    )


def _forecast_position(block, at):
    """The position of forecast ``at`` (a position or, for pandas input, a time) in
    ``block``, or an error naming ``at``."""
    n = len(block.X)
    if is_int(at):
        if not -n <= at < n:
            raise ValueError(f"at must be a forecast position in [{-n}, {n}), got {at}")
        return int(at) % n
    if block.origin is None:
        raise TypeError(f"at must be an int position for a series without an index, got {at!r}")
    try:
        position = block.origin.get_loc(at)
    except (KeyError, TypeError, ValueError):
        position = None
    if not is_int(position):
        raise ValueError(
            f"at={at!r} is not the time of a forecast: they run from {block.origin[0]} to "
            f"{block.origin[-1]}, one per row"
        )
    return position


def _json_value(name, value):
    """A parameter as JSON holds it (NumPy scalars as Python's, tuples as lists), or a
    TypeError naming it: a fitted Forecaster can always be saved."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_value(name, v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(
        f"{name} must be a number, a string or a list of them so that the fitted model can "
        f"be saved; got {type(value).__name__} {value!r}"
    )


def _check_saveable(split):
    """Refuse, before training, a series whose column names or index a file cannot hold."""
    for name in split.pipeline.columns or []:
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise TypeError(
                f"the series' column names must be strings or integers so that the fitted "
                f"model can be saved; got {name!r}: rename them, e.g. with "
                "frame.columns = frame.columns.astype(str)"
            )
    _index_state(split.test_index)


def _calibration_from_state(arrays, horizon, quantiles, names):
    """The calibration :meth:`Forecaster.to_state` wrote, every array checked against the
    shapes the model implies: (n, horizon) each, (n, horizon, Q) for quantiles."""
    keys = ["actual", "network"] + [f"baseline{i}" for i in range(len(names) - 1)]
    if sorted(arrays) != sorted(keys):
        raise ValueError(f"the calibration arrays must be {keys}, got {sorted(arrays)}")
    n = len(arrays["actual"])
    calibration = {}
    for key, name in zip(keys, ["actual", *names], strict=True):
        shape = (n, horizon, len(quantiles)) if key == "network" and quantiles else (n, horizon)
        value = finite_array(f"calibration/{key}", arrays[key])
        if value.shape != shape or n == 0:
            raise ValueError(
                f"calibration/{key} must have shape {shape} with n > 0, got {value.shape}"
            )
        calibration[name] = value
    return calibration


def _index_state(index):
    """A pandas index as (JSON-safe description, array or None) without pickle.

    A time zone is kept by name beside the UTC times; text is kept as NumPy strings; an
    index of other objects (periods, dates) is refused with a TypeError.
    """
    if index is None:
        return None, None
    meta = {"name": index.name if isinstance(index.name, str | int) else None, "tz": None}
    tz = getattr(index, "tz", None)
    if tz is not None:
        meta["tz"] = str(tz)
        index = index.tz_convert("UTC").tz_localize(None)
    values = np.asarray(index)
    if values.dtype == object and all(isinstance(v, str) for v in values):
        values = values.astype(str)
    if values.dtype.kind not in "iufMU":
        raise TypeError(
            "the series' index must hold dates, numbers or strings so that the fitted model "
            f"can be saved; got {type(index).__name__} of {values.dtype}: convert it, e.g. "
            "a PeriodIndex with series.to_timestamp()"
        )
    return meta, values


def _index_from_state(meta, values):
    if meta is None:
        return None
    import pandas as pd

    index = pd.Index(values, name=meta["name"])
    if meta["tz"] is not None:
        index = index.tz_localize("UTC").tz_convert(meta["tz"])
    return index


def fit_fold(cls, params, past, test, val):
    """A ``cls`` (a Forecaster) of ``params`` fitted on ``past``, its last ``test`` share
    the fold's block; and the times of the block's first and last target (empty for a
    series without an index)."""
    forecaster = cls(**params)
    forecaster.set_params(test=test, val=val)
    forecaster.fit(past)
    times = forecaster._test_block().times
    return forecaster, {} if times is None else {
        "test_start": times[0, 0],
        "test_end": times[-1, -1],
    }


def _fit_fold(cls, params, past, test, val, fold, return_model, interval):
    """One walk-forward fold, as a job: (the rows of its evaluate, the model or None)."""
    forecaster, when = fit_fold(cls, params, past, test, val)
    rows = forecaster.evaluate(as_frame=False, interval=interval)
    rows = [{"fold": fold, **when, **row} for row in rows]
    return rows, forecaster if return_model else None
