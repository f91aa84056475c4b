"""Hyperparameter sweeps on Ray Tune: the same command on this machine and on a cluster.

    python -m scripts.sweep svm                                  # the default grid, local Ray
    python -m scripts.sweep two_layer_net --num-samples 16       # random search, ASHA
    python -m scripts.sweep softmax --space learning_rate=loguniform:1e-7,1e-5 reg=grid:1e2,1e3
    python -m scripts.sweep two_layer_net --space-file space.toml --backend torch
    python -m scripts.sweep svm --address auto                   # join a running Ray cluster
    python -m scripts.sweep --resume reports/sweeps/svm-numpy-20260101-120000

Without ``--address`` Ray starts on this machine and uses its cores; with it
(``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) the trials run on that cluster.
The preprocessed train and validation rows go into Ray's object store once;
each trial (``scripts/sweep/trial.py``) reads them from there, trains one
configuration with the project's solvers and reports every epoch; ASHA stops
bad network trials at epoch boundaries on validation accuracy. A trial whose
worker dies is retried (``--max-failures``); a diverging trial is recorded as
diverged. Ctrl-C stops the sweep with its state saved: ``--resume FOLDER``
continues it without rerunning finished trials. A sweep folder is code: Ray Tune
keeps its state there as pickles, which ``--resume`` loads, so it resumes only a
folder that its user owns and nobody else can write, after checking its
``sweep.json``; trust a sweep folder as you would a script.

Outputs in ``--out/NAME``: ``sweep.json`` (the settings), ``trials.csv`` and
``trials.json`` (every trial, sorted), ``heatmap.png`` (validation accuracy over
learning rate x reg), ``best.json`` (the best configuration retrained once and
evaluated once on the test split), beside Ray Tune's own files.
Search spaces: ``scripts/sweep/space.py``; models: ``scripts/sweep/models.py``; starting
Ray or joining a cluster: ``scripts/ray_cluster.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import stat
import sys
import time
from pathlib import Path

from scratch_numpy.data import split_cifar10
from scratch_numpy.validation import check_int, check_real
from scripts.cli import (UsageError, add_cifar10_argument, command, load_data, non_negative_float,
                         non_negative_int, positive_float, positive_int)
from scripts.ray_cluster import Cluster, add_ray_arguments, import_ray, start_ray, stop_ray
from scripts.sweep import space as sweep_space
from scripts.sweep.models import BACKENDS, MODELS, accuracy, max_epochs, sweep_rows
from scripts.sweep.results import (STATUS_ORDER, best_row, best_summary, format_top,
                                   format_value, interrupted, progress_callback, sort_rows,
                                   started, trial_id, trial_row, write_text_atomic, write_results)

SETTINGS_FILE = "sweep.json"
TUNER_STATE = "tuner.pkl"  # Ray Tune's own pickle, written when the tuner is made
# What defines a sweep: fixed when it starts, read back by --resume.
DEFINING = ("model", "backend", "compile", "space", "space_file", "num_samples", "cpus_per_trial",
            "gpus_per_trial", "max_failures", "scheduler", "grace_epochs", "reduction_factor",
            "time_budget_s", "num_train", "num_val", "seed", "name")
# Tune keeps every trial (and its state) in memory and in its saved state.
MAX_TRIALS = 10_000
# How many suffixes (-2, -3, ...) a default name tries when sweeps start in the same second.
NAME_TRIES = 100


TRUST = ("A sweep folder is code: --resume loads Ray Tune's pickled state from it, which can run "
         "anything. It resumes only a folder (and files) that you own and that group and others "
         "cannot write, after checking its sweep.json; resume only folders you trust as you "
         "would a script.")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=TRUST)
    parser.add_argument("model", nargs="?", choices=list(MODELS), help="what to tune")
    parser.add_argument("--backend", choices=BACKENDS, help="numpy (default) or torch")
    parser.add_argument("--compile", action="store_true",
                        help="torch backend: each trial's training step through torch.compile "
                             "(CUDA graphs on a GPU)")
    parser.add_argument("--space", nargs="+", metavar="NAME=SPEC",
                        help="dimensions: NAME=grid:V1,V2  NAME=loguniform:LOW,HIGH  "
                             "NAME=choice:V1,V2  NAME=VALUE (replaces the default space)")
    parser.add_argument("--space-file", type=Path, help="dimensions in a .toml/.yaml file")
    parser.add_argument("--num-samples", type=positive_int,
                        help="repeats of the grid, random dimensions drawn afresh each time")
    parser.add_argument("--scheduler", choices=["asha", "fifo"],
                        help="asha (networks' default): stop bad trials at epoch boundaries")
    parser.add_argument("--grace-epochs", type=positive_int, help="ASHA: epochs before a stop (2)")
    parser.add_argument("--reduction-factor", type=positive_int,
                        help="ASHA: keep 1 in this many (3)")
    parser.add_argument("--cpus-per-trial", type=positive_int, help="CPUs (threads) per trial (1)")
    parser.add_argument("--gpus-per-trial", type=non_negative_float,
                        help="GPUs per trial, fractions allowed (torch backend; default: 1 where "
                             "the cluster has a GPU, else 0)")
    parser.add_argument("--max-failures", type=non_negative_int,
                        help="retries of a trial whose worker dies (2)")
    parser.add_argument("--time-budget-s", type=positive_float, help="stop all trials after this")
    parser.add_argument("--num-train", type=positive_int, help="first N training images only")
    parser.add_argument("--num-val", type=positive_int, help="first N validation images only")
    parser.add_argument("--seed", type=non_negative_int, help="initialisation and batches (0)")
    parser.add_argument("--out", type=Path, default=Path("reports/sweeps"), help="parent folder")
    parser.add_argument("--name", help="experiment folder name (default MODEL-BACKEND-TIME)")
    parser.add_argument("--resume", type=Path, metavar="FOLDER",
                        help="continue an interrupted sweep from its experiment folder "
                             "(code to trust like a script: see below)")
    add_ray_arguments(parser, "trial")
    add_cifar10_argument(parser)
    return parser.parse_args(argv)


def folder_name(name: str) -> str:
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"--name {name!r} must be a folder name, not a path (see --out)")
    return name


def new_settings(args) -> dict:
    """The sweep's settings from the command line, every value checked."""
    if args.model is None:
        raise UsageError("name the MODEL to tune, or --resume FOLDER")
    model = MODELS[args.model]
    if args.space or args.space_file:
        space = sweep_space.read_file(args.space_file, model.params) if args.space_file else {}
        for text in args.space or ():
            name, dim = sweep_space.parse_option(text, model.params)
            space[name] = dim
    else:
        space = dict(model.default_space)
    scheduler = args.scheduler or ("asha" if model.per_epoch else "fifo")
    if args.reduction_factor == 1:
        raise UsageError("--reduction-factor 1 would keep every trial; ASHA needs 2 or more")
    backend = args.backend or "numpy"
    if args.name is not None:
        folder_name(args.name)
    settings = {"model": args.model, "backend": backend, "compile": bool(args.compile),
                "space": {k: d.to_json() for k, d in space.items()},
                "num_samples": args.num_samples or model.default_samples, "scheduler": scheduler,
                "grace_epochs": args.grace_epochs or 2,
                "reduction_factor": args.reduction_factor or 3,
                "cpus_per_trial": args.cpus_per_trial or 1, "gpus_per_trial": args.gpus_per_trial,
                "max_failures": 2 if args.max_failures is None else args.max_failures,
                "time_budget_s": args.time_budget_s, "num_train": args.num_train,
                "num_val": args.num_val, "seed": args.seed or 0,
                "name": args.name or f"{args.model}-{backend}-{time.strftime('%Y%m%d-%H%M%S')}"}
    check_sweep(settings)
    return settings


