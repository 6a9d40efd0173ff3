"""Gates one at a time: six LSTM variants of Greff et al., the GRU and the RNN, trained
with the same budget on two tasks, 3 seeds each.

Greff, Srivastava, Koutnik, Steunebrink and Schmidhuber, "LSTM: A Search Space Odyssey"
(IEEE TNNLS 2017), took the LSTM apart gate by gate on speech, handwriting and music.
Their finding: removing the forget gate (NFG) or the output activation (NOAF) hurts on
every data set, coupling the input and forget gates (CIFG) changes little, and removing
the input gate, the output gate or the input activation (NIG, NOG, NIAF) hurts on some
data sets and not on others. This experiment asks the same on two tasks of its own:

* the adding problem at sequence length 50 (memory over about 25 steps), test MSE;
* next-day volatility of the bundled WTI series (the absolute log return, in percent):
  a Forecaster with ``transform="volatility"``, its validation block choosing the epoch
  (early stopping), test RMSE.

Greff et al. had eight variants; rnnkit's vanilla LSTM has no peepholes (their NP), so
NP and FGR (full gate recurrence) are not here, and each variant is NP plus one change.
Nothing is tuned toward the paper: every network gets the same hidden size, steps,
epochs and learning rate (not the same parameter count: NIG, NFG, NOG and CIFG carry a
gate block that does nothing), and the caption says from the numbers where the result agrees
with Greff et al.'s ranking and where it does not. (The original LSTM of 1997 had no
forget gate, and it did solve the adding problem.)
"""

import warnings

import numpy as np

from .. import _jobs
from ..forecaster import Forecaster, ThinDataWarning
from ..plot import NETWORK_COLORS, _figure
from ..reference import LSTM_VARIANTS
from ._common import price_series
from ._result import Result
from ._result import frame as _frame
from .memory_span import FORGOTTEN_MSE, LEARNED_MSE, MEAN_MSE, adding_problem

__all__ = ["gate_ablation"]

# (name, cell, variant): the LSTM and each of its variants, then the GRU and the RNN
MODELS = (
    *((("LSTM" if v == "vanilla" else v.upper()), "lstm", v) for v in LSTM_VARIANTS),
    ("GRU", "gru", "vanilla"),
    ("RNN", "rnn", "vanilla"),
)
TASKS = ("adding", "volatility")
# Greff et al.'s verdict for a variant against the vanilla LSTM, on all their data sets
GREFF = {"NFG": "worse", "NOAF": "worse", "CIFG": "the same"}
GREFF_SOME = ("NIG", "NOG", "NIAF")  # worse on some of their data sets, not all


