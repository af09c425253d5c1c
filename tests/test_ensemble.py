"""``ensemble``: several seeds of one model, scored by the mean of the members' scores.

Real training (Lightning on the CPU) of tiny networks; the members must be exactly the models
one would train alone with seeds seed, seed + 1, ...
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.io.scores import read_scores
from jetae.io.toptag import read_jets, write_jets
from jetae.models import create_model, load_model
from jetae.models.base import CONFIG_FILE, WEIGHTS_FILE
from test_models import SMALL_DENSE, auc, off_plane_points, plane_points
from toys import prong_jets as toy_jets


@pytest.fixture(scope="module")
def ensemble():
    """(2-member dense_ae ensemble with seed 3 fitted on the plane toy, inliers, outliers)."""
    detector = create_model("ensemble", model="dense_ae", members=2, seed=3, options=SMALL_DENSE)
    return detector.fit(plane_points(400, 1)), plane_points(200, 2), off_plane_points(200, 3)


def test_ensemble_score_is_the_mean_of_its_members_trained_alone(ensemble):
    detector, inliers, outliers = ensemble
    scores = detector.anomaly_score(outliers)
    assert scores.shape == (200,) and np.isfinite(scores).all()
    assert auc(detector.anomaly_score(inliers), scores) > 0.85
    alone = [
        create_model("dense_ae", dict(SMALL_DENSE, seed=seed)).fit(plane_points(400, 1)).anomaly_score(outliers)
        for seed in (3, 4)
    ]
    np.testing.assert_allclose(detector.member_scores(outliers), np.stack(alone), rtol=1e-6)
    np.testing.assert_allclose(scores, np.mean(alone, axis=0), rtol=1e-6)
    assert not np.allclose(alone[0], alone[1])  # the seeds really differ
    np.testing.assert_array_equal(detector.decision_function(outliers), scores)
    assert {record["member"] for record in detector.history_} == {0, 1}


def test_ensemble_save_load_round_trip(ensemble, tmp_path):
    detector, _, outliers = ensemble
    run = detector.save(tmp_path / "run")
    loaded = load_model(run)
    np.testing.assert_array_equal(loaded.anomaly_score(outliers), detector.anomaly_score(outliers))
    meta = json.loads((run / CONFIG_FILE).read_text())
    assert meta["model"] == "ensemble" and meta["config"]["members"] == 2
    # each member's options as in its own config.json: model options under config, trainer options under trainer
    assert [c["config"]["seed"] for c in meta["member_configs"]] == [3, 4]
    member = meta["member_configs"][1]
    assert member["config"]["hidden"] == [32] and "weight_decay" in member["trainer"]
    assert meta["trainer"] is None  # the ensemble has no training loop of its own
    # a weights file that lost a member is refused with one clear error naming it
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    arrays = {k: v for k, v in load_file(str(damaged / WEIGHTS_FILE)).items() if not k.startswith("member1.")}
    save_file(arrays, str(damaged / WEIGHTS_FILE))
    with pytest.raises(JetaeError, match="no weights for ensemble member 1") as error:
        load_model(damaged)
    assert str(damaged / WEIGHTS_FILE) in str(error.value)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"model": "ensemble"}, "cannot itself be 'ensemble'"),
        ({"model": "autoencoder"}, "unknown model 'autoencoder'"),
        ({"members": 0}, "members must be >= 1"),
        ({"options": {"seed": 1}}, "options.seed is set by the ensemble"),
        (
            {"model": "dense_ae", "options": {"latent_dimension": 3}},
            "'dense_ae' members: unknown option(s) latent_dimension",
        ),
        (
            {
                "model": "dense_ae",
                "representation": {"kind": "image"},
                "options": {"representation": {"kind": "constituents"}},
                "seed": 0,
            },
            None,
        ),
        ({"model": "dense_ae", "representation": {"kind": "image", "n_pixels": 20}}, "set options.representation"),
    ],
)
def test_bad_ensemble_options_raise_one_clear_error(options, message):
    if message is None:  # the default representation is replaced by the members'
        assert create_model("ensemble", options).config.representation["kind"] == "constituents"
        return
    with pytest.raises(JetaeError) as error:
        create_model("ensemble", options)
    assert message in str(error.value)


def test_ensemble_through_the_cli_trains_scores_and_evaluates(tmp_path, capsys):
    qcd, top = tmp_path / "qcd.h5", tmp_path / "top.h5"
    write_jets(qcd, toy_jets(300, 1, seed=1), n_constituents=40)
    write_jets(top, toy_jets(100, 3, seed=3), n_constituents=40)
    run = tmp_path / "run"
    # --epochs, --device and --seed reach the members; member options through options.*
    assert (
        main(
            [
                "train",
                "ensemble",
                "--train",
                str(qcd),
                "--out",
                str(run),
                "--epochs",
                "2",
                "--device",
                "cpu",
                "--seed",
                "7",
                "--set",
                "model=dense_ae",
                "--set",
                "members=2",
                "--set",
                "options.hidden=[16]",
                "--set",
                "options.latent_dim=4",
                "--set",
                "options.representation.n_constituents=20",
            ]
        )
        == 0
    )
    meta = json.loads((run / CONFIG_FILE).read_text())
    assert meta["config"]["options"]["epochs"] == 2 and meta["config"]["seed"] == 7
    assert [(c["config"]["seed"], c["trainer"]["epochs"], c["trainer"]["device"]) for c in meta["member_configs"]] == [
        (7, 2, "cpu"),
        (8, 2, "cpu"),
    ]
    summary = capsys.readouterr().out
    assert "(best epochs by val_loss: member 0: " in summary and ", member 1: " in summary
    assert main(["score", str(run), str(top), "--out", str(tmp_path / "top_scores.h5")]) == 0
    table = read_scores(tmp_path / "top_scores.h5")
    np.testing.assert_array_equal(table["score"], load_model(run).anomaly_score(read_jets(top)))
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--background",
                str(qcd),
                "--signal",
                str(top),
                "--out",
                str(tmp_path / "report"),
                "--n-bootstrap",
                "5",
            ]
        )
        == 0
    )
    metrics = json.loads(next((tmp_path / "report").rglob("metrics.json")).read_text())
    assert "auc" in json.dumps(metrics)


def test_nae_ensemble_members_are_the_single_naes_and_the_report_shows_member_0s_training():
    from jetae.evaluation.evaluate import ModelResult, _energy_model_figures
    from jetae.experiments.studies.digits import load_digit_images
    from test_nae import TINY

    images, labels = load_digit_images()
    train, held_out = images[labels != 1][:192], images[labels == 1][:64]
    options = dict(TINY, ae_epochs=2, epochs=1)
    detector = create_model("ensemble", model="nae", members=2, seed=3, options=options).fit(train)
    single = create_model("nae", options, seed=4).fit(train)
    np.testing.assert_allclose(detector.member_scores(held_out)[1], single.anomaly_score(held_out), rtol=1e-6)
    assert [(r["member"], r["phase"]) for r in detector.history_] == [
        (m, p) for m in (0, 1) for p in ("ae", "ae", "nae")
    ]
    added, notes = [], []
    _energy_model_figures(
        ModelResult("ensemble", detector, None, {}, ["reconstruction"], {}, {}),
        held_out,
        lambda figure, stem, caption: added.append((stem, caption)),
        notes,
        6,
        0,
    )
    assert [stem for stem, _ in added] == ["negatives", "nae_diagnostics"] and notes == []
    assert added[1][1].startswith("First ensemble member")
    np.testing.assert_array_equal(
        detector.sample_negatives(3, seed=1), detector.members_[0].sample_negatives(3, seed=1)
    )
    assert detector.sampler_description() == detector.members_[0].sampler_description() != ""
    # members that cannot sample: no samples (and no description), so the report has no figure and no note
    dense = create_model("ensemble", model="dense_ae", members=1, options=dict(SMALL_DENSE, epochs=1))
    dense.fit(plane_points(100, 1))
    assert dense.sample_negatives(3) is None and dense.sampler_description() == ""


def test_benchmark_leaves_ensembles_out_by_default_and_gives_members_their_models_preset():
    from jetae.experiments.benchmark import MODEL_OPTIONS, BenchmarkConfig, model_options

    assert "ensemble" not in BenchmarkConfig().resolved().models
    config = BenchmarkConfig(
        models=("ensemble",),
        epochs=2,
        device="cpu",
        seed=5,
        model_options={"ensemble": {"model": "nae", "members": 2, "options": {"x_steps": 7}}},
    ).resolved()
    options = model_options(config, "ensemble")
    assert options["model"] == "nae" and options["members"] == 2 and options["seed"] == 5
    member = options["options"]
    assert member["epochs"] == member["ae_epochs"] == 2 and member["device"] == "cpu" and member["x_steps"] == 7
    assert member["z_steps"] == MODEL_OPTIONS["quick"]["nae"]["z_steps"] and "seed" not in member
    assert create_model("ensemble", options).config.members == 2  # a valid ensemble config


def test_killed_ensemble_run_resumes_without_retraining_finished_members(tmp_path):
    import os
    import subprocess

    from jetae.cli.train import checkpoint_dir_for
    from jetae.train.engine import LAST_CHECKPOINT
    from test_train_cli import _jetae_command, kill_when_written

    qcd, run = tmp_path / "qcd.h5", tmp_path / "run"
    write_jets(qcd, toy_jets(300, 1, seed=1), n_constituents=40)
    command = _jetae_command() + [
        "-q",
        "train",
        "ensemble",
        "--train",
        str(qcd),
        "--out",
        str(run),
        "--epochs",
        "40",
        "--device",
        "cpu",
        "--set",
        "model=dense_ae",
        "--set",
        "members=2",
        "--set",
        "options.hidden=[16]",
        "--set",
        "options.latent_dim=4",
        "--set",
        "options.patience=0",
        "--set",
        "options.representation.n_constituents=20",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    kill_when_written(command, checkpoint_dir_for(run) / "member1" / LAST_CHECKPOINT, env)  # member 1 started
    assert not run.exists()
    import torch

    first = torch.load(checkpoint_dir_for(run) / "member0" / LAST_CHECKPOINT, map_location="cpu", weights_only=True)
    assert len(first["jetae"]["history"]) == 40  # member 0 had finished before the kill
    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    history = json.loads((run / "history.json").read_text())
    assert [(r["member"], r["epoch"]) for r in history] == [(m, e) for m in (0, 1) for e in range(40)]
    assert not checkpoint_dir_for(run).exists()
    # member 0's epochs (timings included) are those of its checkpoint: it was not trained again
    assert [{k: v for k, v in r.items() if k != "member"} for r in history[:40]] == first["jetae"]["history"]
