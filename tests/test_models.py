"""rnnkit.models: layers against the reference, gradient checks, PyTorch exchange, bad input."""

import json

import numpy as np
import pytest
from _problems import assert_close, numerical_gradient

from rnnkit import core, reference
from rnnkit.models import GRU, LSTM, RNN, SequenceRegressor, cell_class

EPS = 1e-6
RTOL_FD = 1e-6
N, T, F, H, OUT = 3, 4, 2, 3, 2  # small: finite differences run every parameter

CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]
cells = pytest.mark.parametrize(
    ("cell", "nonlinearity"), CELLS, ids=["lstm", "gru", "rnn_tanh", "rnn_relu"]
)


def windows(n=N, t=T, f=F, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, t, f)).astype(dtype)


def make_model(cell, nonlinearity="tanh", **kwargs):
    kwargs = {"input_size": F, "hidden_size": H, "output_size": OUT, "seed": 0} | kwargs
    return SequenceRegressor(cell=cell, nonlinearity=nonlinearity, **kwargs)


def reference_stack(cell, nonlinearity, params, x, num_layers, between=None):
    """Outputs (N, T, H) and h_n of a stack run layer by layer through rnnkit.reference;
    ``between(h)``, if given, changes each layer's time-major outputs before the next."""
    h = np.ascontiguousarray(x.transpose(1, 0, 2))
    for k in range(num_layers):
        w = [params[f"{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        if cell == "lstm":
            h, h_n, *_ = reference.lstm_forward(h, None, None, *w)
        elif cell == "gru":
            h, h_n, _ = reference.gru_forward(h, None, *w)
        else:
            h, h_n = reference.rnn_forward(h, None, *w, nonlinearity=nonlinearity)
        if between is not None and k < num_layers - 1:
            h = between(h)
    return h.transpose(1, 0, 2), h_n


# ---------------------------------------------------------------------------- layers


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@cells
def test_layer_forward_matches_reference_for_two_layers(cell, nonlinearity, dtype):
    kwargs = {"num_layers": 2, "dtype": dtype, "seed": 3}
    if cell == "lstm":
        layer = LSTM(F, 5, forget_bias=1.0, **kwargs)
    elif cell == "gru":
        layer = GRU(F, 5, **kwargs)
    else:
        layer = RNN(F, 5, nonlinearity=nonlinearity, **kwargs)
    x = windows(n=4, t=6, dtype=dtype)
    out, h_n = layer.forward(x)
    want_out, want_h_n = reference_stack(cell, nonlinearity, layer.params, x, 2)
    assert out.shape == (4, 6, 5)
    assert out.dtype == h_n.dtype == dtype
    assert_close(out, want_out, dtype, name="outputs")
    assert_close(h_n, want_h_n, dtype, name="h_n")
    np.testing.assert_array_equal(h_n, out[:, -1])


@cells
def test_layer_gradients_match_finite_differences(cell, nonlinearity):
    # both incoming gradients at once, and dx: what the regressor alone never exercises
    cls_kwargs = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    layer = cell_class(cell)(F, H, num_layers=2, dtype=np.float64, seed=2, **cls_kwargs)
    x = windows()
    rng = np.random.default_rng(5)
    d_out, d_last = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))

    def loss():
        out, h_n = layer.forward(x)
        return float(np.sum(out * d_out) + np.sum(h_n * d_last))

    loss()
    dx, grads = layer.backward(d_out, d_last)
    assert list(grads) == list(layer.params)
    assert_close(dx, numerical_gradient(loss, x, EPS), np.float64, name="dx", rtol=RTOL_FD)
    for name, p in layer.params.items():
        numeric = numerical_gradient(loss, p, EPS)
        assert_close(grads[name], numeric, np.float64, name=name, rtol=RTOL_FD)


def test_each_layer_is_one_core_call_forward_and_backward(monkeypatch):
    calls = []
    for name in ("lstm_forward", "lstm_backward"):
        original = getattr(core, name)
        monkeypatch.setattr(
            core, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k)
        )
    model = make_model("lstm", num_layers=3)
    model.forward(windows(t=50), training=True)
    model.backward(np.ones((N, OUT)))
    assert calls == ["lstm_forward"] * 3 + ["lstm_backward"] * 3


