"""The compiled optimizer updates against their NumPy twins, and their argument checks."""

import numpy as np
import pytest

from rnnkit import core, reference
from rnnkit.train import SGD, Adam, clip_grad_norm, grad_norm

SHAPES = [(7, 5), (5,), (1,), (33, 3)]

SETTINGS = {
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1, "step": 3},
    "sgd": {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.01},
    "nesterov": {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.0},
    "plain_sgd": {"lr": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "momentum": 0.5, "weight_decay": 0.0},
    "plain_rmsprop": {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0},
}


def arrays(rng, dtype, positive=False):
    out = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [np.abs(a) for a in out] if positive else out


def run(module, kind, params, grads, states, grad_scale):
    s = SETTINGS[kind]
    if kind == "adam":
        module.adam_step(params, grads, *states, **s, grad_scale=grad_scale)
    elif kind.endswith("sgd") or kind == "nesterov":
        buffers = states[0] if s["momentum"] else None
        module.sgd_step(params, grads, buffers, **s, grad_scale=grad_scale)
    else:
        buffers = states[1] if s["momentum"] else None
        module.rmsprop_step(params, grads, states[0], buffers, **s, grad_scale=grad_scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(SETTINGS))
@pytest.mark.parametrize("grad_scale", [1.0, 0.25])
def test_updates_match_the_reference(kind, dtype, grad_scale):
    rng = np.random.default_rng(3)
    params, grads = arrays(rng, dtype), arrays(rng, dtype)
    states = [arrays(rng, dtype), arrays(rng, dtype, positive=True)]
    if kind == "rmsprop" or kind == "plain_rmsprop":
        states = [states[1], states[0]]  # square averages are never negative
    ours = [[a.copy() for a in group] for group in (params, *states)]
    theirs = [[a.copy() for a in group] for group in (params, *states)]
    run(core, kind, ours[0], grads, ours[1:], grad_scale)
    run(reference, kind, theirs[0], grads, theirs[1:], grad_scale)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    for got, want in zip(ours, theirs, strict=True):
        for g, w in zip(got, want, strict=True):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2)
    assert not np.array_equal(ours[0][0], params[0])  # the parameters did move


def test_sum_of_squares_is_the_squared_norm_in_float64():
    rng = np.random.default_rng(0)
    mixed = [rng.standard_normal(100).astype(np.float32), rng.standard_normal((3, 4))]
    assert core.sum_of_squares(mixed) == pytest.approx(reference.sum_of_squares(mixed), rel=1e-12)
    # float32 squares of 1e30 overflow float32, not the float64 sum
    assert core.sum_of_squares([np.full(2, 1e30, np.float32)]) == pytest.approx(2e60, rel=1e-6)
    assert core.sum_of_squares([]) == 0.0
    strided = rng.standard_normal((6, 6))[::2, ::3]
    assert core.sum_of_squares([strided]) == pytest.approx(np.sum(strided**2), rel=1e-12)