def gate_ablation(
    seeds=(0, 1, 2),
    seq_len=50,
    steps=3000,
    hidden_size=64,
    lookback=20,
    epochs=30,
    patience=5,
    n_jobs=None,
    plot=True,
):
    """Test errors of six LSTM variants, the vanilla LSTM, the GRU and the RNN on two tasks.

    Parameters
    ----------
    seeds : sequence of int
        One run per model, task and seed (weights, batches, test set).
    seq_len : int
        The adding problem's sequence length.
    steps : int
        The adding problem's Adam steps (fresh batches of 64), for every model.
    hidden_size : int
        Hidden units of every network, on both tasks.
    lookback, epochs, patience
        The volatility Forecaster's window, most epochs, and early-stopping patience on
        its validation block.
    n_jobs : int or None
        Runs at once, through joblib's processes (see ``rnnkit.sweep``); None: every
        core when joblib is installed, else one after another.
    plot : bool
        Draw the figure (needs matplotlib).

    Returns
    -------
    Result
        ``table``: task, model, mean and std of the test error over the seeds, and the
        runs; ``numbers``: ``"{task}_{model}"`` (the mean, model in lower case) for every
        pair.
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    settings = {"seq_len": seq_len, "steps": steps, "hidden_size": hidden_size,
                "lookback": lookback, "epochs": epochs, "patience": patience}  # fmt: skip
    jobs = [
        (task, cell, variant, seed, settings)
        for task in TASKS
        for _, cell, variant in MODELS
        for seed in seeds
    ]
    if n_jobs is None:
        n_jobs = -1 if _has_joblib() else 1
    errors = _jobs.run(_run, jobs, n_jobs=n_jobs)
    rows = []
    for task in TASKS:
        for name, cell, variant in MODELS:
            runs = [e for (t, c, v, _, _), e in zip(jobs, errors, strict=True)
                    if (t, c, v) == (task, cell, variant)]  # fmt: skip
            rows.append({"task": task, "model": name, "mean": float(np.mean(runs)),
                         "std": float(np.std(runs, ddof=1)) if len(runs) > 1 else 0.0,
                         "runs": len(runs)})  # fmt: skip
    numbers = {f"{r['task']}_{r['model'].lower()}": r["mean"] for r in rows}
    return Result(
        name="gate_ablation",
        title="Gates one at a time: which parts of the LSTM matter (Greff et al. 2017)?",
        table=_frame(rows),
        figure=_figure_of(rows, seq_len) if plot else None,
        caption=_caption(rows, settings, len(seeds)),
        numbers=numbers,
    )


def _has_joblib():
    try:
        import joblib  # noqa: F401
    except ImportError:
        return False
    return True


def _run(task, cell, variant, seed, settings):
    """One network's test error on one task: a job."""
    if task == "adding":
        return adding_problem(cell, settings["seq_len"], steps=settings["steps"],
                              hidden_size=settings["hidden_size"], seed=seed, variant=variant)  # fmt: skip
    prices, _ = price_series(None)
    forecaster = Forecaster(
        cell=cell, variant=variant, transform="volatility", lookback=settings["lookback"],
        hidden_size=settings["hidden_size"], epochs=settings["epochs"],
        patience=settings["patience"], seed=seed, verbose=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        # every network has the same budget on purpose; thin data is part of the setting
        warnings.simplefilter("ignore", ThinDataWarning)
        forecaster.fit(prices)
    rows = {row["model"]: row for row in forecaster.evaluate(as_frame=False)}
    return rows[forecaster.name]["rmse"]


def verdicts(rows, task):
    """Each model's error against the vanilla LSTM's on ``task``: "worse", "better" or
    "the same" (the means differ by less than the larger spread over the seeds)."""
    by = {r["model"]: r for r in rows if r["task"] == task}
    vanilla = by["LSTM"]
    out = {}
    for name, r in by.items():
        if name == "LSTM":
            continue
        gap = r["mean"] - vanilla["mean"]
        if abs(gap) <= max(r["std"], vanilla["std"]):
            out[name] = "the same"
        else:
            out[name] = "worse" if gap > 0 else "better"
    return out


def _caption(rows, settings, n_seeds):
    setting = (
        f"Every network has {settings['hidden_size']} hidden units and the same budget: "
        f"{settings['steps']} Adam steps on the adding problem (T = {settings['seq_len']}, "
        f"test MSE; {MEAN_MSE:.3f} is predicting the mean), at most {settings['epochs']} "
        f"epochs with early stopping on the validation block for next-day volatility of "
        f"WTI (test RMSE, percentage points of absolute log return); mean and spread over "
        f'{n_seeds} seeds. "Worse" or "better" means the means differ by more than the '
        'larger spread; otherwise "the same".'
    )
    sentences = [setting]
    agree, disagree = [], []
    by = {r["model"]: r for r in rows if r["task"] == "adding"}
    # a variant is judged against a vanilla LSTM that learned the task: one that did not
    # (too small a budget) says nothing of what a gate is worth
    learned = by["LSTM"]["mean"] < FORGOTTEN_MSE
    for task, label in (("adding", "the adding problem"), ("volatility", "volatility")):
        v = verdicts(rows, task)
        ranked = sorted((r for r in rows if r["task"] == task), key=lambda r: r["mean"])
        sentences.append(
            f"On {label}, best first: "
            + ", ".join(f"{r['model']} {r['mean']:.4g}" for r in ranked)
            + "."
        )
        if task == "adding" and not learned:
            sentences.append(
                f"The vanilla LSTM itself did not learn the adding problem with this budget "
                f"(test MSE {by['LSTM']['mean']:.3g}, above {FORGOTTEN_MSE}), so no variant "
                "is judged on it."
            )
            continue
        for name, expected in GREFF.items():
            (agree if v[name] == expected else disagree).append(
                f"{name} {v[name]} on {label} (Greff et al.: {expected})"
            )
        some = [f"{name} {v[name]}" for name in GREFF_SOME]
        sentences.append(
            f"NIG, NOG and NIAF, which hurt on some of Greff et al.'s data sets: "
            f"{', '.join(some)} on {label}."
        )
    if agree:
        sentences.append("Agrees with Greff et al.: " + "; ".join(agree) + ".")
    if disagree:
        sentences.append("Does not agree: " + "; ".join(disagree) + ".")
    if not learned:
        return " ".join(sentences)
    adding = verdicts(rows, "adding")
    nfg = by["NFG"]["mean"]
    if nfg < LEARNED_MSE:
        how = f"still solves the adding problem here (test MSE {nfg:.3g}), as the original "
        how += "LSTM of 1997, which had none, did."
    elif nfg < FORGOTTEN_MSE:
        how = f"learns much of the adding problem here (test MSE {nfg:.3g}, below "
        how += f"{FORGOTTEN_MSE} but above {LEARNED_MSE}); the original LSTM of 1997, which "
        how += "had none, solved it."
    else:
        how = f"does not learn the adding problem here (test MSE {nfg:.3g}), though the "
        how += "original LSTM of 1997, which had none, solved it (with other settings)."
    sentences.append(
        f"Without a forget gate the LSTM {how} Against the vanilla LSTM there, the GRU does "
        f"{adding['GRU']} and the RNN {adding['RNN']}."
    )
    return " ".join(sentences)


def _figure_of(rows, seq_len):
    """One panel per task: each model's mean error and its spread over the seeds. The
    adding problem's errors span orders of magnitude (bars on a log scale); volatility's
    differ by tenths of a percent (points on an axis around them, not from zero)."""
    fig, axes = _figure(1, 2, width=11.0, height=4.2)
    titles = {"adding": f"Adding problem, T = {seq_len}: test MSE (log scale)",
              "volatility": "Next-day volatility (WTI): test RMSE"}  # fmt: skip
    for ax, task in zip(axes, TASKS, strict=True):
        part = [r for r in rows if r["task"] == task]
        names = [r["model"] for r in part]
        colors = [NETWORK_COLORS.get(n, "0.55") for n in names]
        means, spreads = [r["mean"] for r in part], [r["std"] for r in part]
        if task == "adding":
            ax.bar(names, means, yerr=spreads, color=colors, capsize=3)
            ax.set_yscale("log")
            ax.axhline(MEAN_MSE, color="black", linestyle="--", linewidth=1,
                       label="predicting the mean")  # fmt: skip
            ax.legend(fontsize="small")
        else:
            for k, (mean, spread, color) in enumerate(zip(means, spreads, colors, strict=True)):
                ax.errorbar(k, mean, yerr=spread, fmt="o", color=color, capsize=3)
            ax.axhline(part[0]["mean"], color=colors[0], linestyle=":", linewidth=1)
            ax.set_xticks(range(len(names)), names)
        ax.set_title(titles[task], fontsize="medium")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(axis="y", alpha=0.3)
    return fig
