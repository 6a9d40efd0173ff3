"""Print one Markdown table: ms per fp32 training step, rnnkit core vs NumPy vs PyTorch.

A training step is forward + backpropagation through time over the whole batch (see
``common.py``). The implementations are timed side by side in one run: per cell and shape,
each is called once and its result checked against the float64 reference, then they take
turns in blocks of timed calls, so that machine noise hits them alike. The table shows the
median per implementation and the speed-up of the core (other's time / core's time).

It also shows the core's throughput in GFLOP/s, ``common.step_flops`` (the matrix products of
forward and BPTT, ``3 * 2*T*B*G*H*(I+H)`` with G gates) over its median time, and that as a
share of the machine's multiply-add peak: ``peak.measure_peak`` for the core's SIMD path in
float32, measured once at the start, times the core's threads (``--threads``, else the
core's default). PyTorch's GFLOP/s, for the same flop count, stand next to it. Without a C++
compiler the peak and its column are left out.

Usage::

    python benchmarks/compare.py [--threads N] [--cells lstm,gru,rnn] [--repeat R]
                                 [--shapes T,B,I,H ...] [--json PATH]

``--threads`` is a fixed count: every parallel region of the core takes that many threads
(``set_threads`` says why). Above 1, the core also runs on one thread in the same turns, and
a column shows the speed-up of its threads measured side by side. PyTorch's columns appear
only when torch is importable;
``--json`` also writes the flop counts, GFLOP/s, peak and shares.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext

import numpy as np
from common import (
    CELLS,
    SHAPES,
    disagreements,
    import_torch,
    make_problem,
    reference_result,
    shape_label,
    step_flops,
    torch_training_step,
    training_step,
)
from peak import measure_peak

import rnnkit

# Each implementation gets TURNS turns per shape, so slow drifts of the machine reach all.
TURNS = 5
# Untimed calls open every turn: the idle worker threads of the implementation that ran
# before keep spinning for up to ~0.1 s (OpenBLAS) and would take cores from this one.
SETTLE_S = 0.15
# Without --repeat, a turn times calls for this long (at least one): the default grid
# (3 cells x 7 shapes x 3 implementations) then takes about two minutes.
TURN_S = 0.2

NAMES = {
    "core": "rnnkit core",
    "core_1": "rnnkit core on 1 thread",
    "numpy": "NumPy",
    "torch": "PyTorch",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_argument(parser, "NumPy's BLAS and torch")
    parser.add_argument(
        "--cells",
        default=",".join(CELLS),
        type=lambda s: s.split(","),
        help="comma-separated cells among %(default)s",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help=f"timed calls per turn; each implementation has {TURNS} turns a shape "
        f"(default: as many as fit in {TURN_S} s)",
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        metavar="T,B,I,H",
        type=lambda s: tuple(int(n) for n in s.split(",")),
        help="shapes to run instead of the default grid",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the raw medians (ms), GFLOP/s and peak here"
    )
    args = parser.parse_args(argv)
    if unknown := set(args.cells) - set(CELLS):
        parser.error(f"unknown cell(s) {sorted(unknown)}; choose among {CELLS}")
    check_counts(parser, args, ("threads", "repeat"))
    if args.shapes and any(len(s) != 4 for s in args.shapes):
        parser.error("each shape is four integers T,B,I,H")
    return args


def check_counts(parser, args, options):
    """A parser error for any of the counts ``options`` (given, not None) below 1."""
    for option in options:
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def add_threads_argument(parser, others):
    """``--threads`` on ``parser``: rnnkit's core in fixed teams (set_threads) and ``others``."""
    parser.add_argument(
        "--threads",
        type=int,
        help=f"threads for rnnkit's core (fixed teams), {others} (default: each library's own)",
    )


