"""Progress of long work: a tqdm bar on a terminal, a line per tenth in a log.

On a terminal a bar redraws itself in place. Written to a file or a CI log, the
same bar leaves every redraw behind as ``\\r``-separated text (a main-job log
grows to hundreds of KB of them), so when stderr is not a terminal
:func:`progress` prints one plain line at each tenth of the work and one at the
end instead. Both objects offer the part of tqdm's interface the project uses:
iteration, ``update(n)``, ``set_postfix(**values)``, ``write(message)`` and
``close()``.

NumPy-side module with no dependency: tqdm is imported only on a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable


class LogProgress:
    """tqdm's interface, printing ``label: 30% (300/1000) 12 s [postfix]`` lines at tenths."""

    def __init__(self, iterable: Iterable | None = None, label: str = "", total: int | None = None,
                 unit: str = "it", stream=None):
        self.iterable, self.label, self.unit = iterable, label, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.count, self.postfix = total, 0, ""
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.perf_counter()
        self._next_tenth = 1
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.total:
            reached = self.count * 10 // self.total  # one line, however many tenths
            if self._next_tenth <= reached <= 9:  # the whole of it is "done", at close
                self._line(f"{reached * 10}%")
                self._next_tenth = reached + 1

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line("done")

    def _line(self, stage: str) -> None:
        of = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        postfix = f" [{self.postfix}]" if self.postfix else ""
        seconds = time.perf_counter() - self._start
        self.write(f"{self.label}: {stage} ({of} {self.unit}) {seconds:.0f} s{postfix}")


def progress(iterable: Iterable | None = None, label: str = "", total: int | None = None,
             unit: str = "it", enabled: bool = True):
    """``iterable`` with progress shown: a tqdm bar on a terminal, :class:`LogProgress`
    lines otherwise; ``enabled=False`` returns ``iterable`` untouched (it must be given)."""
    if not enabled:
        return iterable
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, desc=label, total=total, unit=unit, leave=False)
    return LogProgress(iterable, label, total, unit)
