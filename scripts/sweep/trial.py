"""One trial of a sweep, run by Ray in a worker process: threads, data, training, reports.

``run_trial(config, data_ref, settings)`` is the Ray Tune trainable:

* threads: BLAS (threadpoolctl) and torch are limited to the trial's CPUs, so
  two 1-CPU trials on 2 cores do not each start 2 threads;
* data: ``ray.get(data_ref)`` reads the rows that the driver put into Ray's
  object store once; NumPy arrays come back as read-only views of the shared
  memory there (zero-copy), so no trial loads CIFAR-10 or holds its own copy
  (``shared_data`` in every report says so);
* training: the model's ``fit`` (``scripts.sweep.models``), which runs the
  project's solvers; every epoch record is reported to Tune
  (``val_acc``: this epoch's validation accuracy, what ASHA compares;
  ``best_val_acc``: the kept parameters'; ``epochs``; ``node``, ``pid``, ``device``);
* divergence: a ``TrainingDivergedError`` ends the trial normally with one last
  report, ``diverged: True`` and ``val_acc`` NaN. The trial is then finished, not
  failed, so Ray does not retry it. Only failures (a worker that dies, an
  unexpected error) are retried, up to the sweep's ``max_failures``.

``settings``: model, backend, seed, cpus_per_trial, gpus_per_trial (a GPU
fraction > 0 trains the torch backend on ``cuda``).
"""

from __future__ import annotations

import math
import os
import warnings

import ray
from ray import tune

from scratch_numpy.training import TrainingDivergedError
from scripts.sweep.models import MODELS, full_config


def limit_threads(cpus: float) -> None:
    """At most ``cpus`` (at least 1) threads for BLAS and torch in this process."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(int(cpus), 1)
    threadpool_limits(threads)
    torch.set_num_threads(threads)


def device_of(settings: dict) -> str:
    return "cuda" if settings["gpus_per_trial"] > 0 else "cpu"


def load_shared(data_ref):
    """The trial data from the object store (read-only arrays: trials only read them)."""
    # torch warns on wrapping a read-only array; nothing writes to these rows.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    return ray.get(data_ref)


def run_trial(config: dict, data_ref, settings: dict) -> None:
    limit_threads(settings["cpus_per_trial"])
    data = load_shared(data_ref)
    model = MODELS[settings["model"]]
    config = full_config(model, config)
    common = {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
              "device": device_of(settings), "shared_data": not data.X_train.flags.writeable}

    def report(history: dict) -> bool:
        tune.report({"val_acc": history["val_acc_history"][-1],
                     "best_val_acc": history["best_val_acc"], "epochs": history["epochs"][-1],
                     "diverged": False, **common})
        return False  # Tune's scheduler, not the trial, decides when to stop

    try:
        model.fit(data, config, settings["backend"], device_of(settings), settings["seed"], report,
                  compile=settings["compile"])
    except TrainingDivergedError as exc:
        recorded = exc.history["best_val_acc"] >= 0
        tune.report({"val_acc": math.nan,
                     "best_val_acc": exc.history["best_val_acc"] if recorded else math.nan,
                     "epochs": exc.iteration * config["batch_size"] / len(data.y_train),
                     "diverged": True, "message": str(exc), **common})
    finally:
        release_cuda_graphs(settings)


def release_cuda_graphs(settings: dict) -> None:
    """A compiled trial on CUDA leaves CUDA graphs recorded for its own tensors; the worker's
    next trial records its own, and every step would first check the old ones: drop them (the
    compiled step stays: no recompile)."""
    if settings["compile"] and device_of(settings) == "cuda":
        from torch._inductor.cudagraph_trees import reset_cudagraph_trees
        reset_cudagraph_trees()


def retrain(data, settings: dict, config: dict):
    """The chosen ``config`` trained once more on the trial data, with a trial's threads:
    in the driver for a local CPU sweep, else a Ray task with a trial's resources (a GPU's
    node); returns the model (NumPy, with ``predict``)."""
    limit_threads(settings["cpus_per_trial"])
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    model = MODELS[settings["model"]]
    return model.fit(data, full_config(model, config), settings["backend"], device_of(settings),
                     settings["seed"], lambda history: False, compile=settings["compile"])
