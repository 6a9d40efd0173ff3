"""Training: optimizers, gradient clipping, losses, and :func:`fit`.

The trainer asks little of a model (``rnnkit.models.SequenceRegressor`` has it
all): ``params``, a dict of named float arrays that optimizers update in place;
``forward(X, training=False)`` returning predictions (N, outputs); and
``backward(d_pred)`` returning gradients keyed like ``params`` for the last
forward call; validation runs ``predict(X)`` instead of ``forward`` where the model has
it (the forward-only kernels, which keep nothing for a backward pass). Stateful training (``fit(..., stateful=True, tbptt=k)``) asks for their
sequence twins instead: ``forward_sequence(X, state, training)`` returning
predictions at every step (N, T, outputs) and the final state,
``backward_sequence(d_pred)``, and ``predict_sequence(X, state)`` for validation.

Optimizers follow PyTorch's update rules exactly (``torch.optim.SGD``, ``Adam``,
``RMSprop``), so a run can be checked step by step against torch.
"""

import functools
import math
import sys
import threading
import time
import weakref

import numpy as np

from . import _progress, core
from ._checks import (
    check_bool,
    check_int,
    check_number,
    check_positive,
    check_quantiles,
    float_array,
)
from .models import INFERENCE_BATCH

__all__ = [
    "LOSSES",
    "SGD",
    "Adam",
    "History",
    "Optimizer",
    "PinballLoss",
    "RMSprop",
    "clip_grad_norm",
    "evaluate",
    "fit",
    "grad_norm",
    "mae_loss",
    "make_optimizer",
    "mse_loss",
]


# ---------------------------------------------------------------------------- optimizers


class Optimizer:
    """Base class: ``step(params, grads)`` updates every array of params named in grads in place.

    Every update is one call to the compiled core over all parameters at once
    (``rnnkit.core.adam_step`` and its siblings), each element read and written
    once, with the clipping coefficient and weight decay folded in. Subclasses
    implement ``_update(params, grads, states, grad_scale)`` with ``states`` one
    dict per parameter, kept per name (moments, step counts). ``lr`` may be
    changed between steps (the plateau schedule of :func:`fit` does).
    """

    def __init__(self, lr, weight_decay=0.0):
        # 0 would train nothing and report the initial weights as a trained model
        self.lr = check_positive("lr", lr)
        self.weight_decay = check_number("weight_decay", weight_decay)
        self.state = {}

    def step(self, params, grads, grad_scale=1.0):
        """Update ``params[name]`` in place for every ``name`` in grads.

        Parameters
        ----------
        params : dict of str to ndarray
            C-contiguous, writeable float arrays of one dtype.
        grads : dict of str to array_like
            Gradients, shaped like their parameters (cast to their dtype).
        grad_scale : float
            Multiplies every gradient first: how :func:`fit` applies gradient
            clipping without a separate pass.

        Weight decay (L2, as PyTorch: ``g + weight_decay * p``) applies to every
        parameter given, biases included.
        """
        grad_scale = check_number("grad_scale", grad_scale)
        ps, gs = [], []
        for name, g in grads.items():
            p = params[name]
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}] has shape {g.shape}, params has {p.shape}")
            if not (p.flags.c_contiguous and p.flags.writeable):
                raise ValueError(
                    f"params[{name!r}] is updated in place and must be a C-contiguous, "
                    "writeable array"
                )
            ps.append(p)
            gs.append(g)
        if ps:
            self._update(ps, gs, [self.state.setdefault(n, {}) for n in grads], grad_scale)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "state")
        return f"{type(self).__name__}({args})"


