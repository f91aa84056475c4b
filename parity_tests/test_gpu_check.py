"""The GPU check's CPU-side logic: its plan, its refusal without a GPU, its step runner
(time limits, failures) and its one results file."""

from __future__ import annotations

import sys

from scripts import gpu_check
from scripts.gpu_check import Step

TABLE = ("print('warming up'); print('section  metric  value'); "
         "print('-------  ------  -----'); print('bench    speed   3.0')")


def test_dry_run_lists_every_step(capsys, tmp_path):
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("environment", "cuda_tests", "parity_on_cuda", "two_layer_train_cuda",
                 "two_layer_train_cpu", "two_layer_bench", "knn_cuda", "torch_step_bench",
                 "fc_net_train_cuda_compiled", "sweep_gpu_shared", "sweep_gpu_alone"):
        assert name in out


def test_the_sweep_steps_run_the_same_8_trials_shared_and_alone(tmp_path):
    """The two sweeps the GPU target compares: 8 compiled trials each (the grid once, not the
    model's default repeats), a GPU shared 8 ways in one, a whole GPU each in the other."""
    from scripts.sweep import command as sweep_command
    from scripts.sweep import space as sweep_space

    shares = {}
    for step in gpu_check.steps(tmp_path, quick=False):
        if step.name.startswith("sweep_gpu_"):
            argv = list(step.argv[step.argv.index("scripts.sweep") + 1:])
            argv[argv.index("--gpus-per-trial") + 1:argv.index("--gpus-per-trial") + 2] = ["0"]
            settings = sweep_command.new_settings(sweep_command.parse_args(argv))
            space = sweep_space.from_json(settings["space"], sweep_command.MODELS["two_layer_net"].params)
            assert sweep_space.number_of_trials(space, settings["num_samples"]) == 8, step.name
            assert settings["compile"], step.name
            shares[step.name] = step.argv[step.argv.index("--gpus-per-trial") + 1]
    assert shares == {"sweep_gpu_shared": "0.125", "sweep_gpu_alone": "1"}


def test_without_a_gpu_it_refuses_clearly(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_check, "cuda_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "gpu_check.md").exists()


def test_steps_run_with_limits_and_one_results_file(monkeypatch, capsys, tmp_path):
    fake = [
        Step("bench", (sys.executable, "-c", TABLE), 30, "a step that prints a table"),
        Step("broken", (sys.executable, "-c", "raise SystemExit(3)"), 30, "a failing step"),
        Step("stuck", (sys.executable, "-c", "import time; time.sleep(30)"), 1, "a hung step"),
    ]
    monkeypatch.setattr(gpu_check, "cuda_available", lambda: True)
    monkeypatch.setattr(gpu_check, "steps", lambda out, quick: fake)
    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", "1")
    assert gpu_check.main(["--out", str(tmp_path)]) == 1
    report = (tmp_path / "gpu_check.md").read_text()
    assert "| bench | a step that prints a table | passed |" in report
    assert "| broken | a failing step | failed (3) |" in report
    assert "| stuck | a hung step | timed out |" in report
    assert "section  metric  value" in report and "warming up" not in report
    assert "CIFAR10_TRAIN_BATCHES=1" in report
    assert (tmp_path / "bench.log").read_text().startswith("warming up")
    assert "1 of 3 steps passed" in capsys.readouterr().out


def test_only_picks_steps_and_refuses_unknown_ones(monkeypatch, capsys, tmp_path):
    assert gpu_check.main(["--dry-run", "--only", "knn_cuda", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("knn_cuda")
    try:
        gpu_check.main(["--dry-run", "--only", "bogus", "--out", str(tmp_path)])
    except SystemExit as exc:
        assert exc.code == 2
    assert "unknown steps" in capsys.readouterr().err