def test_parameter_names_shapes_and_initialisation():
    layer = LSTM(F, H, num_layers=2, seed=0)
    shapes = {name: p.shape for name, p in layer.params.items()}
    assert shapes == {
        "weight_ih_l0": (4 * H, F),
        "weight_hh_l0": (4 * H, H),
        "bias_ih_l0": (4 * H,),
        "bias_hh_l0": (4 * H,),
        "weight_ih_l1": (4 * H, H),
        "weight_hh_l1": (4 * H, H),
        "bias_ih_l1": (4 * H,),
        "bias_hh_l1": (4 * H,),
    }
    big = RNN(4, 100, seed=0)
    bound = 1 / np.sqrt(100)
    for name, p in big.params.items():
        assert p.dtype == np.float32
        assert np.all(np.abs(p) <= bound), name
        assert np.abs(p).max() > 0.9 * bound, name  # uniform over the whole range
    again = RNN(4, 100, seed=0).params
    assert all(np.array_equal(again[k], p) for k, p in big.params.items())
    assert not np.array_equal(RNN(4, 100, seed=1).params["weight_hh_l0"], again["weight_hh_l0"])


def test_forget_bias_is_added_to_the_forget_gate_of_bias_ih_only():
    plain = LSTM(F, H, num_layers=2, seed=4)
    shifted = LSTM(F, H, num_layers=2, seed=4, forget_bias=1.0)
    for name, p in plain.params.items():
        diff = shifted.params[name] - p
        want = np.zeros_like(p)
        if name.startswith("bias_ih"):
            want[H : 2 * H] = 1.0
        np.testing.assert_allclose(diff, want, atol=1e-6, err_msg=name)


def test_dropout_only_in_training_mode_between_layers():
    x = windows(n=20, t=5)
    plain = LSTM(F, 8, num_layers=2, dtype=np.float64, seed=7)
    dropped = LSTM(F, 8, num_layers=2, dropout=0.5, dtype=np.float64, seed=7)
    np.testing.assert_array_equal(dropped.forward(x)[0], plain.forward(x)[0])
    assert not np.allclose(dropped.forward(x, training=True)[0], plain.forward(x)[0])
    # one layer: nothing between layers, so dropout has no effect (as in PyTorch)
    single = LSTM(F, 8, dropout=0.5, dtype=np.float64, seed=7)
    single_plain = LSTM(F, 8, dtype=np.float64, seed=7)
    np.testing.assert_array_equal(single.forward(x, True)[0], single_plain.forward(x)[0])


def test_outputs_are_read_only_and_activations_are_exposed():
    layer = LSTM(F, H, num_layers=2, seed=0)
    assert layer.activations == []
    out, _ = layer.forward(windows())
    with pytest.raises(ValueError, match="read-only"):
        out[0, 0, 0] = 1.0
    acts = layer.activations
    assert len(acts) == 2
    assert acts[1]["gates"].shape == (N, T, 4 * H)
    assert acts[1]["cells"].shape == (N, T, H)
    np.testing.assert_array_equal(acts[1]["outputs"], out)
    gates = acts[0]["gates"]
    assert np.all((gates[..., : 2 * H] > 0) & (gates[..., : 2 * H] < 1))  # sigmoids


# ---------------------------------------------------------------------------- regressor


def mse_and_grad(pred, y):
    err = pred - y
    return float(np.mean(err**2)), 2 * err / err.size


