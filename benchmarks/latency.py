"""Print one Markdown table: the latency of one live forecast, rnnkit's stream against PyTorch.

The course model (an LSTM of 50 units and a linear head, lookback 30, daily log returns of
the bundled WTI series) is fitted once. Then each side forecasts from a warm start, one new
price at a time, on one thread:

* rnnkit: ``Forecaster.stream(history).update(price)``: the price checked, through the
  fitted transform and scaler into the ring of the last 30 inputs, the network over the
  window (the model's compiled snapshot, ``SequenceRegressor.inference()``), the forecast
  back in dollars;
* rnnkit's network alone: that snapshot's ``window(x)`` given the scaled window, the
  share of an update that is the network's;
* PyTorch: the same weights in ``torch.nn.LSTM`` and ``torch.nn.Linear`` under
  ``torch.inference_mode()``, given the window already scaled (its preparation not timed):
  the network's forward alone.

The three run in turn for each price, interleaved, so that machine noise hits them alike;
the table has the median and the 99th percentile of each, in microseconds, and the
ratios of PyTorch's to rnnkit's, on the SIMD path the kernels run (``core.simd_path()``).

Usage::

    python benchmarks/latency.py [--updates N]
"""

import argparse
import time
import warnings

import numpy as np

import rnnkit
from rnnkit import core


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=3000, help="timed updates (3000)")
    return parser.parse_args(argv)


def torch_model(torch, forecaster):
    """The forecaster's network as torch modules with the same weights."""
    model = forecaster.model_
    lstm = torch.nn.LSTM(model.input_size, model.hidden_size, batch_first=True)
    head = torch.nn.Linear(model.hidden_size, model.output_size)
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()}
    lstm.load_state_dict({k: v for k, v in state.items() if "." not in k})
    head.load_state_dict({k.removeprefix("head."): v for k, v in state.items() if "." in k})
    return lstm, head


def percentiles(samples_ns):
    us = np.asarray(samples_ns) / 1000.0
    return float(np.median(us)), float(np.percentile(us, 99))


def main(argv=None):
    import torch

    args = parse_args(argv)
    warnings.simplefilter("ignore", rnnkit.ThinDataWarning)
    core.set_num_threads(1)
    torch.set_num_threads(1)
    series = rnnkit.datasets.load_wti().dropna()
    history, live = series.iloc[: -args.updates], series.iloc[-args.updates :]
    forecaster = rnnkit.Forecaster(epochs=3, verbose=0, seed=0).fit(history)
    stream = forecaster.stream(history)
    lstm, head = torch_model(torch, forecaster)
    scaled = np.ascontiguousarray(stream._window())
    window = torch.from_numpy(scaled[None].copy())
    network = forecaster.model_.inference()

    def torch_forecast():
        with torch.inference_mode():
            _, (h_n, _) = lstm(window)
            return head(h_n[-1])

    for _ in range(200):  # warm all up (allocators, caches, lazy paths)
        torch_forecast()
        network.window(scaled)
    warm = forecaster.stream(history)
    for value in live.iloc[:200]:
        warm.update(value)
    ours, alone, theirs = [], [], []
    for value in live:
        start = time.perf_counter_ns()
        stream.update(value)
        ours.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        network.window(scaled)
        alone.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        torch_forecast()
        theirs.append(time.perf_counter_ns() - start)
    rows = {
        "rnnkit `stream.update(price)`": percentiles(ours),
        "rnnkit network alone (`Inference.window`, window given)": percentiles(alone),
        "PyTorch forward (window given)": percentiles(theirs),
    }
    (median, p99), (alone_median, alone_p99), (torch_median, torch_p99) = rows.values()
    rows["PyTorch / rnnkit update"] = (torch_median / median, torch_p99 / p99)
    rows["PyTorch / rnnkit network alone"] = (torch_median / alone_median, torch_p99 / alone_p99)
    print(
        f"One live forecast of the course model (LSTM H=50 + head, lookback 30), "
        f"{args.updates} updates, 1 thread, {core.simd_path()} path; microseconds\n"
    )
    print("| | median | 99th percentile |")
    print("|---|---|---|")
    for name, (a, b) in rows.items():
        unit = "x" if name.startswith("PyTorch /") else ""
        print(f"| {name} | {a:.1f}{unit} | {b:.1f}{unit} |")


if __name__ == "__main__":
    main()