def _buffers(states, key, params):
    """states[i][key], created as zeros like params[i] on first use."""
    for st, p in zip(states, params, strict=True):
        if key not in st:
            st[key] = np.zeros_like(p)
    return [st[key] for st in states]


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    ``b = momentum * b + g`` (``b = g`` on the first step), then
    ``p -= lr * (g + momentum * b)`` with Nesterov, ``p -= lr * b`` without.
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = check_number("momentum", momentum)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, params, grads, states, grad_scale):
        buffers = _buffers(states, "momentum_buffer", params) if self.momentum else None
        core.sgd_step(
            params, grads, buffers, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov,
            weight_decay=self.weight_decay, grad_scale=grad_scale,
        )  # fmt: skip


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam`` (L2 weight decay, not AdamW).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2`` and after t steps
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = tuple(
            check_number(f"betas[{i}]", b, high=1.0, high_open=True) for i, b in enumerate(betas)
        )
        self.eps = check_number("eps", eps)

    def _update(self, params, grads, states, grad_scale):
        exp_avgs = _buffers(states, "exp_avg", params)
        exp_avg_sqs = _buffers(states, "exp_avg_sq", params)
        for st in states:
            st["step"] = st.get("step", 0) + 1
        # Parameters first updated at different times have their own step counts.
        for step in sorted({st["step"] for st in states}):
            group = [i for i, st in enumerate(states) if st["step"] == step]
            core.adam_step(
                [params[i] for i in group], [grads[i] for i in group],
                [exp_avgs[i] for i in group], [exp_avg_sqs[i] for i in group],
                lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                weight_decay=self.weight_decay, step=step, grad_scale=grad_scale,
            )  # fmt: skip


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (not centered).

    ``s = alpha s + (1 - alpha) g^2``; ``p -= lr * g / (sqrt(s) + eps)``, or with
    momentum ``b = momentum b + g / (sqrt(s) + eps)``, ``p -= lr * b``.
    """

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = check_number("alpha", alpha, high=1.0)
        self.eps = check_number("eps", eps)
        self.momentum = check_number("momentum", momentum)

    def _update(self, params, grads, states, grad_scale):
        square_avgs = _buffers(states, "square_avg", params)
        buffers = _buffers(states, "momentum_buffer", params) if self.momentum else None
        core.rmsprop_step(
            params, grads, square_avgs, buffers, lr=self.lr, alpha=self.alpha, eps=self.eps,
            momentum=self.momentum, weight_decay=self.weight_decay, grad_scale=grad_scale,
        )  # fmt: skip


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def make_optimizer(name_or_instance, lr):
    """An optimizer from its name (``"sgd"``, ``"adam"``, ``"rmsprop"``) and learning rate.

    An :class:`Optimizer` instance is returned as it is, with its own ``lr``.
    """
    if isinstance(name_or_instance, Optimizer):
        return name_or_instance
    if isinstance(name_or_instance, str) and name_or_instance.lower() in OPTIMIZERS:
        return OPTIMIZERS[name_or_instance.lower()](lr=lr)
    raise ValueError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer instance, "
        f"got {name_or_instance!r}"
    )


def grad_norm(grads):
    """The global L2 norm of all gradients together (squares summed in float64)."""
    return math.sqrt(core.sum_of_squares([np.asarray(g) for g in grads.values()]))


def _clip_coefficient(norm, max_norm):
    """What clipping multiplies the gradients by: ``max_norm / (norm + 1e-6)``, at most 1."""
    return min(1.0, max_norm / (norm + 1e-6))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients in place so that their global L2 norm is at most max_norm.

    As ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all arrays
    together and, when it exceeds max_norm, every array is multiplied by
    ``max_norm / (norm + 1e-6)``. A non-finite norm leaves the gradients alone
    (the caller decides what to do; :func:`fit` stops). :func:`fit` itself
    passes the coefficient to the optimizer's step instead, saving a pass.

    Returns
    -------
    float
        The global norm before clipping.
    """
    max_norm = check_number("max_norm", max_norm)
    total = grad_norm(grads)
    coef = _clip_coefficient(total, max_norm)
    if math.isfinite(total) and coef < 1:
        for g in grads.values():
            g *= g.dtype.type(coef)
    return total


# ---------------------------------------------------------------------------- losses


def mse_loss(pred, target):
    """Mean squared error over all elements, and its gradient w.r.t. pred (pred's dtype)."""
    err = pred - target
    return float(np.mean(np.square(err, dtype=np.float64))), err * (2.0 / err.size)


def mae_loss(pred, target):
    """Mean absolute error over all elements, and its (sub)gradient w.r.t. pred (0 at ties)."""
    err = pred - target
    return float(np.mean(np.abs(err), dtype=np.float64)), np.sign(err) / err.size


LOSSES = {"mse": mse_loss, "mae": mae_loss}


class PinballLoss:
    """The pinball (quantile) loss over ``quantiles``: a head of ``Q = len(quantiles)``
    outputs per target learns every quantile at once.

    Called as ``loss(pred, target)`` with pred (N, k * Q), the Q quantiles of each of the
    k targets side by side (target-major: ``pred.reshape(N, k, Q)``), and target (N, k).
    The value is ``mean(max(q u, (q - 1) u))`` over every target and level, with
    ``u = target - pred``; its gradient w.r.t. pred is ``-(q - [u < 0]) / size``.

    Parameters
    ----------
    quantiles : list of float
        Strictly increasing levels in (0, 1), 0.5 among them (the point forecast).
    """

    def __init__(self, quantiles):
        self.quantiles = check_quantiles("quantiles", quantiles)
        self.outputs_per_target = len(self.quantiles)

    def __call__(self, pred, target):
        Q = self.outputs_per_target
        u = target[:, :, None] - pred.reshape(len(pred), -1, Q)
        q = np.asarray(self.quantiles, dtype=pred.dtype)
        losses = np.maximum(q * u, (q - 1) * u)
        grad = ((u < 0).astype(pred.dtype) - q) / pred.dtype.type(u.size)
        return float(np.mean(losses, dtype=np.float64)), grad.reshape(pred.shape)

    def __repr__(self):
        return f"PinballLoss({list(self.quantiles)})"


