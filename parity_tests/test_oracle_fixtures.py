"""The gradient oracle on student-style files (``parity_tests/oracle_fixtures/``), run as a user
runs it: ``cs231n-check-gradient FILE:NAME --kind KIND``.

Every correct fixture passes (exit 0), every planted mistake fails (exit 1) with its diagnosis
named, every misuse is a usage error (exit 2) with a hint, and nothing prints a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ref_torch.oracle import api
from scripts import check_gradient

FIXTURES = Path(__file__).parent / "oracle_fixtures"
A1 = "assignment1/cs231n/classifiers"
A2 = "assignment2/cs231n/classifiers"
SVM_MISTAKES = "svm_mistakes.py"

# (target relative to FIXTURES, kind, extra arguments, exit status, text the output must hold)
CASES = [
    # loading real layouts: a package file with past.builtins; the 2019+ fc_net package with
    # relative imports and the 0.5 convention; a ReLU-only net; a LinearClassifier method
    (f"{A1}/linear_svm.py:svm_loss_naive", "svm", [], 0, "(found; --reg-convention full"),
    (f"{A1}/linear_svm.py:svm_loss_vectorized", "svm", [], 0, "10 passed, 0 failed"),
    (f"{A1}/neural_net.py:TwoLayerNet", "two_layer_net", [], 0,
     "the class takes no activation argument"),
    (f"{A2}/fc_net.py:TwoLayerNet", "two_layer_net", [], 0,
     "0.5 * reg * sum(W**2) in the loss, reg * W in the gradient (found"),
    (f"{A2}/fc_net.py:TwoLayerNet.loss", "two_layer_net", [], 0, "5 passed, 4 skipped, 0 failed"),
    ("misbehaving.py:LinearSVM.loss", "svm", [], 0, "10 passed, 0 failed"),
    # conventions
    ("softmax_2016.py:softmax_loss_vectorized", "softmax", [], 0,
     "0.5 * reg * sum(W**2) in the loss, reg * W in the gradient (found"),
    ("softmax_2016.py:softmax_loss_vectorized", "softmax", ["--reg-convention", "full"], 1,
     "the target uses 0.5 * reg * sum(W**2) in the loss, reg * W in the gradient, not the "
     "convention forced"),
    (f"{SVM_MISTAKES}:reg_gradient_half", "svm", [], 1,
     "diagnosis: the reg = 0 cases pass and the reg > 0 cases fail: the loss adds reg * sum(W**2) "
     "but the gradient adds reg * W: the gradient of reg * sum(W**2) is 2 * reg * W"),
    # correctness vs stability
    ("softmax_neg_log_p.py:softmax_loss_vectorized", "softmax", [], 0,
     "a probability underflowed to 0"),
    ("softmax_neg_log_p.py:softmax_loss_vectorized", "softmax", ["--strict"], 1,
     "advisory (failing: --strict)"),
    ("softmax_no_shift.py:softmax_loss_vectorized", "softmax", [], 1,
     "[FAIL] softmax: scores up to ~750 (needs the max shift) | float64 | cpu [stability]"),
    ("softmax_no_shift.py:softmax_loss_vectorized", "softmax", [], 1,
     "exp overflowed: scores reach 751, above 709.8 where exp is inf in float64, and inf / inf = "
     "NaN; subtract each row's maximum score before exp"),
    # shapes CS231n uses
    ("layers_cs231n.py:affine_forward", "affine", [], 0, "6 passed, 0 failed"),
    ("layers_cs231n.py:relu_forward", "relu", [], 0, "8 passed, 0 failed"),
    ("layer_mistakes.py:affine_forward", "affine", [], 1,
     "diagnosis: 2-D inputs pass and 4-D inputs (N, 3, 32, 32) fail"),
    ("layer_mistakes.py:flat_affine_forward", "affine", [], 1,
     "diagnosis: dx has shape (100, 3072) but its input has shape (100, 3, 32, 32)"),
    # diagnosis of the usual mistakes
    (f"{SVM_MISTAKES}:svm_loss_vectorized", "svm", [], 0, "10 passed, 0 failed"),
    (f"{SVM_MISTAKES}:not_divided_by_n", "svm", [], 1,
     "diagnosis: dW is N = 100 times the reference: divide by the number of examples"),
    (f"{SVM_MISTAKES}:reg_gradient_missing", "svm", [], 1,
     "the loss adds reg * sum(W**2) but the gradient adds no reg term"),
    (f"{SVM_MISTAKES}:sign_flipped", "svm", [], 1, "diagnosis: dW has the wrong sign everywhere"),
    (f"{SVM_MISTAKES}:column_flipped", "svm", [], 1,
     "diagnosis: dW has the wrong sign in column(s) 3"),
    (f"{SVM_MISTAKES}:transposed", "svm", [], 1,
     "diagnosis: dW is transposed: shape (10, 3073), expected (3073, 10)"),
    (f"{SVM_MISTAKES}:counts_correct_class", "svm", [], 1,
     "diagnosis: the loss is 1 too high in every case while the gradients agree: the correct "
     "class's own margin"),
    ("net_mistakes.py:TwoLayerNet", "two_layer_net", [], 1,
     "diagnosis: only b2 is wrong; W1, b1, W2 agree in every case"),
    ("net_mistakes.py:TwoLayerNet", "two_layer_net", [], 1,
     "diagnosis: b2 is 1/N of the reference: it is divided by the number of examples twice"),
    # the user's code cannot fool or crash the tool
    ("misbehaving.py:raises", "svm", [], 1,
     "your code raised IndexError: index 10 is out of bounds for axis 1 with size 10 "
     "(misbehaving.py line 11)"),
    ("misbehaving.py:returns_none", "svm", [], 1,
     "your code returned None, expected the tuple (loss, dW)"),
    ("misbehaving.py:per_example_loss", "svm", [], 1,
     "your code returned the loss as an array of shape (100,), expected a scalar"),
    ("misbehaving.py:swapped", "svm", [], 1,
     "your code returned (dW, loss): the order is (loss, dW)"),
    ("misbehaving.py:returns_list", "svm", [], 1,
     "your code returned a list of 2, expected the tuple (loss, dW)"),
    ("misbehaving.py:list_gradient", "svm", [], 1,
     "your code returned dW as a list of 3073, expected a NumPy array"),
    ("misbehaving.py:nan_loss", "svm", [], 1, "FAIL loss     not finite: NaN at ()"),
    ("misbehaving.py:exits", "svm", [], 1, "your code called sys.exit(0) instead of returning"),
    ("misbehaving.py:exits_with_error", "svm", [], 1,
     "your code called sys.exit('giving up') instead of returning"),
    ("misbehaving.py:modifies_input", "svm", [], 1,
     "warning: modifies_input modifies its argument X in place"),
    ("misbehaving.py:recurses", "svm", [], 1, "your code raised RecursionError"),
    # usage errors, each with a hint
    ("misbehaving.py:LinearSVM", "svm", [], 2,
     "the target is a class (LinearSVM): did you mean --kind two_layer_net"),
    (f"{SVM_MISTAKES}:svm_loss_vectorized", "two_layer_net", [], 2,
     "--kind two_layer_net takes a class such as TwoLayerNet"),
    (f"{SVM_MISTAKES}:svm_loss_vectorized", "softmax_scores", [], 2,
     "cannot be called as softmax_loss(x, y); kinds that fit it: --kind svm"),
    ("layers_cs231n.py:affine_forward", "relu", [], 2, "Any other layer is --kind layer"),
    (f"{SVM_MISTAKES}:svm_loss_vectorised", "svm", [], 2, "did you mean svm_loss_vectorized?"),
    (f"{SVM_MISTAKES}:svm_loss_vectorized", "svn", [], 2, "unknown loss kind 'svn'"),
    ("exits_on_import.py:svm_loss_vectorized", "svm", [], 2,
     "exits_on_import.py failed to load: called sys.exit(0)"),
    ("notes.ipynb:svm_loss", "svm", [], 2, "is a notebook: the command reads .py files"),
    ("README.md:svm_loss", "svm", [], 2, "the target must be a Python file ending in .py"),
    ("absent.py:svm_loss", "svm", [], 2, "absent.py: no such file"),
]


@pytest.fixture
def rows_100(dev_batch, monkeypatch):
    """The command's data: 100 dev rows (the cases' figures above are for N = 100)."""
    X, y = dev_batch
    monkeypatch.setattr(api, "load_dev_batch", lambda *a, **k: (X[:100], y[:100]))


def run_command(args, capsys) -> tuple[int, str]:
    code = check_gradient.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("target, kind, extra, status, text", CASES,
                         ids=[f"{c[0].split('/')[-1]}-{c[1]}{'-' + c[2][0] if c[2] else ''}"
                              for c in CASES])
def test_fixture(target, kind, extra, status, text, rows_100, capsys):
    code, out = run_command([str(FIXTURES / target), "--kind", kind, "--device", "cpu", *extra],
                            capsys)
    assert "Traceback" not in out
    assert code == status, out
    assert text in out, out


@pytest.mark.parametrize("args, text", [
    (["--num-dev", "0"], "--num-dev: must be at least 2, got 0"),
    (["--num-dev", "1"], "--num-dev: must be at least 2, got 1"),
    (["--shapes", "x=2,3"], "--shapes is not an option of --kind svm (it is for layer)"),
])
def test_bad_options_are_usage_errors(args, text, capsys):
    try:  # argparse exits with 2 itself; the command returns 2
        code = check_gradient.main([f"{FIXTURES / SVM_MISTAKES}:svm_loss_vectorized", "--kind",
                                    "svm", *args])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert text in capsys.readouterr().err


def test_two_students_packages_of_the_same_name(rows_100, capsys, tmp_path):
    """Each student's package is ``cs231n``: the second target is loaded from its own folder."""
    other = tmp_path / "student2" / "cs231n" / "classifiers"
    other.mkdir(parents=True)
    (other.parent / "__init__.py").write_text("")
    (other / "__init__.py").write_text("")
    source = (FIXTURES / SVM_MISTAKES).read_text().replace("svm_loss_vectorized(", "correct(")
    (other / "linear_svm.py").write_text(source + "\n\nsvm_loss_vectorized = sign_flipped\n")
    first = [str(FIXTURES / f"{A1}/linear_svm.py:svm_loss_vectorized"), "--kind", "svm",
             "--device", "cpu", "--dtype", "float64"]
    assert run_command(first, capsys)[0] == 0
    second = [str(other / "linear_svm.py:svm_loss_vectorized"), *first[1:]]
    code, out = run_command(second, capsys)
    assert code == 1 and "wrong sign everywhere" in out


def test_ctrl_c_stops_at_once_without_a_traceback(rows_100, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(check_gradient, "check_gradient", interrupted)
    code, out = run_command([f"{FIXTURES / SVM_MISTAKES}:svm_loss_vectorized", "--kind", "svm"],
                            capsys)
    assert code == 130 and out.strip() == "interrupted"


def test_list_says_what_each_kind_accepts(capsys):
    assert check_gradient.main(["--list"]) == 0
    out = capsys.readouterr().out
    for text in ("svm_loss_naive or svm_loss_vectorized", "LinearSVM.loss", "fc_net.py",
                 "a static method Class.affine_forward", "layer ", "--inputs FUNC"):
        assert text in out
