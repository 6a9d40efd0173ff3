"""Command line: ``rnnkit run`` (the main job), ``rnnkit experiments``, ``rnnkit demo``,
``rnnkit config``."""

import argparse
import math
import os
import re
import sys
import threading
import time
import warnings

from . import _jobs, demo, sweeps
from ._config import show_config
from ._estimator import defaults
from ._jobs import BACKENDS
from .data import MISSING_MODES, SCALERS, TRANSFORMS
from .forecaster import RULE_OF_THUMB, Forecaster, ThinDataWarning
from .metrics import SCORES
from .models import CELLS, NETWORKS
from .reference import LSTM_VARIANTS
from .train import LOSSES, OPTIMIZERS

_FORECASTER = defaults(Forecaster)
_SWEEP = defaults(sweeps.sweep)


class CommandError(Exception):
    """A problem with the user's input, reported in one line."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


OVERWRITE_HELP = (
    "write into a folder that holds other files (rnnkit replaces only its own report files "
    "and never replaces or deletes the others)"
)


def _check_out(out, names, overwrite):
    """Refuse a report folder that cannot take the report, before any training."""
    from ._output import check_folder

    try:
        check_folder(out, names, overwrite)
    except OSError as err:
        raise CommandError(f"--out: {err}") from None


def _source_checkout(out):
    """The rnnkit source checkout that folder ``out`` would be in, or None.

    Running from a clone is common while trying rnnkit; a report there is easily
    committed by mistake, so it is written but said.
    """
    folder = os.path.abspath(out)
    while True:
        project = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(project):
            with open(project, encoding="utf-8", errors="replace") as f:
                return folder if re.search(r'(?m)^name\s*=\s*"rnnkit"', f.read()) else None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _say_where(out, files, start):
    """The report's full path, its files and the run's time; a warning when it lies in
    rnnkit's source checkout."""
    where = os.path.abspath(out)
    print(f"\nreport in {where}/: {', '.join(files)} ({time.perf_counter() - start:.0f} s)")
    checkout = _source_checkout(out)
    if checkout is not None:
        _warn(f"the report is inside rnnkit's source checkout {checkout}; --out names a "
              "folder elsewhere")  # fmt: skip


def _write_out(write, *args):
    """Write a report; an OSError (a full disk, a folder changed meanwhile) in one line."""
    try:
        return write(*args)
    except OSError as err:
        raise CommandError(f"--out: {err}") from None


# --target: what is forecast -> the transform it fixes (None: --transform's)
TARGETS = {"price": None, "volatility": "volatility"}


def _positive_float(text):
    value = float(text)
    if not 0.0 < value < float("inf"):  # NaN too
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _clip_norm(text):
    """A positive norm, or "none" for no clipping (0 would zero every step's gradient)."""
    return None if text.lower() == "none" else _positive_float(text)


def _level(text):
    value = float(text)
    if not 0.0 < value < 1.0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a level strictly between 0 and 1, got {text}")
    return value


def _nonnegative_float(text):
    value = float(text)
    if not value >= 0.0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


# rnnkit run's network and training options: (flag, Forecaster parameter, type or
# choices, help). The defaults are the Forecaster's own, read from its signature, so a
# run and a Python call with the same settings give the same numbers; the values are
# checked by the Forecaster, whose errors name the parameter.
RUN_OPTIONS = (
    ("--lookback", "lookback", _positive_int, "past steps each forecast reads"),
    ("--horizon", "horizon", _positive_int, "future steps forecast at once"),
    ("--hidden", "hidden_size", _positive_int, "hidden units of every layer"),
    ("--layers", "num_layers", _positive_int, "stacked recurrent layers"),
    ("--dropout", "dropout", _nonnegative_float,
     "dropout rate while training, in [0, 1): on the inputs, between layers, before the head"),
    ("--forget-bias", "forget_bias", float, "the LSTM's forget-gate bias at initialisation"),
    ("--variant", "variant", LSTM_VARIANTS,
     ("the LSTM's variant: vanilla, or Greff et al.'s without its input, forget or output "
     "gate (nig, nfg, nog), input or output activation (niaf, noaf), or with f = 1 - i "
     "(cifg)")),
    ("--transform", "transform", tuple(t for t in TRANSFORMS if t != "volatility"),
     "what the networks model of the price"),
    ("--scaler", "scaler", tuple(SCALERS), "scaler fitted on the training block"),
    ("--val", "val", _nonnegative_float, "share of the rows for validation (early stopping)"),
    ("--test", "test", _nonnegative_float, "share of the rows for the test block"),
    ("--epochs", "epochs", _positive_int, "most passes over the training windows"),
    ("--patience", "patience", _positive_int, "epochs without a lower validation loss to stop"),
    ("--batch-size", "batch_size", _positive_int, "windows per optimizer step"),
    ("--optimizer", "optimizer", tuple(OPTIMIZERS), "optimizer"),
    ("--lr", "lr", _positive_float, "learning rate"),
    ("--loss", "loss", tuple(LOSSES), "training loss"),
    ("--clip-norm", "clip_norm", _clip_norm, "largest gradient norm of a step, or none"),
    ("--dtype", "dtype", ("float32", "float64"), "floating-point type of the networks"),
    ("--seed", "seed", int, "seeds the weights, dropout and batch order"),
)  # fmt: skip


