"""rnnkit.data: time splits, scalers fitted without leakage, returns, missing values, windows."""

import json
import re

import numpy as np
import pytest

from rnnkit.data import (
    MinMaxScaler,
    StandardScaler,
    Windows,
    handle_missing,
    log_returns,
    make_windows,
    prices_from_log_returns,
    prices_from_returns,
    returns,
    scaler_from_dict,
    split_by_time,
    split_windows,
)
from rnnkit.models import SequenceRegressor
from rnnkit.train import fit

pd = pytest.importorskip("pandas")

SCALERS = [MinMaxScaler, StandardScaler]


def dated_frame(values, columns=("a", "b")):
    index = pd.date_range("2024-01-01", periods=len(values), freq="D", name="date")
    return pd.DataFrame(values, index=index, columns=list(columns))


# -- windows ----------------------------------------------------------------------------------


def test_windows_match_a_hand_computed_case():
    # two columns: column 0 holds 0, 2, 4, ..., column 1 holds 1, 3, 5, ...
    data = np.arange(20.0).reshape(10, 2)
    X, y, times = make_windows(data, lookback=3, horizon=2, stride=2, target=1)
    # windows start at rows 0, 2, 4; the last one ends at row 6 and targets rows 7 and 8
    expected_X = [
        [[0, 1], [2, 3], [4, 5]],
        [[4, 5], [6, 7], [8, 9]],
        [[8, 9], [10, 11], [12, 13]],
    ]
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, [[7, 9], [11, 13], [15, 17]])
    assert X.dtype == y.dtype == np.float64
    assert times is None


def test_windows_count_and_stride_leave_out_incomplete_windows():
    data = np.arange(11.0)
    X, y, _ = make_windows(data, lookback=3, horizon=2, stride=3)
    # starts 0, 3, 6 fit (6 + 3 + 2 = 11 rows); a start at 9 would not
    assert X.shape == (3, 3, 1)
    np.testing.assert_array_equal(y, [[3, 4], [6, 7], [9, 10]])


def test_targets_are_step_major():
    data = np.arange(20.0).reshape(10, 2)
    _, y, _ = make_windows(data, lookback=3, horizon=2)
    # step t+1 (both columns), then step t+2 (both columns)
    np.testing.assert_array_equal(y[0], [6, 7, 8, 9])
    _, y, _ = make_windows(data, lookback=3, horizon=2, target=[1, 0])
    np.testing.assert_array_equal(y[0], [7, 6, 9, 8])


def test_windows_of_a_frame_keep_the_target_timestamps():
    frame = dated_frame(np.arange(20.0).reshape(10, 2))
    _, y, times = make_windows(frame, lookback=3, horizon=2, stride=2, target="b")
    np.testing.assert_array_equal(y, [[7, 9], [11, 13], [15, 17]])
    assert np.issubdtype(times.dtype, np.datetime64)
    assert times.shape == (3, 2)
    np.testing.assert_array_equal(times[0], frame.index[[3, 4]].to_numpy())
    np.testing.assert_array_equal(times[-1], frame.index[[7, 8]].to_numpy())
    assert not times.flags.writeable


def test_windows_of_a_series_take_its_name_or_position():
    series = pd.Series(np.arange(6.0), name="price")
    by_name = make_windows(series, 2, target="price")
    np.testing.assert_array_equal(by_name.y, make_windows(series, 2, target=0).y)
    assert isinstance(by_name, Windows)
    np.testing.assert_array_equal(by_name.times, [[2], [3], [4], [5]])


@pytest.mark.parametrize("target", [None, 1])
def test_windows_are_read_only_views(target):
    data = np.random.default_rng(0).standard_normal((50, 3))
    X, y, _ = make_windows(data, lookback=5, horizon=3, stride=2, target=target)
    assert np.shares_memory(X, data)
    assert np.shares_memory(y, data)
    assert not X.flags.writeable
    assert not y.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        X[0, 0, 0] = 1.0


