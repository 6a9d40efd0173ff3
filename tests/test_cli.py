"""The main job end to end on small series, and one-line errors for bad CSVs."""

import re

import numpy as np
import pandas as pd
import pytest
from _problems import error_line

from rnnkit.__main__ import main, read_csv_series
from rnnkit.datasets import garch_series, random_walk

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
    for word in ("RMSE", "skill", "Naive", "LinearRegression", "RNN", "LSTM"):
        assert word in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".rnnkit-report.json",
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
        (lambda p: ["--cells", "cnn"], "--cells takes some of lstm, gru, rnn, got 'cnn'"),
    ],
)
def test_bad_input_gets_one_line(tmp_path, capsys, args, message):
    code = main(["run", *args(tmp_path), "--out", str(tmp_path / "r"), *FAST])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


TINY = ["--epochs", "1", "--hidden", "4", "--lookback", "5", "--quiet", "--cells", "lstm"]


def daily_csv(tmp_path, prices, sep=",", dates=None, name="p.csv"):
    """A CSV of `prices` (already formatted text) on consecutive days, or on `dates`."""
    if dates is None:
        dates = pd.date_range("2021-01-01", periods=len(prices), freq="D").strftime("%Y-%m-%d")
    path = tmp_path / name
    rows = [f"{d}{sep}{p}" for d, p in zip(dates, prices, strict=True)]
    path.write_text(f"Date{sep}Close\n" + "\n".join(rows) + "\n")
    return str(path)


def walk(n=60):
    return random_walk(n, seed=2, start=2000.0)


def run_csv(path, tmp_path, *more):
    return main(["run", "--csv", path, "--out", str(tmp_path / "r"), *TINY, *more])


