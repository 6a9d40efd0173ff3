"""scripts/check_vectorized.py, which the Release build runs on GCC's vectorisation report:
every loop after a `#pragma GCC ivdep` must be vectorised on every path checked."""

import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "check_vectorized.py"

HEADER = """\
void f(float* a, int n) {
#pragma GCC ivdep
  for (int j = 0; j < n; ++j) a[j] += 1;
  for (int j = 0; j < n; ++j) a[j] *= 2;
#pragma GCC ivdep
  for (int j = 0; j < n; ++j) a[j] -= 1;
}
"""


def check(tmp_path, *reports, strict=True):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "cells.hpp").write_text(HEADER)
    paths = []
    for k, text in enumerate(reports):
        paths.append(tmp_path / f"report{k}.txt")
        paths[-1].write_text(text)
    args = [sys.executable, str(SCRIPT), *(["--strict"] if strict else []), str(tmp_path / "src")]
    return subprocess.run([*args, *map(str, paths)], check=False, capture_output=True, text=True)


def vectorised(*lines):
    return "".join(
        f"/build/src/cells.hpp:{n}:23: optimized: loop vectorized using 64 byte vectors\n"
        for n in lines
    )


def test_every_marked_loop_vectorised_on_every_path_passes(tmp_path):
    # line 4 is not marked: whether it is vectorised does not matter
    done = check(tmp_path, vectorised(3, 6), vectorised(3, 6, 6))
    assert (done.returncode, done.stderr) == (0, "")


def test_a_marked_loop_left_scalar_on_one_path_fails_and_is_named(tmp_path):
    done = check(tmp_path, vectorised(3, 6), vectorised(3, 4))
    assert done.returncode == 1
    assert (
        done.stderr == "rnnkit: GCC left a loop marked ivdep scalar: cells.hpp:6 in report1.txt\n"
    )


def test_without_strict_a_miss_is_a_warning(tmp_path):
    done = check(tmp_path, vectorised(3), strict=False)
    assert done.returncode == 0
    assert "cells.hpp:6 in report0.txt" in done.stderr


def test_a_passing_check_removes_its_reports_and_a_failing_one_keeps_them(tmp_path):
    # GCC appends to a report: lines left from an earlier compile would pass a loop that the
    # next compile leaves scalar, so the reports of a passing check go
    passed = check(tmp_path, vectorised(3, 6), vectorised(3, 6))
    assert passed.returncode == 0
    assert not list(tmp_path.glob("report*.txt"))
    failed = check(tmp_path, vectorised(3, 6), vectorised(3))
    assert failed.returncode == 1
    assert sorted(p.name for p in tmp_path.glob("report*.txt")) == ["report0.txt", "report1.txt"]


def test_a_path_not_compiled_since_the_last_check_is_skipped(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cells.hpp").write_text(HEADER)
    report = tmp_path / "report.txt"
    report.write_text(vectorised(3))
    args = [sys.executable, str(SCRIPT), "--strict", str(tmp_path / "src")]
    done = subprocess.run(
        [*args, str(tmp_path / "absent.txt"), str(report)], check=False, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "rnnkit: GCC left a loop marked ivdep scalar: cells.hpp:6 in report.txt\n"