def test_windows_of_a_float64_series_are_views_of_it():
    series = pd.Series(np.linspace(1.0, 2.0, 40))
    X, _, _ = make_windows(series, lookback=4)
    assert np.shares_memory(X, series.to_numpy())


def test_scattered_targets_are_a_read_only_copy():
    data = np.arange(30.0).reshape(10, 3)
    _, y, _ = make_windows(data, lookback=2, target=[0, 2])
    np.testing.assert_array_equal(y[0], [6, 8])
    assert not y.flags.writeable


def test_windows_reject_a_series_too_short():
    with pytest.raises(ValueError, match=r"5 rows.*lookback \+ horizon = 4 \+ 2 = 6"):
        make_windows(np.arange(5.0), lookback=4, horizon=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lookback": 0}, ValueError, "lookback must be an int >= 1"),
        ({"lookback": 3.0}, TypeError, "lookback must be an int"),
        ({"lookback": 3, "horizon": 0}, ValueError, "horizon must be an int >= 1"),
        ({"lookback": 3, "stride": -1}, ValueError, "stride must be an int >= 1"),
        ({"lookback": 3, "stride": True}, TypeError, "stride must be an int"),
        ({"lookback": 3, "target": 2}, ValueError, "target=2 is not a column"),
        ({"lookback": 3, "target": [0, 0]}, ValueError, "twice"),
        (
            {"lookback": 3, "missing": "zero"},
            ValueError,
            "missing must be 'raise', 'drop' or 'ffill'",
        ),
    ],
)
def test_windows_reject_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_windows(np.zeros((10, 2)), **kwargs)


def test_windows_name_the_frame_columns_on_a_bad_target():
    with pytest.raises(ValueError, match=r"target='c'.*\['a', 'b'\]"):
        make_windows(dated_frame(np.zeros((10, 2))), 3, target="c")


def test_windows_reject_bad_data():
    with pytest.raises(ValueError, match="shape"):
        make_windows(np.zeros((10, 2, 2)), 3)
    with pytest.raises(TypeError, match="float64"):
        make_windows(np.array(["a", "b", "c", "d"]), 2)


# -- missing values ---------------------------------------------------------------------------


def gappy_series():
    values = np.arange(1.0, 9.0)
    values[[2, 5]] = [np.nan, np.inf]
    return pd.Series(values, index=pd.date_range("2024-03-01", periods=8, freq="D"))


def test_missing_values_raise_saying_how_many_where_and_what_to_do():
    with pytest.raises(ValueError, match="2 missing values") as info:
        make_windows(gappy_series(), lookback=2)
    message = str(info.value)
    assert "2024-03-03" in message
    assert "row 2" in message
    assert "missing='drop'" in message
    assert "missing='ffill'" in message


def test_missing_values_in_an_array_name_the_row():
    data = np.ones((6, 2))
    data[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 missing values .* the first at row 4"):
        handle_missing(data)


def test_drop_removes_the_rows_and_keeps_the_other_timestamps():
    series = gappy_series()
    dropped = handle_missing(series, "drop")
    np.testing.assert_array_equal(dropped.to_numpy(), [1, 2, 4, 5, 7, 8])
    assert list(dropped.index) == list(series.index[[0, 1, 3, 4, 6, 7]])
    _, y, times = make_windows(series, lookback=2, missing="drop")
    np.testing.assert_array_equal(y.ravel(), [4, 5, 7, 8])
    np.testing.assert_array_equal(times.ravel(), series.index[[3, 4, 6, 7]].to_numpy())


def test_ffill_carries_each_column_forward():
    data = np.array([[1.0, 10.0], [np.nan, 20.0], [np.nan, np.inf], [4.0, np.nan]])
    np.testing.assert_array_equal(
        handle_missing(data, "ffill"), [[1, 10], [1, 20], [1, 20], [4, 20]]
    )
    np.testing.assert_array_equal(
        handle_missing(gappy_series(), "ffill").to_numpy(), [1, 2, 2, 4, 5, 5, 7, 8]
    )


def test_ffill_rejects_leading_missing_values():
    data = np.array([np.nan, np.nan, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"starts with 2 rows .* missing='drop'"):
        handle_missing(data, "ffill")


def test_clean_data_passes_through_unchanged():
    frame = dated_frame(np.ones((4, 2)))
    for mode in ("raise", "drop", "ffill"):
        assert handle_missing(frame, mode) is frame


# -- splitting --------------------------------------------------------------------------------


def test_split_keeps_time_order_and_sizes():
    data = np.arange(100.0)
    train, val, test = split_by_time(data)
    assert (len(train), len(val), len(test)) == (70, 15, 15)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), data)
    assert train[-1] < val[0]
    assert val[-1] < test[0]
    assert np.shares_memory(train, data)


