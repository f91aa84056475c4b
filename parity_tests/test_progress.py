"""Progress in a log: a line per tenth of the work and one at the end, never a
stream of carriage-return redraws."""

from __future__ import annotations

import io

from scratch_numpy.progress import LogProgress, progress


def test_off_a_terminal_progress_prints_a_line_per_tenth(capsys):
    items = list(progress(range(1000), "work", unit="item"))  # pytest's stderr is no terminal
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert items == list(range(1000))
    assert "\r" not in err
    assert [line.split(": ")[1].split(" ")[0] for line in lines] == \
        [f"{t}%" for t in range(10, 100, 10)] + ["done"]
    assert lines[-1].startswith("work: done (1000/1000 item)")


def test_updates_and_postfix(capsys):
    bar = LogProgress(None, "evals", total=20, unit="eval")
    for _ in range(20):
        bar.update()
    bar.set_postfix(best="0.40")
    bar.close()
    bar.close()  # a second close prints nothing
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[-1].endswith("[best=0.40]")


def test_an_iterator_without_length_reports_only_its_end(capsys):
    list(progress(iter(range(7)), "stream"))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream: done (7 it)")


def test_disabled_progress_returns_the_iterable_untouched(capsys):
    data = [1, 2, 3]
    assert progress(data, "quiet", enabled=False) is data
    assert capsys.readouterr().err == ""


def test_a_short_job_prints_each_tenth_it_reaches_once():
    """3 runs: a line after each (30%, 60%) and one at the end, not ten lines of repeats."""
    stream = io.StringIO()
    for _ in LogProgress(range(3), "runs", unit="run", stream=stream):
        pass
    lines = [line.split(" (")[0] for line in stream.getvalue().splitlines()]
    assert lines == ["runs: 30%", "runs: 60%", "runs: done"]
