"""Issue #16 (hardening), the training side: interrupted runs, resume, divergence, unwritable outputs,
nonsense numbers on the command line, damaged generation shards and tampered model directories.

Everything runs for real (Lightning on the CPU with tiny networks, Pythia + FastJet for a few
tens of jets); an interrupted run is made by a jetae hook that raises at the start of an epoch,
as a crash (out of memory, a killed node) would.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from jetae.cli.main import main
from jetae.cli.train import OPTIONS_FILE, checkpoint_dir_for
from jetae.errors import JetaeError
from jetae.generation import generate as generate_module  # generate_to_file looks save_shard up here
from jetae.generation.generate import generate_jets, generate_to_file
from jetae.generation.shard_files import work_dir_for
from jetae.io.provenance import sidecar_for
from jetae.io.toptag import read_jets, write_jets
from jetae.models import create_model, load_model
from jetae.models.base import CONFIG_FILE, WEIGHTS_FILE
from jetae.models.torch_base import TorchDetector
from jetae.train.engine import LAST_CHECKPOINT
from test_models import SMALL_DENSE, plane_points
from test_train_cli import FAST as TRAIN_CLI_FAST
from toys import prong_jets as toy_jets

FAST = [*TRAIN_CLI_FAST, "--set", "patience=0"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jets")
    paths = {"qcd": root / "qcd.h5", "other": root / "other.h5"}
    write_jets(paths["qcd"], toy_jets(300, 1, seed=1), n_constituents=40)
    write_jets(paths["other"], toy_jets(300, 1, seed=2), n_constituents=40)
    return paths


def train(files, out, *extra, model="dense_ae") -> int:
    return main(["train", model, "--train", str(files["qcd"]), "--out", str(out), "--epochs", "3", *FAST, *extra])


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"jetae {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


class SimulatedCrash(RuntimeError):
    """What kills a run between two epochs in these tests."""


def crash_at_epoch(monkeypatch, epoch: int) -> None:
    """Make every torch detector crash at the start of ``epoch`` (after the checkpoint of the one before)."""
    original = TorchDetector.on_epoch_start

    def crash(self, module):
        if module is not None and module.current_epoch == epoch:
            raise SimulatedCrash(f"crash at the start of epoch {epoch}")
        original(self, module)

    monkeypatch.setattr(TorchDetector, "on_epoch_start", crash)


@pytest.fixture
def interrupted(files, tmp_path, monkeypatch) -> Path:
    """A ``jetae train`` run (3 epochs) that crashed after its first epoch; returns its RUN_DIR."""
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        crash_at_epoch(patch, 1)
        with pytest.raises(SimulatedCrash):
            train(files, run)
    assert not run.exists() and (checkpoint_dir_for(run) / LAST_CHECKPOINT).exists()
    return run


# ---------------------------------------------------------------- 1. an interrupted run is not thrown away
def test_rerun_without_resume_keeps_the_checkpoints_of_an_interrupted_run(files, interrupted, capsys, caplog):
    checkpoint = checkpoint_dir_for(interrupted) / LAST_CHECKPOINT
    saved = checkpoint.read_bytes()
    capsys.readouterr()
    assert train(files, interrupted) == 2
    line = one_error_line(capsys, "train")
    assert str(checkpoint_dir_for(interrupted)) in line and "--resume" in line and "--overwrite" in line
    assert checkpoint.read_bytes() == saved
    # --overwrite throws the checkpoints away and starts again
    with caplog.at_level(logging.INFO, logger="jetae"):
        assert train(files, interrupted, "--overwrite") == 0
    assert "resuming from" not in caplog.text
    assert [r["epoch"] for r in json.loads((interrupted / "history.json").read_text())] == [0, 1, 2]
    assert not checkpoint_dir_for(interrupted).exists()


# ---------------------------------------------------------------- 2. resume only with the same options
@pytest.mark.parametrize(
    "extra, changes",
    [
        (["--set", "lr=0.02"], ["lr: 0.01 -> 0.02"]),
        (["--epochs", "4", "--set", "hidden=[8]"], ["epochs: 3 -> 4", "hidden: [16] -> [8]"]),
        (["--n-train", "200"], ["--n-train: null -> 200"]),
        (["--seed", "1"], ["seed: 0 -> 1"]),
        (["CONFIG"], ["weight_decay: 0.0 -> 0.001"]),
    ],
)
def test_resume_with_other_options_is_refused_listing_each_difference(files, interrupted, capsys, extra, changes):
    if extra == ["CONFIG"]:
        config = interrupted.parent / "options.yaml"
        config.write_text("weight_decay: 0.001\n")
        extra = ["--config", str(config)]
    checkpoint = checkpoint_dir_for(interrupted) / LAST_CHECKPOINT
    saved = checkpoint.read_bytes()
    capsys.readouterr()
    assert train(files, interrupted, *extra, "--resume") == 2
    line = one_error_line(capsys, "train")
    assert "cannot resume with options other than the interrupted run's" in line and "--overwrite" in line
    for change in changes:
        assert change in line
    assert checkpoint.read_bytes() == saved and not interrupted.exists()


def test_resume_with_the_same_options_saves_what_was_trained(files, interrupted, capsys):
    options = json.loads((checkpoint_dir_for(interrupted) / OPTIONS_FILE).read_text())
    assert options["trainer"]["lr"] == 0.01 and options["data"]["train"] == str(files["qcd"].absolute())
    kept = torch.load(checkpoint_dir_for(interrupted) / LAST_CHECKPOINT, weights_only=True)["jetae"]["history"]
    # Another data file is another training: refused as well.
    assert (
        main(
            [
                "train",
                "dense_ae",
                "--train",
                str(files["other"]),
                "--out",
                str(interrupted),
                "--epochs",
                "3",
                *FAST,
                "--resume",
            ]
        )
        == 2
    )
    assert f'--train: "{files["qcd"].absolute()}" -> "{files["other"].absolute()}"' in one_error_line(capsys, "train")
    # The progress bar and the device (result-neutral trainer options) do not change what is trained:
    # they may differ.
    assert train(files, interrupted, "--set", "progress=false", "--resume") == 0
    meta = json.loads((interrupted / CONFIG_FILE).read_text())
    assert meta["trainer"]["lr"] == 0.01 and meta["trainer"]["epochs"] == 3 and meta["trainer"]["progress"] is False
    history = json.loads((interrupted / "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1, 2] and history[: len(kept)] == kept
    assert not checkpoint_dir_for(interrupted).exists()


def test_resume_without_a_record_of_the_options_is_refused(files, interrupted, capsys):
    (checkpoint_dir_for(interrupted) / OPTIONS_FILE).unlink()
    capsys.readouterr()
    assert train(files, interrupted, "--resume") == 2
    line = one_error_line(capsys, "train")
    assert OPTIONS_FILE in line and "--overwrite" in line
    assert (checkpoint_dir_for(interrupted) / LAST_CHECKPOINT).exists()


@pytest.mark.parametrize("damage", ["truncated", "foreign pickle"])
def test_damaged_checkpoint_is_one_line_without_torch_advice(files, interrupted, capsys, damage):
    checkpoint = checkpoint_dir_for(interrupted) / LAST_CHECKPOINT
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    else:  # a checkpoint torch only opens by unpickling arbitrary objects
        torch.save({"state_dict": {}, "jetae": SimulatedCrash("not a tensor")}, checkpoint)
    capsys.readouterr()
    assert train(files, interrupted, "--resume") == 2
    err = capsys.readouterr().err
    assert "weights_only" not in err and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("jetae train: error:")]
    assert errors == [f"jetae train: error: {checkpoint}: cannot resume: damaged or not a jetae checkpoint"]


# ---------------------------------------------------------------- 3. a run that diverges at once
def test_run_diverging_at_once_says_nothing_was_kept_and_leaves_no_folder(files, tmp_path, capsys):
    run = tmp_path / "run"
    assert train(files, run, "--set", "lr=1e30") == 2
    line = one_error_line(capsys, "train")
    assert "training diverged" in line and "no checkpoint was written, nothing kept" in line
    assert "kept in" not in line
    assert not run.exists() and not checkpoint_dir_for(run).exists()


def test_api_fit_diverging_at_once_leaves_no_empty_checkpoint_folder(tmp_path):
    folder = tmp_path / "checkpoints"
    with pytest.raises(JetaeError, match="no checkpoint was written, nothing kept"):
        create_model("dense_ae", SMALL_DENSE, epochs=3, lr=1e30).fit(plane_points(200, 1), checkpoint_dir=folder)
    assert not folder.exists()


def test_crash_before_the_first_checkpoint_leaves_no_folder(files, tmp_path, monkeypatch):
    run = tmp_path / "run"
    crash_at_epoch(monkeypatch, 0)
    with pytest.raises(SimulatedCrash):
        train(files, run)
    assert not checkpoint_dir_for(run).exists()


# ---------------------------------------------------------------- 5. unwritable outputs fail before any work
@pytest.mark.parametrize(
    "model, options",
    [
        ("dense_ae", FAST),
        ("pca", ["--set", "n_components=3", "--set", "representation.n_pixels=16"]),
    ],
)
def test_unwritable_output_is_refused_before_any_work(files, tmp_path, capsys, caplog, model, options):
    blocker = tmp_path / "a_file"  # under a regular file nothing can be made, even by root
    blocker.write_text("not a folder")
    run = blocker / "run"
    with caplog.at_level(logging.INFO, logger="jetae"):
        assert main(["train", model, "--train", str(files["qcd"]), "--out", str(run), *options]) == 2
    line = one_error_line(capsys, "train")
    assert str(run) in line and "not a directory" in line
    assert "fitting" not in caplog.text  # refused before the jets were even turned into inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_checkpoint_folder_in_the_way_is_refused(files, tmp_path, capsys):
    run = tmp_path / "run"
    checkpoint_dir_for(run).write_text("a file where the checkpoints go")
    assert train(files, run) == 2
    assert f"{checkpoint_dir_for(run)}: exists and is not a directory" in one_error_line(capsys, "train")


# ---------------------------------------------------------------- 6. nonsense numbers are usage errors
@pytest.mark.parametrize(
    "command, option, value, message",
    [
        ("train", "--n-train", "0", "must be a positive integer"),
        ("train", "--n-train", "-5", "must be a positive integer"),
        ("train", "--n-train", "many", "must be an integer"),
        ("train", "--epochs", "0", "must be a positive integer"),
        ("train", "--devices", "0", "must be a positive integer"),
        ("train", "--num-nodes", "-1", "must be a positive integer"),
        ("train", "--seed", "-1", "must be an integer from 0 to 4294967295"),
        ("generate", "--n", "0", "must be a positive integer"),
        ("generate", "--shard-size", "0", "must be a positive integer"),
        ("generate", "--max-constituents", "0", "must be a positive integer"),
        ("generate", "--workers", "-2", "must be a positive integer"),
        ("generate", "--seed", "-1", "must be a non-negative integer"),
    ],
)
def test_nonsense_numbers_are_one_usage_error_naming_the_option(
    files, tmp_path, capsys, command, option, value, message
):
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "dense_ae", "--train", str(files["qcd"]), "--out", str(out), *FAST, option, value]
    else:
        args = ["generate", "qcd", "--n", "5", "--out", str(out), "--no-progress", option, value]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"jetae {command}: error: argument {option}: {message}, got '{value}'" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())


def test_seed_out_of_range_in_a_config_is_refused():
    with pytest.raises(JetaeError, match="seed must be an integer from 0 to"):
        create_model("dense_ae", SMALL_DENSE, seed=-1)


def test_card_or_config_that_is_a_directory_is_named_a_directory(files, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    out = tmp_path / "x.h5"
    assert main(["generate", "--card", str(folder), "--n", "5", "--out", str(out)]) == 2
    assert one_error_line(capsys, "generate").endswith(f"{folder}: is a directory, not a card file")
    assert main(["generate", "--card", str(tmp_path / "missing.cmnd"), "--n", "5", "--out", str(out)]) == 2
    assert "card file not found" in one_error_line(capsys, "generate")
    assert train(files, tmp_path / "run", "--config", str(folder)) == 2
    assert one_error_line(capsys, "train").endswith(f"{folder}: is a directory, not a config file")


# ---------------------------------------------------------------- 4. generation: an unreadable shard is made again
def _damage_shards(work: Path) -> dict[str, Path]:
    shards = sorted(work.glob("shard-*.npz"))
    truncated, garbage, npy, float64 = shards[:4]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with np.load(npy) as data:
        constituents = data["constituents"]
    with open(npy, "wb") as handle:  # a plain .npy array where a shard belongs
        np.save(handle, constituents)
    with np.load(float64) as data:  # the right arrays, but not the dtype jetae writes
        arrays = {name: data[name] for name in data.files}
    with open(float64, "wb") as handle:
        np.savez(handle, **dict(arrays, constituents=arrays["constituents"].astype(np.float64)))
    return {"truncated": truncated, "garbage": garbage, "npy": npy, "float64": float64}


def test_unreadable_shards_are_made_again_alone_with_a_warning(tmp_path, monkeypatch, caplog):
    out = tmp_path / "q.h5"
    arguments = dict(seed=5, workers=1, shard_size=8)
    saved = []
    real_save = generate_module.save_shard

    def save_then_stop(path, result):  # an interruption after the fifth of six shards
        real_save(path, result)
        saved.append(path)
        if len(saved) == 5:
            raise SimulatedCrash("interrupted")

    monkeypatch.setattr(generate_module, "save_shard", save_then_stop)
    with pytest.raises(SimulatedCrash):
        generate_to_file(out, "qcd", 48, **arguments)
    monkeypatch.undo()
    work = work_dir_for(out)
    assert len(list(work.glob("shard-*.npz"))) == 5 and not out.exists()
    damaged = _damage_shards(work)
    with caplog.at_level(logging.WARNING, logger="jetae"):
        provenance = generate_to_file(out, "qcd", 48, **arguments)
    for path in damaged.values():
        assert re.search(re.escape(str(path)) + r": (unreadable shard file|shard file does not match)", caplog.text)
    assert provenance["shards_reused"] == 1  # only the intact shard; the damaged ones and the missing one are new
    assert np.array_equal(
        read_jets(out).constituents, generate_jets("qcd", 48, **arguments).constituents
    )  # bit-identical to one go
    assert json.loads(sidecar_for(out).read_text())["shards_reused"] == 1 and not work.exists()


# ---------------------------------------------------------------- 7. model directories exactly as jetae wrote them
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory) -> Path:
    """Small saved models of each kind of state: dense_ae, dense_ae with loss weights, pca, vae, ensemble, nae."""
    from test_nae import TINY

    root = tmp_path_factory.mktemp("models")
    train = plane_points(200, 1)
    small = dict(SMALL_DENSE, epochs=1)
    create_model("dense_ae", small).fit(train).save(root / "dense_ae")
    create_model("dense_ae", small, loss_weights="inverse_variance").fit(train).save(root / "weighted")
    create_model("pca", n_components=3, representation={"kind": "image"}).fit(train).save(root / "pca")
    create_model("vae", small).fit(train).save(root / "vae")
    create_model("ensemble", model="dense_ae", members=2, options=small).fit(train).save(root / "ensemble")
    images = np.random.default_rng(0).uniform(0, 1, (48, 1, 8, 8)).astype(np.float32)
    create_model("nae", dict(TINY, ae_epochs=1, x_steps=2, z_steps=2)).fit(images).save(root / "nae")
    return root


def _edit_meta(edit):
    def apply(path: Path) -> None:
        meta = json.loads((path / CONFIG_FILE).read_text())
        edit(meta)
        (path / CONFIG_FILE).write_text(json.dumps(meta))

    return apply


def _edit_weights(edit):
    def apply(path: Path) -> None:
        arrays = load_file(str(path / WEIGHTS_FILE))
        edit(arrays)
        save_file(arrays, str(path / WEIGHTS_FILE))

    return apply


def _first_network_tensor(arrays: dict) -> str:
    return sorted(k for k in arrays if k.startswith("network.") or ".network." in k)[0]


TAMPERING = {
    "extra config key": (
        "dense_ae",
        _edit_meta(lambda m: m.update(note="mine")),
        CONFIG_FILE,
        r"unexpected key\(s\) note",
    ),
    "missing config keys": (
        "dense_ae",
        _edit_meta(lambda m: [m.pop("seed"), m.pop("versions")]),
        CONFIG_FILE,
        r"missing key\(s\) seed, versions",
    ),
    "missing config section": ("dense_ae", _edit_meta(lambda m: m.pop("config")), CONFIG_FILE, "'config' is missing"),
    "missing option": (
        "dense_ae",
        _edit_meta(lambda m: m["trainer"].pop("lr")),
        CONFIG_FILE,
        r"saved by an earlier jetae\? then retrain it\): missing option\(s\) lr in 'trainer'",
    ),
    "missing model option": (
        "dense_ae",
        _edit_meta(lambda m: m["config"].pop("hidden")),
        CONFIG_FILE,
        r"missing option\(s\) hidden in 'config'",
    ),
    "missing trainer section": (
        "dense_ae",
        _edit_meta(lambda m: m.pop("trainer")),
        CONFIG_FILE,
        "'trainer' is missing",
    ),
    "trainer section for a model without one": (
        "pca",
        _edit_meta(lambda m: m.update(trainer={"lr": 0.1})),
        CONFIG_FILE,
        "invalid model config: unknown option",
    ),
    "seed not of the config": (
        "dense_ae",
        _edit_meta(lambda m: m.update(seed=7)),
        CONFIG_FILE,
        "seed not as the config gives",
    ),
    "extra tensor": (
        "dense_ae",
        _edit_weights(lambda a: a.update(backdoor=np.zeros(3, np.float32))),
        WEIGHTS_FILE,
        r"unexpected tensor\(s\) backdoor",
    ),
    "extra network tensor": (
        "dense_ae",
        _edit_weights(lambda a: a.update({"network.extra.weight": np.zeros(2)})),
        WEIGHTS_FILE,
        r"unexpected tensor\(s\) network.extra.weight",
    ),
    "missing network tensor": (
        "dense_ae",
        _edit_weights(lambda a: a.pop(_first_network_tensor(a))),
        WEIGHTS_FILE,
        r"missing tensor\(s\) network\.",
    ),
    "tensor of another dtype": (
        "dense_ae",
        _edit_weights(lambda a: a.update({(k := _first_network_tensor(a)): a[k].astype(np.float64)})),
        WEIGHTS_FILE,
        r"tensor network\.\S+ is float64, expected float32",
    ),
    "tensor of another shape": (
        "dense_ae",
        _edit_weights(lambda a: a.update({(k := _first_network_tensor(a)): a[k][:1]})),
        WEIGHTS_FILE,
        r"tensor network\.\S+ has shape",
    ),
    "loss weights the config does not have": (
        "dense_ae",
        _edit_weights(lambda a: a.update(loss_weights=np.ones(16, np.float32))),
        WEIGHTS_FILE,
        r"unexpected tensor\(s\) loss_weights",
    ),
    "missing loss weights": (
        "weighted",
        _edit_weights(lambda a: a.pop("loss_weights")),
        WEIGHTS_FILE,
        "missing tensor loss_weights",
    ),
    "pca of another dtype": (
        "pca",
        _edit_weights(lambda a: a.update(mean=a["mean"].astype(np.float64))),
        WEIGHTS_FILE,
        "tensor mean is float64, expected float32",
    ),
    "vae latent of another shape": (
        "vae",
        _edit_weights(lambda a: a.update({"latent.mean": a["latent.mean"][:1]})),
        WEIGHTS_FILE,
        r"tensor latent.mean has shape \(1,\)",
    ),
    "ensemble member with an extra tensor": (
        "ensemble",
        _edit_weights(lambda a: a.update({"member1.extra": np.zeros(1, np.float32)})),
        WEIGHTS_FILE,
        r"unexpected tensor\(s\) member1.extra",
    ),
    "ensemble member configs edited": (
        "ensemble",
        _edit_meta(lambda m: m["member_configs"][0]["trainer"].update(lr=1.0)),
        CONFIG_FILE,
        "member_configs not as the config gives",
    ),
    "nae bounds of another dtype": (
        "nae",
        _edit_weights(lambda a: a.update({"nae.input_bounds": a["nae.input_bounds"].astype(np.float64)})),
        WEIGHTS_FILE,
        "tensor nae.input_bounds is float64, expected float32",
    ),
    "scaler of another dtype": (
        "dense_ae",
        _edit_weights(lambda a: a.update({"scaler.scale": a["scaler.scale"].astype(np.float64)})),
        WEIGHTS_FILE,
        "tensor scaler.scale is float64, expected float32",
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_model_directory_not_as_jetae_wrote_it_is_refused(saved_models, tmp_path, name):
    model, tamper, file, message = TAMPERING[name]
    path = tmp_path / model
    shutil.copytree(saved_models / model, path)
    load_model(path)  # untouched, it loads
    tamper(path)
    with pytest.raises(JetaeError, match=message) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path / file}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("model", ["dense_ae", "weighted", "pca", "vae", "ensemble", "nae"])
def test_every_model_directory_jetae_writes_loads_and_scores_the_same(saved_models, tmp_path, model):
    path = shutil.copytree(saved_models / model, tmp_path / model)
    loaded = load_model(path)
    loaded.save(tmp_path / "again")  # what it loaded saves as the same tensors
    first, second = load_file(str(path / WEIGHTS_FILE)), load_file(str(tmp_path / "again" / WEIGHTS_FILE))
    assert sorted(first) == sorted(second)
    for key in first:
        assert first[key].dtype == second[key].dtype and np.array_equal(first[key], second[key])
