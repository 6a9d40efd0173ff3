"""Forecaster.stream: live forecasts, one observation at a time, equal to predict on the
growing history; bad updates refused with the stream unchanged."""

import math

import numpy as np
import pandas as pd
import pytest
from _problems import dated_prices

import rnnkit
from rnnkit import Forecaster

QUICK = {"epochs": 2, "hidden_size": 8, "lookback": 12, "verbose": 0, "seed": 0}


@pytest.fixture(scope="module")
def wti():
    return rnnkit.datasets.load_wti().dropna()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_stream_equals_predict_over_thousands_of_updates(wti, cell):
    f = Forecaster(cell=cell, dtype="float64", **QUICK).fit(wti.iloc[:2500])
    start, n = 2500, 3000
    stream = f.stream(wti.iloc[:start])
    got = [stream.forecast()]
    for value, time in zip(wti.iloc[start : start + n], wti.index[start : start + n], strict=True):
        got.append(stream.update(value, time=time))
    want = f.predict(wti.iloc[: start + n]).to_numpy()[-(n + 1) :]
    np.testing.assert_allclose(np.array(got), want, rtol=1e-12, atol=0)
    assert stream.updates == n
    assert stream.last_time == wti.index[start + n - 1]


# horizon 1 runs the pipeline's formulas on numbers, horizon 3 on arrays (stream._predict)
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("transform", ["log_return", "return", "none", "volatility"])
def test_every_transform_streams_as_it_predicts(transform, horizon):
    series = dated_prices(600, seed=1)
    f = Forecaster(transform=transform, horizon=horizon, **QUICK).fit(series)
    stream = f.stream(series.iloc[:400])
    got = [stream.update(v) for v in series.iloc[400:]]
    want = f.predict(series).to_numpy()[-200:]
    np.testing.assert_allclose(np.array(got), want.reshape(200, horizon), rtol=1e-5)  # float32
    assert stream.forecast().shape == (horizon,)


def test_a_number_is_one_row_however_it_comes():
    series = dated_prices(400, seed=7)
    f = Forecaster(**QUICK).fit(series)
    streams = [f.stream(series.iloc[:300]) for _ in range(5)]
    for v in series.iloc[300:320]:
        forecasts = [
            s.update(row)
            for s, row in zip(
                streams,
                [v, np.float32(v), np.array([v]), [v], pd.Series({series.name: v})],
                strict=True,
            )
        ]
        for other in forecasts[1:3] + forecasts[4:]:
            np.testing.assert_allclose(other, forecasts[0], rtol=1e-6)  # float32 in, or not
        np.testing.assert_array_equal(forecasts[3], forecasts[0])
    assert streams[0].update(72) == streams[2].update(np.array([72]))  # an int


def test_a_table_streams_rows_by_name_or_position():
    series = dated_prices(500, seed=2)
    frame = pd.DataFrame({"close": series, "volume": np.linspace(1, 2, 500)})
    f = Forecaster(target="close", **QUICK).fit(frame)
    by_name = f.stream(frame.iloc[:300])
    by_position = f.stream(frame.iloc[:300])
    for k in range(300, 320):
        row = frame.iloc[k]
        a = by_name.update(row[["volume", "close"]])  # names, in any order
        b = by_position.update(row.to_numpy())
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, f.predict(frame.iloc[:320]).to_numpy()[-1], rtol=1e-5)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (math.nan, ValueError, "value must be finite"),
        (np.inf, ValueError, "value must be finite"),
        ("71.2", TypeError, "value must be a number or a row of 1 numbers"),
        ([70.0, 71.0], ValueError, "value must be a row of 1 column"),
        (-5.0, ValueError, "needs positive prices.*the value is <= 0"),
        (True, TypeError, "value must be a number"),
        (10**400, ValueError, "value must be finite"),  # past float64's range
        (np.array([-1.0]), ValueError, "needs positive prices"),
        (np.array(["71.2"]), TypeError, "value must be a number or a row of 1 numbers"),
        (3 + 1j, TypeError, "value must be a number or a row of 1 numbers"),
    ],
)
def test_a_bad_update_is_refused_and_changes_nothing(value, error, message):
    series = dated_prices(400, seed=3)
    f = Forecaster(**QUICK).fit(series)
    stream, untouched = f.stream(series.iloc[:300]), f.stream(series.iloc[:300])
    with pytest.raises(error, match=message):
        stream.update(value)
    assert stream.updates == 0
    np.testing.assert_array_equal(stream.forecast(), untouched.forecast())
    np.testing.assert_array_equal(
        stream.update(series.iloc[300]), untouched.update(series.iloc[300])
    )