@pytest.mark.parametrize(
    ("num_layers", "dropout"), [(2, 0.0), (1, 0.4), (2, 0.4)], ids=["2", "1_dropout", "2_dropout"]
)
@cells
def test_regressor_gradients_match_finite_differences(cell, nonlinearity, num_layers, dropout):
    model = make_model(cell, nonlinearity, num_layers=num_layers, dropout=dropout, dtype=np.float64)
    x, y = windows(), np.random.default_rng(9).standard_normal((N, OUT))
    # with dropout: every forward replays the same masks from the same generator state
    rng = model.recurrent.rng
    state = rng.bit_generator.state

    def loss():
        rng.bit_generator.state = state
        return mse_and_grad(model.forward(x, training=True), y)[0]

    rng.bit_generator.state = state
    _, d_pred = mse_and_grad(model.forward(x, training=True), y)
    grads = model.backward(d_pred)
    if dropout:
        assert loss() != mse_and_grad(model.forward(x), y)[0], "the masks must change the loss"
    assert list(grads) == list(model.params)
    for name, p in model.params.items():
        assert grads[name].dtype == np.float64
        numeric = numerical_gradient(loss, p, EPS)
        assert_close(grads[name], numeric, np.float64, name=name, rtol=RTOL_FD)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressor_forward_is_layers_then_head(dtype):
    model = make_model("lstm", num_layers=2, dtype=dtype)
    x = windows(dtype=np.float64)  # converted to the model's dtype
    pred = model.forward(x)
    _, h_n = reference_stack("lstm", "tanh", model.params, x.astype(dtype), 2)
    want = h_n @ model.params["head.weight"].T + model.params["head.bias"]
    assert pred.shape == (N, OUT)
    assert pred.dtype == dtype
    assert_close(pred, want, dtype, name="pred")


@pytest.mark.parametrize("num_layers", [1, 2])
@cells
def test_dropout_acts_on_inputs_between_layers_and_before_the_head(cell, nonlinearity, num_layers):
    """Training mode against a NumPy twin drawing the same masks in the documented order;
    with one layer too (where the dropout of PyTorch's recurrent layers does nothing)."""
    rate = 0.3
    model = make_model(cell, nonlinearity, num_layers=num_layers, dropout=rate, dtype=np.float64)
    x = windows(n=6)
    rng = np.random.default_rng(0)
    rng.bit_generator.state = model.recurrent.rng.bit_generator.state

    def mask(shape):
        return (rng.random(shape) >= rate) / (1.0 - rate)

    p = model.params
    dropped = x * mask(x.shape)
    _, h_n = reference_stack(
        cell, nonlinearity, p, dropped, num_layers, between=lambda h: h * mask(h.shape)
    )
    want = (h_n * mask(h_n.shape)) @ p["head.weight"].T + p["head.bias"]
    got = model.forward(x, training=True)
    assert_close(got, want, np.float64, name="pred")
    # inactive when predicting: the same as a model without dropout
    plain = make_model(cell, nonlinearity, num_layers=num_layers, dtype=np.float64)
    np.testing.assert_array_equal(model.forward(x), plain.forward(x))
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))


def test_predict_in_batches_equals_one_call():
    model = make_model("rnn", num_layers=2, dropout=0.3, dtype=np.float64)
    x = windows(n=11)
    whole = model.predict(x)
    np.testing.assert_array_equal(model.predict(x, batch_size=4), whole)
    np.testing.assert_array_equal(model.forward(x, training=False), whole)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_predict_keeps_no_step_of_its_activations(cell, num_layers):
    # 64 windows of 500 steps through layers of 32 units: keeping a layer's activations
    # would take 4 MB of outputs y (the LSTM's gates and cells 20 MB more). The forward-only
    # path holds the states of two steps and the input projection of a few; a layer below
    # the last, the outputs the next one reads.
    import tracemalloc

    model = SequenceRegressor(
        cell=cell, input_size=1, hidden_size=32, num_layers=num_layers, seed=0
    )
    x = np.random.default_rng(0).standard_normal((64, 500, 1)).astype(np.float32)
    want = model.forward(x)  # the training forward, for the values
    model.recurrent.release_activations()
    tracemalloc.start()
    try:
        got = model.predict(x, batch_size=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got, want)
    outputs = x.shape[0] * x.shape[1] * 32 * 4  # one layer's y
    assert peak < (num_layers - 1) * outputs + outputs / 4, peak


def test_state_dict_round_trip_config_and_parameter_count():
    model = make_model("lstm", num_layers=2, dropout=0.2, forget_bias=1.0, dtype=np.float64)
    cfg = json.loads(json.dumps(model.config()))
    assert cfg["dtype"] == "float64"
    assert cfg["seed"] == 0
    clone = SequenceRegressor.from_config(cfg)
    state = model.state_dict()
    assert list(state) == list(model.params)
    assert list(state)[-2:] == ["head.weight", "head.bias"]
    for name in state:
        assert state[name] is not model.params[name]  # copies
    model.params["head.bias"] += 1.0
    clone.load_state_dict(model.state_dict())
    x = windows()
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert model.num_parameters() == sum(p.size for p in state.values())
    assert model.num_parameters() == (4 * H * (F + H + 2)) + (4 * H * (2 * H + 2)) + OUT * (H + 1)


