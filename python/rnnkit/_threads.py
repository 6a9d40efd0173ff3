"""How many threads rnnkit's core starts with, and where that number came from.

The default is the number of cores this process may run on, not the machine's: its CPU
affinity (``taskset``, a batch scheduler's allocation), capped by a cgroup CPU quota (a
container's ``--cpus``), which OpenMP's own default ignores. ``RNNKIT_NUM_THREADS``, then
``OMP_NUM_THREADS``, override it. A value that is not a thread count is named in a
warning and skipped, never a failure at import.
"""

import math
import os
import warnings

# The variables read, first found first: rnnkit's own, then OpenMP's.
VARIABLES = ("RNNKIT_NUM_THREADS", "OMP_NUM_THREADS")
MAX_THREADS = 4096  # what set_num_threads accepts
CGROUP_ROOT = "/sys/fs/cgroup"
MEMBERSHIP = "/proc/self/cgroup"  # which cgroups this process is in


def cgroup_quota(root=CGROUP_ROOT, membership=MEMBERSHIP):
    """The CPU quota of this process's cgroup in whole cores (rounded up), or None.

    cgroup v2 writes it as ``"<quota> <period>"`` in ``cpu.max`` ("max" for none); v1 as
    ``cpu.cfs_quota_us`` (-1 for none) over ``cpu.cfs_period_us``. Both are looked for
    in this process's own cgroup, then at the root (a container sees its own there).
    """
    v2_path, v1_path = "", ""
    try:
        with open(membership) as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    v2_path = path
                elif "cpu" in controllers.split(","):
                    v1_path = path
    except (OSError, ValueError):
        pass
    for folder in dict.fromkeys([v2_path, ""]):
        text = _read(os.path.join(root + folder, "cpu.max"))
        if text is not None:
            quota, _, period = text.partition(" ")
            return _cores(quota, period)
    for folder in dict.fromkeys([v1_path, ""]):
        base = os.path.join(root, "cpu") + folder
        quota = _read(os.path.join(base, "cpu.cfs_quota_us"))
        if quota is not None:
            return _cores(quota, _read(os.path.join(base, "cpu.cfs_period_us")))
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cores(quota, period):
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):  # "max", or nothing readable: no quota
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))


def available_cores(root=CGROUP_ROOT, membership=MEMBERSHIP):
    """(cores this process may run on, where that number came from)."""
    try:
        cores, source = len(os.sched_getaffinity(0)), "CPU affinity"
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        cores, source = os.cpu_count() or 1, "CPU count"
    quota = cgroup_quota(root, membership)
    if quota is not None and quota < cores:
        return quota, "cgroup CPU quota"
    return cores, source


def default_threads(environ=None, root=CGROUP_ROOT, membership=MEMBERSHIP):
    """(threads the core starts with, where that number came from)."""
    environ = os.environ if environ is None else environ
    for name in VARIABLES:
        text = environ.get(name, "").strip()
        if not text:
            continue
        # OMP_NUM_THREADS may list a count per nesting level: the first is the outer one
        first = text.split(",")[0].strip()
        if first.isdigit() and 1 <= int(first) <= MAX_THREADS:
            return int(first), name
        warnings.warn(
            f"{name}={text!r} is not a thread count (an int from 1 to {MAX_THREADS}); "
            "rnnkit ignores it",
            RuntimeWarning,
            stacklevel=2,
        )
    return available_cores(root, membership)
