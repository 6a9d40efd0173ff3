"""A first look: an LSTM from rnnkit.core learns to continue a sine wave.

Everything but the core is written out here in a few lines of NumPy (a linear
head on the last hidden state, mean squared error, Adam), so the demo shows
exactly what one training step asks of the core: one forward and one
backward call over the whole batch and sequence.
"""

import time

import numpy as np

from . import core


def sine_windows(n_windows, lookback, rng, noise=0.05, period=25.0):
    """Batch-first windows X (N, lookback, 1) of a noisy sine and the value after each, y (N, 1)."""
    t = np.arange(n_windows + lookback)
    series = np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(t.size)
    index = np.arange(lookback)[None, :] + np.arange(n_windows)[:, None]
    return series[index][..., None].astype(np.float32), series[lookback:, None].astype(np.float32)


def init_params(hidden, rng):
    """PyTorch's initialisation: every weight uniform in +-1/sqrt(hidden)."""
    bound = 1.0 / np.sqrt(hidden)
    shapes = {
        "w_ih": (4 * hidden, 1),
        "w_hh": (4 * hidden, hidden),
        "b_ih": (4 * hidden,),
        "b_hh": (4 * hidden,),
        "w_out": (1, hidden),
        "b_out": (1,),
    }
    return {k: rng.uniform(-bound, bound, s).astype(np.float32) for k, s in shapes.items()}


def loss_and_grads(params, x, y):
    """MSE of the forecast from the last hidden state, and its gradient for every parameter."""
    p = params
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))  # the core is time-major
    seq, h_n, _, gates, cells = core.lstm_forward(
        x_tm, None, None, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]
    )
    err = h_n @ p["w_out"].T + p["b_out"] - y
    d_pred = 2.0 * err / err.size
    _, _, _, dw_ih, dw_hh, db_ih, db_hh = core.lstm_backward(
        x_tm, None, None, p["w_ih"], p["w_hh"], seq, gates, cells, None, d_pred @ p["w_out"], None
    )
    grads = {
        "w_ih": dw_ih,
        "w_hh": dw_hh,
        "b_ih": db_ih,
        "b_hh": db_hh,
        "w_out": d_pred.T @ h_n,
        "b_out": d_pred.sum(axis=0),
    }
    return float(np.mean(err**2)), grads


def adam(params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """An Adam optimiser over a dict of arrays: call the returned step(grads)."""
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    count = [0]

    def step(grads):
        count[0] += 1
        for k, g in grads.items():
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            m_hat = m[k] / (1 - beta1 ** count[0])
            v_hat = v[k] / (1 - beta2 ** count[0])
            params[k] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(params[k].dtype)

    return step


def run(epochs=15, hidden=32, lookback=30, batch_size=64, lr=0.01, seed=0, log=print):
    """Train, printing the training and validation loss after each epoch; return both histories."""
    rng = np.random.default_rng(seed)
    x, y = sine_windows(1200, lookback, rng)
    # Validation is the last fifth in time: the model never trains on it.
    split = int(0.8 * len(x))
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    params = init_params(hidden, rng)
    step = adam(params, lr)
    train_hist, val_hist = [], []
    log(f"LSTM, hidden {hidden}, lookback {lookback}, {split} training windows of a noisy sine")
    log(f"{'epoch':>5} {'train MSE':>10} {'val MSE':>10} {'seconds':>8}")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(split)
        losses = []
        for first in range(0, split, batch_size):
            batch = order[first : first + batch_size]
            value, grads = loss_and_grads(params, x_train[batch], y_train[batch])
            step(grads)
            losses.append(value)
        train_hist.append(float(np.mean(losses)))
        val_hist.append(loss_and_grads(params, x_val, y_val)[0])
        seconds = time.perf_counter() - start
        log(f"{epoch:>5} {train_hist[-1]:>10.5f} {val_hist[-1]:>10.5f} {seconds:>8.3f}")
    return train_hist, val_hist
