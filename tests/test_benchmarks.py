"""The benchmark scripts on tiny configurations: they run, check their peers and print tables.

``benchmarks/inference.py`` runs with every peer it can find, without ONNX Runtime and
without torch (each hidden with ``sys.modules[name] = None``, so the cases without a peer run
wherever rnnkit does); ``benchmarks/fit_vs_torch.py``'s adding problem is checked to train on
``rnnkit.experiments.adding_problem``'s batches and, with torch, runs a few steps. The
timings themselves mean nothing here: the settle pauses are set to 0.
"""

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# hidden peer -> the columns inference.py prints
COLUMNS = {
    None: ["rnnkit", "PyTorch", "ONNX Runtime"],
    "onnxruntime": ["rnnkit", "PyTorch"],
    "torch": ["rnnkit"],
}


@pytest.fixture
def bench(monkeypatch):
    """Import a benchmark script by name, from benchmarks/, with no settle pauses; the
    core's threads as they were afterwards (``--threads`` sets them)."""
    from rnnkit import core

    threads, dynamic = core.num_threads(), core.dynamic()
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name):
        module = importlib.import_module(name)
        if hasattr(module, "SETTLE_S"):
            monkeypatch.setattr(module, "SETTLE_S", 0.0)
        return module

    load("compare")  # inference.py's turns settle for compare.SETTLE_S
    yield load
    core.set_num_threads(threads)
    core.set_dynamic(dynamic)


def test_a_thread_count_given_is_a_fixed_team(bench):
    from rnnkit import core

    if not core.build_info()["openmp"]:
        pytest.skip("a serial build has one thread and no teams to fix")
    compare = bench("compare")
    core.set_dynamic(True)
    compare.set_threads(None)
    assert core.dynamic()  # no --threads: every library as it is
    limit, _ = compare.set_threads(2)
    with limit:  # NumPy's BLAS as it was afterwards
        assert (core.num_threads(), core.dynamic()) == (2, False)
        facts = compare.machine_facts(None, "BLAS")
        assert f"{core.simd_path()} path; threads 2, fixed teams" in facts


def test_compare_times_the_core_on_one_thread_beside_its_threads(
    bench, monkeypatch, capsys, tmp_path
):
    # the speed-up of more threads, measured in the same turns as everything else: each
    # turn of "core_1" runs on one thread, each of "core" on the threads asked for
    from rnnkit import core

    if not core.build_info()["openmp"]:
        pytest.skip("a serial build has one thread and no teams to fix")
    compare = bench("compare")
    training_step = compare.training_step
    seen = []

    def counted_step(impl, cell, problem):
        step = training_step(impl, cell, problem)
        if impl is not core:
            return step

        def run():
            seen.append(core.num_threads())
            return step()

        return run

    monkeypatch.setattr(compare, "training_step", counted_step)
    monkeypatch.setattr(compare, "peak_or_none", lambda threads: None)
    record = tmp_path / "compare.json"
    args = ["--cells", "rnn", "--shapes", "3,2,1,4", "--repeat", "1", "--json", str(record)]
    compare.main(["--threads", "2", *args])
    rows = table_rows(capsys.readouterr().out)
    ms = json.loads(record.read_text())["results"][0]["median_ms"]
    assert rows[1][rows[0].index("core vs rnnkit core on 1 thread")] == (
        f"{ms['core_1'] / ms['core']:.2f}x"
    )
    # a check and compare.TURNS timed calls each, the two counts taking turns
    assert sorted(seen) == [1] * (1 + compare.TURNS) + [2] * (1 + compare.TURNS)
    assert core.num_threads() == 2  # as asked, once the turns are over

    seen.clear()
    compare.main(["--threads", "1", *args])
    assert "on 1 thread" not in capsys.readouterr().out
    assert seen == [1] * (1 + compare.TURNS)

    # a build without OpenMP (or a forked child) runs one thread whatever is asked:
    # no speed-up column that would only say 1.00x
    monkeypatch.setattr(core, "num_threads", lambda: 1)
    compare.main(["--threads", "2", *args])
    assert "on 1 thread" not in capsys.readouterr().out


def test_the_benchmarks_warn_when_the_machine_is_busy_at_the_start(bench, monkeypatch, capsys):
    # a run started while something else keeps every CPU busy prints times of that, not of
    # the libraries: said on stderr, with the load in the machine line
    compare = bench("compare")
    if not hasattr(compare.os, "getloadavg"):
        pytest.skip("no load average on this platform")
    cpus = compare.os.cpu_count() or 1
    for load, warned in ((cpus + 2.9, True), (cpus - 0.5, False)):
        monkeypatch.setattr(compare.os, "getloadavg", lambda load=load: (load, load, load))
        facts = compare.machine_facts(None, "BLAS")
        assert f"load average {load:.2f} at start" in facts
        assert ("other programs are using them" in capsys.readouterr().err) == warned