def test_split_sizes_round():
    train, val, test = split_by_time(np.zeros((11, 2)), val=0.2, test=0.1)
    assert (len(train), len(val), len(test)) == (8, 2, 1)
    train, val, test = split_by_time(np.arange(10), val=0, test=0.3)
    assert (len(train), len(val), len(test)) == (7, 0, 3)


def test_split_of_a_frame_returns_frames_in_order():
    frame = dated_frame(np.arange(40.0).reshape(20, 2))
    train, val, test = split_by_time(frame, val=0.25, test=0.25)
    assert all(isinstance(part, pd.DataFrame) for part in (train, val, test))
    assert train.index[-1] < val.index[0]
    assert val.index[-1] < test.index[0]
    pd.testing.assert_frame_equal(pd.concat([train, val, test]), frame)


@pytest.mark.parametrize(
    ("val", "test", "match"),
    [
        (0.5, 0.5, "below 1"),
        (-0.1, 0.2, "val must be a fraction"),
        (0.1, 1.0, "test must be a fraction"),
        (0.4, 0.5, "no row is left for training"),
    ],
)
def test_split_rejects_bad_fractions(val, test, match):
    with pytest.raises(ValueError, match=match):
        split_by_time(np.arange(3.0), val=val, test=test)


# -- scalers ----------------------------------------------------------------------------------


def test_minmax_maps_the_training_range():
    data = np.array([[1.0, -2.0], [3.0, 2.0], [2.0, 0.0]])
    scaler = MinMaxScaler(feature_range=(-1.0, 1.0)).fit(data)
    np.testing.assert_allclose(scaler.transform(data), [[-1, -1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(scaler.data_min_, [1, -2])
    np.testing.assert_allclose(scaler.transform([[5.0, 4.0]]), [[3, 2]])


def test_standard_scaler_centres_and_scales():
    data = np.random.default_rng(1).normal(5.0, 3.0, (200, 3))
    scaled = StandardScaler().fit_transform(data)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), 1, rtol=1e-12)


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_inverse_undoes_transform(cls):
    data = np.random.default_rng(2).normal(50.0, 10.0, (30, 2))
    scaler = cls().fit(data)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(data)), data, rtol=1e-14)


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_of_a_constant_column_does_not_divide_by_zero(cls):
    data = np.column_stack([np.full(5, 0.1), np.arange(5.0)])
    scaled = cls().fit_transform(data)
    assert np.all(np.isfinite(scaled))
    np.testing.assert_allclose(scaled[:, 0], scaled[0, 0])


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_keeps_shape_and_pandas_type(cls):
    series = pd.Series(np.arange(1.0, 6.0), index=pd.date_range("2024", periods=5), name="p")
    scaled = cls().fit(series).transform(series)
    assert isinstance(scaled, pd.Series)
    assert scaled.name == "p"
    assert scaled.index.equals(series.index)
    frame = dated_frame(np.arange(10.0).reshape(5, 2))
    scaled = cls().fit(frame).transform(frame)
    assert isinstance(scaled, pd.DataFrame)
    assert list(scaled.columns) == ["a", "b"]
    assert cls().fit(np.arange(4.0)).transform(np.arange(3.0)).shape == (3,)


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_errors(cls):
    with pytest.raises(RuntimeError, match="not fitted yet"):
        cls().transform(np.ones(3))
    with pytest.raises(ValueError, match="1 NaN or inf"):
        cls().fit(np.array([1.0, np.nan, 2.0]))
    scaler = cls().fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match="3 columns but the scaler was fitted on 2"):
        scaler.transform(np.ones((4, 3)))
    with pytest.raises(ValueError, match="1-D"):
        scaler.transform(np.ones(4))
    frame_scaler = cls().fit(dated_frame(np.ones((3, 2))))
    with pytest.raises(ValueError, match="columns"):
        frame_scaler.transform(dated_frame(np.ones((3, 2)), columns=("b", "a")))


