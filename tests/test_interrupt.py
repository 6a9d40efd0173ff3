"""Nothing lost on an interrupt: Ctrl-C (a real SIGINT to a child process) and exceptions
from callbacks keep the best weights so far, say so in the history, and stop the caller."""

import dis
import json
import linecache
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnkit import _output, io, train
from rnnkit.models import SequenceRegressor
from rnnkit.train import fit

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")

# The child reports on stdout: progress lines, then one line of JSON.
TRAIN_CHILD = """
import json, sys
import numpy as np
from rnnkit.models import SequenceRegressor
from rnnkit.train import fit

rng = np.random.default_rng(0)
X = rng.standard_normal((3000, 20, 1)).astype(np.float32)
y = X[:, -3:, 0].sum(axis=1, keepdims=True)
model = SequenceRegressor("lstm", input_size=1, hidden_size=16, seed=0)
best = {}

def snapshot(epoch, history):
    if history.best_epoch == epoch:
        best.update({k: v.copy() for k, v in model.params.items()}, epoch=epoch)
    print(f"epoch {epoch}", flush=True)

try:
    fit(model, X[:2500], y[:2500], validation_data=(X[2500:], y[2500:]), epochs=300,
        patience=None, verbose=0, callbacks=[snapshot])
except KeyboardInterrupt as err:
    h = err.history
    print(json.dumps({
        "reason": h.stop_reason, "best_epoch": h.best_epoch, "snapshot": best["epoch"],
        "restored": all(np.array_equal(model.params[k], best[k]) for k in model.params),
        "lengths": [len(h.train_loss), len(h.val_loss), len(h.lr), len(h.epoch_time)],
        "stopped": h.stopped_epoch,
    }), flush=True)
"""

FORECASTER_CHILD = """
import json, sys
sys.modules["tqdm"] = None  # progress as one line per epoch on stderr
import numpy as np
import rnnkit
from rnnkit import data, train

prices = rnnkit.datasets.garch_series({n}, seed=0)
forecaster = rnnkit.Forecaster(lookback=30, hidden_size=32, epochs={epochs}, patience=None)
one_epoch = train._epoch


def announced(*args, **kwargs):  # says when an epoch's training begins
    print("epoch begins", flush=True)
    return one_epoch(*args, **kwargs)


train._epoch = announced
try:
    forecaster.fit(prices)
except KeyboardInterrupt:
    out = {{"fitted": hasattr(forecaster, "model_")}}
    if out["fitted"]:
        h = forecaster.history_
        val = data.split_windows(prices, 30).val
        model = forecaster.model_
        out.update(
            reason=h.stop_reason, best_epoch=h.best_epoch, best_loss=h.best_loss,
            restored_loss=train.evaluate(model, val.X, val.y),
            rmse=forecaster.evaluate().loc["LSTM", "rmse"],
        )
    print(json.dumps(out), flush=True)
"""


# A process started in the background by a shell inherits SIGINT ignored, and Python then
# leaves it ignored: the child takes Python's own handler back, whoever started the tests.
ANSWER_CTRL_C = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def interrupt(script, when, stream="stdout"):
    """Run ``script`` in a child, SIGINT it once a line of ``stream`` matches the regular
    expression ``when``, and return the JSON it prints last. The children's training ends
    by itself within a minute or two, so a line that never comes fails rather than hangs."""
    child = subprocess.Popen(
        [sys.executable, "-c", ANSWER_CTRL_C + textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        text=True,
    )
    try:
        watched = child.stderr if stream == "stderr" else child.stdout
        for line in watched:
            if re.match(when, line):
                child.send_signal(signal.SIGINT)
                break
        out, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, out
    last = (out.strip().splitlines() or [""])[-1]
    assert last.startswith("{"), f"the child printed no report:\n{out}"
    return json.loads(last)


def test_ctrl_c_in_fit_restores_the_best_weights_and_says_so():
    report = interrupt(TRAIN_CHILD, r"epoch 3$")
    assert report["reason"].startswith("interrupted at epoch ")
    assert "KeyboardInterrupt" in report["reason"]
    assert "its weights restored" in report["reason"]
    assert report["best_epoch"] == report["snapshot"] >= 1
    assert report["restored"]
    # the history holds the finished epochs only, every list alike
    assert report["lengths"] == [report["stopped"]] * 4


def test_ctrl_c_in_forecaster_fit_leaves_it_fitted_with_the_best_epoch():
    report = interrupt(
        FORECASTER_CHILD.format(n=3000, epochs=200), r"lstm epoch +2/", stream="stderr"
    )
    assert report["fitted"]
    assert report["reason"].startswith("interrupted at epoch ")
    assert report["restored_loss"] == report["best_loss"]  # the best epoch's weights, exactly
    assert np.isfinite(report["rmse"])


def test_ctrl_c_before_the_first_epoch_ends_leaves_the_forecaster_as_it_was():
    # an epoch of 20,000 windows takes a second or more: the interrupt lands inside it
    report = interrupt(FORECASTER_CHILD.format(n=20000, epochs=3), "epoch begins")
    assert report == {"fitted": False}


def test_an_exception_in_a_callback_restores_the_best_weights_and_goes_on():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 8, 1))
    y = X[:, -1]
    model = SequenceRegressor("rnn", input_size=1, hidden_size=4, seed=0)
    best = {}

    def snapshot(epoch, history):
        if history.best_epoch == epoch:
            best.update({k: v.copy() for k, v in model.params.items()})

    def fail_at_epoch_3(epoch, history):
        if epoch == 3:
            raise RuntimeError("a callback's own bug")

    with pytest.raises(RuntimeError, match="a callback's own bug") as caught:
        fit(model, X, y, epochs=10, verbose=0, callbacks=[snapshot, fail_at_epoch_3])
    history = caught.value.history
    assert history.stop_reason.startswith("interrupted at epoch 3 by RuntimeError")
    assert history.stopped_epoch == 3
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, best[name], err_msg=name)


