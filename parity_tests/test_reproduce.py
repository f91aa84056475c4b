"""The main job runs end to end (quick sizes) and writes its table and plots."""

from __future__ import annotations

from scripts import reproduce


def test_quick_main_job_writes_table_and_plots(cifar10, tmp_path, capsys):
    assert reproduce.main(["--quick", "--out", str(tmp_path), "--device", "cpu"]) == 0
    table = (tmp_path / "results.txt").read_text()
    assert "train channel mean" in table
    parity_lines = [line for line in table.splitlines() if line.startswith("parity")]
    assert parity_lines, table
    assert all(line.rstrip().endswith("ok") for line in parity_lines), table
    assert (tmp_path / "samples.png").stat().st_size > 10_000
    assert "fc net" in table and "network size" in table and "preprocessing" in table
    for png in ("fc_net_curves.png", "exp_network_size.png", "exp_zero_centred.png",
                "exp_initialisation.png", "exp_preprocessing.png"):
        assert (tmp_path / png).stat().st_size > 10_000, png
    captured = capsys.readouterr()
    assert "results.txt written: 10 section(s) from this run; plots written to" in captured.out
    # Every long section speaks: a line at each tenth of its runs in a log (stderr here).
    for label in ("network size: runs: done", "zero-centred: runs: done",
                  "initialisation: training runs: done", "preprocessing: forms: done"):
        assert label in captured.err, label


def test_a_partial_run_merges_into_the_full_table_and_never_replaces_it(cifar10, tmp_path,
                                                                        capsys):
    """--only S into a folder holding a full run's table keeps every other section's rows and
    says which run each section came from; a table no results.json describes is left alone."""
    assert reproduce.main(["--quick", "--out", str(tmp_path), "--device", "cpu",
                           "--only", "data_report", "knn"]) == 0
    first = (tmp_path / "results.txt").read_text()
    assert "train channel mean" in first and "knn" in first
    assert reproduce.main(["--quick", "--out", str(tmp_path), "--device", "cpu",
                           "--only", "knn"]) == 0
    merged = (tmp_path / "results.txt").read_text()
    assert "train channel mean" in merged  # the data section of the earlier run is kept
    assert "data_report:" in merged and "knn:" in merged and "--quick" in merged
    assert "1 section(s) from this run, 1 kept from earlier runs" in capsys.readouterr().out

    other = tmp_path / "other"
    other.mkdir()
    (other / "results.txt").write_text("a full table from somewhere else\n")
    assert reproduce.main(["--quick", "--out", str(other), "--device", "cpu",
                           "--only", "knn"]) == 0
    assert (other / "results.txt").read_text() == "a full table from somewhere else\n"
    assert "knn" in (other / "results.knn.txt").read_text()
    assert "results.txt (from a run this folder does not describe) is left as it is" \
        in capsys.readouterr().out


def test_the_readme_quotes_the_main_job_and_labels_other_runs():
    """One source of truth: every figure of the README's results column, outside the
    [bracketed] figures of other runs, stands in the main job's own table (docs/results.txt)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    table = (root / "docs" / "results.txt").read_text()
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Results at a glance"):readme.index("Speed, on CPU")]
    rows = [line.split("|")[2] for line in section.splitlines()
            if line.startswith("| [")]
    assert len(rows) >= 8
    for result in rows:
        own = re.sub(r"\[[^\]]*\]", "", result)  # other runs' figures, labelled in brackets
        for number in re.findall(r"\d+\.\d+e-\d+|\d+\.\d+%?|\d+/\d+", own):
            assert number in table, (number, result)
