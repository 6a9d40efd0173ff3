"""Live forecasts: a fitted Forecaster fed one new observation at a time.

:meth:`rnnkit.Forecaster.stream` returns a :class:`Stream`. It keeps only what the next
forecast needs: the last ``lookback`` rows the network reads (transformed and scaled, in
a ring), the last observed row in the series' units (the next return's base and the
forecast's origin) and the time of the last update. The history passes the door of
:meth:`~rnnkit.Forecaster.fit` and :meth:`~rnnkit.Forecaster.predict`
(:meth:`rnnkit.data.WindowPipeline.table`); each :meth:`Stream.update` then does only
what one observation needs: it checks the row (a finite number or a row of the fitted
columns, in the transform's domain), turns it into the network's units with the
pipeline's own formulas (:meth:`rnnkit.data.WindowPipeline.next_input`), and runs the
network over the window on the model's compiled snapshot
(:meth:`rnnkit.models.SequenceRegressor.inference`, a batch of one without the batched
kernels' setup). The forecast equals, to float rounding, the last row of ``predict`` on
the history with every update appended, at a small fraction of the cost of a
deep-learning framework's forward pass on the same window (``benchmarks/latency.py``). A
row that cannot be right (NaN, inf, text, the wrong width, a non-positive price for log
returns, a time not after the last) is refused with an error, and the stream is left
exactly as it was.
"""

import math
import numbers

import numpy as np

__all__ = ["Stream"]


