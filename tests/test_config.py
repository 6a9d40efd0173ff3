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
