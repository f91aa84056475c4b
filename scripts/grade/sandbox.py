"""Where a student's code runs: a bubblewrap sandbox with resource limits, or limits alone.

Why bubblewrap: it is one small, audited binary (Flatpak's) that needs no daemon and no
configuration file, works unprivileged where user namespaces are allowed and as root,
and builds the whole view of the file system from its arguments, so the student's process
sees only what is listed here. nsjail does the same with more options and a heavier
build; Landlock restricts paths but leaves the network, pids and the rest of the file
system's names visible, and needs a kernel with it enabled; seccomp filters system calls
but not what a path shows. :func:`detect` tries a real bubblewrap run once and falls back
to limits alone, which the grader says on its first line and in the gradebook.

In the sandbox (:func:`bubblewrap_argv`):

* the file system is empty but for, read-only, ``/usr`` (and ``/lib``, ``/bin`` links
  to it), the Python installation and its environment (NumPy, torch), the project's two
  packages the worker imports (``ref_torch``, ``scratch_numpy``) and the student's own
  submission at ``/submission``; ``/tmp`` is a private, empty tmpfs of at most
  ``Limits.tmp_bytes``, the working folder; ``/proc`` and ``/dev`` are the sandbox's own;
* no network (an empty network namespace), its own pids (the sandbox ends with its
  first process: nothing a student forks outlives it), IPC and host name;
* started as root, the worker drops to a uid of its own before any student code runs,
  so the process limit counts its processes and no file of this machine's users is its.

Always (:func:`with_limits`: util-linux's ``prlimit`` runs the command with them, or,
where it is missing, the child sets them before it starts): CPU seconds, memory
(``RLIMIT_DATA``: heap and private mappings, not the shared libraries), the size of any
file written, no core files, and a process count; the judge adds a wall-clock deadline
per target and per student (``scripts/grade/judge.py``).
"""

from __future__ import annotations

import functools
import importlib
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The project's packages the worker imports (where they are: a Ray cluster's node has them
# where Ray unpacked them, not in a checkout).
PACKAGES = ("ref_torch", "scratch_numpy")
SUBMISSION = "/submission"
WORKER = ("-m", "ref_torch.oracle.worker")
GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """What one student's process may use."""

    cpu_seconds: int = 900
    memory_bytes: int = 4 * GIB
    processes: int = 32
    file_bytes: int = 64 << 20
    tmp_bytes: int = 64 << 20
    target_seconds: float = 120.0
    student_seconds: float = 1200.0


@dataclass(frozen=True)
class Sandbox:
    """``kind``: "bubblewrap" or "none"; ``line``: what the grader says of it."""

    kind: str
    line: str
    bwrap: str = ""

    @property
    def isolated(self) -> bool:
        return self.kind == "bubblewrap"


def package_folders() -> list[Path]:
    return [Path(importlib.import_module(p).__file__).resolve().parent for p in PACKAGES]


def environment() -> dict:
    """The worker's whole environment: nothing of the grader's (tokens, paths) leaks in."""
    threads = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    path = ":".join(dict.fromkeys(str(f.parent) for f in package_folders()))
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONPATH": path,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "TMPDIR": "/tmp",
            **threads}