def _add_data_options(command):
    """The options that say which series to read (run and sweep share them)."""
    command.add_argument("--csv", help="a CSV file with a price column (default: bundled WTI)")
    command.add_argument(
        "--column",
        help="the price column of the CSV (default: Adj Close, Close or Price if there is "
        "one, else the last numeric column that is not a volume), or several separated by "
        "commas: the networks read them all and forecast --target-column",
    )
    command.add_argument(
        "--target-column",
        help="the column to forecast among several --column (default: the first)",
    )
    command.add_argument(
        "--target",
        choices=TARGETS,
        default="price",
        help="forecast the price (default), or volatility: next period's absolute log "
        "return in percent, against naive, rolling-mean, RiskMetrics, linear and (with the "
        "arch package) GARCH(1,1) forecasts",
    )
    command.add_argument("--date-column", help="the CSV's date column (default: the first column)")
    command.add_argument(
        "--date-unit",
        choices=DATE_UNITS,
        help="the unit of a date column that holds numbers (seconds... since 1970)",
    )
    command.add_argument(
        "--date-format",
        help="the dates' format when pandas cannot infer one for them all, as strftime "
        "writes it (such as %%d.%%m.%%y for 04.01.21)",
    )
    command.add_argument(
        "--sep", help="the CSV's column separator (default: found from the header line)"
    )
    command.add_argument(
        "--decimal",
        choices=tuple(_NUMBER),
        metavar="{.|,}",
        help="the prices' decimal mark; the other one is then a thousands separator "
        "(default: found from the prices)",
    )


def _add_network_options(command, grid=False):
    """The network and training options: one value each (``run``), or with ``grid`` a
    list of values each, separated by commas, for a sweep to try every combination of."""
    network = command.add_argument_group(
        "network and training",
        "as rnnkit.Forecaster takes them, with the same defaults"
        + (": give several values separated by commas to try each" if grid else ""),
    )
    for flag, name, kind, text in GRID_OPTIONS if grid else RUN_OPTIONS:
        if grid:
            # the parameter's own name as a flag too: --hidden-size beside --hidden
            spelled = "--" + name.replace("_", "-")
            flags = [spelled] if spelled == flag else [spelled, flag]
            network.add_argument(
                *flags,
                dest=name,
                type=_values(kind),
                metavar="V[,V...]",
                help=f"{text} (default: {_FORECASTER[name]})",
            )
            continue
        choices = kind if isinstance(kind, tuple) else None
        network.add_argument(
            flag,
            dest=name,
            type=None if choices else kind,
            choices=choices,
            default=_FORECASTER[name],
            help=f"{text} (default: {_FORECASTER[name]})",
        )
    network.add_argument(
        "--missing",
        choices=MISSING_MODES,
        default="drop",
        help=("one value: " if grid else "")
        + "what to do with rows without a price: a CSV's empty cells are holidays, so the "
        f"default is drop (the Python API's is {_FORECASTER['missing']}: it makes you choose)",
    )
    if not grid:  # a sweep's jobs set their own: --threads-per-job
        network.add_argument(
            "--threads",
            type=_positive_int,
            help="threads of rnnkit's core (default: the cores this process may use)",
        )


def _values(kind):
    """An option's reader of values separated by commas, each read as ``kind`` reads
    one (a function, or a tuple of the choices)."""

    def read(text):
        values = []
        for item in (part.strip() for part in text.split(",")):
            if isinstance(kind, tuple):
                if item not in kind:
                    raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(kind)}")
                values.append(item)
                continue
            try:
                values.append(kind(item))
            except ValueError as err:  # int("x") and such: say which value
                raise argparse.ArgumentTypeError(f"{item!r}: {err}") from None
        return list(dict.fromkeys(values))  # a value given twice is tried once

    return read


# rnnkit sweep's grid options: the cell, and every network option of run but the test
# share (the sweep's own, one value)
GRID_OPTIONS = (
    ("--cells", "cell", CELLS, "recurrent cell"),  # --cell too: the parameter's name
    *(option for option in RUN_OPTIONS if option[1] != "test"),
)