def test_load_state_dict_casts_and_writes_in_place():
    model = make_model("rnn")
    arrays = {name: id(p) for name, p in model.params.items()}
    state = {name: np.full(p.shape, 0.25, np.float64) for name, p in model.params.items()}
    model.load_state_dict(state)
    for name, p in model.params.items():
        assert id(p) == arrays[name]
        assert p.dtype == np.float32
        assert np.all(p == 0.25)
    assert model.params["weight_hh_l0"] is model.recurrent.params["weight_hh_l0"]


def test_load_state_dict_rejects_bad_states_and_changes_nothing():
    model = make_model("lstm")
    before = model.state_dict()
    state = model.state_dict()
    del state["bias_hh_l0"]
    state["head.extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh_l0'\].*unexpected.*head.extra"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["head.weight"] = np.zeros((OUT, H))
    state["weight_hh_l0"] = np.zeros((H, H))
    with pytest.raises(ValueError, match=r"weight_hh_l0.*shape \(12, 3\), got \(3, 3\)"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["head.bias"] = np.array([0.0, np.nan])
    with pytest.raises(ValueError, match=r"head\.bias.*NaN"):
        model.load_state_dict(state)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([1, 2])
    for name, p in before.items():
        np.testing.assert_array_equal(model.params[name], p)


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((3, 4)), r"X must have shape \(N, T, 2\).*got shape \(3, 4\)"),
        (np.zeros((3, 4, 5)), r"X must have shape \(N, T, 2\).*got shape \(3, 4, 5\)"),
        (np.zeros((0, 4, 2)), r"X must have shape .*N, T >= 1"),
    ],
)
def test_bad_windows_are_refused(X, match):
    model = make_model("lstm")
    with pytest.raises(ValueError, match=match):
        model.forward(X)
    with pytest.raises(ValueError, match=match):
        model.predict(X)


def test_bad_constructor_arguments_and_calls():
    with pytest.raises(ValueError, match="cell must be 'lstm', 'gru' or 'rnn', got 'cnn'"):
        SequenceRegressor(cell="cnn")
    with pytest.raises(ValueError, match="nonlinearity"):
        SequenceRegressor(cell="rnn", nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be an int >= 1, got 0"):
        SequenceRegressor(hidden_size=0)
    with pytest.raises(TypeError, match="num_layers"):
        SequenceRegressor(num_layers=1.5)
    with pytest.raises(ValueError, match="dropout"):
        SequenceRegressor(dropout=1.0)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        SequenceRegressor(dtype=np.float16)
    with pytest.raises(ValueError, match="forget_bias"):
        LSTM(1, 2, forget_bias=np.inf)
    with pytest.raises(ValueError, match="unknown keys"):
        SequenceRegressor.from_config({"cell": "rnn", "colour": "red"})
    model = make_model("rnn")
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.zeros((N, OUT)))
    model.forward(windows())
    with pytest.raises(ValueError, match=r"d_pred must have shape \(3, 2\), got \(3, 1\)"):
        model.backward(np.zeros((N, 1)))
    with pytest.raises(ValueError, match=r"d_last must have shape \(3, 3\)"):
        model.recurrent.backward(d_last=np.zeros((N, 4)))


# ---------------------------------------------------------------------------- PyTorch


def torch_model(torch, cell, nonlinearity, dtype, num_layers):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    kwargs = {"num_layers": num_layers, "batch_first": True, "dtype": tdtype}
    if cell == "lstm":
        rnn = torch.nn.LSTM(F, H, **kwargs)
    elif cell == "gru":
        rnn = torch.nn.GRU(F, H, **kwargs)
    else:
        rnn = torch.nn.RNN(F, H, nonlinearity=nonlinearity, **kwargs)
    return rnn, torch.nn.Linear(H, OUT, dtype=tdtype)