def _loss_function(loss):
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]
    raise ValueError(
        f"loss must be one of {sorted(LOSSES)} or a callable (pred, target) -> (value, grad), "
        f"got {loss!r}"
    )


def _batch_loss(loss_fn, pred, target):
    # a quantile loss reads several outputs per target (PinballLoss)
    per_target = getattr(loss_fn, "outputs_per_target", 1)
    if pred.shape != (len(target), target.shape[1] * per_target):
        raise ValueError(
            f"y must have {pred.shape[1] // per_target} column(s) per window, the model's "
            f"outputs{f' over {per_target} quantiles' if per_target > 1 else ''}; "
            f"got a batch of shape {target.shape}"
        )
    return loss_fn(pred, target)


def evaluate(model, X, y, loss="mse", batch_size=INFERENCE_BATCH):
    """The loss of the model's predictions (no dropout) over all windows, in batches.

    Parameters
    ----------
    model
        Has ``forward(X, training=False)``, or better ``predict(X)``, which runs the
        forward-only kernels and keeps nothing for a backward pass (and leaves what the
        last ``forward`` kept in place).
    X : ndarray (N, T, F)
    y : ndarray (N, outputs) or (N,)
    loss : {"mse", "mae"} or callable
    batch_size : int
        Windows per call, to bound memory.

    Returns
    -------
    float
        The mean over all elements (batch losses weighted by batch size).
    """
    loss_fn = _loss_function(loss)
    batch_size = check_int("batch_size", batch_size)
    X, y = _check_data(X, y, _model_dtype(model), "X", "y")
    predict = getattr(model, "predict", None) or functools.partial(model.forward, training=False)
    total = 0.0
    for start in range(0, len(X), batch_size):
        stop = start + batch_size
        value, _ = _batch_loss(loss_fn, predict(X[start:stop]), y[start:stop])
        total += value * len(X[start:stop])
    return total / len(X)


# ---------------------------------------------------------------------------- fit