def test_minmax_rejects_an_empty_range():
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler(feature_range=(1, 1))


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_leaks_nothing_from_the_test_block(cls):
    series = dated_frame(np.random.default_rng(3).lognormal(0, 0.1, (100, 2)).cumsum(axis=0))
    name = {MinMaxScaler: "minmax", StandardScaler: "standard"}[cls]

    def pipeline(data):
        split = split_windows(data, 5, transform="none", scaler=name)
        model = SequenceRegressor("rnn", input_size=2, hidden_size=3, seed=0)
        fit(model, split.train.X, split.train.y, epochs=2, verbose=0)
        return split, model.state_dict()

    altered = series.copy()
    altered.iloc[-15:] = 1e9 * np.random.default_rng(4).standard_normal((15, 2))
    (split, weights), (split_altered, weights_altered) = pipeline(series), pipeline(altered)
    assert split.pipeline.scaler.to_dict() == split_altered.pipeline.scaler.to_dict()
    for block in ("train", "val"):
        for a, b in zip(getattr(split, block), getattr(split_altered, block), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=block)
    for key, value in weights.items():
        np.testing.assert_array_equal(value, weights_altered[key], err_msg=key)
    assert not np.array_equal(split.test.y, split_altered.test.y)  # the test block did change


@pytest.mark.parametrize("cls", SCALERS)
def test_scaler_round_trips_through_json_bit_identically(cls):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.lognormal(3, 1, (50, 3)), columns=["x", "y", "z"])
    scaler = cls().fit(frame)
    rebuilt = scaler_from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert type(rebuilt) is cls
    new = pd.DataFrame(rng.lognormal(3, 1, (20, 3)), columns=["x", "y", "z"])
    a, b = scaler.transform(new).to_numpy(), rebuilt.transform(new).to_numpy()
    assert a.tobytes() == b.tobytes()
    a, b = scaler.inverse_transform(new).to_numpy(), rebuilt.inverse_transform(new).to_numpy()
    assert a.tobytes() == b.tobytes()
    assert rebuilt.columns_ == ["x", "y", "z"]