@pytest.mark.parametrize(
    ("text", "more", "message"),
    [
        ("Date,Close\n", ["--column", "Close"], "has a header but no data rows"),
        ("Date,Close\n", [], "has a header but no data rows"),
        ("Date,Close\n2021-01-01,.\n2021-01-02,\n", ["--column", "Close"], "no prices, only gaps"),
        ("Date,Open,Close\n2021-01-01,5,101.3\n", ["--date-column", "Close"], "--date-unit"),
        ("Date;Close\n2021-01-01;1.234\n2021-01-02;1.235\n", [], "--decimal"),
    ],
)
def test_empty_or_ambiguous_csvs_get_one_line(tmp_path, capsys, text, more, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert run_csv(str(path), tmp_path, *more) == 2
    assert message in error_line(capsys)


def test_a_folder_as_csv_gets_one_line(tmp_path, capsys):
    assert run_csv(str(tmp_path), tmp_path) == 2
    assert "is a folder; expected a CSV file" in error_line(capsys)


def test_thousands_separators_are_read(tmp_path, capsys):
    prices = [f'"{p:,.2f}"' for p in walk()]
    assert prices[0].startswith('"2,0')
    series = read_csv_series(daily_csv(tmp_path, prices))
    np.testing.assert_allclose(series.to_numpy(), np.round(walk(), 2))
    assert run_csv(daily_csv(tmp_path, prices), tmp_path) == 0


def test_semicolons_and_decimal_commas_are_read(tmp_path):
    prices = [f"{p:.2f}".replace(".", ",") for p in walk()]
    series = read_csv_series(daily_csv(tmp_path, prices, sep=";"))
    np.testing.assert_allclose(series.to_numpy(), np.round(walk(), 2))
    assert run_csv(daily_csv(tmp_path, prices, sep=";"), tmp_path) == 0


def test_sep_and_decimal_can_be_named(tmp_path):
    path = daily_csv(tmp_path, ["1.234", "1.250"], sep="|")
    series = read_csv_series(path, sep="|", decimal=",")
    assert series.tolist() == [1234.0, 1250.0]


def test_a_decimal_comma_in_a_dotted_file_says_how_to_name_it(tmp_path, capsys):
    prices = [f"{p:.2f}" for p in walk()]
    prices[3] = '"101,30"'
    prices[4] = '"101,3"'
    assert run_csv(daily_csv(tmp_path, prices), tmp_path) == 2
    assert "'101,30' (row 5) (read with '.' as the decimal mark; --decimal names the other)" in (
        error_line(capsys)
    )


def test_day_first_dates_of_a_european_export_are_read(tmp_path):
    dates = pd.date_range("2021-01-01", periods=60, freq="D")
    prices = [f"{p:.2f}".replace(".", ",") for p in walk()]
    path = daily_csv(tmp_path, prices, sep=";", dates=dates.strftime("%d.%m.%Y"))
    series = read_csv_series(path)
    assert (series.index == dates).all()  # 01.02.2021 is the first of February


def test_dates_out_of_order_are_sorted_with_a_warning(tmp_path, capsys):
    dates = pd.date_range("2021-01-01", periods=60, freq="D")[::-1].strftime("%Y-%m-%d")
    prices = [f"{p:.2f}" for p in walk()]
    series = read_csv_series(daily_csv(tmp_path, prices, dates=dates))
    assert series.index.is_monotonic_increasing
    assert series.iloc[0] == float(prices[-1])
    assert "rnnkit: warning: " in capsys.readouterr().err
    assert run_csv(daily_csv(tmp_path, prices, dates=dates), tmp_path) == 0
    assert "59 rows have an earlier date than the row before; sorted by date" in (
        capsys.readouterr().err
    )


def test_repeated_dates_are_dropped_with_a_warning(tmp_path, capsys):
    dates = list(pd.date_range("2021-01-01", periods=60, freq="D").strftime("%Y-%m-%d"))
    dates[10] = dates[11] = dates[12] = dates[9]
    prices = [f"{p:.2f}" for p in walk()]
    series = read_csv_series(daily_csv(tmp_path, prices, dates=dates))
    assert len(series) == 57
    assert series.index.is_unique
    assert series[dates[9]] == float(prices[9])  # the first of the repeats is kept
    err = capsys.readouterr().err
    assert err.startswith("rnnkit: warning: ")
    assert "dropped 3 rows" in err


def test_a_numeric_date_column_needs_its_unit(tmp_path, capsys):
    seconds = [str(1_600_000_000 + 86_400 * k) for k in range(60)]
    prices = [f"{p:.2f}" for p in walk()]
    path = daily_csv(tmp_path, prices, dates=seconds)
    assert run_csv(path, tmp_path) == 2
    assert "holds numbers, not dates" in error_line(capsys)
    series = read_csv_series(path, date_unit="s")
    assert series.index[0] == pd.Timestamp("2020-09-13 12:26:40")
    assert run_csv(path, tmp_path, "--date-unit", "s") == 0


def test_mixed_utc_offsets_are_converted_to_utc_with_a_warning(tmp_path, capsys):
    days = pd.date_range("2021-03-20", periods=60, freq="D")
    dates = [f"{d:%Y-%m-%d}T09:00{'+01:00' if d.month == 3 else '+02:00'}" for d in days]
    prices = [f"{p:.2f}" for p in walk()]
    path = daily_csv(tmp_path, prices, dates=dates)
    series = read_csv_series(path)
    assert str(series.index.tz) == "UTC"
    assert series.index[0].hour == 8
    assert "different UTC offsets; converted them to UTC" in capsys.readouterr().err
    assert run_csv(path, tmp_path) == 0


def test_non_finite_results_stop_before_any_plot(tmp_path, capsys):
    prices = [repr(float(p)) for p in walk() * 1e299]
    assert run_csv(daily_csv(tmp_path, prices), tmp_path) == 2
    assert "the test metrics are not finite" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "r").exists()


def test_ctrl_c_ends_the_command_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from rnnkit import report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "compare", interrupted)
    out = tmp_path / "report"
    assert main(["run", "--out", str(out), *FAST]) == 130
    assert capsys.readouterr().err.strip() == "rnnkit: interrupted; no report was written"
    assert not out.exists()