def set_threads(threads, torch=None):
    """``--threads`` for rnnkit's core and torch (None: each library's own), and a context
    limiting NumPy's BLAS to as many, with the BLAS's facts.

    A thread count given is a fixed one, as torch's and ONNX Runtime's pools are: rnnkit's
    regions then all take that many threads (``core.set_dynamic(False)``). Its default
    chooses one thread or all per kind of region, whichever ran faster lately; here the
    idle threads of the peer that ran just before (OpenBLAS spins for a while) made it fall
    back to one thread for seconds, and the 2-thread training step ran 35-70% slower than
    with fixed teams. ``contention.py`` measures that default, quiet and under load.

    threadpoolctl is optional: without it the BLAS runs as it likes, and the facts say so.
    """
    if threads is not None:
        rnnkit.core.set_num_threads(threads)
        rnnkit.core.set_dynamic(False)
        if torch is not None:
            torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return nullcontext(), "BLAS unknown (threadpoolctl not installed: BLAS threads not set)"
    limit = nullcontext() if threads is None else threadpool_limits(threads, user_api="blas")
    # threadpool_limits applies on creation, so the info below already shows the limit
    blas = [
        " ".join(str(i.get(key, "")) for key in ("internal_api", "version", "architecture"))
        + f"; threads {i['num_threads']}"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    return limit, "BLAS " + ("; ".join(blas) or "not found")


def machine_facts(torch, blas):
    info = rnnkit.core.build_info()
    openmp = f"OpenMP {info['openmp_version']}" if info["openmp"] else "no OpenMP"
    build = f"{info['compiler']}, {info['build_type']}, {openmp}"
    teams = ", fixed teams" if info["openmp"] and not rnnkit.core.dynamic() else ""
    core = f"{rnnkit.core.simd_path()} path; threads {rnnkit.core.num_threads()}{teams}"
    facts = [
        f"{cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"rnnkit {info['version']} ({build}; {core})",
        f"numpy {np.__version__} ({blas})",
        f"torch {torch.__version__} (threads {torch.get_num_threads()})" if torch else "no torch",
        f"python {platform.python_version()}",
    ]
    if hasattr(os, "getloadavg"):  # a busy machine explains noisy figures
        load = os.getloadavg()[0]
        facts.append(f"load average {load:.2f} at start")
        if load >= (os.cpu_count() or 1):
            print(
                f"warning: load average {load:.2f} on {os.cpu_count()} logical CPUs: other "
                "programs are using them, and the times will measure those as much as the "
                "libraries; run again on a quiet machine",
                file=sys.stderr,
            )
    return " | ".join(facts)


def time_case(cell, shape, calls_per_turn, threads=None):
    """Per implementation, the times (s) of its timed calls on one cell and shape.

    With ``threads`` above 1 the core also runs on one thread ("core_1"), in the same
    turns as the others: its speed-up from more threads is then measured side by side,
    not between two runs minutes apart on a machine whose speed drifts meanwhile.
    """
    problem = make_problem(cell, shape)
    core = training_step(rnnkit.core, cell, problem)
    steps = {
        "core": core,
        "core_1": core if threads is not None and threads > 1 else None,
        "numpy": training_step(rnnkit.reference, cell, problem),
        "torch": torch_training_step(cell, problem),
    }
    steps = {name: step for name, step in steps.items() if step is not None}

    def run_as(name):
        """The step of ``name``, the core's thread count set for it."""
        if name.startswith("core") and threads is not None:
            rnnkit.core.set_num_threads(1 if name == "core_1" else threads)
        return steps[name]

    expected = reference_result(cell, problem)
    for name in steps:
        if bad := disagreements(run_as(name)(), expected):
            sys.exit(f"{NAMES[name]} disagrees with float64 NumPy on {cell} {shape}: {bad}")

    times = {name: [] for name in steps}
    order = list(steps)
    for turn in range(TURNS):
        # rotate who goes first so that no implementation always follows the same one
        for name in order[turn % len(order) :] + order[: turn % len(order)]:
            times[name] += timed_turn(run_as(name), calls_per_turn)
    run_as("core")
    return times


def timed_turn(step, calls):
    """Settle for SETTLE_S, then the times of ``calls`` calls (None: for TURN_S)."""
    start = time.perf_counter()
    while time.perf_counter() - start < SETTLE_S:
        step()
    times = []
    start = time.perf_counter()
    while len(times) < (calls or 1) or (not calls and time.perf_counter() - start < TURN_S):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def peak_or_none(threads):
    """The multiply-add peak the core's threads could reach, or None without a compiler.

    Returns
    -------
    dict or None
        ``path``, ``dtype``, ``single_core_gflops`` (``peak.measure_peak`` for the core's
        SIMD path, float32), ``threads`` and ``gflops`` (threads x single-core peak).
    """
    path = rnnkit.core.simd_path()
    print(f"single-core peak ({path}, float32) ...", file=sys.stderr, flush=True)
    try:
        single = measure_peak(path, "float32")
    except RuntimeError as error:
        print(f"no peak: {error}", file=sys.stderr)
        return None
    return {
        "path": path,
        "dtype": "float32",
        "single_core_gflops": single,
        "threads": threads,
        "gflops": threads * single,
    }


def throughput(row, peak):
    """Add the step's flops, each implementation's GFLOP/s and the core's % of ``peak``."""
    row["flops"] = step_flops(row["cell"], *row["shape"])
    row["gflops"] = {n: row["flops"] / (1e6 * ms) for n, ms in row["median_ms"].items()}
    if peak is not None:
        row["percent_of_peak"] = 100 * row["gflops"]["core"] / peak["gflops"]
    return row


def markdown_table(rows):
    others = [name for name in rows[0]["median_ms"] if name != "core"]
    with_peak = "percent_of_peak" in rows[0]
    head = ["cell", "T", "B", "I", "H", "core ms"]
    head += [f"{NAMES[name]} ms" for name in others]
    head += [f"core vs {NAMES[name]}" for name in others]
    head += ["core GFLOP/s"] + (["% of peak"] if with_peak else [])
    head += ["PyTorch GFLOP/s"] if "torch" in others else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ms, gflops = row["median_ms"], row["gflops"]
        cells = [row["cell"], *map(str, row["shape"]), f"{ms['core']:.3f}"]
        cells += [f"{ms[name]:.3f}" for name in others]
        cells += [f"{ms[name] / ms['core']:.2f}x" for name in others]
        cells += [f"{gflops['core']:.1f}"]
        cells += [f"{row['percent_of_peak']:.1f}%"] if with_peak else []
        cells += [f"{gflops['torch']:.1f}"] if "torch" in others else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peak_caption(peak):
    """What the GFLOP/s and % of peak columns mean, with the peak they are measured against."""
    flops = (
        "GFLOP/s = the step's matrix-product flops, 3 * 2*T*B*G*H*(I+H) with G gates "
        "(common.step_flops), over the median time; PyTorch's for the same count."
    )
    if peak is None:
        return flops + " No % of peak: measuring the peak needs a C++ compiler (set CXX)."
    threads = peak["threads"]
    of = "the" if threads == 1 else f"{threads} x the"
    return (
        f"{flops} % of peak = the core's GFLOP/s over {of} single-core float32 multiply-add "
        f"peak ({threads} core thread{'s' if threads > 1 else ''}: {peak['gflops']:.1f} GFLOP/s)."
    )


def main(argv=None):
    args = parse_args(argv)
    torch = import_torch()
    limit, blas = set_threads(args.threads, torch)
    facts = machine_facts(torch, blas)
    peak = peak_or_none(args.threads or rnnkit.core.num_threads())
    # a build without OpenMP runs one thread whatever --threads says: no speed-up to show
    side_by_side = args.threads if rnnkit.core.num_threads() > 1 else None

    rows = []
    with limit:
        for cell in args.cells:
            for shape in args.shapes or SHAPES:
                print(f"{cell} {shape_label(shape)} ...", file=sys.stderr, flush=True)
                times = time_case(cell, shape, args.repeat, side_by_side)
                row = {
                    "cell": cell,
                    "shape": shape,
                    "median_ms": {n: 1e3 * statistics.median(t) for n, t in times.items()},
                    "calls": {n: len(t) for n, t in times.items()},
                }
                rows.append(throughput(row, peak))

    print(f"Machine: {facts}")
    if peak is not None:
        print(
            f"Peak: {peak['single_core_gflops']:.1f} GFLOP/s single-core float32 multiply-add "
            f"on the {peak['path']} path (benchmarks/peak.py)"
        )
    print()
    print(
        "ms per fp32 training step (forward + BPTT over the batch): median of each "
        f"implementation's timed calls, taken in {TURNS} turns interleaved with the others, "
        f"each turn after {SETTLE_S} s of untimed calls. Speed-up = other's time / core's time "
        f"(> 1: the core is faster). {peak_caption(peak)}\n"
    )
    print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            record = {"machine": facts, "threads": args.threads, "peak": peak, "results": rows}
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
