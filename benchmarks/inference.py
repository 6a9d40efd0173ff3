"""Print one Markdown table: time per batch of forecasts, rnnkit vs PyTorch vs ONNX Runtime.

Inference only: a batch of B windows in, B predictions out, no gradients. Two networks, each
an LSTM and a linear head on the last layer's final hidden state, float32, lookback 30:

- ``course``: the standard course model (as in ``fit_vs_torch.py``), 1 input feature, one
  layer of 50 units;
- ``h256``: 8 input features, two layers of 256 units.

Three implementations hold the same weights (``SequenceRegressor(..., seed=0)``'s):

- rnnkit: ``SequenceRegressor.predict(X, batch_size=None)``, one forward call over the
  whole batch (each layer one call into the core, then the head in NumPy);
- PyTorch: ``torch.nn.LSTM(batch_first=True)`` and ``torch.nn.Linear`` on ``h_n[-1]``,
  called under ``torch.inference_mode()``, the result as a NumPy array;
- ONNX Runtime: that PyTorch module exported with ``torch.onnx.export`` (the TorchScript
  exporter, ``dynamo=False``, which needs only ``onnx``; the dynamo exporter if that one is
  gone), the batch axis dynamic, into a temporary directory, and run by an
  ``onnxruntime.InferenceSession`` on the CPU with ``intra_op_num_threads`` from
  ``--threads`` (ONNX Runtime's default without it), ``inter_op_num_threads`` 1 and
  sequential execution.

Per network and batch size, the windows are drawn once (standard normal) and every
implementation's predictions are checked against those of the same network in float64
(normwise relative error below ``common.RTOL``) before any timing. Then they take turns
as in ``compare.py``: each turn opens with untimed calls for ``compare.SETTLE_S`` seconds
(the worker threads of the one that ran before spin down, caches warm up) and then times
``--repeat`` calls (default: as many as fit in ``compare.TURN_S`` s), ``compare.TURNS``
turns each, who goes first rotating. The table shows the median time of one call per
batch, in microseconds or milliseconds, and the ratios peer / rnnkit (> 1: rnnkit is
faster). An implementation whose predictions disagree is still timed, but gets no ratio;
the script then exits with status 1.

Usage::

    python benchmarks/inference.py [--threads N] [--batches 1,32,1024]
                                   [--models course,h256] [--repeat R] [--json PATH]

``--threads`` sets the threads of rnnkit's core (fixed teams, as ``compare.set_threads``
explains), of NumPy's BLAS (through threadpoolctl, when installed), of torch and of ONNX
Runtime's intra-op pool (default: each library's own).
torch and ONNX Runtime are optional: without torch the PyTorch and ONNX Runtime columns are
left out, without ``onnx`` or ``onnxruntime`` the ONNX Runtime column, each with a note on
stderr (``pip install 'rnnkit[bench]'`` installs all three).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import warnings

import compare
import numpy as np
from common import RTOL, disagreements, import_torch
from compare import add_threads_argument, machine_facts, set_threads, timed_turn

import rnnkit

LOOKBACK = 30
# name -> (input features, hidden units, layers); one output, lookback LOOKBACK
MODELS = {"course": (1, 50, 1), "h256": (8, 256, 2)}
BATCHES = (1, 32, 1024)

NAMES = {"rnnkit": "rnnkit", "torch": "PyTorch", "onnx": "ONNX Runtime"}


def parse_args(argv=None):
    def names(text):
        return text.split(",")

    def sizes(text):
        return [int(n) for n in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_argument(parser, "NumPy's BLAS, torch and ONNX Runtime's intra-op pool")
    parser.add_argument(
        "--batches",
        default=",".join(map(str, BATCHES)),
        type=sizes,
        help="comma-separated batch sizes (default %(default)s)",
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        type=names,
        help="comma-separated networks among %(default)s",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help=f"timed calls per turn; each implementation has {compare.TURNS} turns a case "
        f"(default: as many as fit in {compare.TURN_S} s)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the raw medians (us) here")
    args = parser.parse_args(argv)
    if unknown := set(args.models) - set(MODELS):
        parser.error(f"unknown model(s) {sorted(unknown)}; choose among {list(MODELS)}")
    compare.check_counts(parser, args, ("threads", "repeat"))
    if any(b < 1 for b in args.batches):
        parser.error("--batches must be at least 1 each")
    return args


def model_label(name):
    """``"h256"`` -> ``"h256 (LSTM 2x256, I=8)"``."""
    features, hidden, layers = MODELS[name]
    shape = f"{layers}x{hidden}" if layers > 1 else f"{hidden}"
    return f"{name} (LSTM {shape}, I={features})"


def rnnkit_model(name, dtype="float32"):
    """The network ``name`` in rnnkit, with ``SequenceRegressor(..., seed=0)``'s weights."""
    features, hidden, layers = MODELS[name]
    return rnnkit.models.SequenceRegressor(
        cell="lstm", input_size=features, hidden_size=hidden, num_layers=layers, output_size=1,
        dtype=dtype, seed=0,
    )  # fmt: skip


