"""The main job end to end on small series, and one-line errors for bad CSVs."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.__main__ import main
from rnnkit.datasets import garch_series

FAST = ["--epochs", "2", "--hidden", "4", "--lookback", "10", "--quiet"]


@pytest.fixture
def csv(tmp_path):
    """A Bitcoin-like export: Date, Open, Close, Volume, with a holiday gap written '.'."""
    n = 300
    close = garch_series(n, seed=3, start=20000.0)
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "Open": np.round(close * 0.99, 2),
            "Close": np.round(close, 2),
            "Volume": np.arange(n),
        }
    )
    frame["Close"] = frame["Close"].astype(str)
    frame.loc[50, "Close"] = "."
    path = tmp_path / "btc.csv"
    frame.to_csv(path, index=False)
    return path


def test_run_on_a_csv_prints_the_table_and_writes_the_report(csv, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["run", "--csv", str(csv), "--column", "Close", "--out", str(out), *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    for word in ("RMSE", "skill vs naive", "Naive", "LinearRegression", "RNN", "LSTM"):
        assert word in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "README.md",
        "error_by_model.png",
        "loss_curves.png",
        "metrics.csv",
        "predictions.png",
    ]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "metrics.csv", index_col=0)
    assert {"RNN", "LSTM", "Naive"} <= set(table.index)


def test_run_on_the_bundled_wti_series(tmp_path, capsys):
    code = main(["run", "--cells", "lstm", "--out", str(tmp_path / "wti"), *FAST])
    assert code == 0
    assert "WTI" in capsys.readouterr().out


def bad_csv(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return str(path)


def prices_with(row, text, n=50):
    """A CSV of n daily prices with `text` in place of the price in data row `row`."""
    lines = [f"2020-01-{1 + k % 28:02d},{text if k == row else 100 + k}" for k in range(n)]
    return "Date,Close\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda p: ["--csv", str(p / "nope.csv")], "no such file"),
        (
            lambda p: ["--csv", bad_csv(p, prices_with(5, "abc"))],
            "text where a price should be: 'abc' (row 7)",
        ),
        (
            lambda p: ["--csv", bad_csv(p, "Date,Close\n2020-01-01,1\n"), "--column", "Adj"],
            "no column 'Adj'",
        ),
        (lambda p: ["--csv", bad_csv(p, "Date,Close\nyesterday,1\n")], "not a date"),
        (lambda p: ["--csv", bad_csv(p, "Close\n1\n2\n")], "needs a date column"),
        (lambda p: ["--csv", bad_csv(p, "Date,Close\n2020-01-01,1\n2020-01-02,2\n")], "too short"),
        (lambda p: ["--cells", "gru"], "--cells takes rnn and/or lstm"),
    ],
)
def test_bad_input_gets_one_line(tmp_path, capsys, args, message):
    code = main(["run", *args(tmp_path), "--out", str(tmp_path / "r"), *FAST])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit: error: ")
    assert message in err
    assert len(err.splitlines()) == 1
