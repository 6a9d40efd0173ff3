"""What this installation of rnnkit is made of, for bug reports."""

import platform
import sys

import numpy as np

from . import core


def _threads_line(openmp):
    if not openmp:
        return "1 (a serial build)"
    line = f"{core.num_threads()} (from {core.threads_source()})"
    # dynamic: each parallel region runs on one thread where that is faster lately
    return line + (", fewer where faster" if core.dynamic() else ", fixed")


def show_config() -> None:
    """Print rnnkit's version, how its core was built, and the threads it uses."""
    info = core.build_info()
    openmp = f"on (OpenMP {info['openmp_version']})" if info["openmp"] else "off"
    rows = [
        ("rnnkit", info["version"]),
        ("compiler", info["compiler"]),
        ("build type", info["build_type"] or "unspecified"),
        ("OpenMP", openmp),
        ("threads", _threads_line(info["openmp"])),
        ("SIMD path", f"{core.simd_path()} (supported: {', '.join(core.supported_simd_paths())})"),
        ("python", sys.version.split()[0]),
        ("numpy", np.__version__),
        ("platform", f"{platform.system()} {platform.machine()}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}} : {value}")
