"""Print one Markdown table: the latency of one live forecast, rnnkit's stream against PyTorch.

The course model (an LSTM of 50 units and a linear head, lookback 30, daily log returns of
the bundled WTI series) is fitted once. Then each side forecasts from a warm start, one new
price at a time, on one thread:

* rnnkit: ``Forecaster.stream(history).update(price)``: the new price through the fitted
  transform and scaler into the ring of the last 30 inputs, the network over the window,
  the forecast back in dollars;
* PyTorch: the same weights in ``torch.nn.LSTM`` and ``torch.nn.Linear`` under
  ``torch.inference_mode()``, given the window already scaled (its preparation not timed):
  the network's forward alone.

Both run the same prices in turn, interleaved, so that machine noise hits them alike; the
table has the median and the 99th percentile of each, in microseconds, and their ratio.

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
    window = torch.from_numpy(np.ascontiguousarray(stream._window()[None]))

    def torch_forecast():
        with torch.inference_mode():
            _, (h_n, _) = lstm(window)
            return head(h_n[-1])

    for _ in range(200):  # warm both up (allocators, caches, lazy paths)
        torch_forecast()
    warm = forecaster.stream(history)
    for value in live.iloc[:200]:
        warm.update(value)
    ours, theirs = [], []
    for value in live:
        start = time.perf_counter_ns()
        stream.update(value)
        ours.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        torch_forecast()
        theirs.append(time.perf_counter_ns() - start)
    (our_median, our_p99), (their_median, their_p99) = percentiles(ours), percentiles(theirs)
    print(
        f"One live forecast of the course model (LSTM H=50 + head, lookback 30), "
        f"{args.updates} updates, 1 thread, {core.simd_path()} path; microseconds\n"
    )
    print("| | median | 99th percentile |")
    print("|---|---|---|")
    print(f"| rnnkit `stream.update(price)` | {our_median:.1f} | {our_p99:.1f} |")
    print(f"| PyTorch forward (window given) | {their_median:.1f} | {their_p99:.1f} |")
    print(f"| PyTorch / rnnkit | {their_median / our_median:.2f}x | {their_p99 / our_p99:.2f}x |")


if __name__ == "__main__":
    main()
