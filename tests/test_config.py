"""The package's face: version, build report, thread count."""

from importlib.metadata import version

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
    assert threads_line.split(":")[1].strip() == str(rnnkit.num_threads())
    simd_line = next(line for line in report.splitlines() if line.startswith("SIMD path"))
    assert rnnkit.core.simd_path() in simd_line


def test_public_names():
    assert set(rnnkit.__all__) <= set(dir(rnnkit))
    for name in ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward"):
        assert callable(getattr(rnnkit.core, name))
        assert callable(getattr(rnnkit.reference, name))
        assert getattr(rnnkit.core, name).__doc__


def test_submodules_load_when_first_used_and_import_rnnkit_stays_light():
    import subprocess
    import sys

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
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'rnnkit' has no attribute 'nothing'"


def test_a_submodule_whose_extra_is_missing_is_an_attribute_error():
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import pydoc, rnnkit\n"
        "assert not hasattr(rnnkit, 'sklearn')\n"
        "pydoc.render_doc(rnnkit)\n"
        "try:\n    rnnkit.sklearn\nexcept AttributeError as err:\n    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rnnkit.sklearn is unavailable: ")
    assert "scikit-learn" in done.stdout
