"""The student's side of a sandboxed check: load their files, call their code, send arrays.

Run as ``python -m ref_torch.oracle.worker SUBMISSION`` inside the grader's sandbox
(``scripts/grade/sandbox.py``), it answers the judge's requests (``ref_torch/oracle/
remote.py``) one at a time on its standard input and output, in the wire format of
``ref_torch/oracle/wire.py``:

* ``load {file}``: import ``SUBMISSION/file`` (``user_code.import_user_file``);
* ``bind {file, name, kind, options}``: the kind's checks of the target before it runs
  (``LossKind.bind``); the answer is a handle;
* ``call {handle, inputs, backward}``: the kind's call on the judge's inputs; the answer
  is the value, the gradients and the arguments modified in place, or the failure;
* ``skip {handle, inputs}``: why a case cannot run on this target.

What the student's code could change here (this module, the adapters, NumPy itself) only
changes the arrays it sends: the references and the verdicts are the judge's, computed in
another process. Before any student code runs, the worker moves its protocol to private
descriptors and points 0, 1 and 2 at ``/dev/null`` (what the code prints reaches no one),
drops root for the uid the sandbox gives (``CS231N_SANDBOX_UID``: the process limit then
counts), and remembers its pid: a process forked by the student's code exits before it
could answer in the worker's name.
"""

from __future__ import annotations

import os
import resource
import sys
import traceback
from pathlib import Path

from ref_torch.oracle import wire
from ref_torch.oracle.kinds import KINDS
from ref_torch.oracle.numerical import forward_name
from ref_torch.oracle.user_code import Guard, TargetError, UserCodeFailure, call_user
from ref_torch.oracle.user_code import import_user_file
from ref_torch.oracle.walk import resolve

UID_VARIABLE = "CS231N_SANDBOX_UID"
NPROC_VARIABLE = "CS231N_SANDBOX_NPROC"


def read_exactly(stream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Worker:
    """The loaded files and bound targets of one submission."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[str, object] = {}
        self.bound: dict[int, tuple] = {}

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        try:
            if op == "hello":
                return {"pid": os.getpid(), "uid": os.getuid()}
            if op == "load":
                file = self.root / request["file"]
                if not file.resolve().is_relative_to(self.root.resolve()):
                    raise TargetError(f"{request['file']} is outside the submission")
                self.modules[request["file"]] = import_user_file(file)
                return {}
            if op == "bind":
                obj = call_user(resolve, self.modules[request["file"]], request["name"])
                kind, prepared = KINDS[request["kind"]].bind(obj, request.get("options"))
                handle = len(self.bound)
                self.bound[handle] = (kind, prepared)
                return {"handle": handle, "name": forward_name(prepared)}
            kind, prepared = self.bound[request["handle"]]
            if op == "skip":
                return {"skip": call_user(kind.skip, prepared, request["inputs"])}
            if op == "call":
                guard = Guard()
                value, grads = call_user(kind.call_numpy, prepared, request["inputs"], guard,
                                         backward=request["backward"])
                return {"value": value, "grads": grads, "modified": guard.modified}
            return {"error": "ValueError", "message": f"unknown request {op!r}"}
        except UserCodeFailure as exc:
            if op in ("load", "bind") and not exc.limit:  # the name's lookup ran user code
                return {"error": "AttributeError" if "AttributeError" in str(exc) else
                        "TargetError", "message": str(exc)}
            return {"failure": str(exc), "raised": exc.raised, "starter": exc.starter,
                    "limit": exc.limit}
        except TargetError as exc:
            return {"error": type(exc).__name__, "message": str(exc)}


def drop_privileges() -> None:
    """Become the sandbox's uid when started as root in it; cap the processes it may own."""
    uid = os.environ.pop(UID_VARIABLE, "")
    if uid and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
    nproc = os.environ.pop(NPROC_VARIABLE, "")
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:])[0])
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    drop_privileges()
    pid = os.getpid()
    worker = Worker(root)
    while True:
        try:
            request = wire.read_message(lambda size: read_exactly(requests, size))
        except EOFError:
            return 0
        try:
            answer = wire.encode(worker.handle(request))
        except wire.WireError as exc:
            answer = wire.encode({"failure": f"your code returned something that is not an "
                                             f"array ({exc})", "raised": False, "starter": False})
        except Exception as exc:  # the worker's own failure: say it, keep answering
            answer = wire.encode({"error": "InternalError", "message": "".join(
                traceback.format_exception_only(type(exc), exc)).strip()})
        if os.getpid() != pid:  # a child forked by the student's code: never speak
            os._exit(0)
        answers.write(answer)
        answers.flush()


if __name__ == "__main__":
    sys.exit(main())
