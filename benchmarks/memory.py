"""Peak memory of the main job against the length of the series.

``rnnkit run`` on CSV files of a random-walk price with 10,000, 100,000 and 1,000,000 rows
(a date column and a Close column), lookback 60, hidden size 50, one epoch of each
network, each size in a fresh child process whose peak resident memory (``ru_maxrss``) is
what the table shows, beside the size of the series itself (8 bytes a row) and the child's
wall time.

Memory should grow with the data, not with windows times hidden units: the slope column
is the extra peak memory per extra row between consecutive sizes (a float64 series costs
8 bytes a row; a job that materialises every window's activations costs thousands).

Usage::

    python benchmarks/memory.py [--rows 10000 100000 1000000] [--lookback 60]

The threads of rnnkit's core are left to their default; set ``OMP_NUM_THREADS`` to change
them. pandas and matplotlib (the ``plot`` extra) are needed.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_csv(path, rows, seed=0):
    """A daily random walk of ``rows`` prices, as a user's export would hold it."""
    import pandas as pd

    steps = np.random.default_rng(seed).normal(0.0, 0.01, rows)
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("1900-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "Close": 100.0 * np.exp(np.cumsum(steps)),
        }
    )
    frame.to_csv(path, index=False)


def peak_of_run(csv, lookback, out):
    """(peak resident MB, seconds) of ``rnnkit run`` on ``csv`` in a fresh child process."""
    command = [
        sys.executable, "-m", "rnnkit", "run", "--csv", csv, "--column", "Close",
        "--date-column", "Date", "--lookback", str(lookback), "--epochs", "1", "--quiet",
        "--out", out,
    ]  # fmt: skip
    start = time.perf_counter()
    # A child of its own per size: ru_maxrss of RUSAGE_CHILDREN is the largest of all
    # children waited for so far, so each run goes through a fresh Python that reports it.
    probe = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    kilobytes = int(done.stdout.strip().splitlines()[-1])  # Linux reports kB
    return kilobytes / 1024.0, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--lookback", type=int, default=60)
    args = parser.parse_args(argv)
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss == 0:
        sys.exit("this system does not report peak memory (ru_maxrss)")
    print(f"rnnkit run, lookback {args.lookback}, hidden 50, one epoch; peak RSS of the child")
    print(f"{'rows':>10} {'series MB':>10} {'peak MB':>9} {'MB/1e5 rows':>12} {'seconds':>8}")
    previous = None
    with tempfile.TemporaryDirectory() as work:
        for rows in args.rows:
            csv = os.path.join(work, f"prices-{rows}.csv")
            write_csv(csv, rows)
            peak, seconds = peak_of_run(csv, args.lookback, os.path.join(work, f"out-{rows}"))
            slope = ""
            if previous is not None:
                slope = f"{(peak - previous[1]) / (rows - previous[0]) * 1e5:.1f}"
            print(f"{rows:>10,} {rows * 8 / 2**20:>10.1f} {peak:>9.0f} {slope:>12} {seconds:>8.1f}")
            previous = (rows, peak)


if __name__ == "__main__":
    main()
