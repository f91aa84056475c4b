"""The gradient oracle: check a user's NumPy losses and layers against torch autograd.

    from ref_torch.oracle import check_gradient, check_path
    check_gradient(svm_loss_vectorized)                  # one target, the kind found by name
    check_gradient("cs231n/layers.py:conv_forward_naive")
    check_path("assignment2/")                           # every target of an assignment

The package: ``kinds`` (the table of kinds), ``cases`` and ``layer_cases`` (their inputs),
``references`` (torch references of the layers the project does not train), ``adapters``
(how user code is called), ``user_code`` (loading and guarded calls), ``conventions``,
``stability``, ``dropout``, ``numerical`` (the user's own numerical gradient),
``diagnosis``, ``engine`` (running a kind), ``report`` (verdicts), ``layer`` (``--kind
layer``), ``walk`` (files and folders), ``api`` (:func:`check_gradient`) and ``command``
(what the command adds: resolving its options, the summary, ``--json``).
"""

from ref_torch.oracle.api import check_gradient, load_dev_batch
from ref_torch.oracle.engine import run_checks, run_kind
from ref_torch.oracle.report import OracleReport
from ref_torch.oracle.user_code import TargetError
from ref_torch.oracle.walk import check_path

__all__ = ["check_gradient", "check_path", "load_dev_batch", "OracleReport", "run_checks",
           "run_kind", "TargetError"]