DAYS = pd.date_range("2021-01-01", periods=60, freq="D")
TWO_DECIMALS = [f"{p:.2f}" for p in walk()]
# (dates, prices, sep, whether pandas' number parser reads it without holding text)
PLAIN_OR_NOT = {
    "daily with gaps": (None, [*TWO_DECIMALS[:57], ".", "NA", ""], ",", True),
    "hourly, one UTC offset": (
        pd.date_range("2021-03-01", periods=60, freq="h").strftime("%Y-%m-%dT%H:%M+01:00"),
        [f"{p:.4f}" for p in walk()],
        ",",
        True,
    ),
    "tabs, four decimals": (None, [f"{p:.4f}" for p in walk()], "\t", True),
    "tabs, prices above 1,000": (None, [f"{p:.1f}" for p in walk()], "\t", True),
    "reversed dates": (DAYS[::-1].strftime("%Y-%m-%d"), TWO_DECIMALS, ",", True),
    "semicolons, one decimal": (None, [f"{p / 100:.1f}" for p in walk()], ";", False),
    "day-first dates": (DAYS.strftime("%d.%m.%Y"), TWO_DECIMALS, ",", False),
    "decimal commas": (None, [p.replace(".", ",") for p in TWO_DECIMALS], ";", False),
    "thousands commas": (None, [f'"{p:,.2f}"' for p in walk()], ",", False),
}


@pytest.mark.parametrize("case", PLAIN_OR_NOT)
def test_plain_files_skip_the_text_and_read_as_the_text_reader_does(tmp_path, monkeypatch, case):
    """Plain files are parsed straight to numbers (memory grows by the series, not by a
    Python string a cell); every file reads exactly as the careful text reader reads it."""
    import rnnkit.__main__ as cli

    dates, prices, sep, plain = PLAIN_OR_NOT[case]
    path = daily_csv(tmp_path, prices, sep=sep, dates=dates)
    text_reads = []
    parse_text = cli._parse_text
    monkeypatch.setattr(cli, "_parse_text", lambda *a: text_reads.append(1) or parse_text(*a))
    series = read_csv_series(path)
    assert bool(text_reads) is not plain
    monkeypatch.setattr(cli, "_read_plain", lambda *a: None)
    as_text = read_csv_series(path)
    pd.testing.assert_series_equal(series, as_text, check_exact=True)
    assert series.index.dtype == as_text.index.dtype


def test_a_semicolon_file_of_thousands_groups_still_asks_for_the_decimal(tmp_path, capsys):
    prices = ["1.234", "1.500", "2.000"] * 20  # 1.5 and 2.0 as numbers: only the text tells
    assert run_csv(daily_csv(tmp_path, prices, sep=";"), tmp_path) == 2
    assert "--decimal" in error_line(capsys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inf", "text where a price should be: 'inf' (row 10003)"),
        ("abc", "text where a price should be: 'abc' (row 10003)"),
        ("1,5", "'1,5' (row 10003) (read with '.' as the decimal mark"),
        ("101.5,7", "is not a readable CSV"),
    ],
)
def test_a_bad_cell_past_the_first_rows_is_still_named(tmp_path, capsys, text, message):
    from rnnkit.__main__ import SAMPLE_ROWS

    prices = [f"{p:.2f}" for p in random_walk(SAMPLE_ROWS + 50, seed=1, start=100.0)]
    prices[SAMPLE_ROWS + 1] = f'"{text}"' if text == "1,5" else text
    dates = pd.date_range("1990-01-01", periods=len(prices)).strftime("%Y-%m-%d")
    assert run_csv(daily_csv(tmp_path, prices, dates=dates), tmp_path) == 2
    assert message in error_line(capsys)


def test_thin_data_gets_one_warning_per_network_and_the_rule_beside_the_table(tmp_path, capsys):
    from rnnkit.forecaster import RULE_OF_THUMB

    prices = [f"{p:.2f}" for p in random_walk(150, seed=4, start=100.0)]
    dates = pd.date_range("2000-01-01", periods=150, freq="MS").strftime("%Y-%m-%d")
    assert run_csv(daily_csv(tmp_path, prices, dates=dates), tmp_path, "--cells", "rnn,lstm") == 0
    out, err = capsys.readouterr()
    warned = [line for line in err.splitlines() if "training windows" in line]
    assert [line.split(":")[2].strip() for line in warned] == ["RNN", "LSTM"]
    assert all(line.startswith("rnnkit: warning: ") for line in warned)
    assert RULE_OF_THUMB not in err
    table_end = out.index("LSTM ")
    assert out.index(RULE_OF_THUMB) > table_end