def _parser():
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="train an RNN, a GRU and an LSTM against baselines on a price series",
        description="Train an RNN, a GRU and an LSTM on a price series (by default the bundled daily "
        "WTI crude oil price), compare them with naive, drift, moving-average, EWMA and "
        "linear-regression forecasts on the same test block, print one table and write a "
        "report folder with plots.",
    )
    _add_data_options(run)
    run.add_argument(
        "--cells",
        default=",".join(NETWORKS),
        help=f"comma-separated networks among {', '.join(CELLS)} (default: {','.join(NETWORKS)})",
    )
    _add_network_options(run)
    run.add_argument(
        "--backtest",
        type=_positive_int,
        metavar="FOLDS",
        help="instead of one test block, a walk-forward backtest over FOLDS consecutive "
        "blocks, each model refitted on everything before each block",
    )
    run.add_argument(
        "--tbptt",
        type=_positive_int,
        metavar="K",
        help="stateful networks: each reads the rows in order, carrying its state from "
        "row to row, trained by truncated backpropagation in chunks of K steps over "
        "--batch-size contiguous streams (default: windows of --lookback rows, each from "
        "a zero state)",
    )
    run.add_argument(
        "--interval",
        type=_level,
        metavar="LEVEL",
        help="also every model's split-conformal prediction interval of this level, e.g. "
        "0.9: its coverage of the test block, mean width and Winkler score in the table, "
        "the band in predictions.png",
    )
    run.add_argument(
        "--out",
        default="rnnkit-report",
        help="report folder, made if missing (default: rnnkit-report in the working folder)",
    )
    run.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    sweep = commands.add_parser(
        "sweep",
        help="train many configurations on walk-forward folds and rank them on validation",
        description="Train every combination of the values given (such as --lookback "
        "20,40,60 --hidden-size 50,100 --cell rnn,lstm) on walk-forward validation folds "
        "of a price series, print them ranked by their mean validation score, score the "
        "best on the held-out test share, which nothing before has seen, and write a report "
        "folder with the tables and a heatmap of the score over two parameters.",
    )
    _add_data_options(sweep)
    _add_network_options(sweep, grid=True)
    how = sweep.add_argument_group("the sweep")
    how.add_argument(
        "--folds", type=_positive_int, default=_SWEEP["folds"],
        help=f"validation folds (default: {_SWEEP['folds']})",
    )  # fmt: skip
    how.add_argument(
        "--test", type=_nonnegative_float, default=_SWEEP["test"],
        help="share of the rows held out for the test of the best configuration (default: "
        f"{_SWEEP['test']}); the validation folds are cut from the same share of the rest",
    )  # fmt: skip
    how.add_argument(
        "--metric", choices=SCORES, default=sweeps.METRIC,
        help=f"the validation score that ranks the configurations (default: {sweeps.METRIC})",
    )  # fmt: skip
    how.add_argument(
        "--heatmap", metavar="X[,Y]",
        help="the heatmap's one or two parameters (default: the two with the most values)",
    )  # fmt: skip
    how.add_argument(
        "--jobs", type=int,
        help="jobs at once (default: 1; -1: one per core, or per Dask worker with --scheduler)",
    )  # fmt: skip
    how.add_argument(
        "--backend", choices=BACKENDS,
        help="the joblib backend of the jobs (default: processes, loky)",
    )  # fmt: skip
    how.add_argument(
        "--threads-per-job", type=_positive_int,
        help="kernel threads of each job run in a process of its own, or of every job with "
        "--jobs 1 (default: the cores divided among the jobs); jobs on threads share the "
        "process's threads",
    )  # fmt: skip
    how.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="a Dask scheduler to run the jobs on, such as tcp://host:8786",
    )  # fmt: skip
    how.add_argument(
        "--results", metavar="FILE",
        help="a .csv (or .parquet) file that keeps each job's row as it finishes: the same "
        "command again resumes an interrupted sweep",
    )  # fmt: skip
    sweep.add_argument(
        "--out", default="rnnkit-sweep",
        help="report folder, made if missing (default: rnnkit-sweep in the working folder)",
    )  # fmt: skip
    sweep.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    experiments = commands.add_parser(
        "experiments",
        help="run the experiments behind the claims (memory, gradients, gates, cost...)",
        description="Run rnnkit's experiments (the adding problem's memory span, fading "
        "gradients, gates holding an event, cost, the gates one at a time, look-back "
        "length, volatility) and write one report, Markdown and HTML with a PNG per "
        "picture. About five minutes on two cores.",
    )
    experiments.add_argument(
        "--out", default="rnnkit-experiments", help="report folder (made if missing)"
    )
    experiments.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    experiments.add_argument(
        "--only", help="comma-separated experiments to run (default: all); see --list"
    )
    experiments.add_argument("--list", action="store_true", help="list the experiments")
    experiments.add_argument(
        "--quick", action="store_true", help="tiny settings: checks the pipeline in seconds"
    )

    run_demo = commands.add_parser("demo", help="train an LSTM on a noisy sine wave")
    run_demo.add_argument("--epochs", type=_positive_int, default=15, help="passes over the data")
    run_demo.add_argument("--hidden", type=_positive_int, default=32, help="LSTM hidden size")
    run_demo.add_argument("--seed", type=int, default=0)
    commands.add_parser("config", help="how rnnkit was built")
    return parser


# Python parameters whose errors a run passes on, and the options that set them
_FLAGS = {name: flag for flag, name, _, _ in RUN_OPTIONS} | {
    "missing": "--missing",
    "target": "--target-column",
    "results": "--results",
    "interval": "--interval",
    "tbptt": "--tbptt",
}


def _in_cli_words(message):
    """An error of the Python API as the command line spells it: ``transform='none'``
    becomes ``--transform none`` (and the volatility transform ``--target volatility``)."""

    def option(match):
        name, value = match[1], match[3]
        if (name, value) == ("transform", "volatility"):
            return "--target volatility"
        return f"{_FLAGS[name]} {value}" if name in _FLAGS else match[0]

    return re.sub(r"\b(\w+)=(['\"]?)([\w.+-]+)\2", option, message)


def _warn(message):
    print(f"rnnkit: warning: {message}", file=sys.stderr)


SEPARATORS = (",", ";", "\t", "|")
DATE_UNITS = ("s", "ms", "us", "ns", "D")
# A price in each convention: decimal point with optional thousands commas (1,234.5), or
# decimal comma with optional thousands points (1.234,5); an exponent only in the first.
_NUMBER = {
    ".": re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?"),
    ",": re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*)(?:,\d*)?"),
}
GAPS = (".", "")  # text that marks a missing price (a holiday), not an error


def _numbers(text, decimal):
    """Float values of strings ``text`` (a Series) written with ``decimal``; NaN if not one."""
    import pandas as pd

    text = text.fillna("").str.strip()
    ok = text.str.fullmatch(_NUMBER[decimal]) & text.str.contains(r"\d", regex=True)
    thousands = "," if decimal == "." else "."
    plain = text.str.replace(thousands, "", regex=False).str.replace(decimal, ".", regex=False)
    return pd.to_numeric(plain.where(ok), errors="coerce")