def test_a_time_not_after_the_last_is_refused_and_changes_nothing():
    series = dated_prices(400, seed=4)
    f = Forecaster(**QUICK).fit(series)
    stream = f.stream(series.iloc[:300])
    last = series.index[299]
    for time in (last, last - pd.Timedelta(days=3)):
        with pytest.raises(ValueError, match="time must come after the last update's"):
            stream.update(series.iloc[300], time=time)
    assert stream.last_time == last
    assert stream.updates == 0
    stream.update(series.iloc[300], time=series.index[300])
    assert stream.last_time == series.index[300]


def test_a_stream_from_a_loaded_model_gives_the_same_forecasts(tmp_path):
    series = dated_prices(400, seed=5)
    f = Forecaster(**QUICK).fit(series.iloc[:300])
    f.save(tmp_path / "m.npz")
    again = rnnkit.load(tmp_path / "m.npz")
    a, b = f.stream(series.iloc[:300]), again.stream(series.iloc[:300])
    for v in series.iloc[300:350]:
        np.testing.assert_array_equal(a.update(v), b.update(v))


def test_a_history_too_short_or_an_unfitted_forecaster_is_refused():
    series = dated_prices(400, seed=6)
    with pytest.raises(RuntimeError, match=r"Forecaster is not fitted yet: call fit\(series\)"):
        Forecaster(**QUICK).stream(series)
    f = Forecaster(**QUICK).fit(series)
    with pytest.raises(ValueError, match="a forecast needs 13"):
        f.stream(series.iloc[:5])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_stateful_stream_carries_its_state_as_predict_reads_the_series(cell):
    series = dated_prices(900, seed=21)
    params = {**QUICK, "cell": cell, "stateful": True, "tbptt": 20, "batch_size": 4}
    f = Forecaster(dtype="float64", **params).fit(series.iloc[:600])
    stream = f.stream(series.iloc[:600])
    got = [stream.forecast()] + [stream.update(v) for v in series.iloc[600:]]
    want = f.predict(series).to_numpy()[-301:]
    np.testing.assert_allclose(np.array(got), want, rtol=1e-10)
    # a refused update leaves the carried state as it was
    before = stream.forecast()
    with pytest.raises(ValueError, match="value must be finite"):
        stream.update(math.nan)
    np.testing.assert_array_equal(stream.forecast(), before)
    np.testing.assert_allclose(stream.update(100.0), f.predict(
        pd.concat([series, pd.Series([100.0], index=[series.index[-1] + pd.offsets.BDay()])])
    ).to_numpy()[-1], rtol=1e-10)  # fmt: skip


def test_a_quantile_stream_forecasts_the_median(tmp_path):
    series = dated_prices(600, seed=22)
    f = Forecaster(quantiles=[0.1, 0.5, 0.9], dtype="float64", **QUICK).fit(series.iloc[:500])
    f.save(tmp_path / "q.npz")
    stream = rnnkit.load(tmp_path / "q.npz").stream(series.iloc[:500])
    got = [stream.update(v) for v in series.iloc[500:]]
    np.testing.assert_allclose(np.array(got), f.predict(series).to_numpy()[-100:], rtol=1e-10)
