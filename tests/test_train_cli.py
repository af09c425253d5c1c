"""``jetae train`` / ``jetae score`` end to end on small synthetic reference-layout files.

Most commands run in-process through ``jetae.cli.main.main``; the interrupt-and-resume test
runs the console script in a subprocess and kills it after its first checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from jetae.cli.main import main
from jetae.cli.train import checkpoint_dir_for
from jetae.io.scores import read_scores
from jetae.io.toptag import write_jets
from jetae.models import load_model
from jetae.train.engine import LAST_CHECKPOINT
from toys import prong_jets as toy_jets

FAST = [
    "--device",
    "cpu",
    "--set",
    "hidden=[16]",
    "--set",
    "latent_dim=4",
    "--set",
    "representation.n_constituents=20",
    "--set",
    "batch_size=64",
    "--set",
    "lr=1e-2",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jets")
    paths = {"qcd": root / "qcd.h5", "qcd_test": root / "qcd_test.h5", "top": root / "top.h5"}
    write_jets(paths["qcd"], toy_jets(400, 1, seed=1), n_constituents=40)
    write_jets(paths["qcd_test"], toy_jets(200, 1, seed=2), n_constituents=40)
    write_jets(paths["top"], toy_jets(200, 3, seed=3), n_constituents=40)
    return paths


def train(files, out, *extra, model="dense_ae"):
    return main(["train", model, "--train", str(files["qcd"]), "--out", str(out), "--epochs", "3", *FAST, *extra])


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    errors = [line for line in lines if line.startswith(f"jetae {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_train_then_score_end_to_end(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(files, run) == 0
    assert f"-> {run}" in capsys.readouterr().out
    assert not checkpoint_dir_for(run).exists()  # checkpoints are removed once the model is saved
    meta = json.loads((run / "config.json").read_text())
    # The fully resolved options, the given ones and every default: the model's and the trainer's.
    config, trainer = meta["config"], meta["trainer"]
    assert config["hidden"] == [16] and trainer["epochs"] == 3 and trainer["lr"] == 1e-2
    assert config["representation"] == {"kind": "constituents", "n_constituents": 20, "flatten": True}
    assert trainer["weight_decay"] == 0.0 and config["scaler"] == "standard" and config["seed"] == 0
    assert trainer["device"] == "cpu" and not set(config) & set(trainer)
    assert meta["provenance"]["train_file"] == str(files["qcd"]) and meta["provenance"]["n_train"] == 400
    assert meta["versions"]["torch"] == torch.__version__

    tables = {}
    for name in ("qcd_test", "top"):
        out = tmp_path / f"{name}_scores.h5"
        assert main(["score", str(run), str(files[name]), "--out", str(out)]) == 0
        tables[name] = read_scores(out)
    for table in tables.values():
        assert {"score", "mass", "pt", "is_signal"} <= set(table)
        assert all(len(column) == 200 for column in table.values())
        assert np.all(table["mass"] > 0) and np.all(table["pt"] > 100)
    assert set(tables["top"]["is_signal"]) == {1} and set(tables["qcd_test"]["is_signal"]) == {0}
    labels = np.r_[tables["qcd_test"]["is_signal"], tables["top"]["is_signal"]]
    assert roc_auc_score(labels, np.r_[tables["qcd_test"]["score"], tables["top"]["score"]]) > 0.7
    # The CLI's scores are the Python API's scores of the saved model.
    from jetae.io.toptag import read_jets

    np.testing.assert_array_equal(load_model(run).anomaly_score(read_jets(files["top"])), tables["top"]["score"])


def test_existing_run_directory_is_refused_unless_overwrite(files, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    assert train(files, run) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys, "train")
    assert (run / "keep.txt").read_text() == "mine"
    assert (
        main(
            [
                "train",
                "pca",
                "--train",
                str(files["qcd"]),
                "--out",
                str(run),
                "--overwrite",
                "--set",
                "n_components=3",
                "--set",
                "representation.n_pixels=16",
            ]
        )
        == 0
    )
    assert not (run / "keep.txt").exists() and load_model(run).name == "pca"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "lr=-1"], "lr must be > 0"),
        (["--set", "nonsense=1"], "unknown option.*nonsense"),
        (["--set", "lr"], "--set expects key=value"),
        (["--set", "batch_size=two"], "cannot use 'two' as int"),
        (["--set", "representation.kind=graph"], "unknown representation kind 'graph'"),
        (["--config", "/nonexistent/options.yaml"], "config file not found"),
    ],
)
def test_bad_options_exit_2_with_one_line_and_no_output(files, tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    assert train(files, run, *extra) == 2
    assert __import__("re").search(message, one_error_line(capsys, "train"))
    assert not run.exists() and not checkpoint_dir_for(run).exists()


def test_conv_model_on_constituents_is_a_clear_error(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "conv_ae",
                "--train",
                str(files["qcd"]),
                "--out",
                str(run),
                "--device",
                "cpu",
                "--set",
                "representation.kind=constituents",
            ]
        )
        == 2
    )
    assert "convolutional models need image inputs" in one_error_line(capsys, "train")
    assert not run.exists()


def test_unknown_model_is_a_clear_error(files, tmp_path, capsys):
    assert main(["train", "autoencoder", "--train", str(files["qcd"]), "--out", str(tmp_path / "run")]) == 2
    assert "available models:" in one_error_line(capsys, "train")


def test_diverging_training_exits_2_without_a_model(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(files, run, "--set", "lr=1e30") == 2
    assert "training diverged" in one_error_line(capsys, "train")
    assert not run.exists()


def test_scoring_errors_are_clear(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(files, run, "--epochs", "1") == 0
    capsys.readouterr()
    scores = tmp_path / "scores.h5"
    # A file that is not in the jet layout (here: a score file) cannot be scored.
    assert main(["score", str(run), str(files["top"]), "--out", str(scores)]) == 0
    assert main(["score", str(run), str(scores), "--out", str(tmp_path / "again.h5")]) == 2
    assert "no 'table' key" in one_error_line(capsys, "score")
    assert not (tmp_path / "again.h5").exists()
    assert main(["score", str(tmp_path), str(files["top"]), "--out", str(tmp_path / "x.h5")]) == 2
    assert "not a jetae model directory" in one_error_line(capsys, "score")
    assert main(["score", str(run), str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x.h5")]) == 2
    assert "file not found" in one_error_line(capsys, "score")


def _jetae_command() -> list[str]:
    script = Path(sys.executable).with_name("jetae")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jetae.cli.main"]


def kill_when_written(command: list[str], path: Path, env: dict) -> None:
    """Run ``command`` and kill it (SIGKILL) as soon as ``path`` exists."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.exists(), process.communicate(timeout=5)
        process.send_signal(signal.SIGKILL)  # as hard as a crash or a pulled plug
    finally:
        process.kill()
        process.communicate()