def _optional(check):
    return lambda value, name: None if value is None else check(value, name)


def _text(options=None):
    def check(value, name):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        if options is not None and value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    return check


def _bool(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _name(value, name):
    return folder_name(_text()(value, name))


# sweep.json: every setting and its check (``check(value, name)`` raising ValueError).
SETTINGS = {
    "model": _text(tuple(MODELS)), "backend": _text(BACKENDS), "compile": _bool,
    "space": lambda value, name: value,  # checked against the model's parameters below
    "num_samples": check_int, "scheduler": _text(("asha", "fifo")),
    "grace_epochs": check_int, "reduction_factor": lambda v, name: check_int(v, name, 2),
    "cpus_per_trial": check_int,
    "gpus_per_trial": _optional(lambda v, name: check_real(v, name, 0)),
    "max_failures": lambda v, name: check_int(v, name, 0),
    "time_budget_s": _optional(lambda v, name: check_real(v, name, 0, low_open=True)),
    "num_train": _optional(check_int), "num_val": _optional(check_int),
    "seed": lambda v, name: check_int(v, name, 0), "name": _name,
}


def check_sweep(settings: dict) -> None:
    """What no sweep can run, whether its settings come from the command line or a file."""
    model = MODELS[settings["model"]]
    if settings["scheduler"] == "asha" and not model.per_epoch:
        raise ValueError(f"{settings['model']} reports once, at the end of training: ASHA needs "
                         "per-epoch reports; use --scheduler fifo")
    if settings["compile"] and settings["backend"] == "numpy":
        raise ValueError("--compile compiles the torch training step: it needs --backend torch")
    if settings["gpus_per_trial"] and settings["backend"] == "numpy":
        raise ValueError("the numpy backend trains on CPU: --gpus-per-trial needs --backend torch")
    trials = sweep_space.number_of_trials(sweep_space.from_json(settings["space"], model.params),
                                          settings["num_samples"])
    if trials > MAX_TRIALS:
        raise ValueError(f"{trials} trials: a sweep runs at most {MAX_TRIALS} (Ray Tune keeps "
                         "every trial in memory); use fewer grid values or --num-samples")


def read_settings(path: Path) -> dict:
    """A sweep folder's ``sweep.json``, every field checked; anything else is a
    :class:`UsageError` naming the file and the problem. Plain JSON: nothing is unpickled."""
    def bad(problem: str):
        return UsageError(f"{path} is not a sweep's settings: {problem}")

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path.parent} is not a sweep folder: cannot read {path.name} "
                         f"({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if not text.strip():
        raise bad("the file is empty")
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(settings, dict):
        raise bad(f"expected a JSON object of settings, got {type(settings).__name__}")
    settings.setdefault("compile", False)  # a sweep.json from before --compile existed
    missing = [key for key in SETTINGS if key not in settings]
    unknown = [key for key in settings if key not in SETTINGS]
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    if unknown:
        raise bad(f"unknown setting {', '.join(map(repr, unknown))}")
    try:
        for key, check in SETTINGS.items():
            check(settings[key], key)
        sweep_space.from_json(settings["space"], MODELS[settings["model"]].params)
        check_sweep(settings)
    except ValueError as exc:
        raise bad(str(exc)) from None
    return settings


