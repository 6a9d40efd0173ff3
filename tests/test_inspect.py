"""rnnkit.inspect: gates, cell and hidden state over time, against the reference; the heatmap."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from rnnkit import reference
from rnnkit.inspect import GATE_NAMES, STATE_NAMES, gate_heatmap, gates
from rnnkit.models import LSTM, SequenceRegressor

N, T, F, H = 3, 6, 2, 4


def windows(n=N, t=T, f=F, seed=1):
    return np.random.default_rng(seed).standard_normal((n, t, f))


def model(cell="lstm", **kwargs):
    kwargs = {"input_size": F, "hidden_size": H, "dtype": np.float64, "seed": 0} | kwargs
    return SequenceRegressor(cell, **kwargs)


def layer_weights(params, k):
    return [params[f"{name}_l{k}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


# ---------------------------------------------------------------------------- values


def test_lstm_states_have_the_documented_keys_shapes_and_ranges():
    layers = gates(model(num_layers=2), windows())
    assert len(layers) == 2
    for layer in layers:
        assert tuple(layer) == STATE_NAMES
        for value in layer.values():
            assert isinstance(value, np.ndarray)
            assert value.shape == (N, T, H)
            assert value.flags.writeable
        for name in GATE_NAMES:
            assert np.all((layer[name] > 0) & (layer[name] < 1))
        assert np.all(np.abs(layer["hidden"]) < 1)


def test_lstm_states_match_the_reference_layer_by_layer():
    m = model(num_layers=2)
    x = windows()
    layers = gates(m, x)
    inputs = np.ascontiguousarray(x.transpose(1, 0, 2))
    for k, layer in enumerate(layers):
        y, _, _, g, c = reference.lstm_forward(inputs, None, None, *layer_weights(m.params, k))
        g = g.transpose(1, 0, 2)
        np.testing.assert_allclose(layer["input"], g[..., :H], atol=1e-12)
        np.testing.assert_allclose(layer["forget"], g[..., H : 2 * H], atol=1e-12)
        np.testing.assert_allclose(layer["output"], g[..., 3 * H :], atol=1e-12)
        np.testing.assert_allclose(layer["cell"], c.transpose(1, 0, 2), atol=1e-12)
        np.testing.assert_allclose(layer["hidden"], y.transpose(1, 0, 2), atol=1e-12)
        inputs = y


def test_the_last_hidden_state_is_what_the_head_reads_and_the_model_outputs():
    m = model(output_size=2)
    x = windows()
    hidden = gates(m, x)[-1]["hidden"]
    np.testing.assert_array_equal(hidden, m.recurrent.forward(x)[0])
    expected = hidden[:, -1] @ m.params["head.weight"].T + m.params["head.bias"]
    np.testing.assert_allclose(m.predict(x), expected, atol=1e-12)


def test_rnn_returns_only_the_hidden_state_matching_the_reference():
    m = model("rnn", nonlinearity="relu")
    x = windows()
    (layer,) = gates(m, x)
    assert list(layer) == ["hidden"]
    y, _ = reference.rnn_forward(
        np.ascontiguousarray(x.transpose(1, 0, 2)), None, *layer_weights(m.params, 0),
        nonlinearity="relu",
    )  # fmt: skip
    np.testing.assert_allclose(layer["hidden"], y.transpose(1, 0, 2), atol=1e-12)


def test_dropout_is_off_so_two_calls_agree():
    m = model(num_layers=2, dropout=0.5)
    first, second = gates(m, windows()), gates(m, windows())
    for a, b in zip(first, second, strict=True):
        for name in STATE_NAMES:
            np.testing.assert_array_equal(a[name], b[name])


def test_returned_arrays_are_copies_and_the_model_keeps_nothing():
    m = model()
    m.forward(windows()[:2])  # what a backward would use: gates must leave it
    kept = m.recurrent.activations
    layer = gates(m, windows())[0]
    layer["cell"][...] = 7.0
    assert m.recurrent.activations[0]["cells"].shape[0] == 2
    np.testing.assert_array_equal(m.recurrent.activations[0]["cells"], kept[0]["cells"])


def test_a_bare_lstm_stack_works_too():
    stack = LSTM(F, H, dtype=np.float64, seed=0)
    m = model()
    m.load_state_dict(m.state_dict() | stack.params)
    np.testing.assert_array_equal(
        gates(stack, windows())[0]["cell"], gates(m, windows())[0]["cell"]
    )


# ---------------------------------------------------------------------------- shapes of x


def test_a_2d_array_is_one_sequence():
    m = model()
    x = windows()
    single = gates(m, x[1])[0]
    batch = gates(m, x)[0]
    for name in STATE_NAMES:
        assert single[name].shape == (T, H)
        np.testing.assert_allclose(single[name], batch[name][1], atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_a_dataframe_gives_dataframes_on_the_same_index(cell):
    m = model(cell)
    x = windows()[0]
    index = pd.date_range("2024-01-01", periods=T, freq="D", name="date")
    frame = pd.DataFrame(x, index=index, columns=["ret", "volume"])
    layer = gates(m, frame)[0]
    plain = gates(m, x)[0]
    assert list(layer) == list(plain)
    for name, value in layer.items():
        assert isinstance(value, pd.DataFrame)
        assert value.index.equals(index)
        assert list(value.columns) == [f"h{j}" for j in range(H)]
        np.testing.assert_allclose(value.to_numpy(), plain[name], atol=1e-12)


def test_a_series_is_one_sequence_of_one_feature():
    m = model(input_size=1)
    series = pd.Series(np.linspace(-1, 1, T), index=list("abcdef"))
    layer = gates(m, series)[0]
    assert list(layer["forget"].index) == list("abcdef")


# ---------------------------------------------------------------------------- errors


class NoRecurrent:
    """Has what fit needs, but no recurrent stack to look into."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}

    def forward(self, X, training=False):
        return X


