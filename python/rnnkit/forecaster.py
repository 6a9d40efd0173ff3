"""From a price series to a trained network, compared honestly with simple baselines.

The pipeline, and where honesty is kept:

1. Missing values are refused unless the caller chose to drop or forward-fill them.
2. The network sees log returns by default (``transform="log_return"``): prices
   wander over decades (WTI: 10 to 145 dollars) and a scaler fitted on the
   training years meets levels in the test years it has never seen, while daily
   log returns keep one scale. ``transform="price"`` models prices directly.
3. Every window is assigned to train, validation or test by the time of its
   last target, so no window trains on a value that is later used to judge it;
   windows are never shuffled across blocks.
4. The scaler is fitted on the training block only.
5. Forecasts are turned back into prices (``p_t * exp(cumulative predicted
   returns)``), and the network and every baseline are scored on the same test
   windows in the same units, with the same last observed price.
"""

import copy
import time

import numpy as np

from . import baselines as _baselines
from . import data as _data
from . import metrics as _metrics
from ._checks import check_int
from .models import SequenceRegressor
from .train import fit as _fit

TRANSFORMS = ("log_return", "price")
SCALERS = {"standard": _data.StandardScaler, "minmax": _data.MinMaxScaler}


class Forecaster:
    """Forecast the next ``horizon`` values of a price series with an LSTM or RNN.

    Parameters
    ----------
    cell : {"lstm", "rnn"}
    lookback : int
        Past steps each forecast sees.
    horizon : int
        Future steps forecast at once.
    hidden_size, num_layers, dropout, forget_bias
        The network (see :class:`rnnkit.models.SequenceRegressor`).
    transform : {"log_return", "price"}
        What the network models (see the module docstring).
    scaler : {"standard", "minmax"}
        Fitted on the training block only.
    target : str or int, optional
        For a DataFrame, the column to forecast (the others are extra inputs);
        default the first column.
    val, test : float
        Fractions of the series, in time order, for validation (early stopping)
        and for the final test.
    missing : {"raise", "drop", "ffill"}
        What to do with NaN or inf in the series.
    epochs, batch_size, optimizer, lr, loss, clip_norm, patience
        Training (see :func:`rnnkit.train.fit`).
    dtype : {"float32", "float64"}
    seed : int
        Fixes initialisation, dropout and batch order.
    verbose : int
        0 silences training; 1 shows a progress bar.
    """

    def __init__(
        self,
        cell="lstm",
        lookback=30,
        horizon=1,
        hidden_size=50,
        num_layers=1,
        dropout=0.0,
        forget_bias=1.0,
        transform="log_return",
        scaler="standard",
        target=None,
        val=0.15,
        test=0.15,
        missing="raise",
        epochs=100,
        batch_size=32,
        optimizer="adam",
        lr=1e-3,
        loss="mse",
        clip_norm=1.0,
        patience=10,
        dtype="float32",
        seed=0,
        verbose=1,
    ):
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {cell!r}")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        if scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {tuple(SCALERS)}, got {scaler!r}")
        self.cell = cell
        self.lookback = check_int("lookback", lookback)
        self.horizon = check_int("horizon", horizon)
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.dropout, self.forget_bias = dropout, forget_bias
        self.transform, self.scaler, self.target = transform, scaler, target
        self.val, self.test, self.missing = val, test, missing
        self.epochs, self.batch_size, self.optimizer = epochs, batch_size, optimizer
        self.lr, self.loss, self.clip_norm, self.patience = lr, loss, clip_norm, patience
        self.dtype, self.seed, self.verbose = dtype, seed, verbose
        self.model_ = None
        self._test = None

    @property
    def name(self):
        """The network's name in tables and plots: "LSTM" or "RNN"."""
        return self.cell.upper()

    def get_params(self):
        """The constructor's arguments, as a dict (JSON-serialisable)."""
        names = self.__init__.__code__.co_varnames[1 : self.__init__.__code__.co_argcount]
        return {name: getattr(self, name) for name in names}

    # ------------------------------------------------------------------ pipeline

    def _frame(self, series):
        """The series as (values (n, F) float64, target column, index or None), checked."""
        series = _data.handle_missing(series, self.missing)
        index = getattr(series, "index", None)
        if hasattr(series, "columns"):
            columns = list(series.columns)
            target = columns[0] if self.target is None else self.target
            if target not in columns:
                raise ValueError(f"target {target!r} is not a column of the series: {columns}")
            values, column = series.to_numpy(np.float64), columns.index(target)
        else:
            values = np.asarray(series, dtype=np.float64)
            if values.ndim not in (1, 2):
                raise ValueError(f"series must be 1-D or 2-D, got shape {values.shape}")
            column = 0 if self.target is None else int(self.target)
        values = values.reshape(len(values), -1)
        if self.transform == "log_return" and np.any(values <= 0):
            raise ValueError(
                "transform='log_return' needs positive prices; the series has values <= 0 "
                "(use transform='price' for series that can be zero or negative)"
            )
        return values, column, index

    def _inputs(self, values):
        """(prices, inputs) row-aligned: row j of both belongs to price row j + 1.

        A log return needs the price before it, so the first price only starts
        the first return, in both arrays.
        """
        prices = values[1:]
        if self.transform == "log_return":
            return prices, np.diff(np.log(values), axis=0)
        return prices, prices

    def _to_prices(self, scaled_pred, last_price, column):
        """Network output (N, h) in scaled units -> prices (N, h) from each window's last price."""
        pred = self.scaler_.inverse_transform_column(scaled_pred, column)
        if self.transform == "price":
            return pred
        return _data.prices_from_log_returns(pred, last_price)

    def fit(self, series):
        """Split, scale, window and train the network and the baselines.

        Parameters
        ----------
        series : ndarray (n,) or (n, F), pandas Series or DataFrame
            Prices in time order; a DataFrame's other columns are extra inputs.

        Returns
        -------
        self
        """
        values, column, index = self._frame(series)
        if len(values) < self.lookback + self.horizon + 3:
            raise self._too_short(values, "train, validation and test windows")
        prices, inputs = self._inputs(values)
        price_windows = _data.make_windows(prices, self.lookback, self.horizon, target=column)
        rows = len(inputs)
        train_rows, val_rows, _ = _data.split_by_time(np.arange(rows), self.val, self.test)
        train_end, val_end = len(train_rows), len(train_rows) + len(val_rows)

        self.scaler_ = SCALERS[self.scaler]().fit(inputs[:train_end])
        scaled = self.scaler_.transform(inputs)
        windows = _data.make_windows(scaled, self.lookback, self.horizon, target=column)
        # The block of a window is the block of its last target row.
        last_target = np.arange(len(windows.X)) + self.lookback + self.horizon - 1
        blocks = {
            "train": last_target < train_end,
            "val": (last_target >= train_end) & (last_target < val_end),
            "test": last_target >= val_end,
        }
        for name, mask in blocks.items():
            if name != "val" and not mask.any():
                raise self._too_short(values, f"a {name} window")
        self.model_ = SequenceRegressor(
            cell=self.cell,
            input_size=values.shape[1],
            hidden_size=self.hidden_size,
            output_size=self.horizon,
            num_layers=self.num_layers,
            dropout=self.dropout,
            forget_bias=self.forget_bias if self.cell == "lstm" else 0.0,
            dtype=np.dtype(self.dtype).type,
            seed=self.seed,
        )
        train, val = blocks["train"], blocks["val"]
        start = time.perf_counter()
        self.history_ = _fit(
            self.model_,
            windows.X[train],
            windows.y[train],
            validation_data=(windows.X[val], windows.y[val]) if val.any() else None,
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            loss=self.loss,
            clip_norm=self.clip_norm,
            patience=self.patience,
            seed=self.seed,
            verbose=self.verbose,
        )
        self.train_seconds_ = time.perf_counter() - start

        self.baselines_ = _baselines.default_baselines(self.lookback, target=column)
        for baseline in self.baselines_:
            baseline.fit(price_windows.X[train], price_windows.y[train])

        test = blocks["test"]
        self.column_ = column
        self.input_size_ = values.shape[1]
        price_X = price_windows.X[test]
        self._test = {
            "X": windows.X[test],
            "price_X": price_X,
            "y": price_windows.y[test],
            "last": price_X[:, -1, column],
            "times": None
            if index is None
            else _target_times(index, self.lookback, test, self.horizon),
        }
        return self

    def _too_short(self, values, purpose):
        return ValueError(
            f"the series is too short for {purpose}: {len(values)} rows with "
            f"lookback={self.lookback}, horizon={self.horizon}, val={self.val}, test={self.test}"
        )

    def _check_fitted(self):
        if self.model_ is None:
            raise RuntimeError("this Forecaster is not fitted yet: call fit(series) first")

    def predict(self, series):
        """Forecast the next ``horizon`` values after every row with a full lookback.

        Parameters
        ----------
        series : like fit's
            Must have the columns the forecaster was fitted on.

        Returns
        -------
        ndarray (N, horizon), or a pandas DataFrame indexed by the time of each
        forecast's origin (the last observed row) with columns ``t+1 .. t+h``
        when the series came from pandas. Values are in the series' units.
        """
        self._check_fitted()
        values, column, index = self._frame(series)
        if values.shape[1] != self.input_size_:
            raise ValueError(
                f"series has {values.shape[1]} columns, the forecaster was fitted on "
                f"{self.input_size_}"
            )
        prices, inputs = self._inputs(values)
        if len(inputs) < self.lookback:
            raise ValueError(
                f"series has {len(values)} rows; a forecast needs lookback + 1 = "
                f"{self.lookback + 1}"
            )
        scaled = self.scaler_.transform(inputs)
        X = np.lib.stride_tricks.sliding_window_view(scaled, self.lookback, axis=0)
        X = X.transpose(0, 2, 1)
        last = prices[self.lookback - 1 :, column]
        forecast = self._to_prices(self.model_.predict(X), last, column)
        if index is None:
            return forecast
        import pandas as pd

        columns = [f"t+{k}" for k in range(1, self.horizon + 1)]
        return pd.DataFrame(forecast, index=index[self.lookback :], columns=columns)

    def test_predictions(self, step=1):
        """Actual values and every model's forecast on the test windows, ``step`` ahead.

        Returns
        -------
        dict of name -> ndarray (N,) with "actual", the network (:attr:`name`) and every
        baseline, plus "time" when the series had an index. With pandas installed, a
        DataFrame indexed by the target's time.
        """
        t = self._test_windows()
        if not 1 <= step <= self.horizon:
            raise ValueError(f"step must be between 1 and horizon={self.horizon}, got {step}")
        forecasts = self._test_forecasts()
        k = step - 1
        columns = {"actual": t["y"][:, k]}
        columns |= {name: pred[:, k] for name, pred in forecasts.items()}
        times = t["times"]
        try:
            import pandas as pd
        except ImportError:
            return columns if times is None else {"time": times[:, k], **columns}
        index = None if times is None else pd.Index(times[:, k], name="time")
        return pd.DataFrame(columns, index=index)

    def _test_windows(self):
        self._check_fitted()
        if self._test is None:
            raise RuntimeError(
                "this Forecaster was loaded from a file, which keeps the model but not the "
                "test windows: call fit(series) to evaluate"
            )
        return self._test

    def _test_forecasts(self):
        t = self._test_windows()
        network = self._to_prices(self.model_.predict(t["X"]), t["last"], self.column_)
        forecasts = {self.name: network}
        forecasts |= {b.name: b.predict(t["price_X"]) for b in self.baselines_}
        return forecasts

    def evaluate(self, as_frame=True):
        """One table of every metric for the network and every baseline on the test windows.

        Returns
        -------
        pandas DataFrame (one row per model) or a list of dict rows; the network's row
        also has its training seconds and parameter count.
        """
        t = self._test_windows()
        last = t["last"][:, None]
        baselines = {b.name: b for b in self.baselines_}
        table = _metrics.evaluate(t["y"], self._test_forecasts(), last, as_frame=False)
        for row in table:
            is_net = row["model"] == self.name
            row["train_seconds"] = self.train_seconds_ if is_net else 0.0
            row["parameters"] = (
                self.model_.num_parameters() if is_net else _num_parameters(baselines[row["model"]])
            )
        if not as_frame:
            return table
        import pandas as pd

        return pd.DataFrame(table).set_index("model")

    def backtest(self, series, folds=5):
        """Expanding-window walk-forward evaluation.

        The last ``test`` fraction of the series is cut into ``folds`` consecutive
        blocks; for each, the scaler, the network and the baselines are fitted
        afresh on everything before it only, and scored on it.

        Returns
        -------
        The rows of :meth:`evaluate` for every fold, with a ``fold`` column.
        """
        check_int("folds", folds)
        n = len(series)
        test_rows = round(n * self.test)
        fold_rows = test_rows // folds
        if fold_rows < self.horizon + 1:
            raise ValueError(
                f"test={self.test} of {n} rows is {test_rows} rows: too few for {folds} folds"
            )
        rows = []
        for k in range(folds):
            end = n - test_rows + (k + 1) * fold_rows
            past = series.iloc[:end] if hasattr(series, "iloc") else series[:end]
            fold = copy.copy(self)
            fold.test = fold_rows / end
            fold.val = self.val * (n - test_rows) / end
            fold.model_ = None
            fold.fit(past)
            rows += [{"fold": k, **row} for row in fold.evaluate(as_frame=False)]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ save / load

    def save(self, path):
        """Write the fitted forecaster to ``path`` (.npz of arrays + a JSON header)."""
        self._check_fitted()
        from .io import save

        save(self, path)


def _target_times(index, lookback, windows, horizon):
    """Times (N, horizon) of the targets of the selected windows (stride 1).

    Window k's first target is aligned row k + lookback, price row k + lookback + 1.
    """
    first = np.flatnonzero(windows) + lookback + 1
    return np.asarray(index)[first[:, None] + np.arange(horizon)]


def _num_parameters(baseline):
    """Fitted numbers of a baseline: only the linear regression learns any."""
    return sum(np.size(getattr(baseline, name, ())) for name in ("coef_", "intercept_"))
