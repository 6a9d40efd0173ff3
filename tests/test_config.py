"""The package's face: version, build report, thread count."""

from importlib.metadata import version

import pytest
from _problems import run_python

import rnnkit


def test_version_matches_the_installed_metadata():
    assert rnnkit.__version__ == version("rnnkit") == rnnkit.core.build_info()["version"]


def test_show_config_reports_the_build(capsys):
    rnnkit.show_config()
    report = capsys.readouterr().out
    info = rnnkit.core.build_info()
    for word in ("rnnkit", rnnkit.__version__, "compiler", info["compiler"], "build type"):
        assert word in report
    openmp_line = next(line for line in report.splitlines() if line.startswith("OpenMP"))
    assert ("on" if info["openmp"] else "off") in openmp_line
    threads_line = next(line for line in report.splitlines() if line.startswith("threads"))
    assert threads_line.split(":")[1].split()[0] == str(rnnkit.num_threads())
    simd_line = next(line for line in report.splitlines() if line.startswith("SIMD path"))
    assert rnnkit.core.simd_path() in simd_line


def test_public_names():
    assert set(rnnkit.__all__) <= set(dir(rnnkit))
    for name in ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward"):
        assert callable(getattr(rnnkit.core, name))
        assert callable(getattr(rnnkit.reference, name))
        assert getattr(rnnkit.core, name).__doc__


def test_submodules_load_when_first_used_and_import_rnnkit_stays_light():
    script = (
        "import sys, rnnkit\n"
        "heavy = [m for m in ('matplotlib', 'pandas', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(rnnkit.inspect.gates) and callable(rnnkit.inspect.gate_heatmap)\n"
        "assert callable(rnnkit.plot.predictions)\n"
        "assert callable(rnnkit.experiments.memory_span)\n"
        "assert {'inspect', 'plot', 'experiments', 'sklearn'} <= set(dir(rnnkit))\n"
        "try:\n    rnnkit.nothing\nexcept AttributeError as err:\n    print(err)\n"
    )
    done = run_python(script)
    assert done.stdout.strip() == "module 'rnnkit' has no attribute 'nothing'"


def test_a_submodule_whose_extra_is_missing_is_an_attribute_error():
    script = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import pydoc, rnnkit\n"
        "assert not hasattr(rnnkit, 'sklearn')\n"
        "pydoc.render_doc(rnnkit)\n"
        "try:\n    rnnkit.sklearn\nexcept AttributeError as err:\n    print(err)\n"
    )
    done = run_python(script)
    assert done.stdout.startswith("rnnkit.sklearn is unavailable: ")
    assert "scikit-learn" in done.stdout


# ---------------------------------------------------------------------------- default threads


def cgroup(tmp_path, files, membership="0::/\n"):
    """A fake cgroup tree under tmp_path with ``files`` (path -> text), and its membership."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    (tmp_path / "membership").write_text(membership)
    return {"root": str(tmp_path), "membership": str(tmp_path / "membership")}


@pytest.mark.parametrize(
    ("files", "membership", "cores"),
    [
        ({"cpu.max": "150000 100000\n"}, "0::/\n", 2),  # v2, 1.5 cores: 2 threads
        ({"cpu.max": "max 100000\n"}, "0::/\n", None),  # v2, no quota
        ({"job/cpu.max": "100000 100000\n"}, "0::/job\n", 1),  # v2, the process's own group
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"},
         "4:cpu,cpuacct:/\n", 1),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
         "4:cpu,cpuacct:/\n", None),  # v1, no quota
        ({}, "", None),  # no cgroup files at all (macOS, Windows)
    ],
)  # fmt: skip
def test_a_cgroup_cpu_quota_is_read_in_whole_cores(tmp_path, files, membership, cores):
    from rnnkit._threads import cgroup_quota

    assert cgroup_quota(**cgroup(tmp_path, files, membership)) == cores


def test_the_default_is_the_cores_this_process_may_use(tmp_path, monkeypatch):
    from rnnkit import _threads

    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    quota = cgroup(tmp_path, {"cpu.max": "200000 100000"})
    assert _threads.default_threads({}, **quota) == (2, "cgroup CPU quota")
    no_quota = cgroup(tmp_path / "free", {})
    assert _threads.default_threads({}, **no_quota) == (4, "CPU affinity")


@pytest.mark.parametrize(
    ("environ", "expected", "warned"),
    [
        ({"RNNKIT_NUM_THREADS": "1", "OMP_NUM_THREADS": "3"}, (1, "RNNKIT_NUM_THREADS"), None),
        ({"OMP_NUM_THREADS": "3,1"}, (3, "OMP_NUM_THREADS"), None),  # per nesting level
        ({"RNNKIT_NUM_THREADS": " "}, (4, "CPU affinity"), None),
        ({"RNNKIT_NUM_THREADS": "two", "OMP_NUM_THREADS": "3"}, (3, "OMP_NUM_THREADS"),
         "RNNKIT_NUM_THREADS='two' is not a thread count"),
        ({"OMP_NUM_THREADS": "0"}, (4, "CPU affinity"), "OMP_NUM_THREADS='0' is not"),
        ({"RNNKIT_NUM_THREADS": "-2"}, (4, "CPU affinity"), "RNNKIT_NUM_THREADS='-2' is not"),
        ({"RNNKIT_NUM_THREADS": "1.5"}, (4, "CPU affinity"), "'1.5' is not a thread count"),
        ({"RNNKIT_NUM_THREADS": "99999"}, (4, "CPU affinity"), "an int from 1 to 4096"),
    ],
)  # fmt: skip
def test_variables_are_read_in_order_and_a_bad_one_is_named(
    tmp_path, monkeypatch, environ, expected, warned
):
    import warnings

    from rnnkit import _threads

    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _threads.default_threads(environ, **cgroup(tmp_path, {}))
    assert got == expected
    messages = [str(w.message) for w in caught]
    if warned is None:
        assert messages == []
    else:
        assert len(messages) == 1
        assert warned in messages[0]


def test_a_bad_variable_never_stops_the_import_and_show_config_says_the_source():
    import os

    environ = {**os.environ, "RNNKIT_NUM_THREADS": "many", "OMP_NUM_THREADS": "1"}
    done = run_python("import rnnkit; rnnkit.show_config()", env=environ)
    assert "RNNKIT_NUM_THREADS='many' is not a thread count" in done.stderr
    threads = next(line for line in done.stdout.splitlines() if line.startswith("threads"))
    expected = "1 (from OMP_NUM_THREADS)" if rnnkit.core.build_info()["openmp"] else "1 (a serial"
    assert expected in threads


def test_set_num_threads_becomes_the_source():
    before, source = rnnkit.num_threads(), rnnkit.core.threads_source()
    try:
        rnnkit.set_num_threads(1)
        assert rnnkit.core.threads_source() == "set_num_threads()"
    finally:
        rnnkit.core._core.set_num_threads(before)
        rnnkit.core._threads_source = source