class History:
    """What happened in :func:`fit`, one entry per epoch (epochs are counted from 1).

    Attributes
    ----------
    train_loss : list of float
        Mean training loss over the epoch's batches (non-finite for an epoch
        stopped by a NaN or inf loss).
    val_loss : list of float
        Validation loss after each epoch; empty without validation data.
    lr : list of float
        Learning rate used during each epoch.
    epoch_time : list of float
        Seconds per epoch, validation included.
    monitor : str
        ``"val_loss"`` or ``"train_loss"``: what early stopping watched.
    best_epoch : int
        Epoch with the lowest monitored loss (0: none finished with a finite loss).
    stopped_epoch : int
        Last epoch run.
    stop_reason : str
        Why training ended: starts with ``"completed"``, ``"early stopping"``,
        ``"non-finite"``, ``"callback"`` or ``"interrupted"``.
    """

    _PER_EPOCH = ("train_loss", "val_loss", "lr", "epoch_time")  # the lists, one entry an epoch

    def __init__(self, monitor="val_loss"):
        self.train_loss, self.val_loss, self.lr, self.epoch_time = [], [], [], []
        self.monitor = monitor
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.stop_reason = ""

    @property
    def best_loss(self):
        """The monitored loss at best_epoch (inf before any finite epoch)."""
        losses = getattr(self, self.monitor)
        return losses[self.best_epoch - 1] if self.best_epoch else math.inf

    def to_state(self):
        """Everything as a JSON-safe dict; :meth:`from_state` reads it back."""
        return {
            **{name: list(getattr(self, name)) for name in self._PER_EPOCH},
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
        }

    def truncate(self, epochs):
        """Keep the record of the first ``epochs`` epochs only (an interrupted one is dropped)."""
        for name in self._PER_EPOCH:
            del getattr(self, name)[epochs:]
        self.stopped_epoch = min(self.stopped_epoch, epochs)

    @classmethod
    def from_state(cls, state):
        """The History that :meth:`to_state` described."""
        history = cls(str(state["monitor"]))
        for name in cls._PER_EPOCH:
            setattr(history, name, [float(v) for v in state[name]])
        history.best_epoch = int(state["best_epoch"])
        history.stopped_epoch = int(state["stopped_epoch"])
        history.stop_reason = str(state["stop_reason"])
        return history

    def as_frame(self):
        """The per-epoch lists as a pandas DataFrame indexed by epoch (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "pandas is needed for History.as_frame: pip install 'rnnkit[pandas]'"
            ) from err
        columns = {"train_loss": self.train_loss, "val_loss": self.val_loss}
        columns |= {"lr": self.lr, "epoch_time": self.epoch_time}
        index = pd.RangeIndex(1, len(self.train_loss) + 1, name="epoch")
        return pd.DataFrame({k: v for k, v in columns.items() if v}, index=index)

    def __repr__(self):
        return (
            f"History({len(self.train_loss)} epochs, best_epoch={self.best_epoch}, "
            f"stop_reason={self.stop_reason!r})"
        )


def _model_dtype(model):
    try:
        return next(iter(model.params.values())).dtype
    except (AttributeError, StopIteration) as err:
        raise TypeError("model must have a non-empty dict of arrays `params`") from err


def _check_data(X, y, dtype, x_name, y_name):
    """X (N, T, F) and y (N, outputs) in the model's dtype (a 1-D y becomes one column).

    Windows that are NumPy floats already stay as they came, a strided view of a series
    included: each batch is gathered and converted on its own, so memory follows the
    series, not its windows times their length.
    """
    if not (isinstance(X, np.ndarray) and X.dtype.kind == "f"):
        X = float_array(x_name, X, dtype)
    y = float_array(y_name, y, dtype)
    if X.ndim != 3 or len(X) == 0:
        raise ValueError(f"{x_name} must be windows of shape (N, T, F) with N >= 1, got {X.shape}")
    return X, _targets(y, len(X), y_name, f"one row per window of {x_name}")


def _check_rows(X, y, dtype, x_name, y_name):
    """Stateful data: rows X (n, F) in time order and targets y (n, outputs) in the model's
    dtype (a 1-D y becomes one column)."""
    X, y = float_array(x_name, X, dtype), float_array(y_name, y, dtype)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(
            f"{x_name} must be rows of shape (n, F) in time order with n >= 1 for "
            f"stateful=True, got shape {X.shape}"
        )
    return X, _targets(y, len(X), y_name, f"the targets of each row of {x_name}")


def _targets(y, n, y_name, what):
    """Targets y (n, outputs), a 1-D y as one column; else an error saying they are ``what``."""
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or len(y) != n:
        raise ValueError(
            f"{y_name} must have shape ({n}, outputs) or ({n},), {what}; got {y.shape}"
        )
    return y


def _check_validation(validation_data, dtype, check=_check_data):
    if validation_data is None:
        return None
    if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
        raise TypeError(
            f"validation_data must be a pair (X_val, y_val) or None, got "
            f"{type(validation_data).__name__}"
        )
    return check(*validation_data, dtype, "validation_data[0]", "validation_data[1]")


def check_streams(rows, batch_size, tbptt):
    """The rows per stream of stateful training, or an error naming ``batch_size`` or
    ``tbptt``: ``batch_size`` streams of ``rows // batch_size`` rows each, read in chunks of
    ``tbptt`` steps, which must fit in a stream."""
    if batch_size > rows:
        raise ValueError(
            f"batch_size must be at most {rows}, the training rows, with stateful=True (it "
            f"is the number of streams the rows are cut into), got {batch_size}"
        )
    per_stream = rows // batch_size
    if tbptt > per_stream:
        raise ValueError(
            f"tbptt must be at most {per_stream}, the rows per stream ({rows} training rows "
            f"cut into batch_size={batch_size} streams), got {tbptt}: give a shorter tbptt "
            "or fewer streams"
        )
    return per_stream


class _Plateau:
    """Reduce-on-plateau: multiply lr by factor after ``patience`` epochs without improvement."""

    def __init__(self, factor=0.5, patience=5, min_lr=1e-6):
        self.factor = check_number("reduce_lr_on_plateau['factor']", factor, high=1.0)
        self.patience = check_int("reduce_lr_on_plateau['patience']", patience)
        self.min_lr = check_number("reduce_lr_on_plateau['min_lr']", min_lr)
        self.wait = 0

    @classmethod
    def from_arg(cls, arg):
        """None or False: no schedule; True: the defaults; a dict: some of the keywords."""
        if arg is None or arg is False:
            return None
        if arg is True:
            return cls()
        if isinstance(arg, dict):
            unknown = set(arg) - {"factor", "patience", "min_lr"}
            if unknown:
                raise ValueError(
                    f"reduce_lr_on_plateau accepts keys factor, patience, min_lr; "
                    f"got unknown {sorted(unknown)}"
                )
            return cls(**arg)
        raise TypeError(f"reduce_lr_on_plateau must be None, True or a dict, got {arg!r}")

    def update(self, improved, optimizer):
        """Count an epoch; lower the optimizer's lr when the plateau is long enough."""
        self.wait = 0 if improved else self.wait + 1
        if self.wait >= self.patience:
            optimizer.lr = max(optimizer.lr * self.factor, self.min_lr)
            self.wait = 0