def _real_line(frame):
    """Whether a KeyboardInterrupt could really land where a line event fires: not on a
    line that runs nothing but NOPs (``try:``), nor on the exit of a ``with`` (the call to
    ``__exit__`` that follows the body's last instruction, checking for no signal
    between). A tracer raising there tests what no Ctrl-C can do."""
    ops = []
    for ins in dis.get_instructions(frame.f_code):
        if ins.offset >= frame.f_lasti:
            if ins.offset > frame.f_lasti and ins.starts_line is not None:
                break
            ops.append(ins.opname)
    if all(op in ("NOP", "EXTENDED_ARG") for op in ops):
        return False
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).lstrip()
    return not line.startswith("with ") or "BEFORE_WITH" in ops


def interrupted_everywhere(functions, call):
    """``call()`` raising KeyboardInterrupt before each line that ``functions`` run, in
    turn: yields (function name, line, what call returned or the KeyboardInterrupt), every
    interrupt in a fresh call."""

    def traced(at):
        ran = []

        def local(frame, event, arg):
            if event == "line" and _real_line(frame):
                ran.append((frame.f_code.co_name, frame.f_lineno))
                if len(ran) - 1 == at:
                    raise KeyboardInterrupt
            return local

        codes = {f.__code__ for f in functions}
        previous = sys.gettrace()
        sys.settrace(lambda frame, *_: local if frame.f_code in codes else None)
        try:
            return call(), ran
        except KeyboardInterrupt as err:
            return err, ran
        finally:
            sys.settrace(previous)

    _, lines = traced(None)
    for at, (name, line) in enumerate(lines):
        yield name, line, traced(at)[0]


def test_an_interrupt_as_fit_ends_keeps_the_best_epochs_weights():
    # After the last epoch fit copies the best epoch's weights back, array by array. An
    # interrupt among those copies must not leave the model half the best epoch's and half
    # the last one's: fit restores the best weights once more and says so in the history.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 8, 1))
    y = X[:, -1] + 0.1 * X[:, -2]
    model = SequenceRegressor("rnn", input_size=1, hidden_size=4, seed=0)

    def run():
        model.load_state_dict(SequenceRegressor("rnn", input_size=1, hidden_size=4, seed=0).params)
        return fit(model, X[:200], y[:200], validation_data=(X[200:], y[200:]), epochs=3,
                   lr=0.05, patience=None, verbose=0)  # fmt: skip

    best_loss = run().best_loss  # epoch 2's; epoch 3's is higher, so the copies matter
    seen = set()
    for name, line, err in interrupted_everywhere([train._finish], run):
        seen.add(line)
        assert isinstance(err, KeyboardInterrupt), (name, line)
        assert train.evaluate(model, X[200:], y[200:]) == best_loss, line
        history = err.history
        assert history.stop_reason.startswith("interrupted at epoch 3 by KeyboardInterrupt")
        assert (history.best_epoch, history.stopped_epoch) == (2, 3), line
    assert len(seen) >= 3  # the copies were among the lines interrupted


def test_an_interrupt_while_a_report_is_written_leaves_whole_files_and_no_temporary_one(tmp_path):
    # Every file rnnkit writes goes through a temporary file beside it. One left behind by
    # an interrupt is a file the manifest does not list: the next run into the folder
    # would refuse it as the user's.
    out = tmp_path / "report"
    old = {"a.txt": "old a\n", "b.txt": "old b\n"}
    new = {"a.txt": "new a\n", "b.txt": "new b\n"}
    _output.write_folder(out, {name: _output.text_writer(text) for name, text in old.items()})

    def write():
        return _output.write_folder(out, {n: _output.text_writer(t) for n, t in new.items()})

    functions = [_output.write_folder, _output.replace_atomically]
    for name, line, _ in interrupted_everywhere(functions, write):
        files = sorted(os.listdir(out))
        assert files == sorted([_output.MANIFEST, *old]), (name, line, files)
        for file, text in old.items():
            assert (out / file).read_text() in (text, new[file]), (name, line)
        write()  # the folder is still rnnkit's: the next run takes it
        _output.write_folder(out, {n: _output.text_writer(t) for n, t in old.items()})