def test_unfitted_scaler_round_trips_its_parameters():
    rebuilt = scaler_from_dict(MinMaxScaler(feature_range=(-1, 1)).to_dict())
    assert rebuilt.feature_range == (-1.0, 1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        rebuilt.transform(np.ones(2))


@pytest.mark.parametrize(
    "bad",
    [
        {"class": "RobustScaler"},
        [],
        {"class": "StandardScaler", "params": {}, "stats": {"mean": [1.0]}},
        {"class": "StandardScaler", "params": {}, "stats": {"mean": [1.0], "std": [1.0, 2.0]}},
    ],
)
def test_scaler_from_dict_rejects_malformed_input(bad):
    with pytest.raises(ValueError, match=r"scaler|statistics"):
        scaler_from_dict(bad)


@pytest.mark.parametrize("cls", SCALERS)
def test_inverse_transform_column_restores_one_target(cls):
    frame = pd.DataFrame({"volume": [1e6, 3e6, 2e6, 5e6], "price": [10.0, 12.0, 11.0, 15.0]})
    scaler = cls().fit(frame)
    scaled_price = scaler.transform(frame)["price"].to_numpy()
    # predictions of any shape, e.g. (N, horizon) windows of the price column
    predictions = np.stack([scaled_price, scaled_price[::-1]], axis=1)
    restored = scaler.inverse_transform_column(predictions, "price")
    np.testing.assert_allclose(restored[:, 0], frame["price"], rtol=1e-14)
    np.testing.assert_array_equal(restored, scaler.inverse_transform_column(predictions, 1))
    with pytest.raises(ValueError, match="column='cost' is not a column"):
        scaler.inverse_transform_column(predictions, "cost")


# -- returns ----------------------------------------------------------------------------------


def test_returns_hand_computed():
    prices = np.array([100.0, 110.0, 99.0])
    np.testing.assert_allclose(returns(prices), [0.1, -0.1])
    np.testing.assert_allclose(log_returns(prices), [np.log(1.1), np.log(0.9)])


def test_returns_of_pandas_keep_the_later_timestamp():
    prices = pd.Series([100.0, 110.0, 99.0], index=pd.date_range("2024-01-01", periods=3))
    for transform in (returns, log_returns):
        result = transform(prices)
        assert isinstance(result, pd.Series)
        assert result.index.equals(prices.index[1:])
    frame = dated_frame(np.arange(1.0, 9.0).reshape(4, 2))
    result = log_returns(frame)
    assert result.index.equals(frame.index[1:])
    np.testing.assert_allclose(result["a"], np.diff(np.log(frame["a"].to_numpy())))


def test_returns_round_trip_to_prices():
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(6).normal(0, 0.02, 50)))
    rebuilt = prices_from_log_returns(log_returns(prices), prices[0])
    np.testing.assert_allclose(rebuilt, prices[1:], rtol=1e-12, atol=0)
    rebuilt = prices_from_returns(returns(prices), prices[0])
    np.testing.assert_allclose(rebuilt, prices[1:], rtol=1e-12, atol=0)
    series = pd.Series(prices, index=pd.date_range("2024-01-01", periods=50))
    rebuilt = prices_from_log_returns(log_returns(series), series.iloc[0])
    pd.testing.assert_series_equal(rebuilt, series.iloc[1:], rtol=1e-12)


def test_prices_from_returns_rebuilds_each_row_from_its_own_start():
    # multi-step forecasts: N = 2 rows of h = 3 returns
    rets = np.array([[0.1, 0.0, -0.5], [0.0, 1.0, 0.0]])
    start = np.array([100.0, 10.0])
    np.testing.assert_allclose(prices_from_returns(rets, start), [[110, 110, 55], [10, 20, 20]])
    log_rets = np.log1p(rets)
    np.testing.assert_allclose(
        prices_from_log_returns(log_rets, start), [[110, 110, 55], [10, 20, 20]]
    )
    np.testing.assert_allclose(prices_from_returns(rets, 1.0), [[1.1, 1.1, 0.55], [1, 2, 2]])
    with pytest.raises(ValueError, match=r"one price per row \(2,\)"):
        prices_from_returns(rets, np.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        prices_from_returns(rets[0], start)


def test_returns_reject_impossible_prices():
    with pytest.raises(ValueError, match="2 values <= 0, the first in row 1"):
        log_returns(np.array([1.0, 0.0, -1.0]))
    with pytest.raises(ValueError, match="zero at row 1"):
        returns(np.array([1.0, 0.0, 2.0]))
    # negative prices have simple returns
    np.testing.assert_allclose(returns(np.array([2.0, -1.0])), [-1.5])


# -- split_windows: the one place that cuts a model's windows ------------------------------


def wti_like(n=300, seed=0):
    prices = np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.02, n))) * 50
    return pd.Series(prices, index=pd.date_range("2000-01-03", periods=n, freq="B"), name="p")