class _Progress:
    """A tqdm bar over epochs (stderr), or one printed line per epoch without tqdm."""

    def __init__(self, epochs, verbose, desc):
        self.epochs, self.verbose, self.desc = epochs, verbose, desc
        self.bar = _progress.bar(epochs, desc, "epoch") if verbose >= 1 else None

    def epoch(self, epoch, history):
        if self.verbose < 1:
            return
        fields = {"train": history.train_loss[-1]}
        if history.val_loss:
            fields["val"] = history.val_loss[-1]
        fields["lr"] = history.lr[-1]
        text = ", ".join(f"{k}={v:.4g}" for k, v in fields.items())
        if self.bar is None:
            width = len(str(self.epochs))
            print(f"{self.desc} epoch {epoch:>{width}}/{self.epochs}: {text}", file=sys.stderr)
        else:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)

    def close(self, history):
        if self.bar is not None:
            self.bar.close()
        if self.verbose >= 1 and history.stop_reason:
            print(f"{self.desc}: {history.stop_reason}", file=sys.stderr)


def _window_batches(model, X, y, order, batch_size):
    """Windowed training: the windows in ``order``, ``batch_size`` at a time; yields each
    batch's (predictions, targets), its forward run when the batch is asked for."""
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        yield model.forward(X[batch], training=True), y[batch]


def _stream_batches(model, X, y, tbptt):
    """Stateful training: streams X (B, m, F) and their targets y (B, m, outputs) read in
    order, ``tbptt`` steps at a time (the last chunk may be shorter); yields each chunk's
    (predictions, targets) with the steps of all streams as rows. Each chunk starts from
    the state the previous one ended in, zeros for the first: the forward of a chunk runs
    when it is asked for, after the optimizer stepped on the one before."""
    state = None
    for start in range(0, X.shape[1], tbptt):
        chunk = slice(start, start + tbptt)
        pred, state = model.forward_sequence(X[:, chunk], state, training=True)
        yield pred.reshape(-1, pred.shape[-1]), y[:, chunk].reshape(-1, y.shape[-1])


def _stream_backward(model, streams):
    """The backward of a chunk of :func:`_stream_batches`, rows back to (streams, steps)."""
    return lambda d_pred: model.backward_sequence(d_pred.reshape(streams, -1, d_pred.shape[-1]))


def _train_epoch(model, batches, backward, optimizer, loss_fn, clip_norm):
    """One pass over the batches, each (predictions, targets) with ``backward`` giving the
    gradients of its forward; (mean loss, None) or (bad value, where it went bad)."""
    total, count = 0.0, 0
    for number, (pred, target) in enumerate(batches, start=1):
        value, d_pred = _batch_loss(loss_fn, pred, target)
        if not math.isfinite(value):
            return value, f"training loss {value} in batch {number}"
        grads = backward(d_pred)
        scale = 1.0
        if clip_norm is not None:
            norm = grad_norm(grads)
            if not math.isfinite(norm):
                return math.nan, f"gradient norm {norm} in batch {number}"
            scale = _clip_coefficient(norm, clip_norm)
        optimizer.step(model.params, grads, grad_scale=scale)
        total += value * len(target)
        count += len(target)
    return total / count, None


def _epoch(model, batches, backward, validate, optimizer, loss_fn, clip_norm):
    """Train one epoch, then ``validate()`` (None: no validation): (train loss, val loss or
    None, problem or None).

    A problem names what became NaN or inf; the validation loss is then NaN.
    """
    # A diverging run overflows; that is detected and reported through the returned
    # problem, so numpy's floating-point warnings would only be noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        train_loss, problem = _train_epoch(model, batches, backward, optimizer, loss_fn, clip_norm)
        # the last step can leave inf weights behind a finite loss
        if problem is None and not all(np.isfinite(p).all() for p in model.params.values()):
            problem = "parameters after the last batch"
        if validate is None:
            return train_loss, None, problem
        if problem is not None:
            return train_loss, math.nan, problem
        return train_loss, validate(), None


def _continued_loss(model, X, val, loss_fn):
    """The loss over validation rows read as one stream that continues the state at the end
    of the training rows X: the current weights read X from a zero state first, no dropout.
    Only rows up to each forecast's own are read: never the future."""
    X_val, y_val = val
    _, state = model.predict_sequence(X[None])
    pred, _ = model.predict_sequence(X_val[None], state)
    value, _ = _batch_loss(loss_fn, pred[0], y_val)
    return value