def _decimal_of(text, column, sep):
    """The decimal mark of the numbers in ``text``: the convention that reads them all."""
    read = {d: _numbers(text, d) for d in _NUMBER}
    fits = [d for d, values in read.items() if values.notna().all()]
    if len(fits) == 1:
        return fits[0]
    if not fits or read["."].equals(read[","]):
        return "."  # no marks to tell, or no convention reads them all (reported later)
    # Both read every value, differently ("1.234", "1,234"). A comma-separated file
    # rarely quotes decimal commas; elsewhere, ask.
    if sep == ",":
        return "."
    example = next(t for t in text if "," in t or "." in t)
    raise CommandError(
        f"column {column!r} has numbers such as {example!r} that read either way: say "
        "which mark is the decimal one with --decimal . or --decimal ,"
    )


SAMPLE_ROWS = 10_000  # rows read first, as text, to name the columns and find the prices


def read_csv_series(
    path, column=None, date_column=None, sep=None, decimal=None, date_unit=None, date_format=None
):
    """A price Series from a user's CSV, or a CommandError that says what is wrong.

    ``column`` names the price column, or is a list of names for a DataFrame of those
    columns (in that order); when None, it is the last mostly numeric column in the
    first SAMPLE_ROWS rows. ``sep`` and ``decimal`` are found from the file when None:
    the separator from the header line, the decimal mark (and thousands separators) from
    the numbers. Dates out of order are sorted and repeated dates dropped, each with a
    warning on stderr.
    """
    import pandas as pd

    if os.path.isdir(path):
        raise CommandError(f"--csv {path!r} is a folder; expected a CSV file")
    if sep is None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                header = f.readline()
        except OSError as err:
            raise _unreadable(path, err) from None
        sep = max(SEPARATORS, key=header.count)
    head = _read_text(path, sep, nrows=SAMPLE_ROWS)
    if head.shape[1] < 2:
        raise CommandError(
            f"{path} needs a date column and a price column; it has {head.shape[1]} "
            f"(columns separated by {sep!r}; name the separator with --sep if it is another)"
        )
    if len(head) == 0:
        looked_for = "" if column else " has no numeric price column: it"
        raise CommandError(f"{path}{looked_for} has a header but no data rows")
    date_column = date_column or head.columns[0]
    if date_column not in head.columns:
        raise CommandError(f"no column {date_column!r} in {path}; it has {list(head.columns)}")
    if column is None:
        column = _price_column(head, date_column, decimal, path)
    columns = [column] if isinstance(column, str) else list(column)
    for name in columns:
        if name not in head.columns:
            raise CommandError(f"no column {name!r} in {path}; it has {list(head.columns)}")
    if len(set(columns)) < len(columns) or date_column in columns:
        raise CommandError(
            f"--column names each column once, and not the date column: got {columns}"
        )
    plain_dates = None in (date_unit, date_format) and not _holds_numbers(head[date_column])
    series = None
    if plain_dates and decimal in (None, "."):
        series = _read_plain(path, sep, date_column, columns, decimal)
    if series is None:
        frame = _read_text(path, sep)
        dates = _dates(frame[date_column], date_column, date_unit, date_format)
        series = pd.DataFrame(
            {c: _parse_text(frame[c], path, sep, c, decimal) for c in columns},
            index=pd.DatetimeIndex(dates),
        )
    if isinstance(column, str):
        series = series[column]
    # A file's rows should already run forward in time; say so when they did not, since
    # sorting or dropping rows changes what the user asked to forecast.
    if not series.index.is_monotonic_increasing:
        backward = int((series.index[1:] < series.index[:-1]).sum())
        series = series.sort_index(kind="stable")
        have = "has" if backward == 1 else "have"
        _warn(
            f"{path}: {_rows(backward)} {have} an earlier date than the row before; sorted by date"
        )
    repeated = series.index.duplicated(keep="first")
    if repeated.any():
        series = series[~repeated]
        _warn(
            f"{path}: dropped {_rows(int(repeated.sum()))} whose date repeats an earlier "
            f"row's (kept the first of each; {_rows(len(series))} left)"
        )
    return series


def _rows(n):
    """``1`` -> ``"1 row"``, ``5`` -> ``"5 rows"``."""
    return f"{n} row" if n == 1 else f"{n} rows"


# Column names that say "price", most wanted first (case, spaces and underscores
# aside): a Yahoo export's last numeric column is Volume, not a price.
PRICE_NAMES = (
    "adj close", "close", "price", "last", "schluss", "schlusskurs", "kurs", "cierre",
    "precio", "cours", "prix",
)  # fmt: skip
# Parts of a column name that say "traded quantity", not "price" (Umsatz: a German
# export's volume).
VOLUME_WORDS = ("vol", "umsatz", "turnover", "shares", "qty", "quantity", "stück", "stueck")


def _price_column(head, date_column, decimal, path):
    """The column a run forecasts when none is named: the first of PRICE_NAMES, else the
    last mostly numeric one whose name does not say volume (with a warning when there
    was a choice)."""
    numeric = [
        c for c in head.columns if c != date_column and _mostly_numeric(head[c].dropna(), decimal)
    ]
    named = {str(c).strip().lower().replace("_", " "): c for c in numeric}
    for name in PRICE_NAMES:
        if name in named:
            return named[name]
    prices = [c for c in numeric if not any(w in str(c).lower() for w in VOLUME_WORDS)]
    if not prices:
        raise CommandError(f"{path} has no numeric price column; name one with --column")
    if len(numeric) > 1:
        _warn(
            f"no column of {path} is named like a price (Close, Price, ...): forecasting "
            f"{prices[-1]!r}, its last numeric column not named like a volume; name the "
            f"price column with --column if it is another"
        )
    return prices[-1]