@pytest.mark.parametrize("bad", [NoRecurrent(), None, "lstm"])
def test_a_model_without_a_recurrent_stack_is_a_type_error(bad):
    with pytest.raises(TypeError, match="model"):
        gates(bad, windows())


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros((N, T, F + 1)), "x has 3 features per step but the model takes 2"),
        (np.zeros((T, F + 1)), "features"),
        (np.zeros(T), r"x\[:, None\]"),
        (np.zeros((1, N, T, F)), "x must be one sequence"),
        (np.zeros((N, 0, F)), "at least one"),
        (np.full((T, F), np.nan), "NaN"),
        (pd.DataFrame(np.zeros((T, 3))), "3 features"),
    ],
)
def test_bad_x_is_a_value_error_naming_x(x, match):
    with pytest.raises(ValueError, match=match):
        gates(model(), x)


def test_non_numeric_x_is_a_type_error():
    with pytest.raises(TypeError, match="x must be"):
        gates(model(), [["a", "b"]] * T)
    with pytest.raises(TypeError, match="x is a DataFrame"):
        gates(model(), pd.DataFrame({"a": ["x"] * T, "b": ["y"] * T}))


# ---------------------------------------------------------------------------- heatmap


def panels(fig):
    """The heatmap axes (those with an image but no colorbar role), top to bottom."""
    return [ax for ax in fig.axes if ax.images and ax.get_ylabel() == "unit"]


def test_the_lstm_heatmap_has_five_labelled_panels_on_one_time_axis():
    fig = gate_heatmap(gates(model(num_layers=2), windows()), sequence=2, title="mine")
    assert isinstance(fig, Figure)
    axes = panels(fig)
    assert len(axes) == 5
    titles = [ax.get_title(loc="left") for ax in axes]
    for title, name in zip(titles, ("input", "forget", "output", "cell", "hidden"), strict=True):
        assert name in title
    assert len(fig.axes) == 10  # one colorbar per panel
    assert axes[-1].get_xlabel() == "time step"
    assert axes[0].get_shared_x_axes().joined(axes[0], axes[-1])
    assert fig._suptitle.get_text() == "mine"
    image = axes[1].images[0]
    assert image.get_array().shape == (H, T)  # units as rows, time as columns
    assert image.get_clim() == (0.0, 1.0)


def test_the_rnn_heatmap_has_only_the_hidden_state():
    fig = gate_heatmap(gates(model("rnn"), windows()))
    assert isinstance(fig, Figure)
    (ax,) = panels(fig)
    assert "hidden" in ax.get_title(loc="left")


def test_the_heatmap_of_a_dataframe_labels_time_with_its_index():
    index = pd.date_range("2024-03-01", periods=T, freq="D", name="date")
    states = gates(model(), pd.DataFrame(windows()[0], index=index))
    fig = gate_heatmap(states[0], units=[3, 1])
    axes = panels(fig)
    assert axes[-1].get_xlabel() == "date"
    assert "2024-03-01" in [t.get_text() for t in axes[-1].get_xticklabels()]
    assert axes[0].images[0].get_array().shape == (2, T)
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["3", "1"]


def test_units_as_a_count_draws_the_first_ones():
    fig = gate_heatmap(gates(model(), windows()), units=2)
    assert panels(fig)[0].images[0].get_array().shape == (2, T)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sequence": N}, ValueError, "sequence"),
        ({"units": 0}, ValueError, "units"),
        ({"units": [H]}, ValueError, "units"),
        ({"units": "all"}, ValueError, "units"),
        ({"layer": 1}, ValueError, "layer"),
    ],
)
def test_bad_heatmap_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        gate_heatmap(gates(model(), windows()), **kwargs)


def test_bad_states_are_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        gate_heatmap([])
    with pytest.raises(TypeError, match="states"):
        gate_heatmap(np.zeros((N, T, H)))
    with pytest.raises(ValueError, match="none of the keys"):
        gate_heatmap({"gates": np.zeros((T, H))})
    with pytest.raises(ValueError, match="sequence must be 0"):
        gate_heatmap({"hidden": np.zeros((T, H))}, sequence=1)


def test_gru_states_are_its_gates_candidate_and_hidden_matching_the_reference():
    from rnnkit.inspect import GRU_GATE_NAMES, GRU_STATE_NAMES

    m = model("gru", num_layers=2)
    x = windows()
    layers = gates(m, x)
    inputs = np.ascontiguousarray(x.transpose(1, 0, 2))
    for k, layer in enumerate(layers):
        assert tuple(layer) == GRU_STATE_NAMES
        y, _, g = reference.gru_forward(inputs, None, *layer_weights(m.params, k))
        g = g.transpose(1, 0, 2, 3)  # (N, T, 4, H)
        for row, name in enumerate(("reset", "update", "candidate")):
            np.testing.assert_allclose(layer[name], g[:, :, row], atol=1e-12)
        np.testing.assert_allclose(layer["hidden"], y.transpose(1, 0, 2), atol=1e-12)
        for name in GRU_GATE_NAMES:
            assert np.all((layer[name] > 0) & (layer[name] < 1))
        inputs = y
    fig = gate_heatmap(layers)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert [t.split(" ")[0] for t in titles] == ["reset", "update", "candidate", "hidden"]
