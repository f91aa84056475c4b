"""Hyperparameter sweeps on Ray Tune: ``python -m scripts.sweep`` (``cs231n-sweep``).

The package: ``command`` (the command: options, settings, ``--resume``, the sweep folder,
running Ray Tune; :func:`main`), ``space`` (search spaces from the command line or a
file), ``models`` (what a sweep can tune, and its rows), ``trial`` (one trial, run by
Ray in a worker) and ``results`` (the table of trials, the heat map, progress lines).
Starting Ray or joining a cluster is ``scripts/ray_cluster.py``, shared with every
distributed command.
"""

from scripts.sweep.command import main

__all__ = ["main"]