def ohlcv_csv(tmp_path, n=300):
    close = random_walk(n, seed=5, start=100.0)
    frame = pd.DataFrame(
        {
            "Date": pd.date_range("2019-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "Open": np.round(close * 0.99, 2),
            "Close": np.round(close, 2),
            "Volume": np.arange(1000, 1000 + n),
        }
    )
    path = tmp_path / "ohlcv.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_several_columns_feed_the_networks_and_target_names_the_forecast(tmp_path, capsys):
    path = ohlcv_csv(tmp_path)
    assert run_csv(path, tmp_path, "--column", "Close,Volume", "--target-column", "Close") == 0
    out = capsys.readouterr().out
    assert "Close, Volume from" in out
    assert "forecasting Close's log returns" in out
    series = read_csv_series(path, ["Volume", "Close"])
    assert list(series.columns) == ["Volume", "Close"]
    assert series["Volume"].iloc[0] == 1000.0


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (
            ["--column", "Close,Volume", "--target-column", "Open"],
            "--target-column 'Open' must be one",
        ),
        (["--target-column", "Close"], "must be one of the --column names"),
        (["--column", "Close,Close"], "--column names each column once"),
        (["--column", "Close,Adj"], "no column 'Adj'"),
        (["--column", "Close,Date"], "--column names each column once, and not the date"),
        (["--dropout", "1.5"], "dropout must be a probability in [0, 1), got 1.5"),
        (["--val", "0.6", "--test", "0.5"], "val"),
    ],
)
def test_bad_column_choices_and_settings_get_one_line(tmp_path, capsys, more, message):
    assert run_csv(ohlcv_csv(tmp_path), tmp_path, *more) == 2
    assert message in error_line(capsys)


def test_every_network_option_defaults_to_the_forecasters_and_help_shows_it(capsys):
    from rnnkit import Forecaster
    from rnnkit.__main__ import RUN_OPTIONS, _parser
    from rnnkit._estimator import defaults

    args = _parser().parse_args(["run"])
    python = defaults(Forecaster)
    for flag, name, _, _ in RUN_OPTIONS:
        assert getattr(args, name) == python[name], flag
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, name, _, _ in RUN_OPTIONS:
        assert f"{flag} " in text
        assert f"(default: {python[name]})" in text
    assert "--backtest FOLDS" in text
    assert "--threads" in text


def test_a_negative_rate_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        run_csv(ohlcv_csv(tmp_path), tmp_path, "--dropout", "-0.1")
    assert done.value.code == 2
    assert "argument --dropout: must be a number >= 0, got -0.1" in capsys.readouterr().err


def test_backtest_prints_each_folds_dates_and_writes_its_table(tmp_path, capsys):
    path = ohlcv_csv(tmp_path, n=400)
    assert run_csv(path, tmp_path, "--backtest", "2", "--cells", "rnn,lstm") == 0
    out = capsys.readouterr().out
    assert "Walk-forward backtest over 2 folds of the last 15% of the rows" in out
    lines = out.splitlines()
    folds = [line.split() for line in lines if line.strip().startswith(("0  ", "1  "))]
    assert [f[0] for f in folds] == ["0", "1"]
    assert folds[1][-1] == "2020-02-04"  # the last date of the file
    written = pd.read_csv(tmp_path / "r" / "backtest.csv")
    assert set(written["model"]) == {
        "Naive", "Drift", "MovingAverage(5)", "EWMA(0.3)", "LinearRegression", "RNN", "LSTM"
    }  # fmt: skip
    assert sorted(written["fold"].unique()) == [0, 1]


def test_threads_are_set_for_the_run(tmp_path, monkeypatch):
    import rnnkit.core

    asked = []
    monkeypatch.setattr(rnnkit.core, "set_num_threads", asked.append)
    assert run_csv(ohlcv_csv(tmp_path), tmp_path, "--threads", "1") == 0
    assert asked == [1]


def test_volatility_runs_from_the_command_line(tmp_path, capsys):
    path = ohlcv_csv(tmp_path, n=400)
    assert run_csv(path, tmp_path, "--target", "volatility") == 0
    out = capsys.readouterr().out
    assert "forecasting volatility: the absolute log return, in percent" in out
    assert "RiskMetrics(0.94)" in out
    assert "Errors in percentage points of absolute log return" in out
    readme = (tmp_path / "r" / "README.md").read_text()
    assert "Errors in percentage points" in readme