class Stream:
    """A fitted Forecaster's live forecast (see the module docstring).

    Made by :meth:`rnnkit.Forecaster.stream`; not meant to be built directly.

    Attributes
    ----------
    last_time : index value or None
        The time of the last row (for a history with an index).
    updates : int
        Rows given to :meth:`update` so far.
    """

    def __init__(self, forecaster, history):
        forecaster._check_fitted()
        self._model = forecaster.model_
        self._network = self._model.inference()  # a snapshot: the forecaster may refit
        self._pipeline = pipeline = forecaster.pipeline_
        self._missing = forecaster._params_at_fit["missing"]
        values, index = pipeline.table(history, self._missing)
        block = pipeline.forecast_windows(values, index)  # needs lookback rows, or says so
        # a quantile head's point forecast is its median (Forecaster.predict's)
        self._quantiles = forecaster._quantiles()
        # A stateful network carries its state instead of a window: it reads the history
        # from its first row, as predict does, and then one row per update.
        self._stateful = forecaster._stateful
        if self._stateful:
            # the history in one batched call; its final state is where the steps go on
            pred, state = self._model.predict_sequence(pipeline.sequence(values).X[None])
            pred = pred[0, -1]
            self._network.set_state(*(np.concatenate(part) for part in zip(*state, strict=True)))
        L = pipeline.lookback
        # The window twice over, so that the newest L rows are always one contiguous slice
        # buffer[head : head + L]: an update writes two rows and moves head, nothing else.
        self._buffer = np.empty((2 * L, pipeline.n_inputs), dtype=self._model.dtype)
        self._buffer[:L] = self._buffer[L:] = block.X[-1]
        self._head = 0
        self._one_column = pipeline.n_columns == 1
        self._last = self._as_row(values[-1])  # the last row, in the series' units
        self._columns = pipeline.columns
        self.last_time = None if index is None else index[-1]
        self.updates = 0
        self._forecast = self._levels(pred) if self._stateful else self._predict()

    def forecast(self):
        """The current forecast: the next ``horizon`` values, ndarray (horizon,), in the
        series' units."""
        return self._forecast.copy()

    def update(self, value, time=None):
        """Add one observation; the new forecast.

        Parameters
        ----------
        value : float, or a row of the series' columns
            A number for a one-column series; otherwise a sequence, an ndarray (columns,)
            or a pandas Series with the fitted columns (by name).
        time : index value or None
            The observation's time; it must come after the last one. Needed only to keep
            the time order checked (and :attr:`last_time` current).

        Returns
        -------
        ndarray (horizon,)
            The forecast from this observation on, in the series' units.

        Raises
        ------
        TypeError, ValueError
            The row cannot be right (and the stream is unchanged).
        """
        row = self._row(value)
        if time is not None and self.last_time is not None and not time > self.last_time:
            raise ValueError(
                f"time must come after the last update's ({self.last_time!r}), got {time!r}"
            )
        # the transform of the pair (the domain checked) is the network's new input row
        scaled = self._pipeline.next_input(self._last, row)
        # everything checked: the state moves, all at once
        if self._stateful:
            self._last = row
            step = np.atleast_1d(np.asarray(scaled, dtype=self._model.dtype))
            return self._advanced(self._levels(self._network.step(step)), time)
        L = self._pipeline.lookback
        self._buffer[self._head] = self._buffer[self._head + L] = scaled
        self._head = (self._head + 1) % L
        self._last = row
        return self._advanced(self._predict(), time)

    def _advanced(self, forecast, time):
        """Count an update made at ``time`` whose forecast is ``forecast``; a copy of it."""
        if time is not None:
            self.last_time = time
        self.updates += 1
        self._forecast = forecast
        return forecast.copy()

    def _window(self):
        """The newest ``lookback`` rows, oldest first: (lookback, n_inputs)."""
        return self._buffer[self._head : self._head + self._pipeline.lookback]

    def _predict(self):
        return self._levels(self._network.window(self._window()))

    def _levels(self, pred):
        """The network's output (scaled, transformed) as the forecast in the series' units."""
        last = self._last if self._one_column else self._last[self._pipeline.target]
        if self._quantiles is not None:
            from .forecaster import _network_levels, _point

            levels = _network_levels(self._pipeline, self._quantiles, pred[None], np.array([last]))
            return _point(levels, self._quantiles)[0]
        if len(pred) == 1:  # one step: in numbers, as the input
            return np.array([self._pipeline.to_levels(pred[0], last)])
        return self._pipeline.to_levels(pred[None], np.array([last]))[0]

    def _as_row(self, row):
        """A checked float64 row (columns,) as the stream keeps it: a float for a
        one-column series, whose arithmetic then runs on NumPy's scalars
        (:meth:`rnnkit.data.WindowPipeline.next_input`), else the row."""
        return float(row[0]) if self._one_column else row

    def _row(self, value):
        """``value`` as the fitted columns' new row (see :meth:`_as_row`), or a clear error."""
        n = self._pipeline.n_columns
        if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
            # a number, the live feed's usual row: checked without NumPy's per-call cost
            if n != 1:
                raise ValueError(f"value must be a row of {n} column(s), got 1")
            try:
                number = float(value)
            except OverflowError:  # an int past float64's range
                number = math.inf
            if not math.isfinite(number):
                raise ValueError(f"value must be finite, got {value!r}")
            return number
        if hasattr(value, "index") and hasattr(value, "to_numpy"):  # a pandas Series
            if self._columns is not None:
                names = list(value.index)
                if sorted(map(repr, names)) != sorted(map(repr, self._columns)):
                    raise ValueError(f"value must hold the columns {self._columns}, got {names}")
                value = value[self._columns]
            value = value.to_numpy()
        if isinstance(value, str | bytes):
            raise TypeError(f"value must be a number or a row of {n} numbers, got {value!r}")
        row = np.asarray(value)
        if row.dtype.kind not in "iuf" or row.ndim != 1:
            raise TypeError(f"value must be a number or a row of {n} numbers, got {value!r}")
        if len(row) != n:
            raise ValueError(f"value must be a row of {n} column(s), got {len(row)}")
        row = row.astype(np.float64)  # a copy: the caller's array is not kept
        if not np.isfinite(row).all():  # a live feed's gap is not filled or dropped
            raise ValueError(f"value must be finite, got {value!r}")
        return self._as_row(row)
