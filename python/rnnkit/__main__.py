"""Command line: ``rnnkit run`` (the main job), ``rnnkit experiments``, ``rnnkit demo``,
``rnnkit config``."""

import argparse
import sys
import time

from . import demo
from ._config import show_config
from ._estimator import defaults
from .data import MISSING_MODES, TRANSFORMS
from .forecaster import Forecaster
from .models import CELLS

_FORECASTER = defaults(Forecaster)


class CommandError(Exception):
    """A problem with the user's input, reported in one line."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="train an RNN and an LSTM against baselines on a price series",
        description="Train an RNN and an LSTM on a price series (by default the bundled daily "
        "WTI crude oil price), compare them with naive, drift, moving-average, EWMA and "
        "linear-regression forecasts on the same test block, print one table and write a "
        "report folder with plots.",
    )
    run.add_argument("--csv", help="a CSV file with a price column (default: bundled WTI)")
    run.add_argument("--column", help="the price column of the CSV (default: the last numeric)")
    run.add_argument("--date-column", help="the CSV's date column (default: the first column)")
    run.add_argument("--cells", default="rnn,lstm", help="comma-separated: rnn, lstm")
    run.add_argument("--lookback", type=_positive_int, default=_FORECASTER["lookback"])
    run.add_argument("--horizon", type=_positive_int, default=_FORECASTER["horizon"])
    run.add_argument(
        "--hidden", type=_positive_int, default=_FORECASTER["hidden_size"], help="hidden units"
    )
    run.add_argument("--epochs", type=_positive_int, default=_FORECASTER["epochs"])
    run.add_argument("--patience", type=_positive_int, default=_FORECASTER["patience"])
    # The main job's own: twice the API's batch halves the steps per epoch on decades of
    # daily prices, and a CSV's gaps (holidays) are dropped rather than refused.
    run.add_argument("--batch-size", type=_positive_int, default=64)
    run.add_argument("--lr", type=float, default=_FORECASTER["lr"])
    run.add_argument("--transform", choices=TRANSFORMS, default=_FORECASTER["transform"])
    run.add_argument("--missing", choices=MISSING_MODES, default="drop")
    run.add_argument("--out", default="rnnkit-report", help="report folder")
    run.add_argument("--seed", type=int, default=_FORECASTER["seed"])
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    experiments = commands.add_parser(
        "experiments",
        help="run the experiments behind the claims (memory, gradients, gates, cost...)",
        description="Run rnnkit's experiments (the adding problem's memory span, fading "
        "gradients, gates holding an event, cost, look-back length, volatility) and write "
        "one report, Markdown and HTML with a PNG per picture. A few minutes on two cores.",
    )
    experiments.add_argument("--out", default="rnnkit-experiments", help="report folder")
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


def read_csv_series(path, column=None, date_column=None):
    """A price Series from a user's CSV, or a CommandError that says what is wrong."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CommandError(f"{path} is not a readable CSV: {str(err).splitlines()[0]}") from None
    if frame.shape[1] < 2:
        raise CommandError(
            f"{path} needs a date column and a price column; it has {frame.shape[1]}"
        )
    date_column = date_column or frame.columns[0]
    if date_column not in frame.columns:
        raise CommandError(f"no column {date_column!r} in {path}; it has {list(frame.columns)}")
    if column is None:
        numeric = [c for c in frame.columns if c != date_column and _mostly_numeric(frame[c])]
        if not numeric:
            raise CommandError(f"{path} has no numeric price column; name one with --column")
        column = numeric[-1]
    if column not in frame.columns:
        raise CommandError(f"no column {column!r} in {path}; it has {list(frame.columns)}")
    dates = pd.to_datetime(frame[date_column], errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().argmax())
        bad = frame[date_column].iloc[row]
        raise CommandError(
            f"column {date_column!r} has a value that is not a date: {bad!r} (row {row + 2})"
        )
    # Text such as "." marks a gap (a holiday); anything else non-numeric is an error.
    prices = pd.to_numeric(frame[column].replace({".": None, "": None}), errors="coerce")
    bad = prices.isna() & frame[column].notna() & ~frame[column].isin([".", ""])
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise CommandError(
            f"column {column!r} has text where a price should be: {frame[column].iloc[row]!r} "
            f"(row {row + 2})"
        )
    series = pd.Series(prices.to_numpy(float), index=pd.DatetimeIndex(dates), name=column)
    if not series.index.is_monotonic_increasing:
        series = series.sort_index()
    return series


def _mostly_numeric(column):
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").notna().mean() > 0.9


def run(args):
    from .datasets import load_wti
    from .report import NOTE, compare, format_table, write_report

    cells = tuple(c.strip() for c in args.cells.split(","))
    if not cells or any(c not in CELLS for c in cells):
        raise CommandError(f"--cells takes rnn and/or lstm, got {args.cells!r}")
    if args.csv:
        series = read_csv_series(args.csv, args.column, args.date_column)
        title = f"{series.name} from {args.csv}"
    else:
        series = load_wti(dropna=False)
        title = "WTI crude oil, daily spot price (FRED DCOILWTICO)"
    print(
        f"{title}: {series.notna().sum()} prices, {series.index[0]:%Y-%m-%d} to "
        f"{series.index[-1]:%Y-%m-%d}; forecasting {args.transform.replace('_', ' ')}s"
    )
    start = time.perf_counter()
    try:
        table, forecasters = compare(
            series,
            cells=cells,
            lookback=args.lookback,
            horizon=args.horizon,
            hidden_size=args.hidden,
            epochs=args.epochs,
            patience=args.patience,
            batch_size=args.batch_size,
            lr=args.lr,
            transform=args.transform,
            missing=args.missing,
            seed=args.seed,
            verbose=0 if args.quiet else 1,
        )
    except ValueError as err:
        raise CommandError(str(err)) from None
    print()
    print(format_table(table))
    print(f"\n{NOTE}")
    files = write_report(args.out, table, forecasters, title)
    print(f"\nreport in {args.out}/: {', '.join(files)} ({time.perf_counter() - start:.0f} s)")


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

    start = time.perf_counter()
    results = runner.run_all(only=only, quick=args.quick, progress=progress)
    files = runner.write_report(args.out, results)
    print(f"\nreport in {args.out}/: {', '.join(files)} ({time.perf_counter() - start:.0f} s)")


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            run(args)
        elif args.command == "experiments":
            experiments(args)
        elif args.command == "demo":
            demo.run(epochs=args.epochs, hidden=args.hidden, seed=args.seed)
        else:
            show_config()
    except (CommandError, ImportError) as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