def torch_predict(torch, rnn, head, x):
    with torch.no_grad():
        out, _ = rnn(torch.from_numpy(x))
        return head(out[:, -1]).numpy()


@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-5), (np.float64, 1e-10)])
@cells
def test_state_dict_loads_into_torch_and_back(cell, nonlinearity, dtype, tol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = make_model(cell, nonlinearity, num_layers=2, forget_bias=0.5, dtype=dtype)
    rnn, head = torch_model(torch, cell, nonlinearity, dtype, 2)
    x = windows(n=5, t=7, dtype=dtype)

    # ours -> torch: the layer keys are torch's own, the head's carry the prefix "head."
    state = model.state_dict()
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in state.items() if "." not in k})
    head.load_state_dict(
        {k.removeprefix("head."): torch.from_numpy(state[k]) for k in state if "." in k}
    )
    assert_close(
        torch_predict(torch, rnn, head, x), model.predict(x), dtype, name="ours->torch", rtol=tol
    )

    # torch -> ours (tensors, some requiring grad, are accepted as they are)
    rnn, head = torch_model(torch, cell, nonlinearity, dtype, 2)
    ours = make_model(cell, nonlinearity, num_layers=2, dtype=dtype, seed=1)
    ours.load_state_dict(rnn.state_dict() | {f"head.{k}": v for k, v in head.named_parameters()})
    assert ours.num_parameters() == sum(p.numel() for p in [*rnn.parameters(), *head.parameters()])
    assert_close(
        ours.predict(x), torch_predict(torch, rnn, head, x), dtype, name="torch->ours", rtol=tol
    )


@cells
def test_gradients_match_torch_autograd(cell, nonlinearity):
    torch = pytest.importorskip("torch")
    model = make_model(cell, nonlinearity, num_layers=2, dtype=np.float64)
    rnn, head = torch_model(torch, cell, nonlinearity, np.float64, 2)
    state = model.state_dict()
    rnn.load_state_dict({k: torch.from_numpy(v) for k, v in state.items() if "." not in k})
    head.load_state_dict(
        {k.removeprefix("head."): torch.from_numpy(state[k]) for k in state if "." in k}
    )
    x, y = windows(), np.random.default_rng(9).standard_normal((N, OUT))

    out, _ = rnn(torch.from_numpy(x))
    torch.nn.functional.mse_loss(head(out[:, -1]), torch.from_numpy(y)).backward()
    _, d_pred = mse_and_grad(model.forward(x), y)
    grads = model.backward(d_pred)
    named = dict(rnn.named_parameters()) | {f"head.{k}": v for k, v in head.named_parameters()}
    for name, g in grads.items():
        assert_close(g, named[name].grad.numpy(), np.float64, name=name)


# ---------------------------------------------------------------------------- LSTM variants


@pytest.mark.parametrize("variant", ["nig", "cifg", "noaf"])
def test_an_lstm_variant_trains_its_own_cell_and_round_trips(variant, tmp_path):
    model = make_model("lstm", "tanh", num_layers=2, dtype=np.float64, variant=variant)
    assert model.recurrent.variant == variant
    x = windows()
    h = np.ascontiguousarray(x.transpose(1, 0, 2))
    for k in range(2):
        w = [model.params[f"{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h, h_n, *_ = reference.lstm_forward(h, None, None, *w, variant=variant)
    want = h_n @ model.params["head.weight"].T + model.params["head.bias"]
    assert_close(model.forward(x), want, np.float64, name="pred")
    clone = SequenceRegressor.from_config(json.loads(json.dumps(model.config())))
    clone.load_state_dict(model.state_dict())
    assert clone.recurrent.variant == variant
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_a_variant_is_the_lstms_and_a_bad_one_is_named():
    with pytest.raises(ValueError, match="variant='cifg' is a variant of the LSTM; cell='gru'"):
        SequenceRegressor("gru", variant="cifg")
    with pytest.raises(ValueError, match="variant must be one of vanilla, nig, nfg, nog, niaf"):
        LSTM(F, H, variant="peephole")
    # a configuration saved before variants existed is the vanilla LSTM
    config = make_model("lstm", "tanh").config()
    del config["variant"]
    assert SequenceRegressor.from_config(config).variant == "vanilla"