def test_volatility_takes_no_price_transform(tmp_path, capsys):
    args = ("--target", "volatility", "--transform", "return")
    assert run_csv(ohlcv_csv(tmp_path), tmp_path, *args) == 2
    assert "--transform return is for --target price" in error_line(capsys)


def test_the_report_is_named_by_its_full_path_and_a_source_checkout_is_said(tmp_path, capsys):
    checkout = tmp_path / "rnnkit-clone"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text('[project]\nname = "rnnkit"\n')
    out = checkout / "rnnkit-report"
    code = main(["run", "--csv", ohlcv_csv(tmp_path), "--out", str(out), *TINY])
    assert code == 0
    printed = capsys.readouterr()
    assert f"report in {out}/: README.md" in printed.out
    assert f"inside rnnkit's source checkout {checkout}" in printed.err
    elsewhere = tmp_path / "reports" / "r"
    assert main(["run", "--csv", ohlcv_csv(tmp_path), "--out", str(elsewhere), *TINY]) == 0
    assert "source checkout" not in capsys.readouterr().err


def test_a_multi_step_report_draws_each_step(tmp_path, capsys):
    assert run_csv(ohlcv_csv(tmp_path), tmp_path, "--horizon", "3") == 0
    assert "averaged over all of them" in capsys.readouterr().out
    assert (tmp_path / "r" / "predictions_by_step.png").stat().st_size > 0
    assert "averaged over all of them" in (tmp_path / "r" / "README.md").read_text()


def test_no_clipping_is_said_with_none_and_a_zero_rate_is_refused(tmp_path, capsys):
    from rnnkit.__main__ import _parser

    assert _parser().parse_args(["run", "--clip-norm", "none"]).clip_norm is None
    assert run_csv(ohlcv_csv(tmp_path), tmp_path, "--clip-norm", "None") == 0
    capsys.readouterr()
    for flag in ("--lr", "--clip-norm"):
        with pytest.raises(SystemExit):
            run_csv(ohlcv_csv(tmp_path), tmp_path, flag, "0")
        assert f"argument {flag}: must be a number > 0, got 0" in capsys.readouterr().err


def test_the_checkout_itself_as_the_report_folder_is_recognised(tmp_path):
    from rnnkit.__main__ import _source_checkout

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "rnnkit"\n')
    assert _source_checkout(str(tmp_path)) == str(tmp_path)
    assert _source_checkout(str(tmp_path / "a" / "b")) == str(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    assert _source_checkout(str(tmp_path / "a" / "b")) is None


def test_two_digit_years_are_refused_until_their_format_is_named(tmp_path, capsys):
    days = pd.bdate_range("2021-01-04", periods=80)
    path = daily_csv(tmp_path, [f"{p:.2f}" for p in walk(80)], dates=days.strftime("%d.%m.%y"))
    assert run_csv(path, tmp_path) == 2
    assert "in no one format pandas can name" in error_line(capsys)
    series = read_csv_series(path, date_format="%d.%m.%y")
    assert (series.index == days).all()


@pytest.mark.parametrize("unit", ["D", "ms"])
def test_a_date_unit_that_cannot_be_right_is_refused(tmp_path, capsys, unit):
    seconds = [str(1_600_000_000 + 86_400 * k) for k in range(60)]
    path = daily_csv(tmp_path, [f"{p:.2f}" for p in walk()], dates=seconds)
    assert run_csv(path, tmp_path, "--date-unit", unit) == 2
    assert f"read in --date-unit {unit} gives dates" in error_line(capsys)


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("Date,Open,High,Low,Close,Adj Close,Volume", "Adj Close"),
        ("Date,Open,High,Low,Close,Volume", "Close"),
        ("Datum,Eroeffnung,Schluss,Volumen", "Schluss"),
        ("Date,Rate,Volume", "Rate"),
        ("Datum,Kurs,Umsatz", "Kurs"),
        ("Date,Open,Adj_Close,Shares", "Adj_Close"),
        ("Date,Rate,Umsatz", "Rate"),
        ("Date,A,B", "B"),
    ],
)
def test_the_default_column_is_a_price_never_the_volume(tmp_path, capsys, header, chosen):
    names = header.split(",")
    rows = [",".join([f"2021-01-{k + 1:02d}", *(str(100 + k + j) for j in range(1, len(names)))])
            for k in range(20)]  # fmt: skip
    path = tmp_path / "export.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    assert read_csv_series(str(path)).name == chosen
    # a column chosen by position, among others, is said so, with the way to choose
    warned = "is named like a price" in capsys.readouterr().err
    assert warned == (header in ("Date,Rate,Volume", "Date,Rate,Umsatz", "Date,A,B"))