def torch_module(torch, model):
    """``nn.LSTM`` + ``nn.Linear`` on ``h_n[-1]`` holding ``model``'s weights, in eval mode."""

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(
                model.input_size, model.hidden_size, model.num_layers, batch_first=True
            )
            self.head = torch.nn.Linear(model.hidden_size, model.output_size)

        def forward(self, x):
            _, (h_n, _) = self.lstm(x)
            return self.head(h_n[-1])  # h_n is (layers, N, H): the last layer's final state

    network = Network()
    # the recurrent keys are those of nn.LSTM; strict loading fails on any mismatch
    state = {
        k if k.startswith("head.") else f"lstm.{k}": torch.from_numpy(v)
        for k, v in model.state_dict().items()
    }
    network.load_state_dict(state, strict=True)
    return network.eval()


def import_onnxruntime():
    """The onnxruntime module, or None (with a note on stderr) when it or onnx is missing."""
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it
        import onnxruntime
    except ImportError as error:
        print(f"no ONNX Runtime column: {error}", file=sys.stderr)
        return None
    return onnxruntime


def export_onnx(torch, network, features, path):
    """Export ``network`` to ``path`` with a dynamic batch axis; the exporter's name.

    The TorchScript exporter needs only ``onnx``; the dynamo exporter, torch's default
    since 2.9, also needs ``onnxscript``. Their deprecation and shape warnings are noise here:
    the predictions are checked against float64 before timing.
    """
    example = torch.zeros(2, LOOKBACK, features)
    options = {"input_names": ["x"], "output_names": ["y"], "opset_version": 17}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                network, (example,), path, dynamo=False,
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **options,
            )  # fmt: skip
            return "TorchScript exporter"
        except (ImportError, TypeError, RuntimeError) as legacy:
            try:
                batch = torch.export.Dim("batch")
                torch.onnx.export(
                    network, (example,), path, dynamo=True,
                    dynamic_shapes={"x": {0: batch}}, **options,
                )  # fmt: skip
            except Exception as dynamo:  # noqa: BLE001 - whatever it is, the column goes
                raise RuntimeError(f"TorchScript exporter: {legacy}; dynamo: {dynamo}") from None
            return "dynamo exporter"


def onnx_session(onnxruntime, path, threads):
    """An InferenceSession on the CPU: ``threads`` intra-op threads (None: ORT's default),
    one inter-op thread, sequential execution."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's own choice
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def predictors(name, model, torch, onnxruntime, threads, workdir):
    """Per implementation, a callable windows (B, T, F) float32 -> predictions (B, 1)
    NumPy array, for ``model`` (the network ``name``); and notes on what was left out."""
    calls = {"rnnkit": lambda X: model.predict(X, batch_size=None)}
    notes = []
    if torch is None:
        return calls, notes
    network = torch_module(torch, model)

    def torch_predict(X):
        with torch.inference_mode():
            return network(torch.from_numpy(X)).numpy()

    calls["torch"] = torch_predict
    if onnxruntime is None:
        return calls, notes
    path = os.path.join(workdir, f"{name}.onnx")
    try:
        exporter = export_onnx(torch, network, model.input_size, path)
    except RuntimeError as error:
        notes.append(f"no ONNX Runtime column for {name}: export failed ({error})")
        return calls, notes
    session = onnx_session(onnxruntime, path, threads)
    calls["onnx"] = lambda X: session.run(None, {"x": X})[0]
    notes.append(f"{name}: ONNX file from torch.onnx.export's {exporter}")
    return calls, notes


def expected_predictions(name, model, X):
    """``model``'s predictions computed in float64: the yardstick."""
    model64 = rnnkit_model(name, dtype="float64")
    model64.load_state_dict(model.state_dict())
    return model64.predict(X.astype(np.float64), batch_size=None)


def time_case(calls, X, calls_per_turn):
    """Per implementation, the times (s) of its timed calls on the windows X."""
    times = {name: [] for name in calls}
    order = list(calls)
    for turn in range(compare.TURNS):
        # rotate who goes first so that no implementation always follows the same one
        for name in order[turn % len(order) :] + order[: turn % len(order)]:
            times[name] += timed_turn(lambda name=name: calls[name](X), calls_per_turn)
    return times