def _finish(model, history, best, restore_best_weights):
    """Restore the best parameters when asked (always after a NaN) and complete stop_reason."""
    untrusted = history.stop_reason.startswith(("non-finite", "interrupted"))
    restore = untrusted or restore_best_weights
    if restore:
        for name, p in model.params.items():
            p[...] = best[name]
    if history.best_epoch:
        history.stop_reason += (
            f"; best {history.monitor} {history.best_loss:.6g} at epoch {history.best_epoch}"
        )
        if restore:
            history.stop_reason += ", its weights restored"
    elif untrusted:
        history.stop_reason += "; the initial weights restored"


# The claims of the fits running now, by id of their model, and the lock that guards them
# (see _OneTrainer). Weak: a claim lives as long as its _OneTrainer.
_TRAINING = weakref.WeakValueDictionary()
_TRAINING_GUARD = threading.Lock()


class _OneTrainer:
    """Holds a model for one fit at a time; a second concurrent fit is refused at once.

    Two fits interleaving on one model would mix their forward/backward activations and
    in-place parameter updates and fail deep inside with a shape error (or, worse, train
    garbage). The claim is an entry in a table keyed by model id rather than a lock stored
    on the model, so models of any class are covered and pickling or copying a model (as
    scikit-learn does) is unaffected. The claim holds the model, so that its id cannot be
    reused by another object while the claim lives.

    The table holds the claim weakly: a Ctrl-C that lands inside ``__enter__`` after the
    claim is made, or inside ``__exit__`` before it is dropped (no Python code can close
    those windows), leaves the claim referenced by the interrupt's traceback alone, and it
    goes with the traceback. A plain set of ids kept such a model refused by every later
    fit in the process as "being trained in another thread".
    """

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        # Non-blocking: waiting for the other fit would then train on its results.
        with _TRAINING_GUARD:
            if _TRAINING.get(id(self.model)) is not None:
                raise RuntimeError(
                    "this model is being trained in another thread (or by the fit whose "
                    "callback started this one): one model takes one fit at a time; to train "
                    "in parallel, fit copies, e.g. copy.deepcopy(model)"
                )
            _TRAINING[id(self.model)] = self
        return self

    def __exit__(self, *exc):
        # Runs on every way out of fit, KeyboardInterrupt included.
        with _TRAINING_GUARD:
            if _TRAINING.get(id(self.model)) is self:
                del _TRAINING[id(self.model)]
        return False


def check_settings(
    epochs=100, batch_size=32, optimizer="adam", lr=1e-3, loss="mse", clip_norm=1.0,
    patience=10, verbose=1, reduce_lr_on_plateau=None, callbacks=None, stateful=False,
    tbptt=None,
):  # fmt: skip
    """:func:`fit`'s settings checked, before any data is looked at: (epochs, batch_size,
    the optimizer, the loss function, clip_norm, patience, the plateau rule or None,
    the callbacks, stateful, tbptt). Whether ``tbptt`` fits the training rows is
    :func:`check_streams`'s to say."""
    if check_bool("stateful", stateful):
        if tbptt is None:
            raise ValueError(
                "tbptt must be an int >= 1, the steps of each truncated-BPTT chunk, with "
                "stateful=True; got None"
            )
        tbptt = check_int("tbptt", tbptt)
    elif tbptt is not None:
        raise ValueError(
            f"tbptt={tbptt!r} applies to stateful training only: pass stateful=True too, or "
            "leave tbptt None"
        )
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)
    if clip_norm is not None:
        clip_norm = check_positive("clip_norm", clip_norm)  # None, not 0, means no clipping
    if patience is not None:
        patience = check_int("patience", patience)
    if not isinstance(verbose, int):
        raise TypeError(f"verbose must be an int, got {type(verbose).__name__}")
    callbacks = [] if callbacks is None else callbacks
    if not isinstance(callbacks, list | tuple) or not all(callable(c) for c in callbacks):
        raise TypeError("callbacks must be a list of callables (epoch, history) -> bool")
    loss_fn = _loss_function(loss)
    optimizer = make_optimizer(optimizer, lr)
    plateau = _Plateau.from_arg(reduce_lr_on_plateau)
    return (
        epochs, batch_size, optimizer, loss_fn, clip_norm, patience, plateau, callbacks, stateful,
        tbptt,
    )  # fmt: skip


