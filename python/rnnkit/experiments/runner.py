"""Run every experiment and write one report: Markdown and HTML, a PNG per picture.

``rnnkit experiments`` calls :func:`run_all` then :func:`write_report`. Each experiment
runs with the settings in :data:`PLAN` (its own defaults unless stated), chosen so the
whole report takes a few minutes on two cores; ``quick=True`` shrinks every one to a
smoke test of the pipeline (seconds), whose numbers mean nothing.
"""

import html
import importlib
import time

from .. import _output

EVENT_QUICK = {"n": 600, "epochs": 2}  # event_memory's, and gates' when it trains its own

# (name, module, function, full settings, quick settings). The order is the report's.
PLAN = [
    ("memory_span", "memory_span", "memory_span",
     {"seq_lens": (10, 20, 50, 100), "steps": 3000},
     {"seq_lens": (5, 10), "steps": 20}),
    ("fading_gradients", "fading_gradients", "fading_gradients",
     {},
     {"seq_len": 12, "train_steps": 10}),
    ("event_memory", "event_memory", "event_memory",
     {},
     EVENT_QUICK),
    ("gates", "gates", "gates_at_work",
     {},
     EVENT_QUICK),
    ("cost", "cost", "cost",
     {},
     {"n_windows": 200, "epochs": 2}),
    ("gate_ablation", "gate_ablation", "gate_ablation",
     {},
     {"seeds": (0, 1), "steps": 20, "hidden_size": 8, "epochs": 2, "n_jobs": 1}),
    ("lookback", "lookback", "lookback_sweep",
     {},
     {"lookbacks": (5, 10), "epochs": 2}),
    ("volatility", "volatility", "volatility",
     {},
     {"epochs": 2}),
    ("long_memory", "long_memory", "long_memory",
     {},
     {"n": 800, "seeds": (0,), "epochs": 2}),
]  # fmt: skip

# An experiment that looks into the networks an earlier one trained takes that one's
# Result as this argument, in place of its settings, when both run: nothing trains twice.
REUSES = {"gates": ("event_memory", "memory")}

NAMES = [name for name, *_ in PLAN]


def _select(only):
    if only is None:
        return PLAN
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; choose among {NAMES}")
    return [entry for entry in PLAN if entry[0] in only]


def run_all(only=None, quick=False, progress=None):
    """Run the experiments in :data:`PLAN` order.

    Parameters
    ----------
    only : list of str or None
        Names from :data:`NAMES` to run; None runs all.
    quick : bool
        Tiny settings, to check the pipeline in seconds.
    progress : callable or None
        Called as ``progress(name, seconds, result)`` after each experiment.

    Returns
    -------
    list of (Result, seconds)
    """
    done, by_name = [], {}
    for name, module, function, full, small in _select(only):
        run = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        settings = small if quick else full
        earlier, argument = REUSES.get(name, (None, None))
        if earlier in by_name:
            settings = {argument: by_name[earlier]}
        start = time.perf_counter()
        result = run(**settings)
        seconds = time.perf_counter() - start
        done.append((result, seconds))
        by_name[name] = result
        if progress is not None:
            progress(name, seconds, result)
    return done


def _markdown_table(frame, digits=4):
    shown = frame.round(digits) if hasattr(frame, "round") else frame
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


REPORTS = ("report.md", "report.html")


def report_files(only=None):
    """The files :func:`write_report` may write for the experiments ``only`` (None: all).

    Known before anything runs, so that the report folder can be checked first.
    """
    names = [name for name, *_ in _select(only)]
    return sorted([*(f"{n}.csv" for n in names), *(f"{n}.png" for n in names), *REPORTS])


TITLE = "What the networks learned: rnnkit's experiments"


def write_report(out, results, title=TITLE, overwrite=False):
    """``report.md``, ``report.html``, one PNG and one CSV per experiment, in folder ``out``.

    Parameters
    ----------
    out : str or path
        Made if missing; a folder holding files rnnkit did not write is refused unless
        ``overwrite``, and those files are never replaced (see
        :func:`rnnkit._output.check_folder`).
    results : list of (Result, seconds), as from :func:`run_all`
    overwrite : bool

    Returns
    -------
    list of str
        The files written, relative to ``out``.
    """
    files = {}
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for result, seconds in results:
        csv = f"{result.name}.csv"
        files[csv] = _table_writer(result.table)
        md += [f"## {result.title}", ""]
        body.append(f"<h2>{html.escape(result.title)}</h2>")
        if result.figure is not None:
            png = f"{result.name}.png"
            files[png] = _output.figure_writer(result.figure)
            md += [f"![{result.name}]({png})", ""]
            body.append(
                f'<img src="{png}" alt="{html.escape(result.name)}" style="max-width:100%">'
            )
        md += [result.caption, "", _markdown_table(result.table), "",
               f"*{seconds:.1f} s; numbers in {csv}*", ""]  # fmt: skip
        body += [
            f"<p>{html.escape(result.caption)}</p>",
            result.table.round(4).to_html(index=False, border=0),
            f"<p><em>{seconds:.1f} s; numbers in {csv}</em></p>",
        ]
    style = "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}"
    style += "td,th{padding:2px 8px;text-align:right}"
    files[REPORTS[0]] = _output.text_writer("\n".join(md))
    files[REPORTS[1]] = _output.text_writer(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return _output.write_folder(out, files, overwrite)


def _table_writer(table):
    return lambda path: table.to_csv(path, index=False)