def _unreadable(path, err):
    """The CommandError for an OSError or a pandas reading error ``err``."""
    if isinstance(err, FileNotFoundError):
        return CommandError(f"no such file: {path}")
    if isinstance(err, OSError):
        return CommandError(f"cannot read --csv {path!r}: {err.strerror}")
    return CommandError(f"{path} is not a readable CSV: {str(err).splitlines()[0]}")


def _read_text(path, sep, **options):
    """Cells of the CSV as text: the numbers are read later, in the file's own convention."""
    import pandas as pd

    try:
        return pd.read_csv(path, sep=sep, dtype=str, **options)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise _unreadable(path, err) from None


def _read_plain(path, sep, date_column, columns, decimal):
    """The table parsed straight to numbers by pandas' C parser, or None to read it as text.

    Text costs some 270 bytes a row (a Python string per cell); this costs the series'
    own size. It answers only where its reading is certainly the text reader's: dates
    pandas parses by itself in one format with none missing, prices with a decimal
    point and no thousands marks, none infinite. Anything else (day-first dates, mixed UTC offsets, a
    decimal comma, a bad cell) goes to the text reader, which also words the errors.
    """
    import numpy as np
    import pandas as pd

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            frame = pd.read_csv(
                path,
                sep=sep,  # all columns: with usecols, pandas ignores a row's extra fields
                dtype=dict.fromkeys(columns, "float64"),
                parse_dates=[date_column],
                na_values={name: list(GAPS) for name in columns},
            )
    except ValueError:  # a price that is not a plain number, a malformed row
        return None
    if any(_GUESSED in str(w.message) for w in caught):
        return None  # dates guessed one by one: the text reader refuses them
    dates = frame[date_column]
    if dates.dtype.kind != "M" or dates.isna().any():
        return None
    for name in columns:
        prices = frame[name].to_numpy()
        if np.isinf(prices).any() or np.isnan(prices).all():
            return None
        if decimal is None and sep != "," and _maybe_grouped(prices):
            return None
    return frame[columns].set_axis(pd.DatetimeIndex(dates), axis=0)


def _maybe_grouped(prices):
    """Whether every price read with a decimal point could be text such as "1.234", which
    a file whose decimal mark is the comma means as 1234: then only the text can tell.

    A price of 1,000 or more with a fraction, or with more than three decimals, cannot be
    one thousands group.
    """
    import numpy as np

    values = prices[np.isfinite(prices)]
    fraction = values != np.round(values)
    thousandths = values * 1000.0
    # 1e-6 is far above the rounding of a three-decimal price times 1000 (< 1e-9 below
    # 1,000), so a price it calls "more than three decimals" is one.
    finer = np.abs(thousandths - np.round(thousandths)) > 1e-6
    return not (fraction & ((np.abs(values) >= 1000.0) | finer)).any()


def _parse_text(text, path, sep, column, decimal):
    """The prices in ``text`` (a column of strings), or a CommandError naming the first bad one."""
    # Text such as "." marks a gap (a holiday), as do pandas' NA strings ("NA", "null"...);
    # anything else that is not a number is an error.
    gap = text.isna() | text.str.strip().isin(GAPS)
    if decimal is None:
        decimal = _decimal_of(text[~gap], column, sep)
    prices = _numbers(text, decimal)
    bad = prices.isna() & ~gap
    if bad.any():
        row = int(bad.to_numpy().argmax())
        cell = text.iloc[row]
        hint = ""
        if any(mark in cell for mark in ",."):
            hint = f" (read with {decimal!r} as the decimal mark; --decimal names the other)"
        raise CommandError(
            f"column {column!r} has text where a price should be: {cell!r} (row {row + 2})" + hint
        )
    if not prices.notna().any():
        raise CommandError(f"column {column!r} of {path} has no prices, only gaps")
    return prices.to_numpy(float)


# pandas' words when no one format fits every date: it then guesses each date apart, and
# a day and a month (04.01.21) may swap from one row to the next.
_GUESSED = "Could not infer format"
EARLIEST, LATEST = 1900, 2200  # years of dates that a right unit gives


def _to_datetime(text, **options):
    """pd.to_datetime of ``text`` (errors="coerce"), and whether pandas guessed each date
    apart for want of one format."""
    import pandas as pd

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        dates = pd.to_datetime(text, errors="coerce", **options)
    return dates, any(_GUESSED in str(w.message) for w in caught)


def _dates(text, column, unit, fmt):
    """The dates in column ``column`` (strings): in format ``fmt`` when given, numbers in
    ``unit`` since 1970, or in the one format pandas infers for them all."""
    import pandas as pd

    if unit is not None:
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.isna().any():
            row = int(numbers.isna().to_numpy().argmax())
            raise CommandError(
                f"--date-unit {unit} takes numbers in column {column!r}; it has "
                f"{text.iloc[row]!r} (row {row + 2})"
            )
        try:
            dates = pd.to_datetime(numbers, unit=unit)
        except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime among them
            dates = None
        # Too large a unit overflows or passes 2200; too small a one crams every date into
        # the first days of 1970, which no real export of timestamps covers.
        if (
            dates is None
            or not EARLIEST <= dates.min().year <= dates.max().year <= LATEST
            or dates.max().year == 1970
        ):
            span = "" if dates is None else f" from {dates.min()} to {dates.max()}"
            raise CommandError(
                f"column {column!r} read in --date-unit {unit} gives dates{span}, outside "
                f"{EARLIEST} to {LATEST} or all in 1970 (such as {text.iloc[0]!r}): is the "
                "unit another?"
            )
        return dates
    if fmt is None and _holds_numbers(text):
        raise CommandError(
            f"column {column!r} holds numbers, not dates (such as {text.iloc[0]!r}); if they "
            f"are timestamps, name their unit with --date-unit ({', '.join(DATE_UNITS)}), "
            "otherwise name the date column with --date-column"
        )
    options = {} if fmt is None else {"format": fmt}
    try:
        dates, guessed = _to_datetime(text, **options)
    except ValueError:
        # Offsets that differ between rows (a daylight-saving change, merged exports)
        # leave no one time zone: compare the instants in UTC.
        dates, guessed = _to_datetime(text, utc=True, **options)
        _warn(f"column {column!r} has dates with different UTC offsets; converted them to UTC")
    if fmt is None and dates.isna().any():
        # pandas reads "01.02.2019" month first; a European export means day first, which
        # shows once a day above 12 does not fit as a month
        day_first, guessed_day_first = _to_datetime(text, dayfirst=True)
        if day_first.notna().all():
            dates, guessed = day_first, guessed_day_first
    if guessed:
        raise CommandError(
            f"column {column!r} has dates such as {text.iloc[0]!r} in no one format pandas "
            "can name, so each would be guessed apart and days and months could swap: name "
            "the format with --date-format (such as --date-format %d.%m.%y)"
        )
    if dates.isna().any():
        row = int(dates.isna().to_numpy().argmax())
        expected = "" if fmt is None else f" in --date-format {fmt}"
        raise CommandError(
            f"column {column!r} has a value that is not a date{expected}: {text.iloc[row]!r} "
            f"(row {row + 2})"
        )
    return dates