def test_a_new_report_replaces_the_files_of_the_older_one(tmp_path, capsys):
    path = ohlcv_csv(tmp_path, n=400)
    assert run_csv(path, tmp_path) == 0
    (tmp_path / "r" / "mine.txt").write_text("notes")
    assert run_csv(path, tmp_path, "--backtest", "2", "--overwrite") == 0
    left = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert left == [".rnnkit-report.json", "README.md", "backtest.csv", "mine.txt"]
    assert "Walk-forward backtest over 2 folds" in (tmp_path / "r" / "README.md").read_text()
    assert (tmp_path / "r" / "mine.txt").read_text() == "notes"


def test_a_price_that_never_moves_is_refused(tmp_path, capsys):
    assert run_csv(daily_csv(tmp_path, ["100.0"] * 80), tmp_path) == 2
    assert "the series never moves in the test block" in error_line(capsys)


def test_hourly_folds_show_their_hours_and_column_lists_may_have_spaces(tmp_path, capsys):
    hours = pd.date_range("2024-03-11 09:00", periods=300, freq="h").strftime("%Y-%m-%d %H:%M")
    prices = [f"{p:.5f}" for p in random_walk(300, seed=6, start=1.1, volatility=0.001)]
    path = daily_csv(tmp_path, prices, dates=hours)
    assert run_csv(path, tmp_path, "--backtest", "2") == 0
    out = capsys.readouterr().out
    assert f"to {hours[-1]}\n" in out  # the last hour of the file ends fold 1
    assert f"{hours[0]} to {hours[-1]}; forecasting" in out
    frame = ohlcv_csv(tmp_path)
    assert read_csv_series(frame, ["Close", "Volume"]).shape[1] == 2
    assert run_csv(frame, tmp_path, "--column", "Close, Volume", "--overwrite") == 0


@pytest.mark.parametrize(
    ("more", "said"),
    [
        ([], "--transform log_return needs positive prices"),
        (["--target", "volatility"], "--target volatility needs positive prices"),
    ],
)
def test_errors_of_the_api_are_spelled_as_options(tmp_path, capsys, more, said):
    prices = [f"{p:.2f}" for p in walk() - 3000.0]  # below zero
    assert run_csv(daily_csv(tmp_path, prices), tmp_path, *more) == 2
    line = error_line(capsys)
    assert said in line
    assert "use --transform none for series" in line
    assert "transform='" not in line


def test_rows_without_a_price_are_counted_and_what_happens_to_them_said(tmp_path, capsys):
    prices = [f"{p:.2f}" for p in walk(80)]
    prices[10] = prices[20] = "."
    path = daily_csv(tmp_path, prices)
    assert run_csv(path, tmp_path) == 0
    assert "78 rows with prices (2 without: dropped)" in capsys.readouterr().out
    assert run_csv(path, tmp_path, "--missing", "ffill", "--overwrite") == 0
    assert "(2 without: filled with the price before)" in capsys.readouterr().out


