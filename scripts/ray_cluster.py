"""Ray for any command: start it on this machine or join a cluster, and say what it has.

A distributed command (a sweep's trials, a grader's students) adds the two options with
:func:`add_ray_arguments`, calls :func:`start_ray` once it has checked everything that
needs no Ray, and :func:`stop_ray` when it ends:

* without ``--address`` Ray starts here, on ``--num-cpus`` cores (default all of them),
  without its dashboard;
* with ``--address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) it joins that
  cluster, and the project's packages (:data:`PACKAGES`, from this checkout) are shipped
  to its workers, so a cluster needs no copy of the project installed.

Ray is an optional extra: nothing here imports it until it is needed, and a missing Ray
is a :class:`~scripts.cli.UsageError` that says how to install it (:func:`import_ray`).
What a command then puts on the cluster (data into the object store, its own resource
checks) stays in the command.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from scripts.cli import UsageError, positive_int

# The project's packages, shipped to a cluster's workers (they import them from here).
PACKAGES = ("scratch_numpy", "ref_torch", "scripts")


@dataclass(frozen=True)
class Cluster:
    """What Ray has, once started: its CPUs and GPUs, its nodes, and where it runs
    (``local``, or ``cluster ADDRESS``)."""

    cpus: float
    gpus: float
    nodes: int
    where: str


def add_ray_arguments(parser, unit: str) -> None:
    """``--address`` and ``--num-cpus``; ``unit`` names what runs on Ray ("trial", "student")."""
    parser.add_argument("--address",
                        help=f"join a Ray cluster: auto, HOST:PORT or ray://HOST:PORT (the {unit}s "
                             "run there; the project's packages are shipped from this checkout)")
    parser.add_argument("--num-cpus", type=positive_int,
                        help=f"CPUs of the local Ray, shared by the {unit}s (default all of this "
                             "machine's; ignored with --address)")


def import_ray():
    """The ``ray`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError(f"this command runs on Ray ({exc}): pip install -e '.[sweep]'") from None
    return ray


def start_ray(address: str | None, num_cpus: int | None) -> Cluster:
    """Join the cluster at ``address``, or start Ray here on ``num_cpus`` CPUs (None: all)."""
    ray = import_ray()
    if address:
        # The cluster's workers import the project's packages from this checkout.
        root = Path(__file__).resolve().parents[1]
        ray.init(address=address, log_to_driver=True,
                 runtime_env={"py_modules": [str(root / name) for name in PACKAGES]})
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    resources = ray.cluster_resources()
    return Cluster(cpus=resources.get("CPU", 0), gpus=resources.get("GPU", 0),
                   nodes=len(ray.nodes()), where=f"cluster {address}" if address else "local")


def stop_ray() -> None:
    """Shut Ray down if this process started or joined it; safe to call at any time, even
    where Ray is not installed (so a command can call it in ``finally``)."""
    ray = sys.modules.get("ray")  # never imported: nothing was started
    if ray is not None and ray.is_initialized():
        ray.shutdown()