def _parents(path: Path) -> list[str]:
    """``--dir`` for each folder above ``path`` (bubblewrap would make them 0700, which a
    dropped uid cannot enter)."""
    args = []
    for parent in reversed(path.parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _read_only(paths) -> list[str]:
    args, seen = [], set()
    for path in paths:
        path = Path(path).resolve()
        if path in seen or any(path.is_relative_to(s) for s in seen) or not path.exists():
            continue
        seen.add(path)
        args += _parents(path) + ["--ro-bind", str(path), str(path)]
    return args


def sandbox_uid() -> int:
    """A uid of its own per judge process, so per student being graded (its pid is unique
    among the processes running: two students graded at once never share a process count),
    in a high range no account uses."""
    return 200_000 + os.getpid()


def bubblewrap_argv(bwrap: str, submission: Path, limits: Limits) -> tuple:
    """``(argv, env)`` of a sandboxed worker for ``submission``."""
    system = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "bin", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            system += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            system += ["--ro-bind", str(link), str(link)]
    python = _read_only([sys.base_prefix, sys.prefix, *package_folders()])
    argv = [bwrap, *system, *python,
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--ro-bind", str(submission), SUBMISSION,
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--chdir", "/tmp"]
    env = environment()
    if os.geteuid() == 0:  # the worker drops to its own uid (ref_torch/oracle/worker.py)
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        env["CS231N_SANDBOX_UID"] = str(sandbox_uid())
        env["CS231N_SANDBOX_NPROC"] = str(limits.processes)
    else:
        argv += ["--unshare-user"]
    return [*argv, "--clearenv", *_setenv(env), sys.executable, *WORKER, SUBMISSION], {}


def _setenv(env: dict) -> list[str]:
    return [a for k, v in env.items() for a in ("--setenv", k, v)]


def plain_argv(submission: Path) -> tuple:
    """``(argv, env)`` without isolation: limits alone (see :func:`detect`)."""
    return [sys.executable, *WORKER, str(submission)], environment()


def _limit_values(limits: Limits) -> dict:
    """Every limit that needs no sandbox. Without root the process limit counts this user's
    other processes too, so it is the user's current count plus ``limits.processes``."""
    values = {resource.RLIMIT_CPU: limits.cpu_seconds, resource.RLIMIT_DATA: limits.memory_bytes,
              resource.RLIMIT_FSIZE: limits.file_bytes, resource.RLIMIT_CORE: 0}
    if os.geteuid() != 0:
        values[resource.RLIMIT_NPROC] = _processes_of(os.getuid()) + limits.processes
    return values


PRLIMIT_NAMES = {resource.RLIMIT_CPU: "cpu", resource.RLIMIT_DATA: "data",
                 resource.RLIMIT_FSIZE: "fsize", resource.RLIMIT_CORE: "core",
                 resource.RLIMIT_NPROC: "nproc"}


def with_limits(argv: list[str], limits: Limits) -> tuple[list[str], object]:
    """``(argv, preexec)``: ``argv`` run under the limits. ``prlimit`` sets them and execs the
    command, so nothing runs in the child between fork and exec (a function there, Popen's
    ``preexec_fn``, can deadlock a process with threads, as a Ray worker is); without
    ``prlimit`` the child sets them itself."""
    values = _limit_values(limits)
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, *(f"--{PRLIMIT_NAMES[k]}={v}" for k, v in values.items()), "--",
                *argv], None

    def apply():
        for limit, value in values.items():
            resource.setrlimit(limit, (value, value))
    return argv, apply


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


@functools.cache  # one trial run of bubblewrap per process, not one per student
def detect(force_off: bool = False) -> Sandbox:
    """bubblewrap when it is installed and works here, else limits alone (with the reason)."""
    if force_off:
        return Sandbox("none", "sandbox: OFF (--no-sandbox): resource limits only; student code "
                       "can read every file this user can and reach the network")
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return Sandbox("none", "isolation unavailable: bubblewrap is not installed (apt-get "
                       "install bubblewrap); resource limits only: student code can read every "
                       "file this user can and reach the network")
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent",
             *([] if os.geteuid() == 0 else ["--unshare-user"]), "true"]
    result = subprocess.run(probe, capture_output=True, text=True)
    if result.returncode:
        why = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        return Sandbox("none", f"isolation unavailable: bubblewrap cannot run here ({why}); "
                       "resource limits only: student code can read every file this user can "
                       "and reach the network")
    return Sandbox("bubblewrap", "sandbox: bubblewrap (no network, read-only submission, private "
                   "/tmp, own pids and uid) + limits", bwrap)


def worker_argv(sandbox: Sandbox, submission: Path, limits: Limits) -> tuple:
    """``(argv, env, offset)``: bubblewrap exits ``offset + N`` when the worker dies of signal N."""
    if sandbox.isolated:
        argv, env = bubblewrap_argv(sandbox.bwrap, submission, limits)
        return argv, env, 128
    argv, env = plain_argv(submission)
    return argv, env, 0
