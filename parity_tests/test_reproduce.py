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
    assert "table and plots written" in capsys.readouterr().out