def fit(
    model,
    X,
    y,
    validation_data=None,
    epochs=100,
    batch_size=32,
    optimizer="adam",
    lr=1e-3,
    loss="mse",
    clip_norm=1.0,
    patience=10,
    restore_best_weights=True,
    reduce_lr_on_plateau=None,
    shuffle=True,
    seed=0,
    verbose=1,
    callbacks=None,
    stateful=False,
    tbptt=None,
):
    """Train a model on windows with mini-batches, early stopping and a progress bar; or,
    with ``stateful=True``, on rows in time order by truncated backpropagation through time.

    Parameters
    ----------
    model
        Has ``params``, ``forward(X, training)`` and ``backward(d_pred)``, like
        :class:`rnnkit.models.SequenceRegressor`. Trained in place; its
        ``release_activations()``, if it has one, is called when training ends.
    X : array_like (N, T, F), or (n, F) with ``stateful=True``
        Training windows, batch-first; stateful: the training rows in time order.
    y : array_like (N, outputs) or (N,)
        Targets, one row per window; stateful: one row per row of X, ``y[t]`` what the
        forecast made after reading rows 0..t should give.
    validation_data : (X_val, y_val) or None
        Monitored by early stopping and the plateau schedule; without it the
        training loss is monitored. Stateful: the rows right after X's and their
        targets (see Notes).
    epochs : int
        Most passes over the training windows.
    batch_size : int
        Windows per optimizer step; stateful: the number B of contiguous streams the
        rows are cut into, read side by side (one chunk of each per step).
    optimizer : {"adam", "sgd", "rmsprop"} or Optimizer
    lr : float
        Learning rate of a named optimizer (an instance keeps its own).
    loss : {"mse", "mae"} or callable
        A callable takes (pred, target) and returns (value, dvalue/dpred).
        :class:`PinballLoss` trains a head of several quantiles per target.
    clip_norm : float or None
        Clip the global gradient norm of every step to this (None: no clipping).
    patience : int or None
        Stop after this many epochs without a lower monitored loss (None: never).
    restore_best_weights : bool
        At the end, copy back the parameters of the best epoch.
    reduce_lr_on_plateau : None, True or dict
        Multiply lr by ``factor`` (0.5) after ``patience`` (5) epochs without
        improvement, down to ``min_lr`` (1e-6); True uses those defaults.
    shuffle : bool
        Shuffle the training windows every epoch (they never mix with
        validation windows). Stateful training reads its chunks in order: no effect.
    seed : int or None
        Seeds the shuffling. With the model's own seed (weights, dropout) and
        one core thread (``rnnkit.set_num_threads(1)``) a run is bit-reproducible.
    verbose : int
        0 silent; 1 a tqdm progress bar over epochs if tqdm is installed (else
        one line per epoch) and a closing line; everything goes to stderr.
    callbacks : list of callable or None
        Each is called after every epoch as ``callback(epoch, history)``; one
        returning True stops training.
    stateful : bool
        Train on rows in time order, carrying the network's state (see Notes).
    tbptt : int or None
        With ``stateful=True``, the steps of each chunk of truncated BPTT: at least 1, at
        most the rows per stream. Must be None otherwise.

    Returns
    -------
    History

    Notes
    -----
    Stateful training: the n rows are cut into ``batch_size`` contiguous streams of
    m = n // batch_size rows (the first n - B m rows, fewer than B, are left out),
    stream b reading rows ``n - B m + b m`` onwards. Every epoch starts them all from a
    zero state and reads them side by side in chunks of ``tbptt`` steps, in order (the
    last chunk may be shorter); each chunk starts from the state the previous chunk
    ended in, with the gradient stopped there, and is one optimizer step on the mean
    loss of its predictions at every step. The validation loss is taken on the
    validation rows read as one stream continuing from the end of the training rows:
    the current weights read all n training rows from a zero state, then the
    validation rows, each forecast made from the rows up to its own only. Errors about
    ``tbptt`` (0, too long, given without ``stateful``) come before any training.

    A NaN or inf training loss (or gradient norm, or validation loss) stops
    training at once: ``History.stop_reason`` says where, and the parameters of
    the best epoch (or the initial ones if none finished) are restored whatever
    ``restore_best_weights`` says, since the current ones are not trustworthy.
    Warnings are never used for this.

    An interrupt (Ctrl-C's KeyboardInterrupt) or an exception raised by a callback
    also restores the best epoch's parameters (or the initial ones), records
    ``"interrupted at epoch N"`` in the history, attaches the History to the
    exception as ``err.history``, and lets the exception go on, so a script stops.

    One model takes one fit at a time: a fit started while another is training the
    same model object raises RuntimeError at once and leaves the model alone.
    Predicting from other threads meanwhile is allowed (it sees the weights as the
    training leaves them at that moment).
    """
    dtype = _model_dtype(model)
    (
        epochs, batch_size, optimizer, loss_fn, clip_norm, patience, plateau, callbacks, stateful,
        tbptt,
    ) = check_settings(
        epochs, batch_size, optimizer, lr, loss, clip_norm, patience, verbose,
        reduce_lr_on_plateau, callbacks, stateful, tbptt,
    )  # fmt: skip
    check = _check_rows if stateful else _check_data
    X, y = check(X, y, dtype, "X", "y")
    val = _check_validation(validation_data, dtype, check)
    rng = np.random.default_rng(seed)
    validate = None  # without validation data, the training loss is monitored
    if stateful:
        per_stream = check_streams(len(X), batch_size, tbptt)
        # the newest B m rows, as B contiguous streams: views, (B, m, F) and (B, m, outputs)
        kept = slice(len(X) - batch_size * per_stream, None)
        streams = X[kept].reshape(batch_size, per_stream, -1)
        stream_y = y[kept].reshape(batch_size, per_stream, -1)
        backward = _stream_backward(model, batch_size)
        if val is not None:
            validate = functools.partial(_continued_loss, model, X, val, loss_fn)
    else:
        backward = model.backward
        if val is not None:
            batch = max(batch_size, INFERENCE_BATCH)
            validate = functools.partial(evaluate, model, *val, loss_fn, batch)

    with _OneTrainer(model):
        history = History("val_loss" if val is not None else "train_loss")
        # The best epoch so far (0: none) and its parameters, starting with the initial ones:
        # a NaN in the first epoch must still leave finite weights behind. One tuple, replaced
        # whole by one assignment, never copied into: an interrupt can neither leave a mix of
        # two epochs' weights behind nor part the weights from their epoch's number.
        best = (0, {name: p.copy() for name, p in model.params.items()})
        progress = _Progress(epochs, verbose, desc=getattr(model, "cell", "fit"))
        epoch = 0
        try:
            for epoch in range(1, epochs + 1):
                start, lr_used = time.perf_counter(), optimizer.lr
                if stateful:
                    batches = _stream_batches(model, streams, stream_y, tbptt)
                else:
                    order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
                    batches = _window_batches(model, X, y, order, batch_size)
                train_loss, val_loss, problem = _epoch(
                    model, batches, backward, validate, optimizer, loss_fn, clip_norm
                )
                history.lr.append(lr_used)
                history.train_loss.append(train_loss)
                if val is not None:
                    history.val_loss.append(val_loss)
                history.epoch_time.append(time.perf_counter() - start)
                history.stopped_epoch = epoch
                progress.epoch(epoch, history)

                monitored = getattr(history, history.monitor)[-1]
                if problem is None and not math.isfinite(monitored):
                    problem = f"{history.monitor} {monitored}"
                if problem is not None:
                    history.stop_reason = f"non-finite {problem} at epoch {epoch}"
                    break
                improved = monitored < history.best_loss
                if improved:
                    best = (epoch, {name: p.copy() for name, p in model.params.items()})
                    history.best_epoch = epoch
                if any(c(epoch, history) for c in callbacks):
                    history.stop_reason = f"callback stopped training after epoch {epoch}"
                    break
                wait = epoch - history.best_epoch
                if patience is not None and wait >= patience and epoch < epochs:
                    history.stop_reason = (
                        f"early stopping: no lower {history.monitor} for {wait} epochs"
                    )
                    break
                if plateau is not None:
                    plateau.update(improved, optimizer)
            else:
                history.stop_reason = f"completed {epochs} epochs"
            # Inside the try: an interrupt among the copies back of the best weights would
            # otherwise leave a mix of the best epoch's and the last one's, and no history.
            _finish(model, history, best[1], restore_best_weights)
        except BaseException as err:
            # Ctrl-C, or an exception from a callback: keep the best weights so far, say so in
            # the history (which travels with the exception), and stop the caller too.
            history.truncate(history.stopped_epoch)
            history.best_epoch = best[0]  # it may have come between the two assignments
            history.stop_reason = f"interrupted at epoch {epoch} by {type(err).__name__}"
            _finish(model, history, best[1], restore_best_weights=True)
            err.history = history
            raise
        finally:
            try:
                progress.close(history)
                # A trained model holds its parameters, not the activations of its last
                # batch (tens of MB each, and a sweep keeps hundreds of models).
                release = getattr(model, "release_activations", None)
                if release is not None:
                    release()
            except BaseException as err:
                # An interrupt once training has ended (a progress bar's last write can take
                # a while) carries the history too: a caller such as the Forecaster keeps
                # the finished training instead of dropping it.
                if not hasattr(err, "history"):
                    err.history = history
                raise
        return history
