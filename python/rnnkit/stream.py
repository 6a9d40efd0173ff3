"""Live forecasts: a fitted Forecaster fed one new observation at a time.

:meth:`rnnkit.Forecaster.stream` returns a :class:`Stream`. It keeps only what the next
forecast needs: the last ``lookback`` rows the network reads (transformed and scaled, in
a ring), the last observed row in the series' units (the next return's base and the
forecast's origin) and the time of the last update. Each :meth:`Stream.update` checks
the new row at the same door as :meth:`~rnnkit.Forecaster.fit` and
:meth:`~rnnkit.Forecaster.predict` (:meth:`rnnkit.data.WindowPipeline.table`), turns it
into the network's units with the fitted transform and scaler, and runs the network on
the window: the forecast equals, to float rounding, the last row of ``predict`` on the
history with every update appended. A row that cannot be right (NaN, inf, text, the
wrong width, a time not after the last) is refused with an error, and the stream is
left exactly as it was.
"""

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
        self._pipeline = pipeline = forecaster.pipeline_
        self._missing = forecaster._params_at_fit["missing"]
        values, index = pipeline.table(history, self._missing)
        block = pipeline.forecast_windows(values, index)  # needs lookback rows, or says so
        L = pipeline.lookback
        # The window twice over, so that the newest L rows are always one contiguous slice
        # buffer[head : head + L]: an update writes two rows and moves head, nothing else.
        self._buffer = np.empty((2 * L, pipeline.n_inputs), dtype=self._model.dtype)
        self._buffer[:L] = self._buffer[L:] = block.X[-1]
        self._head = 0
        self._last = values[-1].copy()  # the last row, in the series' units
        self._columns = pipeline.columns
        self.last_time = None if index is None else index[-1]
        self.updates = 0
        self._forecast = self._predict()

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
        # the new row and the one before it, through the door every series passes: its
        # checks, then the transform of the pair is the new row of the network's input
        values, _ = self._pipeline.table(np.vstack([self._last, row]), "raise")
        _, rows, _ = self._pipeline._rows(values, None)
        scaled = self._pipeline._scale(rows)[-1, self._pipeline.inputs]
        # everything checked: the state moves, all at once
        L = self._pipeline.lookback
        self._buffer[self._head] = self._buffer[self._head + L] = scaled
        self._head = (self._head + 1) % L
        self._last = values[-1].copy()
        if time is not None:
            self.last_time = time
        self.updates += 1
        self._forecast = self._predict()
        return self._forecast.copy()

    def _window(self):
        """The newest ``lookback`` rows, oldest first: (lookback, n_inputs)."""
        return self._buffer[self._head : self._head + self._pipeline.lookback]

    def _predict(self):
        pred = self._model.predict(self._window()[None])
        last = self._last[self._pipeline.target : self._pipeline.target + 1]
        return self._pipeline.to_levels(pred, last)[0]

    def _row(self, value):
        """``value`` as a float64 row of the fitted columns, or a clear error."""
        n = self._pipeline.n_columns
        if hasattr(value, "index") and hasattr(value, "to_numpy"):  # a pandas Series
            if self._columns is not None:
                names = list(value.index)
                if sorted(map(repr, names)) != sorted(map(repr, self._columns)):
                    raise ValueError(f"value must hold the columns {self._columns}, got {names}")
                value = value[self._columns]
            value = value.to_numpy()
        if isinstance(value, str | bytes):
            raise TypeError(f"value must be a number or a row of {n} numbers, got {value!r}")
        if isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_):
            value = [value]
        row = np.asarray(value)
        if row.dtype.kind not in "iuf" or row.ndim != 1:
            raise TypeError(f"value must be a number or a row of {n} numbers, got {value!r}")
        if len(row) != n:
            raise ValueError(f"value must be a row of {n} column(s), got {len(row)}")
        row = row.astype(np.float64)
        if not np.all(np.isfinite(row)):  # a live feed's gap is not filled or dropped
            raise ValueError(f"value must be finite, got {value!r}")
        return row
