"""Many independent jobs (walk-forward folds, configurations, series) on an engine.

The jobs run through joblib, never a pool of rnnkit's own: ``joblib.Parallel`` inside
``joblib.parallel_config(backend=...)``, so that the process backend of one machine
("loky"), "threading" (the kernels release the GIL) and the engines that plug into joblib
(Dask's "dask" with a ``dask.distributed`` Client, Ray's "ray") all work the same way.
joblib is optional: without it, and for ``n_jobs=1`` with no backend, the jobs run in a
plain loop in this process.

Kernel threads: a job that runs in another process sets the kernels to
``threads_per_job`` threads (by default the cores this process may run on divided among
the jobs, at least 1), so that jobs times threads never exceed the cores. Jobs in this
process (the threading backend, the loop) share its threads instead: rnnkit's budget
already keeps the threads of concurrent calls within ``set_num_threads()``.
"""

import os
import sys
import warnings

from . import _progress
from ._checks import check_int, is_int

# joblib's engines that can hand back results as they finish (return_as="generator_unordered";
# its "multiprocessing" backend cannot: "loky" is the process backend)
BACKENDS = ("loky", "threading", "dask", "ray")


def check_n_jobs(n_jobs):
    """``n_jobs`` as a positive int, or -1: as many as the engine has workers (this
    machine's cores for the process backend, a cluster's workers for Dask)."""
    if is_int(n_jobs) and n_jobs == -1:
        return -1
    if is_int(n_jobs) and n_jobs < 1:
        raise ValueError(f"n_jobs must be an int >= 1, or -1 for all workers, got {n_jobs}")
    return check_int("n_jobs", n_jobs)


