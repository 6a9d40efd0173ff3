"""Report folders: rnnkit writes only its own files, refuses others' folders before any
training, and writes each file whole."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from rnnkit import _output
from rnnkit.__main__ import main
from rnnkit.datasets import random_walk
from rnnkit.report import FILES

FAST = ["--epochs", "1", "--hidden", "4", "--lookback", "5", "--quiet"]


@pytest.fixture
def csv(tmp_path):
    n = 120
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "Close": np.round(random_walk(n, seed=1), 4),
        }
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    return str(path)


def run(csv, out, *more):
    return main(["run", "--csv", csv, "--cells", "lstm", "--out", str(out), *FAST, *more])


def one_line_error(capsys):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("rnnkit: error: ")
    assert len(err.splitlines()) == 1
    # Refused before any training: no table was printed.
    assert "RMSE" not in captured.out
    return err


def test_run_into_a_folder_with_the_users_files_is_refused(csv, tmp_path, capsys, monkeypatch):
    # The reported accident: `rnnkit run --out .` replaced the user's README.md.
    home = tmp_path / "project"
    home.mkdir()
    (home / "README.md").write_text("my notes")
    monkeypatch.chdir(home)
    assert run(csv, ".") == 2
    err = one_line_error(capsys)
    # --overwrite would not help: it never replaces the user's README.md.
    assert "README.md, which rnnkit did not write" in err
    assert "--overwrite" not in err
    assert sorted(p.name for p in home.iterdir()) == ["README.md"]
    assert (home / "README.md").read_text() == "my notes"


def test_overwrite_never_replaces_a_file_rnnkit_did_not_write(csv, tmp_path, capsys):
    out = tmp_path / "shared"
    out.mkdir()
    (out / "README.md").write_text("my notes")
    assert run(csv, out, "--overwrite") == 2
    assert "README.md" in one_line_error(capsys)
    assert (out / "README.md").read_text() == "my notes"


def test_overwrite_writes_beside_other_files_and_lists_only_its_own(csv, tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run(csv, out, "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "mine"
    manifest = json.loads((out / _output.MANIFEST).read_text())
    assert manifest["files"] == sorted(FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, _output.MANIFEST, "notes.txt"])


def test_a_second_run_replaces_rnnkits_own_report(csv, tmp_path):
    out = tmp_path / "report"
    assert run(csv, out) == 0
    first = (out / "metrics.csv").stat().st_mtime_ns
    assert run(csv, out, "--seed", "1") == 0
    assert (out / "metrics.csv").stat().st_mtime_ns >= first
    assert not [p for p in out.iterdir() if p.name.startswith(".rnnkit-") and "tmp" in p.name]


def test_the_default_out_is_a_new_folder(csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("my notes")
    assert main(["run", "--csv", csv, "--cells", "lstm", *FAST]) == 0
    assert (tmp_path / "README.md").read_text() == "my notes"
    assert (tmp_path / "rnnkit-report" / "README.md").exists()


def test_out_naming_an_existing_file_is_refused_before_training(csv, tmp_path, capsys):
    out = tmp_path / "report.txt"
    out.write_text("keep me")
    assert run(csv, out) == 2
    assert "is a file" in one_line_error(capsys)
    assert out.read_text() == "keep me"


def test_out_inside_a_file_is_refused_before_training(csv, tmp_path, capsys):
    (tmp_path / "report.txt").write_text("keep me")
    assert run(csv, tmp_path / "report.txt" / "sub") == 2
    assert "is a file" in one_line_error(capsys)


def read_only(folder, monkeypatch):
    """Make ``folder`` read-only, also for root, whom file modes do not stop."""
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: real(p, mode) and os.fspath(p) != str(folder)
        )


def test_an_unwritable_out_is_refused_before_training(csv, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked, monkeypatch)
    try:
        assert run(csv, locked / "report") == 2
        err = one_line_error(capsys)
        assert "permission" in err
        assert str(locked) in err
    finally:
        locked.chmod(0o755)


def test_experiments_refuse_a_folder_with_the_users_files_before_running(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("mine")
    assert main(["experiments", "--quick", "--only", "cost", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr()
    assert "thesis.tex" in err.err
    assert "--overwrite" in err.err
    assert "cost:" not in err.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]


def test_write_folder_keeps_the_earlier_file_when_a_write_fails(tmp_path):
    out = tmp_path / "r"
    _output.write_folder(out, {"a.txt": _output.text_writer("one")})

    def fails(path):
        with open(path, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=r"a\.txt"):
        _output.write_folder(out, {"a.txt": fails})
    assert (out / "a.txt").read_text() == "one"
    assert sorted(p.name for p in out.iterdir()) == [_output.MANIFEST, "a.txt"]


def test_report_files_get_the_umask_permissions(tmp_path):
    before = os.umask(0o027)
    try:
        _output.write_folder(tmp_path / "r", {"a.txt": _output.text_writer("one")})
    finally:
        os.umask(before)
    for name in ("a.txt", _output.MANIFEST):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o640


def test_a_damaged_manifest_claims_nothing(tmp_path):
    (tmp_path / _output.MANIFEST).write_text("{not json")
    (tmp_path / "a.txt").write_text("mine?")
    with pytest.raises(FileExistsError, match="did not write"):
        _output.check_folder(tmp_path, ["b.txt"])