def rerun_command(settings: dict, out: Path) -> str:
    """The command line that starts the sweep of ``settings`` afresh in ``out``."""
    def text(value):
        return str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(
            value, float) else str(value)

    space = [f"{name}={text(d['values'][0])}" if d["kind"] == "fixed"
             else f"{name}={d['kind']}:{','.join(map(text, d['values']))}"
             for name, d in settings["space"].items()]
    words = ["python", "-m", "scripts.sweep", settings["model"], "--backend", settings["backend"]]
    if settings["compile"]:
        words.append("--compile")
    if space:
        words += ["--space", *space]
    for key in ("num_samples", "scheduler", "grace_epochs", "reduction_factor", "cpus_per_trial",
                "gpus_per_trial", "max_failures", "time_budget_s", "num_train", "num_val", "seed"):
        value = settings[key]
        if value is not None and not (key == "gpus_per_trial" and not value):
            words += [f"--{key.replace('_', '-')}", text(value)]
    return shlex.join([*words, "--out", str(out), "--name", settings["name"]])


def check_trusted(folder: Path) -> None:
    """Refuse a folder that someone else could have written: --resume unpickles Ray Tune's
    state in it (tuner.pkl, the experiment state, each trial's pickles), which runs code.
    The folder and everything in it must belong to this user and be writable by no one
    else, as ssh demands of its keys; it holds no symbolic links (Tune makes none)."""
    if not hasattr(os, "geteuid"):  # no POSIX owners: nothing to check against
        return
    user = os.geteuid()

    def refuse(path, problem, fix):
        raise UsageError(f"{path}: {problem}. --resume loads Ray Tune's pickles from {folder}, "
                         "which can run any code, so it resumes only a folder that you own and "
                         f"nobody else can write. If you trust its contents as you would a "
                         f"script, {fix}")

    def walk_error(exc):
        raise UsageError(f"cannot check {exc.filename} before resuming ({exc.strerror})")

    paths = [folder]
    for root, dirs, files in os.walk(folder, onerror=walk_error):
        paths += [Path(root, name) for name in dirs + files]
    for path in paths:
        info = path.lstat()
        quoted = shlex.quote(str(folder))
        if stat.S_ISLNK(info.st_mode):
            refuse(path, "a symbolic link (Ray Tune makes none)",
                   "copy the folder without links and resume the copy: cp -rL "
                   f"{quoted} NEW_FOLDER")
        if info.st_uid != user:
            refuse(path, f"owned by another user (uid {info.st_uid}, you are {user})",
                   f"resume your own copy of it: cp -r {quoted} NEW_FOLDER")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            refuse(path, f"writable by group or others ({stat.filemode(info.st_mode)})",
                   f"make it yours alone: chmod -R go-w {quoted}")