def _holds_numbers(text):
    """Whether every cell of a date column is a number: a timestamp, or not a date."""
    import pandas as pd

    return bool(pd.to_numeric(text, errors="coerce").notna().all())


def _mostly_numeric(text, decimal):
    if len(text) == 0:
        return False
    marks = [decimal] if decimal else list(_NUMBER)
    return max(_numbers(text, d).notna().mean() for d in marks) > 0.9


def _check_target(args, transform_given):
    """--target volatility fixes the transform: refuse a --transform beside it."""
    if args.target == "volatility" and transform_given:
        raise CommandError(
            f"--transform {args.transform} is for --target price; --target volatility "
            "forecasts absolute log returns"
        )


def _read_series(args, transforms):
    """The series of --csv (or the bundled WTI) and its title, once a line has said what
    it holds and what the networks forecast of it (with ``transforms``)."""
    from . import report
    from .datasets import load_wti
    from .inspect import time_label

    columns = args.column
    if columns and "," in columns:
        columns = [name.strip() for name in columns.split(",")]
    if args.target_column is not None and args.target_column not in (
        columns if isinstance(columns, list) else [columns]
    ):
        raise CommandError(
            f"--target-column {args.target_column!r} must be one of the --column names, "
            f"got --column {args.column!r}"
        )
    if args.csv:
        series = read_csv_series(
            args.csv,
            columns,
            args.date_column,
            args.sep,
            args.decimal,
            args.date_unit,
            args.date_format,
        )
        names = series.name if series.ndim == 1 else ", ".join(series.columns)
        title = f"{names} from {args.csv}"
    else:
        series = load_wti(dropna=False)
        title = "WTI crude oil, daily spot price (FRED DCOILWTICO)"
    target = args.target_column or getattr(series, "columns", [None])[0]
    complete = series.notna() if series.ndim == 1 else series.notna().all(axis=1)
    gaps = len(series) - int(complete.sum())
    # what happens to the rows without a price, said rather than done silently
    treated = {"drop": "dropped", "ffill": "filled with the price before", "raise": "refused"}
    without = f" ({gaps} without: {treated[args.missing]})" if gaps else ""
    print(
        f"{title}: {int(complete.sum())} rows with prices{without}, "
        f"{time_label(series.index[0])} to "
        f"{time_label(series.index[-1])}; forecasting "
        + (f"{target}'s " if series.ndim == 2 else "")
        + " or ".join(report.FORECASTING[t] for t in transforms)
    )
    return series, title


def _say_warnings(caught):
    """Warnings caught in training, said: thin data once per network in rnnkit's words,
    others as Python shows them. Whether the rule of thumb applies (said below the table)."""
    thin = {}  # network -> its first (thinnest) warning: a backtest warns once a fold
    for w in caught:
        if w.category is ThinDataWarning:
            thin.setdefault(str(w.message).split(":")[0], str(w.message))
    for message in thin.values():
        _warn(message.replace(f" {RULE_OF_THUMB}", ""))
    for w in caught:
        if w.category is not ThinDataWarning:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return any(RULE_OF_THUMB in message for message in thin.values())


