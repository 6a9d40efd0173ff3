"""Single-core multiply-add peak (GFLOP/s) per SIMD path and float type: the yardstick.

``peak.cpp`` runs 12 independent chains ``a = a * m + c`` on GCC vector-extension vectors in
a loop whose length is only known at run time, then prints the sum of the chains so that no
work can be dropped. Twelve chains hide the latency of the multiply-add behind the
throughput of the FMA units of current x86 cores, so the loop runs at the core's peak.
Every multiply-add counts 2 flops per vector lane.

For each path of ``rnnkit.core.supported_simd_paths()`` and each float type, this script
compiles ``peak.cpp`` with the system C++ compiler (``$CXX``, default ``c++``) at ``-O2``
into a temporary directory with that path's flags and vector width:

============  ===================================  ============
path          flags                                vector bytes
============  ===================================  ============
portable      (none: the x86-64 baseline, SSE2)    16
avx2          ``-mavx2 -mfma``                     32
avx512        ``-mavx512f -mavx2 -mfma``           64
============  ===================================  ============

(``-DREAL=float`` or ``-DREAL=double``). It sizes the loop to run about LOOP_S seconds from a
short calibration run, then runs the binary RUNS times and keeps the best GFLOP/s: machine
noise only ever slows a run down. The portable build has no FMA instruction, so it issues a
multiply and an add for the same 2 flops.

Usage::

    python benchmarks/peak.py

prints a Markdown table (path x float type). Other benchmarks call :func:`measure_peak`,
which caches its results for the life of the process.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import rnnkit

SOURCE = Path(__file__).with_name("peak.cpp")

# path -> (compiler flags, vector bytes)
PATHS = {
    "portable": ([], 16),
    "avx2": (["-mavx2", "-mfma"], 32),
    "avx512": (["-mavx512f", "-mavx2", "-mfma"], 64),
}
REALS = {"float32": "float", "float64": "double"}

# seconds of one timed run, and timed runs per path and type (the best counts)
LOOP_S = 0.3
RUNS = 3
# the calibration doubles the iterations until a run lasts this long
CALIBRATE_S = 0.02
# the chains' multiplier and addend: just below 1, so they settle near c / (1 - m)
M, C = "0.999999", "0.001"

_cache = {}


def compiler():
    """The C++ compiler command from ``$CXX`` (default ``c++``) as a list of arguments."""
    command = shlex.split(os.environ.get("CXX", "c++"))
    if not command or shutil.which(command[0]) is None:
        raise RuntimeError(
            f"no C++ compiler: CXX={os.environ.get('CXX', '(unset)')!r} and "
            f"{command[0] if command else 'c++'!r} is not on PATH; set CXX to a compiler"
        )
    return command


def measure_peak(path=None, dtype="float32"):
    """Single-core multiply-add peak in GFLOP/s, cached within the process.

    Parameters
    ----------
    path : {"avx512", "avx2", "portable"} or None
        The instruction set; None is the path rnnkit's core runs, ``rnnkit.core.simd_path()``.
    dtype : {"float32", "float64"}

    Returns
    -------
    float
        The best GFLOP/s of RUNS runs of ``peak.cpp`` built for that path and type.

    Raises
    ------
    ValueError
        For a path this CPU and build cannot run (not in ``supported_simd_paths()``) or
        an unknown dtype.
    RuntimeError
        When no C++ compiler is found or the build fails.
    """
    if path is None:
        path = rnnkit.core.simd_path()
    if path not in PATHS or path not in rnnkit.core.supported_simd_paths():
        raise ValueError(
            f"SIMD path {path!r} not supported here; choose among "
            f"{rnnkit.core.supported_simd_paths()}"
        )
    if dtype not in REALS:
        raise ValueError(f"dtype {dtype!r}; choose among {list(REALS)}")
    if (path, dtype) not in _cache:
        with tempfile.TemporaryDirectory(prefix="rnnkit-peak-") as tmp:
            binary = _build(path, dtype, Path(tmp))
            _cache[path, dtype] = _best_gflops(binary)
    return _cache[path, dtype]


def _build(path, dtype, directory):
    flags, vector_bytes = PATHS[path]
    binary = directory / f"peak_{path}_{dtype}"
    command = [
        *compiler(),
        "-O2",
        f"-DREAL={REALS[dtype]}",
        f"-DVB={vector_bytes}",
        *flags,
        str(SOURCE),
        "-o",
        str(binary),
    ]
    build = subprocess.run(command, check=False, capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(
            f"building the peak benchmark failed: {shlex.join(command)}\n{build.stderr}"
        )
    return binary


def _run(binary, iterations):
    """One run of the binary: (seconds, GFLOP/s)."""
    out = subprocess.run(
        [str(binary), str(iterations), M, C], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[2]), float(out[3])


def _best_gflops(binary):
    iterations = 1 << 16
    while (seconds := _run(binary, iterations)[0]) < CALIBRATE_S:
        iterations *= 2
    iterations = max(1, round(iterations * LOOP_S / seconds))
    return max(_run(binary, iterations)[1] for _ in range(RUNS))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    paths = rnnkit.core.supported_simd_paths()
    active = rnnkit.core.simd_path()
    print(
        f"Single-core multiply-add peak, GFLOP/s: best of {RUNS} runs of ~{LOOP_S} s, "
        f"12 chains, 2 flops per lane. rnnkit's core runs the {active} path.\n"
    )
    lines = ["| path | vector bytes | float32 | float64 |", "|---|---|---|---|"]
    for path in paths:
        print(f"{path} ...", file=sys.stderr, flush=True)
        row = [path + (" (active)" if path == active else ""), str(PATHS[path][1])]
        row += [f"{measure_peak(path, dtype):.1f}" for dtype in REALS]
        lines.append("| " + " | ".join(row) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