def run_case(name, model, batch, calls, calls_per_turn):
    """One table row: ``model`` (the network ``name``) on ``batch`` windows, every
    implementation checked, then timed."""
    rng = np.random.default_rng(batch)
    X = rng.standard_normal((batch, LOOKBACK, model.input_size)).astype(np.float32)
    expected = {"pred": expected_predictions(name, model, X)}
    errors = {}
    for impl, call in calls.items():
        result = {"pred": np.asarray(call(X), dtype=np.float64)}
        if result["pred"].shape != expected["pred"].shape:
            errors[impl] = f"shape {result['pred'].shape}, expected {expected['pred'].shape}"
        elif bad := disagreements(result, expected):
            errors[impl] = f"normwise relative error {bad['pred']:.2e} >= {RTOL:g}"
    for impl, error in errors.items():
        print(f"{NAMES[impl]} disagrees with float64 on {name} B={batch}: {error}", file=sys.stderr)
    times = time_case(calls, X, calls_per_turn)
    return {
        "model": name,
        "batch": batch,
        "median_us": {n: 1e6 * statistics.median(t) for n, t in times.items()},
        "calls": {n: len(t) for n, t in times.items()},
        "disagree": errors,
    }


def duration(us):
    """``57.3`` -> ``"57.3 µs"``; ``12345.0`` -> ``"12.35 ms"``."""
    return f"{us:.1f} µs" if us < 1000 else f"{us / 1000:.2f} ms"


def markdown_table(rows):
    impls = list(rows[0]["median_us"])
    peers = [n for n in impls if n != "rnnkit"]
    head = ["model", "B"] + [f"{NAMES[n]} per batch" for n in impls]
    head += [f"{NAMES[n]} / rnnkit" for n in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        us, bad = row["median_us"], row["disagree"]
        cells = [model_label(row["model"]), str(row["batch"])]
        cells += [duration(us[n]) for n in impls]
        if "rnnkit" in bad:
            cells += ["n/a (rnnkit disagrees)" for _ in peers]
        else:
            cells += [
                "n/a (disagrees)" if n in bad else f"{us[n] / us['rnnkit']:.2f}x" for n in peers
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch = import_torch()
    if torch is None:
        print("no PyTorch and ONNX Runtime columns: torch is not installed", file=sys.stderr)
    onnxruntime = import_onnxruntime() if torch is not None else None
    limit, blas = set_threads(args.threads, torch)
    facts = machine_facts(torch, blas)
    if onnxruntime is not None:
        intra = args.threads if args.threads is not None else "default"
        facts += f" | onnxruntime {onnxruntime.__version__} (intra-op threads {intra})"

    rows, notes = [], []
    with limit, tempfile.TemporaryDirectory() as workdir:
        for name in args.models:
            model = rnnkit_model(name)
            calls, model_notes = predictors(name, model, torch, onnxruntime, args.threads, workdir)
            notes += model_notes
            for batch in args.batches:
                print(f"{name} B={batch} ...", file=sys.stderr, flush=True)
                rows.append(run_case(name, model, batch, calls, args.repeat))
    for note in notes:
        print(note, file=sys.stderr)

    print(f"Machine: {facts}")
    print()
    print(
        f"Time per batch of B windows (lookback {LOOKBACK}, float32) to B predictions, "
        "forward pass only: median of each implementation's timed calls, taken in "
        f"{compare.TURNS} turns interleaved with the others, each turn after "
        f"{compare.SETTLE_S} s of untimed calls. rnnkit: SequenceRegressor.predict(X, "
        "batch_size=None); PyTorch: nn.LSTM + nn.Linear under torch.inference_mode(); "
        "ONNX Runtime: that module exported by torch.onnx.export. Ratio = peer's time / "
        "rnnkit's (> 1: rnnkit is faster).\n"
    )
    print(markdown_table(rows))
    disagreeing = [row for row in rows if row["disagree"]]
    if disagreeing:
        print(
            f"\nWARNING: predictions disagree with float64 (normwise relative error >= {RTOL:g}) "
            "in " + ", ".join(f"{r['model']} B={r['batch']}" for r in disagreeing) + ": no "
            "ratios for those."
        )
    if args.json:
        with open(args.json, "w") as f:
            record = {"machine": facts, "threads": args.threads, "results": rows}
            json.dump(record, f, indent=2)
    if disagreeing:
        sys.exit(1)


if __name__ == "__main__":
    main()