def table_rows(out):
    """The rows of the Markdown table in ``out``, each a list of cells, header first."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in lines if "---" not in line
    ]


@pytest.mark.parametrize("hidden", list(COLUMNS), ids=["all peers", "no onnxruntime", "no torch"])
def test_inference_prints_a_table_with_every_peer_found(
    bench, monkeypatch, capsys, tmp_path, hidden
):
    if hidden != "torch":
        pytest.importorskip("torch")
    if hidden is None:
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    if hidden is not None:
        monkeypatch.setitem(sys.modules, hidden, None)  # import now raises ImportError
    inference = bench("inference")
    path = tmp_path / "inference.json"

    inference.main(["--batches", "1,4", "--models", "course", "--repeat", "2", "--json", str(path)])

    out, err = capsys.readouterr()
    assert out.startswith("Machine: ")
    head, *rows = table_rows(out)
    columns = COLUMNS[hidden]
    peers = columns[1:]
    assert head == ["model", "B"] + [f"{c} per batch" for c in columns] + [
        f"{p} / rnnkit" for p in peers
    ]
    assert [row[:2] for row in rows] == [["course (LSTM 50, I=1)", b] for b in ("1", "4")]
    for row in rows:
        for cell in row[2 : 2 + len(columns)]:
            assert re.fullmatch(r"\d+\.\d+ (µs|ms)", cell), cell
        for cell in row[2 + len(columns) :]:
            assert re.fullmatch(r"\d+\.\d\dx", cell), cell
    notes = {"onnxruntime": "no ONNX Runtime column", "torch": "no PyTorch and ONNX Runtime"}
    assert hidden is None or notes[hidden] in err
    record = json.loads(path.read_text())
    assert [r["batch"] for r in record["results"]] == [1, 4]
    for r in record["results"]:
        assert sorted(r["median_us"]) == sorted(["rnnkit", "torch", "onnx"][: len(columns)])
        # --repeat 2 in each of compare.TURNS turns
        assert r["calls"] == dict.fromkeys(r["median_us"], 2 * inference.compare.TURNS)
        assert r["disagree"] == {}


def test_inference_gives_no_ratios_when_the_predictions_disagree(bench, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # PyTorch's column is enough here
    inference = bench("inference")
    good = inference.expected_predictions
    # every implementation now disagrees with the yardstick
    monkeypatch.setattr(inference, "expected_predictions", lambda *args: good(*args) + 1.0)

    with pytest.raises(SystemExit) as exit_info:
        inference.main(["--batches", "2", "--models", "course", "--repeat", "1"])

    assert exit_info.value.code == 1
    out, err = capsys.readouterr()
    assert "rnnkit disagrees with float64 on course B=2" in err
    assert "WARNING: predictions disagree" in out
    head, row = table_rows(out)
    assert not any(cell.endswith("x") for cell in row)  # no ratio anywhere
    if "PyTorch / rnnkit" in head:
        assert row[head.index("PyTorch / rnnkit")] == "n/a (rnnkit disagrees)"


def test_adding_problem_trains_on_the_experiments_batches(bench):
    """fit over adding_data's batches in order is rnnkit.experiments.adding_problem's training."""
    import rnnkit
    from rnnkit.experiments import adding_problem

    fit_vs_torch = bench("fit_vs_torch")
    steps = 6
    mse, expected = adding_problem(
        "lstm", fit_vs_torch.ADDING_SEQ_LEN, steps=steps, return_model=True
    )
    X, y, X_test, y_test = fit_vs_torch.adding_data(steps)
    assert X.shape == (steps * 64, 50, 2)
    model = rnnkit.models.SequenceRegressor(cell="lstm", input_size=2, hidden_size=64, seed=0)
    optimizer = rnnkit.train.Adam(lr=1e-3)
    half = len(X) // 2  # in two fit calls, as the benchmark's turns
    for part in (slice(0, half), slice(half, None)):
        fit_vs_torch.rnnkit_epoch(
            model, optimizer, X[part], y[part], 0, batch_size=64, clip_norm=1.0, shuffle=False
        )
    for name, p in expected.params.items():
        np.testing.assert_allclose(model.params[name], p, rtol=1e-6, atol=1e-7)
    assert rnnkit.train.evaluate(model, X_test, y_test) == pytest.approx(mse, rel=1e-5)


def test_fit_vs_torch_adding_problem_prints_its_table(bench, capsys):
    pytest.importorskip("torch")
    fit_vs_torch = bench("fit_vs_torch")

    fit_vs_torch.main(["--problems", "adding", "--steps", "20", "--threads", "1"])

    out = capsys.readouterr().out
    assert "Adding problem (Hochreiter & Schmidhuber), T = 50" in out
    assert "WARNING" not in out  # the two sides ran the same computation
    head, rnnkit_row, torch_row, ratio_row = table_rows(out)
    assert head[:2] == ["implementation", "s for 20 steps"]
    assert rnnkit_row[0] == "rnnkit.train.fit"
    assert torch_row[0] == "PyTorch loop"
    # the same batches from the same weights: the same losses to float32 rounding
    assert float(rnnkit_row[3]) == pytest.approx(float(torch_row[3]), rel=1e-4)
    assert float(rnnkit_row[4]) == pytest.approx(float(torch_row[4]), rel=1e-4)
    assert all(re.fullmatch(r"\d+\.\d\dx", cell) for cell in ratio_row[1:3])