def run(args):
    from . import report

    cells = tuple(c.strip() for c in args.cells.split(","))
    if not cells or any(c not in CELLS for c in cells):
        raise CommandError(f"--cells takes some of {', '.join(CELLS)}, got {args.cells!r}")
    if args.variant.lower() != "vanilla" and "lstm" not in cells:
        raise CommandError(f"--variant {args.variant} is the LSTM's; --cells {args.cells} has none")
    files = report.BACKTEST_FILES if args.backtest else report.report_files(args.horizon)
    _check_out(args.out, files, args.overwrite)
    if args.threads is not None:
        from .core import set_num_threads

        set_num_threads(args.threads)
    _check_target(args, args.transform != _FORECASTER["transform"])
    transform = TARGETS[args.target] or args.transform
    series, title = _read_series(args, [transform])
    forecaster_args = {name: getattr(args, name) for _, name, _, _ in RUN_OPTIONS}
    forecaster_args |= {"missing": args.missing, "target": args.target_column}
    forecaster_args["transform"] = transform
    forecaster_args |= {"stateful": args.tbptt is not None, "tbptt": args.tbptt}
    start = time.perf_counter()
    verbose = 0 if args.quiet else 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ThinDataWarning)
            if args.backtest:
                table = report.backtest(
                    series, cells, args.backtest, args.interval, verbose=verbose,
                    **forecaster_args,
                )  # fmt: skip
            else:
                table, forecasters = report.compare(
                    series, cells=cells, interval=args.interval, verbose=verbose,
                    **forecaster_args,
                )  # fmt: skip
    except ValueError as err:
        raise CommandError(_in_cli_words(str(err))) from None
    # Thin data is said once (every network's fit finds it), with the rule of thumb beside
    # the table.
    rule = _say_warnings(caught)
    print()
    if args.backtest:
        folds = f"{args.backtest} fold{'s' if args.backtest > 1 else ''}"
        text = (
            f"Walk-forward backtest over {folds} of the last {args.test:.0%} of the rows; "
            f"each model refitted on everything before its fold.\n" + report.format_backtest(table)
        )
        print(text)
        files = _write_out(
            report.write_backtest, args.out, table, title, text, transform, args.overwrite,
            args.interval,
        )  # fmt: skip
        print(f"\n{report.backtest_note(transform, args.interval)}")
    else:
        n, said = report.scored_on(next(iter(forecasters.values())))
        if n < report.FEW_TEST_WINDOWS:
            _warn(
                f"only {n} test window{'s' if n != 1 else ''}: a ranking on so few may be "
                f"chance (an RMSE over {n} windows moves by about {1 / math.sqrt(2 * max(n, 1)):.0%}"
                f" from sample to sample); a longer series or a larger --test gives more"
            )
        print(report.format_table(table))
        print(said)
        files = _write_out(
            report.write_report, args.out, table, forecasters, title, args.overwrite,
            args.interval,
        )  # fmt: skip
        print(f"\n{report.note(transform, args.horizon, args.interval)}")
    if rule:
        print(RULE_OF_THUMB)
    _say_where(args.out, files, start)


# Seconds to wait for a --scheduler to answer before saying it does not
SCHEDULER_TIMEOUT = 10


