"""The judge's side of a sandboxed check: the student's code runs in another process.

:class:`WorkerProcess` starts ``python -m ref_torch.oracle.worker`` with the command, the
environment and the limits the grader gives (``scripts/grade/sandbox.py``), sends it
requests and reads its answers in the wire format of ``ref_torch/oracle/wire.py`` (never
pickle), each within a deadline. :class:`RemoteRunner` gives the oracle
(``walk.check_target`` and ``engine.run_checks``) the three things it needs of a user's
code, ``load``, ``resolve`` and ``bind``, answered by that process: the kinds it binds
call the worker instead of the code, and every answer is read again here with the
adapters' own checks (``read_loss``, ``read_array``), as if the code had returned it.
So the references, the comparisons and the verdicts are computed in this process, which
never imports the student's files.

The check of one target stops with :class:`Timeout` at its deadline (the process is
killed) and with :class:`Ended` when the process ends or answers garbage; ``Ended.verdict``
says ``killed`` for a resource limit (memory, CPU time, a signal) and ``error``
otherwise. Both are ``user_code.Interrupt``: no handler of the oracle turns them into a
report, so the grader records them and starts a fresh process for the next target.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from ref_torch.oracle import wire
from ref_torch.oracle.adapters import read_array, read_loss
from ref_torch.oracle.kinds import KindMismatch
from ref_torch.oracle.user_code import Interrupt, TargetError, UserCodeFailure

MAX_ANSWER = 64 << 20  # bytes of arrays in one answer: far above any case's (a few MB)
LIMIT_SIGNALS = {signal.SIGXCPU: "the CPU-time limit", signal.SIGKILL: "a resource limit "
                 "(killed: memory or time)", signal.SIGXFSZ: "the file-size limit"}


def text_of(value, limit: int = 2000) -> str:
    """A string from the worker made safe to print and to write as UTF-8 (a lone surrogate,
    which JSON can carry, becomes an escape), cut to ``limit`` characters."""
    return str(value)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


class Timeout(Interrupt):
    """The student's code did not answer before the deadline."""


class Ended(Interrupt):
    """The student's process ended, or answered something that is not an answer."""

    def __init__(self, message: str, verdict: str = "error"):
        super().__init__(message)
        self.verdict = verdict