@pytest.mark.parametrize("transform", ["log_return", "return", "none"])
@pytest.mark.parametrize("horizon", [1, 3])
def test_a_window_belongs_to_the_block_of_its_last_target(transform, horizon):
    series = wti_like()
    split = split_windows(series, 10, horizon, transform=transform)
    rows = series.index[1:] if transform != "none" else series.index
    train_rows, val_rows, test_rows = split_by_time(rows)
    for block, own in zip(split[:3], (train_rows, val_rows, test_rows), strict=True):
        last_target = block.times[:, -1]
        assert (last_target >= own[0]).all()
        assert (last_target <= own[-1]).all()
    # consecutive blocks, windows one row apart, every window counted once
    times = np.concatenate([b.times[:, 0] for b in split[:3]])
    assert (np.diff(times) > np.timedelta64(0)).all()
    assert len(times) == len(rows) - 10 - horizon + 1
    before = series.shift(1)
    for block in split[:3]:
        assert block.X.base is not None  # a view,
        assert not block.X.flags.writeable  # read-only
        # the window ends on the row before its first target, in the series' units
        np.testing.assert_array_equal(block.last, block.X_raw[:, -1, 0])
        np.testing.assert_array_equal(block.last, before.loc[block.times[:, 0]])
        targets = series.loc[block.times.ravel()].to_numpy().reshape(block.y_raw.shape)
        np.testing.assert_array_equal(block.y_raw, targets)


@pytest.mark.parametrize("transform", ["log_return", "return", "none"])
def test_to_levels_undoes_the_transform_and_the_scaling(transform):
    split = split_windows(wti_like(), 8, horizon=2, transform=transform, scaler="minmax")
    test = split.test
    np.testing.assert_allclose(split.pipeline.to_levels(test.y, test.last), test.y_raw, rtol=1e-12)


def test_columns_target_inputs_and_unscaled_columns():
    series = wti_like()
    frame = pd.DataFrame(
        {"volume": np.arange(300.0) + 1, "p": series, "flag": (np.arange(300) % 7 == 0) * 1.0},
        index=series.index,
    )
    split = split_windows(frame, 5, target="p", inputs=["p", "flag"], unscaled=["flag"],
                          transform="none")  # fmt: skip
    assert split.pipeline.target == 1
    assert split.pipeline.inputs == [1, 2]
    assert split.train.X.shape[1:] == (5, 2)
    np.testing.assert_array_equal(split.train.X[:, :, 1], split.train.X_raw[:, :, 2])  # as it is
    np.testing.assert_array_equal(split.train.y_raw[:, 0], frame.loc[split.train.times[:, 0], "p"])
    assert abs(split.train.X[:, :, 0].mean()) < 0.2  # the price column is standardised


def test_warmup_gives_every_lookback_the_same_targets():
    series = wti_like()
    short, long = (split_windows(series, lb, warmup=40) for lb in (3, 40))
    for a, b in zip(short[:3], long[:3], strict=True):
        np.testing.assert_array_equal(a.times, b.times)
    assert short.train.times[0, 0] == series.index[1 + 40]  # return row 40 is the first target


def test_the_pipeline_cuts_new_data_and_round_trips_bit_identically():
    series = wti_like()
    split = split_windows(series, 6, horizon=2)
    state = json.loads(json.dumps(split.pipeline.to_state()))
    rebuilt = type(split.pipeline).from_state(state)
    for pipeline in (split.pipeline, rebuilt):
        block = pipeline.windows(series)
        assert block.y is None
        assert block.origin[-1] == series.index[-1]
        np.testing.assert_array_equal(block.X[-len(split.test.X) - 2 : -2], split.test.X)
        again = pipeline.test_block(split.test_values, split.test_index)
        for a, b in zip(again, split.test, strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="series has 2 column"):
        split.pipeline.windows(pd.concat([series, series.rename("q")], axis=1))
    with pytest.raises(ValueError, match=r"columns of the same name: \['p', 'p'\]"):
        split.pipeline.windows(pd.concat([series, series], axis=1))
    with pytest.raises(ValueError, match="a forecast needs 7"):
        split.pipeline.windows(series.iloc[:6])