def _connect(address):
    """A dask.distributed Client of the scheduler at ``address``, or a CommandError
    within about SCHEDULER_TIMEOUT seconds. Dask's own timeout bounds the connection,
    not the handshake after it, which waits for ever on a port that something other
    than Dask listens on (its dashboard's, a web server's): the wait is bounded here."""
    try:
        from distributed import Client
    except ImportError:
        raise CommandError(
            "--scheduler needs Dask's distributed: pip install 'rnnkit[parallel]'"
        ) from None
    outcome = {}

    def connect():
        try:
            outcome["client"] = Client(address, timeout=SCHEDULER_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - OSError, TimeoutError, ValueError (address)
            outcome["error"] = f"{type(err).__name__}: {err}"

    # a daemon thread: one still waiting on a silent port does not keep rnnkit from exiting
    thread = threading.Thread(target=connect, name="rnnkit-connect", daemon=True)
    thread.start()
    thread.join(SCHEDULER_TIMEOUT + 2)
    if "client" in outcome:
        return outcome["client"]
    why = outcome.get("error", "something answered there, but not as a Dask scheduler")
    raise CommandError(
        f"--scheduler {address}: could not reach a Dask scheduler there within "
        f"{SCHEDULER_TIMEOUT} s ({why})"
    )


def _heatmap_axes(text, grid):
    """The heatmap's (x, y) parameters, y None for one: --heatmap's (by parameter or by
    option name), or the two with the most values; None when none has several."""
    if text is None:
        several = sorted((n for n, v in grid.items() if len(v) > 1), key=lambda n: -len(grid[n]))
        return ([*several, None])[:2] if several else None
    spelled = {flag.lstrip("-"): name for flag, name, _, _ in GRID_OPTIONS}
    names = [spelled.get(n.strip(), n.strip().replace("-", "_")) for n in text.split(",")]
    if not 1 <= len(names) <= 2 or len(set(names)) < len(names) or not set(names) <= set(grid):
        raise CommandError(
            f"--heatmap takes one or two parameters of the sweep separated by a comma (of "
            f"{', '.join(grid)}), got {text!r}"
        )
    return ([*names, None])[:2]


def _check_results(results, out):
    """Refuse a --results file that a report of --out would replace, before any work."""
    from . import report

    if results is None:
        return
    mine = {os.path.abspath(os.path.join(out, name)) for name in report.SWEEP_FILES}
    if os.path.abspath(results) in mine:
        raise CommandError(
            f"--results {results} is a file of the report in --out {out}, which each run "
            "replaces: keep the results elsewhere"
        )


def _thinnest(caught):
    """Of the thin-data warnings, the one with the fewest training windows."""
    thin = [w for w in caught if w.category is ThinDataWarning]
    windows = [re.search(r"only ([\d,]+)", str(w.message)) for w in thin]
    counts = [int(m[1].replace(",", "")) if m else 0 for m in windows]
    return [thin[counts.index(min(counts))]] if thin else []


def sweep(args):
    from . import plot, report

    grid = {
        name: getattr(args, name)
        for _, name, _, _ in GRID_OPTIONS
        if getattr(args, name) is not None
    }
    _check_target(args, args.transform is not None)
    if args.target == "volatility":
        grid["transform"] = ["volatility"]
    if args.target_column is not None:
        grid["target"] = [args.target_column]
    if not grid:  # one configuration: the Forecaster's defaults
        grid = {"cell": [_FORECASTER["cell"]]}
    axes = _heatmap_axes(args.heatmap, grid)
    if args.scheduler is not None and args.backend not in (None, "dask"):
        raise CommandError(f"--scheduler runs the jobs on Dask; --backend {args.backend} cannot")
    if args.backend == "dask" and args.scheduler is None:
        raise CommandError(
            "--backend dask needs --scheduler ADDRESS (a Dask scheduler's, such as "
            "tcp://host:8786); on this machine alone, leave --backend out"
        )
    backend = "dask" if args.scheduler is not None else args.backend
    n_jobs = args.jobs if args.jobs is not None else (-1 if args.scheduler is not None else 1)
    try:
        _jobs.check_engine(n_jobs, backend, args.threads_per_job)
        configs = sweeps.configurations(grid)
    except (TypeError, ValueError) as err:
        raise CommandError(str(err).replace("n_jobs", "--jobs")) from None
    if n_jobs == 1 and backend is None and args.threads_per_job is not None:
        from .core import set_num_threads

        set_num_threads(args.threads_per_job)  # the jobs run here, one after another
    _check_out(args.out, report.SWEEP_FILES, args.overwrite)
    _check_results(args.results, args.out)
    transforms = grid.get("transform", [_FORECASTER["transform"]])
    series, title = _read_series(args, transforms)
    client = _connect(args.scheduler) if args.scheduler is not None else None
    jobs = len(configs) * args.folds
    print(
        f"{len(configs)} configuration{'s' * (len(configs) > 1)} x {args.folds} walk-forward "
        f"validation folds before the last {args.test:.0%}: {jobs} job{'s' * (jobs > 1)}"
    )
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ThinDataWarning)
            table = sweeps.sweep(
                series, {**grid, "missing": [args.missing]}, folds=args.folds, test=args.test,
                n_jobs=n_jobs, backend=backend, threads_per_job=args.threads_per_job,
                results=args.results, progress=not args.quiet,
            )  # fmt: skip
    except OSError as err:  # the results file's folder
        raise CommandError(f"--results: {err}") from None
    except (TypeError, ValueError) as err:
        raise CommandError(_in_cli_words(str(err))) from None
    except KeyboardInterrupt:
        if args.results is not None and os.path.exists(args.results):
            print(f"rnnkit: the jobs finished so far are kept in {args.results}: the same "
                  "command resumes the sweep", file=sys.stderr)  # fmt: skip
        raise
    finally:
        if client is not None:
            client.close()
    rule = _say_warnings(
        [*_thinnest(caught), *(w for w in caught if w.category is not ThinDataWarning)]
    )
    ranked = sweeps.rank(table, args.metric)
    params = sweeps.varying(table)
    fixed = {name: values[0] for name, values in grid.items() if name not in params}
    failed = int((table["error"] != "").sum())
    lines = [
        f"Ranked by mean validation {args.metric} over {args.folds} folds"
        + (f" (fixed: {', '.join(f'{k}={v}' for k, v in fixed.items())})" if fixed else "")
        + (f"; {failed} of {len(table)} jobs failed (their errors: sweep.csv)" if failed else "")
        + ":",
        report.format_ranked(ranked, args.metric, params),
        "",
    ]
    problem = None
    try:
        with warnings.catch_warnings(record=True) as refit_warnings:
            warnings.simplefilter("ignore", ThinDataWarning)  # said above already
            best, tested = sweeps.score_best(
                series, table, args.metric, verbose=0 if args.quiet else 1
            )
    except ValueError as err:  # no configuration has a score
        problem = _in_cli_words(str(err))
        lines.append(f"No best configuration: {problem}")
    else:
        lines += [
            "Best on validation: "
            + ", ".join(f"{k}={v}" for k, v in best.items() if k in (params or grid))
            + f"; refitted on everything before the held-out {args.test:.0%} and tested there:",
            # the baselines first, the network last, as rnnkit run prints them
            report.format_table(tested.loc[[*tested.index[1:], tested.index[0]]]),
        ]
    _say_warnings(refit_warnings)
    text = "\n".join(lines)
    print()
    print(text)
    heatmap = None if axes is None else plot.sweep_heatmap(table, *axes, metric=args.metric)
    files = _write_out(
        report.write_sweep, args.out, table, ranked, title, text, heatmap, args.overwrite
    )
    if rule:
        print(RULE_OF_THUMB)
    _say_where(args.out, files, start)
    if problem is not None:
        raise CommandError(f"no best configuration to test ({problem})")


def experiments(args):
    from .experiments import runner

    if args.list:
        print("\n".join(runner.NAMES))
        return
    only = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    if only is not None and not set(only) <= set(runner.NAMES):
        unknown = sorted(set(only) - set(runner.NAMES))
        raise CommandError(f"--only: unknown experiments {unknown}; choose among {runner.NAMES}")

    def progress(name, seconds, result):
        print(f"{name}: {result.caption} ({seconds:.0f} s)", flush=True)

    _check_out(args.out, runner.report_files(only), args.overwrite)
    start = time.perf_counter()
    results = runner.run_all(only=only, quick=args.quick, progress=progress)
    files = _write_out(runner.write_report, args.out, results, runner.TITLE, args.overwrite)
    _say_where(args.out, files, start)


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(args)
        elif args.command == "sweep":
            sweep(args)
        elif args.command == "experiments":
            experiments(args)
        elif args.command == "demo":
            demo.run(epochs=args.epochs, hidden=args.hidden, seed=args.seed)
        else:
            show_config()
    except (CommandError, ImportError) as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: the report is written whole or not at all, so nothing was touched
        print("rnnkit: interrupted; no report was written", file=sys.stderr)
        return 130  # the shell's code for a command ended by SIGINT
    return 0


if __name__ == "__main__":
    sys.exit(main())