def check_engine(n_jobs, backend, threads_per_job, jobs=None):
    """How jobs are to run, checked: (n_jobs, backend, threads_per_job), the last worked
    out when None (see :func:`run`) for ``jobs`` jobs (None: as many as n_jobs)."""
    n_jobs = check_n_jobs(n_jobs)
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {', '.join(BACKENDS)}, got {backend!r}")
    if threads_per_job is None:  # n_jobs=-1: a job per core, each on one thread
        at_once = n_jobs if jobs is None else min(n_jobs, max(jobs, 1))
        threads_per_job = max(1, _cores() // at_once) if n_jobs > 0 else 1
    return n_jobs, backend, check_int("threads_per_job", threads_per_job)


def _cores():
    from . import _threads

    return _threads.available_cores()[0]


def _joblib():
    try:
        import joblib
    except ImportError:
        raise ImportError(
            "running jobs in parallel needs joblib: pip install 'rnnkit[parallel]' (or pass "
            "n_jobs=1 and no backend to run them one after another)"
        ) from None
    return joblib


# What Dask's nanny sets in its workers by default, and what it costs rnnkit there: with a
# trim threshold set, glibc stops raising its mmap threshold, so every array above 128 KB
# (a batch's activations and gradients) is mapped and unmapped afresh: fits ran 2x slower.
TRIM = "MALLOC_TRIM_THRESHOLD_"


def dask_client():
    """The current dask.distributed Client, or a clear error without one."""
    try:
        from distributed import get_client
    except ImportError:
        raise ImportError("backend='dask' needs Dask: pip install 'rnnkit[parallel]'") from None
    try:
        return get_client()
    except ValueError:  # "No global client found"
        raise ValueError(
            "backend='dask' runs the jobs on the current dask.distributed Client: open one "
            "first, such as Client('tcp://host:8786') or Client(LocalCluster())"
        ) from None


# What glibc reads beside TRIM: a fixed mmap threshold keeps it from mapping afresh
MMAP = "MALLOC_MMAP_THRESHOLD_"


def memory_settings():
    """TRIM and MMAP as this process's environment has them: run on each Dask worker (a
    module-level function, sent by name: ``os.environ.get`` would carry this process's
    environment along by value and answer for it)."""
    return os.environ.get(TRIM), os.environ.get(MMAP)


def warn_if_dask_workers_trim():
    """A RuntimeWarning when workers of the current Dask Client run with TRIM set and no
    MMAP beside it."""
    settings = dask_client().run(memory_settings)
    trimming = [w for w, (trim, mmap) in settings.items() if trim is not None and mmap is None]
    if trimming:
        warnings.warn(
            f"{len(trimming)} of {len(settings)} Dask worker(s) run with {TRIM} set (Dask's "
            "default), which makes rnnkit's training about 2x slower there: start the "
            "workers without it, e.g. dask.config.set({'distributed.nanny.pre-spawn-environ."
            f"{TRIM}': None}}) before the cluster, or with {MMAP}=33554432 beside it (see the "
            "README, 'Beyond one machine')",
            RuntimeWarning,
            stacklevel=3,
        )


def _register_ray():
    """Ray's joblib backend, which Ray registers on request."""
    try:
        from ray.util.joblib import register_ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install 'ray[default]'") from None
    register_ray()


def _in_job(function, parent, threads, filters, k, args):
    """Run ``function(*args)`` as job ``k``: (k, its result, the warnings it gave).

    In another process the job runs on ``threads`` threads under the warning
    ``filters`` of the process that started it (so that a warning made an error there
    is an error in the job, as it would be had the job run there), and the warnings it
    gives travel back with its result, to be given again where the jobs started. A job
    in this process (the loop, the threading backend) warns as any code does: catching
    warnings changes process-wide state that concurrent threads would share.
    """
    if os.getpid() == parent:
        return k, function(*args), []
    from . import core

    core.set_num_threads(threads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filters[:] = filters
        result = function(*args)
    return k, result, [_sent(w) for w in caught]


def _sent(w):
    """A caught warning as it travels back: (message, category, filename, lineno, module)."""
    module = next(
        (
            name
            for name, m in list(sys.modules.items())
            if getattr(m, "__file__", None) == w.filename
        ),
        None,
    )
    return str(w.message), w.category, w.filename, w.lineno, module


def _warn_again(message, category, filename, lineno, module):
    """A job's warning given here, under this process's filters and its module's registry
    (so that "default" shows it once per place, as for a warning given here)."""
    globals_ = vars(sys.modules[module]) if module in sys.modules else {}
    registry = globals_.setdefault("__warningregistry__", {}) if globals_ else None
    warnings.warn_explicit(message, category, filename, lineno, module=module, registry=registry)


def run(
    function, jobs, n_jobs=1, backend=None, threads_per_job=None, on_result=None, costs=None,
    progress=None,
):  # fmt: skip
    """``[function(*args) for args in jobs]``, the jobs spread over ``n_jobs`` workers.

    Parameters
    ----------
    function : callable
        A module-level function (the process backends pickle it by name).
    jobs : list of tuple
        Each job's arguments: what it needs and nothing more, since the process
        backends ship them to the workers.
    n_jobs : int
        Workers at once; -1 for all the engine has.
    backend : str or None
        A joblib backend (see ``BACKENDS``); None: joblib's default (processes, "loky").
    threads_per_job : int or None
        Kernel threads of a job run in another process; None: this machine's cores
        divided among the jobs that run at once (n_jobs, or fewer jobs), at least 1 (1
        for n_jobs=-1).
    on_result : callable or None
        Called here as ``on_result(k, result)`` as each job finishes, in the order they
        finish: to keep each result the moment it exists.
    costs : list of float or None
        Each job's expected cost, in any unit: the costliest jobs start first, so that
        the last job to finish is a short one and no worker waits long for it.
    progress : str or None
        A label: show a progress bar over the jobs (a line per job without tqdm).

    Returns
    -------
    list
        The results, in the order of ``jobs``.
    """
    n_jobs, backend, threads_per_job = check_engine(n_jobs, backend, threads_per_job, len(jobs))
    order = range(len(jobs)) if costs is None else sorted(range(len(jobs)), key=lambda k: -costs[k])
    parent, filters = os.getpid(), list(warnings.filters)
    if n_jobs == 1 and backend is None:
        finished = (_in_job(function, parent, threads_per_job, filters, k, jobs[k]) for k in order)
        return _collect(finished, len(jobs), on_result, progress)
    joblib = _joblib()
    if backend == "ray":
        _register_ray()
    if backend == "dask":
        warn_if_dask_workers_trim()
    engine = {"n_jobs": n_jobs} if backend is None else {"n_jobs": n_jobs, "backend": backend}
    with joblib.parallel_config(**engine):
        finished = joblib.Parallel(return_as="generator_unordered")(
            joblib.delayed(_in_job)(function, parent, threads_per_job, filters, k, jobs[k])
            for k in order
        )
        return _collect(finished, len(jobs), on_result, progress)


def _collect(finished, n, on_result, progress):
    """The results of (k, result, warnings) triples in job order, each passed to
    on_result first and its warnings given here."""
    results = [None] * n
    bar = _progress.bar(n, progress, "job") if progress else None
    try:
        for done, (k, result, caught) in enumerate(finished, start=1):
            if on_result is not None:  # kept before its warnings, which may be errors here
                on_result(k, result)
            results[k] = result
            for sent in caught:
                _warn_again(*sent)
            if bar is not None:
                bar.update(1)
            elif progress:
                print(f"{progress}: {done}/{n} jobs done", file=sys.stderr)
    finally:
        if bar is not None:
            bar.close()
    return results