class WorkerProcess:
    """One sandboxed worker: ``argv`` starts it (the sandbox included), ``preexec`` sets
    its limits in the child before it starts."""

    def __init__(self, argv: list[str], env: dict, cwd: Path, preexec=None,
                 signal_offset: int = 0):
        self.signal_offset = signal_offset  # bwrap exits 128 + N when its child dies of N
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, cwd=cwd,
                                        preexec_fn=preexec, start_new_session=True)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            os.set_blocking(pipe.fileno(), False)
        self.stderr_open = True
        self.stderr_tail = b""  # what the sandbox or Python said before the worker silenced it

    def request(self, message: dict, deadline: float) -> dict:
        """The answer to ``message``; :class:`Timeout` past ``deadline``
        (``time.monotonic``), :class:`Ended` when the process ends first."""
        self._write(wire.encode(message), deadline)
        try:
            answer = wire.read_message(lambda size: self._read(size, deadline), MAX_ANSWER)
        except (wire.WireError, ValueError, OverflowError, RecursionError) as exc:
            self.kill()
            raise Ended(f"the student's process answered something unreadable ({exc})") from None
        if not isinstance(answer, dict):
            self.kill()
            raise Ended("the student's process answered something that is not an answer")
        return answer

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            self._wait(self.process.stdin, deadline, write=True)
            try:
                view = view[os.write(self.process.stdin.fileno(), view):]
            except BrokenPipeError:
                raise self._ended() from None

    def _read(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        while left:
            self._wait(self.process.stdout, deadline)
            chunk = os.read(self.process.stdout.fileno(), min(left, 1 << 20))
            if not chunk:
                raise self._ended()
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _wait(self, pipe, deadline: float, write: bool = False) -> None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Timeout("did not finish in time")
            watched = [pipe, self.process.stderr] if self.stderr_open else [pipe]
            ready = select.select([], [pipe], [], left) if write else \
                select.select(watched, [], [], left)
            if self.process.stderr in ready[0]:
                self._drain_stderr()
            if pipe in ready[0] or pipe in ready[1]:
                return

    def _drain_stderr(self) -> None:
        """Read what the process wrote to stderr, so it never fills and blocks; at its end
        (the worker points fd 2 at /dev/null) stop watching it, or select would spin."""
        try:
            chunk = os.read(self.process.stderr.fileno(), 1 << 16)
        except BlockingIOError:
            return
        self.stderr_open = bool(chunk)
        self.stderr_tail = (self.stderr_tail + chunk)[-2000:]

    def _ended(self) -> Ended:
        """Why the process ended, as the verdict it earns."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        number = -code if code < 0 else (code - self.signal_offset
                                         if self.signal_offset and code > self.signal_offset
                                         else 0)
        if number in LIMIT_SIGNALS:
            return Ended(f"stopped by {LIMIT_SIGNALS[number]}", "killed")
        if number:
            return Ended(f"the student's process died of signal {signal.Signals(number).name}")
        while self.stderr_open:  # the rest of what it said before it ended
            before = len(self.stderr_tail)
            self._drain_stderr()
            if len(self.stderr_tail) == before:
                break
        said = self.stderr_tail.decode(errors="replace").strip().splitlines()
        return Ended(f"the student's process ended (exit status {code}) instead of answering"
                     + (f": {said[-1][:300]}" if said else ""))

    def kill(self) -> None:
        """End the process and everything it started (its session; the sandbox's pid
        namespace ends with it)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            pipe.close()


@dataclasses.dataclass
class RemotePrepared:
    """A target bound in the worker: its handle there and its forward's name."""

    handle: int
    __name__: str


@dataclasses.dataclass(frozen=True)
class RemoteTarget:
    file: str
    name: str


class RemoteRunner:
    """``load``/``resolve``/``bind`` of the oracle, answered by a :class:`WorkerProcess`;
    ``deadline`` (``time.monotonic``) bounds every request of the target being checked."""

    def __init__(self, worker: WorkerProcess, root: Path):
        self.worker = worker
        self.root = root  # the submission as the judge sees it: files are named relative to it
        self.deadline = float("inf")

    def ask(self, **message) -> dict:
        answer = self.worker.request(message, self.deadline)
        for key in ("error", "message", "failure"):
            if key in answer:
                answer[key] = text_of(answer[key])
        error = answer.get("error")
        if error == "KindMismatch":
            raise KindMismatch(str(answer.get("message")))
        if error == "AttributeError":
            raise AttributeError(str(answer.get("message")))
        if error:
            raise TargetError(str(answer.get("message")))
        if "failure" in answer:
            if answer.get("limit") in ("memory", "process"):
                raise Ended(f"{answer['failure']}: stopped by the {answer['limit']} limit",
                            "killed")
            raise UserCodeFailure(str(answer["failure"]), raised=bool(answer.get("raised")),
                                  starter=bool(answer.get("starter")))
        return answer

    def load(self, file: Path) -> str:
        relative = str(Path(file).relative_to(self.root))
        self.ask(op="load", file=relative)
        return relative

    def resolve(self, module: str, name: str) -> RemoteTarget:
        return RemoteTarget(module, name)

    def bind(self, kind, target: RemoteTarget, options: dict | None = None):
        answer = self.ask(op="bind", file=target.file, name=target.name, kind=kind.name,
                          options=options or {})  # LossKind.bind drops the None options
        prepared = RemotePrepared(int(answer["handle"]), str(answer.get("name", "")))
        remote = dataclasses.replace(kind, call_numpy=self._call,
                                     skip=self._skip if kind.skip else None)
        return remote, prepared

    def _skip(self, prepared: RemotePrepared, inputs: dict) -> str:
        """Why a case cannot run. The one reason a kind has (a network class without an
        ``activation`` argument cannot run a non-ReLU case) is asked of the worker for those
        cases only; the worker cannot skip any other case, so it cannot choose which cases
        are judged."""
        if inputs.get("activation", "relu") == "relu":
            return ""
        answer = self.ask(op="skip", handle=prepared.handle, inputs=inputs).get("skip")
        return (f"needs an activation={inputs['activation']!r} argument; the class takes none "
                "(a ReLU-only net)") if answer else ""

    def _call(self, prepared: RemotePrepared, inputs: dict, guard, backward=True):
        answer = self.ask(op="call", handle=prepared.handle, inputs=inputs, backward=backward)
        value, grads = answer.get("value"), answer.get("grads")
        value = read_array(value, "out") if isinstance(value, np.ndarray) and value.ndim \
            else read_loss(value)
        if not isinstance(grads, dict):
            raise UserCodeFailure("returned gradients that are not named arrays")
        for line in answer.get("modified") or []:
            line = text_of(line)[:500]
            if line not in guard.modified:
                guard.modified.append(line)
        return value, {str(k): read_array(v, f"d{k}") for k, v in grads.items()}