def test_test_values_are_a_copy_the_caller_cannot_change():
    prices = wti_like().to_numpy().copy()
    split = split_windows(prices, 5)
    kept = split.test_values.copy()
    prices[-1] = 1.0
    np.testing.assert_array_equal(split.test_values, kept)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"lookback": 0}, ValueError, "lookback must be an int >= 1, got 0"),
        ({"horizon": 1.5}, TypeError, "horizon must be an int >= 1"),
        ({"target": "close"}, ValueError, r"target='close' is not a column of the data"),
        ({"inputs": ["p", "p"]}, ValueError, "inputs names a column twice"),
        ({"inputs": []}, ValueError, "inputs must name at least one column"),
        ({"unscaled": "q"}, ValueError, r"unscaled='q' is not a column"),
        (
            {"transform": "diff"},
            ValueError,
            "transform must be 'log_return', 'return', 'none' or 'volatility'",
        ),
        ({"scaler": "robust"}, ValueError, "scaler must be 'standard', 'minmax' or 'none'"),
        ({"val": 1.5}, ValueError, r"val must be a fraction in \[0, 1\), got 1.5"),
        ({"warmup": -1}, ValueError, "warmup must be an int >= 0"),
        ({"lookback": 250}, ValueError, "too short for a train window"),
        ({"test": 0.001}, ValueError, "too short for a test window"),
    ],
)
def test_split_windows_names_a_bad_argument(kwargs, error, words):
    with pytest.raises(error, match=words):
        split_windows(wti_like(), **{"lookback": 5, **kwargs})


@pytest.mark.parametrize(
    ("rows", "options"),
    [(12, {}), (40, {"horizon": 3}), (45, {"warmup": 20}), (30, {"test": 0.05}), (25, {})],
)
def test_a_series_too_short_for_its_lookback_is_told_the_longest_that_fits(rows, options):
    # a newcomer's 12-row file and lookback 30: the error says what would work
    series = wti_like()[:rows]
    with pytest.raises(ValueError, match="too short for a") as err:
        split_windows(series, lookback=30, **options)
    longest = int(re.search(r"lookback=(\d+) is the longest that leaves one", str(err.value))[1])
    split = split_windows(series, lookback=longest, **options)
    assert len(split.train.X) > 0
    assert len(split.test.X) > 0
    with pytest.raises(ValueError, match="too short for a"):
        split_windows(series, lookback=longest + 1, **options)


def test_a_series_too_short_for_any_lookback_says_so():
    with pytest.raises(ValueError, match="no lookback leaves one: more rows"):
        split_windows(wti_like()[:4], lookback=3)


def test_split_windows_takes_columns_as_a_name_a_list_or_an_array():
    frame = pd.DataFrame({"p": wti_like(), "flag": 1.0})
    by_name = split_windows(frame, 4, unscaled="flag", inputs=np.array([0, 1]))
    assert by_name.pipeline.unscaled == [1]
    assert by_name.pipeline.inputs == [0, 1]
    with pytest.raises(ValueError, match="series has no rows"):
        split_windows(frame.iloc[:0], 4)


def test_a_crafted_pipeline_state_is_refused():
    state = split_windows(wti_like(), 4).pipeline.to_state()
    WindowPipeline = type(split_windows(wti_like(), 4).pipeline)
    for change, words in [
        ({"target": 3}, "target must be distinct column positions in"),
        ({"inputs": [0, 0]}, "inputs must be distinct"),
        ({"inputs": []}, "inputs must name at least one column"),
        ({"lookback": "8"}, "lookback must be an int"),
        ({"transform": "exp"}, "transform must be"),
        ({"columns": "p"}, "columns must be None or 1 names"),
    ]:
        with pytest.raises((ValueError, TypeError), match=words):
            WindowPipeline.from_state({**state, **change})


def test_split_windows_refuses_what_the_transform_cannot_take():
    with pytest.raises(ValueError, match="needs positive prices"):
        split_windows(np.linspace(-1, 1, 100), 5)
    with pytest.raises(ValueError, match="needs non-zero values"):
        split_windows(np.r_[np.zeros(3), np.ones(97)], 5, transform="return")