def only_settings(folder: Path) -> bool:
    """A folder that holds nothing, or only the settings of a sweep that stopped before Ray
    Tune saved anything (Ctrl-C while Ray started): starting it afresh loses nothing."""
    return folder.is_dir() and {p.name for p in folder.iterdir()} <= {SETTINGS_FILE}


def resumed_settings(args) -> tuple[dict, Path]:
    folder = args.resume
    given = [f"--{k.replace('_', '-')}" for k in DEFINING
             if k != "model" and getattr(args, k, None) not in (None, False)]
    if given:
        raise UsageError(f"--resume continues the saved sweep; {', '.join(given)} cannot change it")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a sweep folder: no such folder")
    folder = folder.resolve()
    settings = read_settings(folder / SETTINGS_FILE)
    if args.model is not None and args.model != settings["model"]:
        raise UsageError(f"{folder} is a {settings['model']} sweep, not {args.model}")
    if (folder / "best.json").exists():
        raise UsageError(f"{folder} has finished (best.json): its test accuracy was measured once; "
                         "start a new sweep instead")
    check_trusted(folder)
    if not (folder / TUNER_STATE).is_file():
        again = rerun_command(settings, folder.parent)
        if only_settings(folder):
            raise UsageError(f"{folder} holds no saved Ray Tune state ({TUNER_STATE}): the sweep "
                             "stopped before Ray Tune saved it, so no trial ran and there is "
                             "nothing to resume. Start it again (a new sweep of this name reuses "
                             f"the folder):\n  {again}")
        raise UsageError(f"{folder} holds no saved Ray Tune state ({TUNER_STATE}), so it cannot be "
                         "resumed. Start the sweep again after moving the folder away, or with "
                         f"another --name:\n  {again}")
    return settings, folder


def check_resources(cluster: Cluster, settings: dict, version: str) -> None:
    """Check a trial's resources against what Ray has, and resolve the GPUs of one (default:
    a whole GPU for the torch backend where the cluster has one, else none)."""
    if settings["cpus_per_trial"] > cluster.cpus:
        raise UsageError(f"--cpus-per-trial {settings['cpus_per_trial']} exceeds the "
                         f"{cluster.cpus:g} CPUs of the Ray cluster")
    if settings["gpus_per_trial"] is None:
        settings["gpus_per_trial"] = (1.0 if settings["backend"] == "torch" and cluster.gpus >= 1
                                      else 0.0)
    if settings["gpus_per_trial"] > cluster.gpus:
        raise UsageError(f"--gpus-per-trial {settings['gpus_per_trial']:g} but the Ray cluster "
                         f"has {cluster.gpus:g} GPUs")
    print(f"ray {version}: {cluster.where}, {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs, "
          f"{cluster.nodes} node(s); per trial {settings['cpus_per_trial']} CPU, "
          f"{settings['gpus_per_trial']:g} GPU", flush=True)


class PhaseClock:
    """Wall time per phase of a sweep, for the line that says where the time went."""

    def __init__(self):
        self.last = time.monotonic()
        self.phases: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = now - self.last
        self.last = now

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases.items())


def trial_dirname(trial) -> str:
    """A trial's folder in the experiment folder: its id (Tune's default adds the config)."""
    return trial.trial_id


