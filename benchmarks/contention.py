"""Print one Markdown table: rnnkit's default thread count against 1 thread, quiet and loaded.

A laptop or a shared server rarely has its cores to itself. This benchmark measures what
rnnkit's default costs when another program keeps one core busy, against a run on one
thread, for two workloads:

- ``course``: one epoch of ``rnnkit.train.fit`` on the standard course model (an LSTM with
  50 hidden units on windows of 30 steps, batches of 32, Adam; ``fit_vs_torch.py`` describes
  it), 156 optimizer steps;
- ``h128``: one fp32 training step (forward + BPTT) of the core's LSTM at T60 B64 I4 H128,
  a shape of ``compare.py``'s grid.

Each measurement runs in a fresh Python process, so that no thread pool, no thread count
chosen at run time and no warm cache carries over from one to the next: the process warms
up, then times its workload several times and reports the median. *Loaded* runs start a
burner first, a Python process spinning forever pinned to the last core this process may
run on, and stop it after; rnnkit's process is not pinned. The rounds interleave every
configuration, so slow drifts of the machine reach all, and the table shows, per workload,
the median over rounds and the ratio of the default to one thread (< 1: the default is
faster). Nothing else should run on the machine meanwhile.

Usage::

    python benchmarks/contention.py [--rounds R] [--workloads course,h128] [--json PATH]

The default thread count is whatever ``import rnnkit`` chooses (see ``show_config()``);
``RNNKIT_NUM_THREADS`` and ``OMP_NUM_THREADS`` are removed from the workers' environment so
that it is rnnkit's own.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# What a worker times: the number of timed repetitions after its warm-up ones.
WORKLOADS = {
    "course": {"label": "course model, fit epoch", "warmup": 2, "timed": 8, "unit": "s"},
    "h128": {
        "label": "LSTM T60 B64 I4 H128, training step",
        "warmup": 20,
        "timed": 100,
        "unit": "ms",
    },
}
LOADS = ("quiet", "loaded")
THREADS = ("default", "1")
# The burner's scheduler needs a moment to spread the load before the worker starts.
BURNER_SETTLE_S = 0.3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per cell (3)")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated: course,h128"
    )
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workloads = args.workloads.split(",")
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"--workloads: expected some of {', '.join(WORKLOADS)}, got {unknown}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    return args


# ---------------------------------------------------------------- in the worker process


def course_workload():
    """A callable running one epoch of the course model's training."""
    from fit_vs_torch import HIDDEN, LR, course_data, rnnkit_epoch

    import rnnkit

    X, y = course_data()
    model = rnnkit.models.SequenceRegressor(cell="lstm", input_size=1, hidden_size=HIDDEN, seed=0)
    optimizer = rnnkit.train.Adam(lr=LR)
    epochs = iter(range(10**9))
    return lambda: rnnkit_epoch(model, optimizer, X, y, next(epochs))


def h128_workload():
    """A callable running one fp32 LSTM training step at T60 B64 I4 H128."""
    from common import make_problem, training_step

    import rnnkit

    return training_step(rnnkit.core, "lstm", make_problem("lstm", (60, 64, 4, 128)))


def run_worker(workload, threads):
    """Time `workload` in this process and print its median in the workload's unit as JSON."""
    import rnnkit

    if threads != "default":
        rnnkit.set_num_threads(int(threads))
    spec = WORKLOADS[workload]
    run = {"course": course_workload, "h128": h128_workload}[workload]()
    for _ in range(spec["warmup"]):
        run()
    times = []
    for _ in range(spec["timed"]):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    scale = 1e3 if spec["unit"] == "ms" else 1.0
    print(json.dumps({"median": statistics.median(times) * scale,
                      "threads": rnnkit.core.num_threads()}))  # fmt: skip


# ---------------------------------------------------------------- in the parent process


def start_burner():
    """A process spinning on the last core this process may run on."""
    core = max(os.sched_getaffinity(0))
    spin = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass"
    burner = subprocess.Popen([sys.executable, "-c", spin])
    time.sleep(BURNER_SETTLE_S)
    return burner, core


def measure(workload, threads):
    """One fresh worker process: (median, thread count it ran with)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("RNNKIT_NUM_THREADS", "OMP_NUM_THREADS")
    }
    out = subprocess.run(
        [sys.executable, __file__, "--worker", workload, "--threads", threads],
        env=env, capture_output=True, text=True, check=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["median"], result["threads"]


def run_rounds(workloads, rounds):
    """{(workload, load, threads): [median of each round]} and the default's thread count."""
    results = {}
    default_threads = None
    for r in range(rounds):
        for load in LOADS:
            burner = start_burner() if load == "loaded" else None
            try:
                for workload in workloads:
                    for threads in THREADS:
                        median, used = measure(workload, threads)
                        results.setdefault((workload, load, threads), []).append(median)
                        if threads == "default":
                            default_threads = used
            finally:
                if burner is not None:
                    burner[0].kill()
                    burner[0].wait()
            print(f"round {r + 1}/{rounds}: {load} done", file=sys.stderr, flush=True)
    return results, default_threads


def markdown_table(results, workloads, default_threads):
    lines = [
        f"| workload | machine | 1 thread | default ({default_threads} threads) | default / 1 thread |",
        "|---|---|---|---|---|",
    ]
    for workload in workloads:
        spec = WORKLOADS[workload]
        for load in LOADS:
            one = statistics.median(results[(workload, load, "1")])
            default = statistics.median(results[(workload, load, "default")])
            unit = spec["unit"]
            lines.append(
                f"| {spec['label']} | {load} | {one:.4g} {unit} | {default:.4g} {unit} "
                f"| {default / one:.2f}x |"
            )
    return "\n".join(lines)


def machine_line():
    from compare import cpu_model

    import rnnkit

    info = rnnkit.core.build_info()
    return (
        f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores to run on, SIMD path "
        f"{rnnkit.core.simd_path()}, rnnkit {info['version']} "
        f"({'OpenMP' if info['openmp'] else 'serial build'}), load average "
        f"{os.getloadavg()[0]:.2f} at start"
    )


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.threads)
        return
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("contention.py needs at least 2 cores: one to burn, one to spare")
    facts = machine_line()
    results, default_threads = run_rounds(args.workloads, args.rounds)
    print(facts)
    print(f"median of {args.rounds} fresh processes per cell; loaded: a burner on one core\n")
    print(markdown_table(results, args.workloads, default_threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": facts, "default_threads": default_threads,
                       "results": [{"workload": w, "load": l, "threads": t, "medians": v}
                                   for (w, l, t), v in results.items()]}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