def test_killed_run_resumes_to_the_same_final_epoch_count(files, tmp_path):
    run = tmp_path / "run"
    epochs = 60
    command = _jetae_command() + [
        "-q",
        "train",
        "dense_ae",
        "--train",
        str(files["qcd"]),
        "--out",
        str(run),
        "--epochs",
        str(epochs),
        "--set",
        "patience=0",
        *FAST,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    checkpoint = checkpoint_dir_for(run) / LAST_CHECKPOINT
    kill_when_written(command, checkpoint, env)
    assert not run.exists()
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert saved["epoch"] < epochs - 1  # it really was interrupted

    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((run / "history.json").read_text())
    assert [record["epoch"] for record in history] == list(range(epochs))
    # The epochs before the kill are the ones the checkpoint recorded, not re-run.
    kept = saved["jetae"]["history"]
    assert history[: len(kept)] == kept
    assert not checkpoint_dir_for(run).exists()


def test_nae_cap_on_training_jets_is_what_the_run_records(files, tmp_path, capsys):
    # nae trains on its first max_train_jets jets: the saved provenance and the summary line say so.
    out = tmp_path / "nae"
    options = [
        "ae_epochs=1",
        "epochs=1",
        "x_steps=2",
        "z_steps=2",
        "stages=[[4]]",
        "conv_dense=[8]",
        "max_train_jets=150",
    ]
    command = ["train", "nae", "--train", str(files["qcd"]), "--out", str(out), "--device", "cpu"]
    assert main([*command, *[arg for option in options for arg in ("--set", option)]]) == 0
    assert "trained nae on 150 jets" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["provenance"]["n_train"] == 150
