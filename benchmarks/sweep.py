"""Print one Markdown table: a sweep's wall time, serial against 2 jobs on processes and on Dask.

The sweep is 8 configurations of the course model (``cell`` rnn or lstm, ``hidden_size``
50 or 100, ``lookback`` 20 or 40; every other parameter the Forecaster's default, early
stopping included) on 3 walk-forward validation folds of the bundled WTI series: 24 jobs.
It runs three ways, one after the other in this process: serially (``n_jobs=1``), on
joblib's process backend with ``n_jobs=2``, and on a ``dask.distributed.LocalCluster`` of 2
worker processes of one thread each (started before its timer, without Dask's default
``MALLOC_TRIM_THRESHOLD_``: see the README). Each way's table must
equal the serial one in every metric, bit for bit, or the script stops.

Usage::

    python benchmarks/sweep.py [--folds F]

Needs pandas, joblib and dask[distributed] (``pip install ".[parallel,pandas]"``).
"""

import argparse
import os
import time

import rnnkit

GRID = {"cell": ["rnn", "lstm"], "hidden_size": [50, 100], "lookback": [20, 40]}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=3, help="validation folds (3)")
    return parser.parse_args(argv)


def timed(run):
    start = time.perf_counter()
    table = run()
    return table, time.perf_counter() - start


def main(argv=None):
    import warnings

    import dask
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    args = parse_args(argv)
    # the thin-data warnings of 24 fits say nothing the table does not
    warnings.simplefilter("ignore", rnnkit.ThinDataWarning)
    series = rnnkit.datasets.load_wti()

    def run(**engine):
        return rnnkit.sweep(series, GRID, folds=args.folds, **engine)

    serial, serial_s = timed(run)
    processes, processes_s = timed(lambda: run(n_jobs=2))
    # workers without Dask's default MALLOC_TRIM_THRESHOLD_, as the README asks: with it,
    # their fits run 2x slower (rnnkit warns)
    no_trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with (
        dask.config.set(no_trim),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        dask, dask_s = timed(lambda: run(n_jobs=2, backend="dask"))
    for table in (processes, dask):
        pd.testing.assert_frame_equal(
            table.drop(columns="train_seconds"), serial.drop(columns="train_seconds")
        )
    jobs = len(serial)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"{jobs} jobs (8 configurations x {args.folds} folds) on the WTI series, {cores} cores; "
        "every table equal to the serial one in every metric\n"
    )
    print("| how | wall s | speed-up |")
    print("|---|---|---|")
    for name, seconds in (
        ("serial (n_jobs=1)", serial_s),
        ("processes (n_jobs=2, loky)", processes_s),
        ("Dask LocalCluster (2 workers x 1 thread)", dask_s),
    ):
        print(f"| {name} | {seconds:.1f} | {serial_s / seconds:.2f}x |")
    print("\nranked on validation (mean rmse over the folds):\n")
    ranked = rnnkit.rank(serial).drop(columns="config")
    print("| " + " | ".join(ranked.columns) + " |")
    print("|" + "---|" * len(ranked.columns))
    for row in ranked.itertuples(index=False):
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