def test_an_interrupt_while_a_model_is_saved_leaves_the_old_file_or_the_new_one(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "model.npz"
    old = SequenceRegressor("rnn", input_size=1, hidden_size=4, seed=0)
    old.save(path)
    model = SequenceRegressor("rnn", input_size=1, hidden_size=4, seed=1)
    X = rng.standard_normal((5, 3, 1))
    expected = {old.predict(X).tobytes(), model.predict(X).tobytes()}
    functions = [io.save, _output.replace_atomically]
    for name, line, _ in interrupted_everywhere(functions, lambda: model.save(path)):
        assert sorted(os.listdir(tmp_path)) == ["model.npz"], (name, line)
        assert io.load(path).predict(X).tobytes() in expected, (name, line)


def test_an_interrupt_as_fit_claims_or_releases_its_model_never_locks_it_out():
    # fit claims its model for the length of the call (a second fit at once is refused).
    # An interrupt inside the claim or its release, where no Python code can close the
    # window, must not leave the model refused by every later fit of the process.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4, 1))
    y = X[:, -1]
    model = SequenceRegressor("rnn", input_size=1, hidden_size=2, seed=0)

    def once():
        return fit(model, X, y, epochs=1, verbose=0)

    functions = [train._OneTrainer.__enter__, train._OneTrainer.__exit__]
    lines = set()
    for name, line, err in interrupted_everywhere(functions, once):
        assert isinstance(err, KeyboardInterrupt), (name, line)
        lines.add((name, line))
        del err  # the traceback, and with it a claim the interrupt left, goes here
        assert once().stopped_epoch == 1, (name, line)
    assert {name for name, _ in lines} == {"__enter__", "__exit__"}


def test_an_interrupt_while_weights_are_loaded_leaves_the_old_ones_or_the_new_ones():
    model = SequenceRegressor("lstm", input_size=1, hidden_size=3, num_layers=2, seed=0)
    old = model.state_dict()
    new = SequenceRegressor("lstm", input_size=1, hidden_size=3, num_layers=2, seed=1).state_dict()
    functions = [SequenceRegressor.load_state_dict]
    interrupted = 0
    for name, line, err in interrupted_everywhere(functions, lambda: model.load_state_dict(new)):
        interrupted += isinstance(err, KeyboardInterrupt)
        now = model.state_dict()
        whole = [all(np.array_equal(now[k], w[k]) for k in now) for w in (old, new)]
        assert any(whole), (name, line)
        model.load_state_dict(old)
    assert interrupted > 5


def test_an_interrupt_anywhere_in_fit_leaves_the_initial_weights_or_the_best_with_history():
    # A real Ctrl-C lands between any two bytecodes; the child-process tests above hit one
    # moment each. Here it lands before every line of a whole fit in turn. Before training,
    # nothing has changed and there is no history; after, the exception carries the
    # history and the weights are those of the epoch it calls the best (an interrupt
    # between keeping an epoch's weights and recording it as the best once restored epoch
    # 2's under epoch 1's loss, and one while the progress bar closed dropped the history
    # of a finished training, so that a Forecaster stayed unfitted).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6, 1))
    y = X[:, -1] + 0.1 * X[:, -2]
    model = SequenceRegressor("rnn", input_size=1, hidden_size=3, seed=0)
    initial = model.state_dict()

    def run():
        model.load_state_dict(initial)
        return fit(model, X[:100], y[:100], validation_data=(X[100:], y[100:]), epochs=2,
                   lr=0.05, patience=None, verbose=0)  # fmt: skip

    kinds, best_epochs = set(), set()
    for name, line, err in interrupted_everywhere([train.fit], run):
        if linecache.getline(train.__file__, line).strip() == "return history":
            # runs no call: CPython takes a pending signal at a call's return (the last
            # one in fit's finally, covered) or a loop's jump, never between these two
            # instructions
            continue
        assert isinstance(err, KeyboardInterrupt), (name, line)
        history = getattr(err, "history", None)
        kinds.add(history is None)
        if history is not None:
            best_epochs.add(history.best_epoch)
            # "completed": an interrupt in fit's finally, once training had ended
            assert history.stop_reason.startswith(("interrupted at epoch ", "completed 2")), line
            assert history.best_epoch <= history.stopped_epoch <= 2, line
            lengths = [len(history.train_loss), len(history.val_loss)]
            assert lengths == [history.stopped_epoch] * 2, line
        if history is None or history.best_epoch == 0:
            for key, value in model.state_dict().items():
                np.testing.assert_array_equal(value, initial[key], err_msg=f"line {line}")
        else:
            assert train.evaluate(model, X[100:], y[100:]) == history.best_loss, line
    assert kinds == {True, False}  # interrupts before training and after
    assert best_epochs == {0, 1, 2}  # the second epoch improved on the first