def make_tuner(tune, trainable, settings: dict, space: dict, folder: Path, resume: bool,
               num_train: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    model = MODELS[settings["model"]]
    varying = [k for k, d in space.items() if d.kind != "fixed"]

    def describe(config):
        return ", ".join(f"{k} {format_value(config[k])}" for k in varying)

    if resume:
        # Finished trials keep their results; interrupted and failed ones start again.
        return tune.Tuner.restore(str(folder), trainable, resume_unfinished=True,
                                  restart_errored=True)
    scheduler = (ASHAScheduler(max_t=max_epochs(model, space, num_train),
                               grace_period=settings["grace_epochs"],
                               reduction_factor=settings["reduction_factor"])
                 if settings["scheduler"] == "asha" else FIFOScheduler())
    return tune.Tuner(
        trainable, param_space=sweep_space.to_tune(space),
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", scheduler=scheduler,
                                    search_alg=BasicVariantGenerator(random_state=settings["seed"]),
                                    trial_dirname_creator=trial_dirname,
                                    # A worker keeps its imports and its view of the data
                                    # from one trial to the next.
                                    reuse_actors=True,
                                    num_samples=settings["num_samples"],
                                    time_budget_s=settings["time_budget_s"]),
        run_config=tune.RunConfig(
            name=folder.name, storage_path=str(folder.parent), verbose=0,
            failure_config=tune.FailureConfig(max_failures=settings["max_failures"]),
            callbacks=[progress_callback(describe)]))


def claim_folder(out: Path, settings: dict, default_name: bool) -> tuple[Path, bool]:
    """Create the new sweep's folder ``out/NAME`` before any work, so that no other sweep
    takes it meanwhile; returns (folder, whether this call created it). A default name
    (the time, to the second) gets a suffix -2, -3, ... when another sweep has it. A named
    folder that holds nothing but an unsaved sweep's settings (:func:`only_settings`) is
    taken over; any other existing one is refused."""
    out = out.resolve()
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"cannot write the sweep folder {out / settings['name']}: {ancestor} is "
                         "a file, not a folder (see --out)")
    if not os.access(ancestor, os.W_OK):
        raise UsageError(f"cannot write the sweep folder {out / settings['name']}: {ancestor} is "
                         "not writable")
    names = ([settings["name"], *(f"{settings['name']}-{k}" for k in range(2, NAME_TRIES + 1))]
             if default_name else [settings["name"]])
    for name in names:
        folder = out / name
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            if not default_name and only_settings(folder):
                print(f"note: {folder} holds no saved sweep (at most the settings of one that "
                      "stopped before any trial ran): starting afresh there", flush=True)
                return folder, False
            continue
        except OSError as exc:
            raise UsageError(f"cannot create the sweep folder {folder}: {exc.strerror}") from None
        settings["name"] = name
        return folder, True
    if default_name:
        raise UsageError(f"{out / names[0]} and {len(names) - 1} suffixed names exist: "
                         "choose a --name")
    raise UsageError(f"{out / names[0]} exists: --resume it, or choose another --name")


def forget_unsaved(folder: Path, created: bool, wrote_settings: bool) -> None:
    """Undo a new sweep that ended before Ray Tune made its state: remove the settings this
    run wrote and the folder it made, if nothing else is in it. Nothing else is touched."""
    if wrote_settings:
        (folder / SETTINGS_FILE).unlink(missing_ok=True)
    if created:
        try:
            folder.rmdir()
        except OSError:  # something else is in it: keep everything
            pass