def test_fit_style_clipping_through_grad_scale_equals_clipping_in_place():
    rng = np.random.default_rng(1)
    start = {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    grads = {k: 10 * rng.standard_normal(v.shape) for k, v in start.items()}
    fused, in_place = ({k: v.copy() for k, v in start.items()} for _ in range(2))
    norm = grad_norm(grads)
    Adam(lr=0.1).step(fused, grads, grad_scale=min(1.0, 1.0 / (norm + 1e-6)))
    clipped = {k: v.copy() for k, v in grads.items()}
    assert clip_grad_norm(clipped, 1.0) == pytest.approx(norm)
    Adam(lr=0.1).step(in_place, clipped)
    for k in start:
        np.testing.assert_allclose(fused[k], in_place[k], rtol=1e-12)


def test_adam_keeps_a_step_count_per_parameter():
    rng = np.random.default_rng(2)
    params = {"a": rng.standard_normal(3), "b": rng.standard_normal(3)}
    b_before = params["b"].copy()
    opt = Adam(lr=0.1)
    opt.step(params, {"a": np.ones(3)})
    opt.step(params, {"a": np.ones(3), "b": np.ones(3)})
    assert opt.state["a"]["step"] == 2
    assert opt.state["b"]["step"] == 1
    # b's first update, bias-corrected: a step of lr against the gradient's sign
    np.testing.assert_allclose(params["b"], b_before - 0.1, rtol=1e-6)


def test_a_parameter_that_cannot_be_updated_in_place_is_named():
    params = {"w": np.zeros((4, 4))[:, ::2]}
    with pytest.raises(ValueError, match=r"^params\['w'\] is updated in place"):
        SGD(lr=0.1).step(params, {"w": np.ones((4, 2))})


def test_the_optimizer_casts_gradients_to_the_parameters_dtype():
    params = {"w": np.ones(4, np.float32)}
    SGD(lr=0.5).step(params, {"w": np.ones(4, np.float64)})
    assert params["w"].dtype == np.float32
    np.testing.assert_array_equal(params["w"], 0.5)


def good(dtype=np.float64):
    return [np.zeros((2, 3), dtype)], [np.ones((2, 3), dtype)]


ADAM = {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "step": 1}


def adam(params, grads, m=None, v=None, **changes):
    m = [np.zeros_like(p) for p in params] if m is None else m
    v = [np.zeros_like(p) for p in params] if v is None else v
    core.adam_step(params, grads, m, v, **(ADAM | changes))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: adam([], []), ValueError, r"^adam_step: params must hold at least one array$"),
        (lambda: adam(np.zeros(3), [np.zeros(3)]), TypeError, r"params must be a list of numpy"),
        (lambda: adam([np.zeros(3)], [np.zeros(3)], m=[]), ValueError,
         r"exp_avgs must hold one array per parameter \(1\), got 0"),
        (lambda: adam([np.zeros(3, np.int64)], [np.zeros(3)]), TypeError,
         r"params\[0\] must have dtype float32 or float64, got int64"),
        (lambda: adam(*good(), v=[np.zeros((2, 3), np.float32)]), TypeError,
         r"exp_avg_sqs\[0\] has dtype float32 but params\[0\] has float64"),
        (lambda: adam([np.zeros(3)], [np.zeros(4)]), ValueError,
         r"grads\[0\] must have the shape of params\[0\], \(3,\), got \(4,\)"),
        (lambda: adam([np.zeros((4, 4))[:, ::2]], [np.zeros((4, 2))]), ValueError,
         r"params\[0\] is updated in place and must be a C-contiguous, writeable array"),
        (lambda: adam([np.zeros(3)], [np.zeros(3)], m=[np.zeros(3)[::1].copy()],
                      v=[np.broadcast_to(np.zeros(1), (3,))]), ValueError,
         r"exp_avg_sqs\[0\] is updated in place"),
        (lambda: adam(*good(), step=0), ValueError, r"step must be at least 1"),
        (lambda: adam(*good(), lr=-0.1), ValueError, r"lr must be a finite number in \[0"),
        (lambda: adam(*good(), beta1=1.0), ValueError, r"beta1 must be a finite number in \[0"),
        (lambda: adam(*good(), eps=float("nan")), ValueError, r"eps must be a finite number"),
        (lambda: core.sgd_step(*good(), None, lr=0.1, momentum=0.9, nesterov=False,
                               weight_decay=0.0), TypeError,
         r"^sgd_step: momentum_buffers must be a list of numpy.ndarray, got None$"),
        (lambda: core.rmsprop_step(*good(), None, None, lr=0.1, alpha=0.9, eps=1e-8,
                                   momentum=0.0, weight_decay=0.0), TypeError,
         r"square_avgs must be a list of numpy.ndarray, got None"),
        (lambda: core.sum_of_squares([np.zeros(2, np.int32)]), TypeError,
         r"^sum_of_squares: arrays\[0\] must have dtype float32 or float64, got int32$"),
        (lambda: core.sum_of_squares("abc"), TypeError, r"arrays must be a list"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_before_anything_changes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_refused_step_changes_nothing():
    params = [np.ones(3), np.ones(4)]
    grads = [np.ones(3), np.ones(5)]  # the second is wrong: the first must not move either
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        adam(params, grads)
    np.testing.assert_array_equal(params[0], 1.0)