def test_a_variant_goes_to_the_lstm_of_the_main_job_and_needs_one(tmp_path, capsys):
    assert main(["run", "--variant", "cifg", "--out", str(tmp_path / "r"), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "LSTM-CIFG" in printed
    assert "\nGRU " in printed  # the others stay vanilla
    assert main(["run", "--cells", "gru", "--variant", "cifg", "--out", str(tmp_path / "s"),
                 *FAST]) == 2  # fmt: skip
    assert "--variant cifg is the LSTM's; --cells gru has none" in error_line(capsys)


def test_run_with_an_interval_scores_it_and_draws_the_band(csv, tmp_path, capsys):
    out = tmp_path / "report"
    more = ["--column", "Close", "--interval", "0.8", "--cells", "rnn,lstm"]
    assert main(["run", "--csv", str(csv), "--out", str(out), *FAST, *more]) == 0
    printed = capsys.readouterr().out
    for words in ("coverage", "Winkler", "80% split-conformal"):
        assert words in printed
    table = pd.read_csv(out / "metrics.csv", index_col=0)
    assert table["coverage"].between(0, 1).all()
    assert (table["width"] > 0).all()
    assert "coverage" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--interval", "1"], "must be a level strictly between 0 and 1"),
        (["--interval", "nan"], "must be a level strictly between 0 and 1"),
    ],
)
def test_an_interval_outside_zero_one_is_refused_by_the_parser(tmp_path, capsys, more, message):
    with pytest.raises(SystemExit) as done:
        main(["run", "--out", str(tmp_path / "r"), *FAST, *more])
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_a_backtest_with_an_interval_scores_it_in_every_fold(csv, tmp_path, capsys):
    more = ["--column", "Close", "--interval", "0.8", "--cells", "lstm", "--backtest", "2"]
    assert main(["run", "--csv", str(csv), "--out", str(tmp_path / "b"), *FAST, *more]) == 0
    printed = capsys.readouterr().out
    assert "mean coverage" in printed
    assert "80% split-conformal" in printed
    table = pd.read_csv(tmp_path / "b" / "backtest.csv")
    assert table["coverage"].between(0, 1).all()
    assert sorted(set(table["fold"])) == [0, 1]


def test_run_with_tbptt_trains_stateful_networks(csv, tmp_path, capsys):
    more = ["--column", "Close", "--cells", "gru,lstm", "--tbptt", "20", "--batch-size", "4"]
    assert main(["run", "--csv", str(csv), "--out", str(tmp_path / "s"), *FAST, *more]) == 0
    assert "LSTM" in capsys.readouterr().out
    assert main(["run", "--csv", str(csv), "--out", str(tmp_path / "t"), *FAST, *more[:-2],
                 "--tbptt", "100000"]) == 2  # fmt: skip
    assert "tbptt" in error_line(capsys)


def test_a_level_too_high_for_the_validation_block_is_said_in_cli_words(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    index = pd.date_range("2024-01-01", periods=60, freq="h").strftime("%Y-%m-%d %H:%M")
    pd.DataFrame({"date": index, "price": garch_series(60, seed=4)}).to_csv(path, index=False)
    assert main(["run", "--csv", str(path), "--lookback", "3", "--interval", "0.99",
                 "--out", str(tmp_path / "r"), *FAST[:4], "--quiet"]) == 2  # fmt: skip
    assert "--interval 0.99 needs at least 99 validation forecasts" in error_line(capsys)


@pytest.mark.parametrize(
    ("rows", "horizon", "few"), [(120, 1, True), (400, 1, False), (130, 3, True)]
)
def test_run_says_how_many_test_windows_score_the_table_and_warns_when_few(
    tmp_path, capsys, rows, horizon, few
):
    dates = pd.date_range("2021-01-01", periods=rows, freq="D")
    path = tmp_path / "prices.csv"
    pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": garch_series(rows, seed=3)}).to_csv(
        path, index=False
    )
    more = ["--horizon", str(horizon)]
    assert main(["run", "--csv", str(path), "--out", str(tmp_path / "r"), *FAST, *more]) == 0
    out, err = capsys.readouterr()
    said = re.search(r"Scored on (\d+) test windows, targets from (\S+) to (\S+)\.", out)
    assert said is not None, out
    n, first, last = int(said[1]), said[2], said[3]
    # the last window's last target is the file's last day; the windows start a day apart
    assert last == f"{dates[-1]:%Y-%m-%d}"
    assert first == f"{dates[-n - horizon + 1]:%Y-%m-%d}"
    # the default --test share of the log returns, which start a row after the prices
    assert n == round((rows - 1) * 0.15)
    assert said[0] in (tmp_path / "r" / "README.md").read_text()
    assert (f"only {n} test windows: a ranking on so few may be chance" in err) is few