def status_counts(table: list[dict]) -> str:
    counts = {s: sum(r["status"] == s for r in table) for s in STATUS_ORDER}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings, folder = resumed_settings(args) if args.resume else (new_settings(args), None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    model = MODELS[settings["model"]]
    space = sweep_space.from_json(settings["space"], model.params)
    ray = import_ray()
    try:
        from ray import tune

        from scripts.sweep.trial import retrain, run_trial
    except ImportError as exc:
        raise UsageError(f"sweeps need Ray Tune ({exc}): pip install -e '.[sweep]'") from None
    created = wrote_settings = tune_started = False
    # Group and others never write a sweep folder that --resume will load (check_trusted);
    # Ray's processes, started below, inherit this too.
    umask = os.umask(0o022)
    os.umask(umask | 0o022)
    try:
        if folder is None:
            folder, created = claim_folder(args.out, settings, default_name=args.name is None)
        trial_data, (X_test, y_test) = sweep_rows(
            model, split_cifar10(load_data(args.cifar10_dir)), settings["num_train"],
            settings["num_val"])
        num_train, X_val, y_val = len(trial_data.y_train), trial_data.X_val, trial_data.y_val
        trials = sweep_space.number_of_trials(space, settings["num_samples"])
        print(f"{settings['model']} ({settings['backend']}): {num_train} training, "
              f"{len(y_val)} validation rows; {trials} trials ({settings['scheduler']}) "
              f"over\n{sweep_space.describe(space)}", flush=True)
        clock = PhaseClock()
        check_resources(start_ray(args.address, args.num_cpus), settings, ray.__version__)
        clock.lap("ray start")
        if not args.resume:
            wrote_settings = True
            write_text_atomic(folder / SETTINGS_FILE, json.dumps(settings, indent=1) + "\n")
        # Once into the object store; every trial and the retraining read it from there,
        # and the driver keeps no copy of the training rows.
        data_ref = ray.put(trial_data)
        del trial_data
        resources = {"cpu": settings["cpus_per_trial"], "gpu": settings["gpus_per_trial"]}
        trainable = tune.with_resources(
            functools.partial(run_trial, data_ref=data_ref, settings=settings), resources)
        began = time.monotonic()
        tune_started = True  # from here on the folder is Ray Tune's too: it is never undone
        grid = make_tuner(tune, trainable, settings, space, folder, bool(args.resume),
                          num_train).fit()
        clock.lap("trials")
        budget = settings["time_budget_s"]
        out_of_time = budget is not None and time.monotonic() - began >= budget
        unfinished = sum(not started(r) or interrupted(r) for r in grid)
        if unfinished and not out_of_time:  # Ctrl-C: Tune saved the state
            print(f"\ninterrupted: {len(grid) - unfinished} of {len(grid)} trials finished; "
                  f"continue with\n  python -m scripts.sweep --resume {folder}", flush=True)
            return 130
        # How often each trial failed and was retried, from the experiment's saved state.
        retries = {t.trial_id: t.num_failures for t in tune.ExperimentAnalysis(str(folder)).trials}
        table = sort_rows([trial_row(model, r, num_train, retries[trial_id(r)],
                                     settings["scheduler"])
                           for r in grid if started(r)])
        paths = write_results(folder, table, f"{settings['model']} ({settings['backend']})")
        print(f"\n{len(table)} trials ({status_counts(table)}); top 5:")
        print(format_top(table))
        best = best_row(table)
        if best is None:
            print("no trial finished without diverging or failing: nothing to retrain")
            return 1
        print(f"\nretraining the best configuration ({best['trial_id']}) and testing it once",
              flush=True)
        if args.address or resources["gpu"]:  # on the cluster: a node with the trial's GPU
            remote = ray.remote(retrain).options(num_cpus=resources["cpu"],
                                                 num_gpus=resources["gpu"])
            final = ray.get(remote.remote(data_ref, settings, best["config"]))
        else:  # here: no new worker to start and no imports to repeat for one training
            final = retrain(ray.get(data_ref), settings, best["config"])
        clock.lap("retraining")
        val = accuracy(final, X_val, y_val)
        test = accuracy(final, X_test, y_test)
        write_text_atomic(folder / "best.json",
                     json.dumps(best_summary(best, val, test), indent=1) + "\n")
        print(f"best: {json.dumps(best['config'])}\n  val {val:.3f} (in the sweep "
              f"{best['val_acc']:.3f}), test {test:.3f} on {len(y_test)} images")
        print("wrote", *(p.name for p in paths), "best.json", "in", folder)
        in_trials = sum(r["seconds"] for r in table if not math.isnan(r["seconds"]))
        print(f"time: {clock.summary()}; the trials' own training {in_trials:.1f} s", flush=True)
        return 0
    except KeyboardInterrupt:
        if not tune_started:
            print("\ninterrupted before Ray Tune started: no trial ran", file=sys.stderr)
        else:
            print(f"\ninterrupted; continue with\n  python -m scripts.sweep --resume {folder}",
                  file=sys.stderr)
        return 130
    finally:
        stop_ray()
        os.umask(umask)
        if folder is not None and not tune_started:
            forget_unsaved(folder, created, wrote_settings)


if __name__ == "__main__":
    sys.exit(main())
