"""The Lightning training engine: validation, early stopping, best weights, resume, divergence, DisCo.

Real Lightning on the CPU with tiny networks; test detectors subclass ``DenseAE`` and use
the engine's hooks (``training_loss``, ``epoch_diagnostics``) to script a loss curve.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from jetae.errors import JetaeError
from jetae.jets import Jets
from jetae.models import create_model, load_model
from jetae.models.autoencoders import DenseAE
from jetae.models.base import HISTORY_FILE
from jetae.train.data import ResidentBatches, split_validation
from jetae.train.engine import LAST_CHECKPOINT

SMALL = dict(hidden=[32], latent_dim=2, lr=1e-2, batch_size=32, device="cpu", patience=0)


_PLANE = np.random.default_rng(1234).normal(size=(2, 16))


def plane_points(n: int, seed: int) -> np.ndarray:
    """``(n, 16)`` points near a 2-d plane."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) @ _PLANE + 0.05 * rng.normal(size=(n, 16))).astype(np.float32)


def weights_of(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class WorseningValidation(DenseAE):
    """Validation loss = reconstruction + 0.5 * max(0, epoch - 2): the best epoch is at most 2.

    Snapshots the weights of every epoch, so a test can check which ones are restored.
    """

    def training_loss(self, network, batch, stage, module=None):
        parts = super().training_loss(network, batch, stage, module)
        if stage == "val":
            parts["loss"] = parts["loss"] + 0.5 * max(0, int(module.current_epoch) - 2)
        return parts

    def epoch_diagnostics(self, module):
        self.snapshots = getattr(self, "snapshots", {})
        self.snapshots[int(module.current_epoch)] = weights_of(module.network)
        return {"diagnostic": float(module.current_epoch)}


class DivergesAtEpoch2(WorseningValidation):
    """The training loss turns NaN in the first step of epoch 2."""

    def training_loss(self, network, batch, stage, module=None):
        parts = DenseAE.training_loss(self, network, batch, stage, module)
        if stage == "train" and int(module.current_epoch) == 2:
            parts["loss"] = parts["loss"] * float("nan")
        return parts


# ---------------------------------------------------------------- validation and best weights
def test_validation_split_and_restored_weights_give_the_best_validation_loss():
    data = plane_points(300, 1)
    detector = create_model("dense_ae", SMALL, epochs=6, val_fraction=0.2, seed=3).fit(data)
    history = detector.history_
    assert [r["epoch"] for r in history] == list(range(6))
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in history)
    # The per-jet score of dense_ae is its per-jet loss, so the restored model's mean score on
    # the held-out jets (the same seeded split) is the best validation loss in the history.
    _, val_index = split_validation(len(data), 0.2, 3)
    assert len(val_index) == 60
    best = min(r["val_loss"] for r in history)
    assert detector.anomaly_score(data[val_index]).mean() == pytest.approx(best, rel=1e-5)


def test_explicit_validation_set_is_used():
    train, val = plane_points(200, 1), plane_points(50, 2)
    detector = create_model("dense_ae", SMALL, epochs=4).fit(train, val)
    best = min(r["val_loss"] for r in detector.history_)
    assert detector.anomaly_score(val).mean() == pytest.approx(best, rel=1e-5)


def test_early_stopping_on_a_plateau_stops_before_max_epochs():
    # A learning rate this small leaves the loss flat: no improvement by min_delta after epoch 0.
    detector = create_model("dense_ae", SMALL, epochs=50, lr=1e-12, patience=2, min_delta=1e-3)
    detector.fit(plane_points(100, 1))
    assert len(detector.history_) == 3


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    detector = WorseningValidation(SMALL, epochs=30, patience=3).fit(plane_points(200, 1))
    history = detector.history_
    best_epoch = min(range(len(history)), key=lambda e: history[e]["val_loss"])
    assert best_epoch <= 2
    assert len(history) == best_epoch + 3 + 1 < 30  # stopped after `patience` epochs without improvement
    assert [r["diagnostic"] for r in history] == list(range(len(history)))  # epoch_diagnostics recorded
    assert_same_weights(weights_of(detector.network_), detector.snapshots[best_epoch])
    assert not torch.equal(
        detector.snapshots[best_epoch]["encoder.net.0.weight"],
        detector.snapshots[len(history) - 1]["encoder.net.0.weight"],
    )


def test_loss_history_is_saved_with_the_model(tmp_path):
    detector = create_model("dense_ae", SMALL, epochs=3).fit(plane_points(100, 1))
    detector.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / HISTORY_FILE).read_text()) == detector.history_
    assert load_model(tmp_path / "model").history_ == detector.history_


def test_tiny_training_set_trains_without_a_validation_split():
    detector = create_model("dense_ae", SMALL, epochs=2).fit(plane_points(3, 1))  # 10% of 3 rounds to 0
    assert all("val_loss" not in r and "train_loss" in r for r in detector.history_)


def test_empty_training_set_is_refused():
    detector = create_model("dense_ae", SMALL)
    with pytest.raises(JetaeError, match="n_samples > 0"):
        detector.fit(np.zeros((0, 16), np.float32))


def test_gradient_clipping_changes_the_updates():
    data = plane_points(200, 1)
    free = create_model("dense_ae", SMALL, epochs=2).fit(data)
    clipped = create_model("dense_ae", SMALL, epochs=2, gradient_clip=1e-4).fit(data)
    assert clipped.history_[0]["train_loss"] > free.history_[0]["train_loss"]  # tiny steps learn less
    assert not torch.equal(free.network_.encoder.net[0].weight, clipped.network_.encoder.net[0].weight)


# ---------------------------------------------------------------- checkpoints and resume
def _without_timing(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


def test_resume_continues_an_interrupted_run_to_the_same_result(tmp_path):
    data = plane_points(200, 1)
    options = dict(SMALL, epochs=6, seed=5)
    uninterrupted = create_model("dense_ae", options).fit(data)

    interrupted = create_model("dense_ae", options).fit(data, checkpoint_dir=tmp_path, max_epochs=3)
    assert len(interrupted.history_) == 3 and (tmp_path / LAST_CHECKPOINT).exists()
    resumed = create_model("dense_ae", options).fit(data, checkpoint_dir=tmp_path, resume=True)

    assert [r["epoch"] for r in resumed.history_] == list(range(6))
    assert _without_timing(resumed.history_) == _without_timing(uninterrupted.history_)
    assert_same_weights(weights_of(resumed.network_), weights_of(uninterrupted.network_))


@pytest.mark.parametrize("name", ["dropout_ae", "denoising_ae", "vae"])
def test_models_drawing_random_numbers_in_training_resume_to_the_same_result(tmp_path, name):
    # Dropout masks, input noise and the VAE's sampled codes come from torch's global generator:
    # the checkpoint carries its state, so the resumed epochs draw what the uninterrupted run drew.
    data = plane_points(200, 1)
    options = dict(SMALL, epochs=6, seed=5)
    if name != "vae":
        options["architecture"] = "dense"
    uninterrupted = create_model(name, options).fit(data)
    create_model(name, options).fit(data, checkpoint_dir=tmp_path, max_epochs=3)
    resumed = create_model(name, options).fit(data, checkpoint_dir=tmp_path, resume=True)
    assert _without_timing(resumed.history_) == _without_timing(uninterrupted.history_)
    assert_same_weights(weights_of(resumed.network_), weights_of(uninterrupted.network_))


def test_a_run_that_stopped_early_resumes_to_the_same_stop(tmp_path):
    # Killed after the checkpoint of the epoch where it stopped: resuming trains no further epoch.
    options = dict(SMALL, epochs=50, lr=1e-12, patience=2, min_delta=1e-3)
    stopped = create_model("dense_ae", options).fit(plane_points(100, 1), checkpoint_dir=tmp_path)
    assert len(stopped.history_) == 3 and sorted(p.name for p in tmp_path.iterdir()) == [LAST_CHECKPOINT]
    resumed = create_model("dense_ae", options).fit(plane_points(100, 1), checkpoint_dir=tmp_path, resume=True)
    assert resumed.history_ == stopped.history_
    assert_same_weights(weights_of(resumed.network_), weights_of(stopped.network_))


def test_resume_refuses_a_checkpoint_of_another_network(tmp_path):
    data = plane_points(100, 1)
    create_model("dense_ae", SMALL, epochs=2).fit(data, checkpoint_dir=tmp_path)
    with pytest.raises(JetaeError, match="different network"):
        create_model("dense_ae", SMALL, epochs=3, hidden=[8]).fit(data, checkpoint_dir=tmp_path, resume=True)
    checkpoint = tmp_path / LAST_CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(JetaeError, match="damaged or not a jetae checkpoint"):
        create_model("dense_ae", SMALL, epochs=3).fit(data, checkpoint_dir=tmp_path, resume=True)


# ---------------------------------------------------------------- divergence
def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_state(tmp_path):
    detector = DivergesAtEpoch2(SMALL, epochs=10)
    with pytest.raises(
        JetaeError,
        match=r"training diverged: train loss became nan at epoch 2.*"
        r"restored the weights of epoch [01].*last good checkpoint",
    ):
        detector.fit(plane_points(200, 1), checkpoint_dir=tmp_path)
    history = detector.history_
    assert [r["epoch"] for r in history] == [0, 1]
    best_epoch = min((0, 1), key=lambda e: history[e]["val_loss"])
    assert_same_weights(weights_of(detector.network_), detector.snapshots[best_epoch])
    # The checkpoint of the last complete epoch survives and can be inspected or resumed.
    checkpoint = torch.load(tmp_path / LAST_CHECKPOINT, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 1 and len(checkpoint["jetae"]["history"]) == 2


def test_exploding_learning_rate_is_reported_as_divergence():
    with pytest.raises(JetaeError, match="training diverged.*lower learning rate"):
        create_model("dense_ae", SMALL, epochs=5, lr=1e30).fit(plane_points(200, 1))


# ---------------------------------------------------------------- DisCo
def _jets(n: int, seed: int) -> Jets:
    """Random one-prong-ish jets with a spread of masses (GeV)."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(1, 50, (n, 20))
    eta, phi = rng.normal(0, 0.2, (n, 20)), rng.normal(0, 0.2, (n, 20))
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    return Jets.from_constituents(p4[np.arange(n)[:, None], np.argsort(-pt, axis=1)])


def test_disco_term_is_trained_and_recorded_for_jets():
    detector = create_model("dense_ae", SMALL, epochs=2, disco_lambda=1.0, representation={"n_constituents": 10}).fit(
        _jets(200, 1)
    )
    for record in detector.history_:
        assert 0.0 <= record["train_disco"] <= 1.0 and 0.0 <= record["val_disco"] <= 1.0
        assert record["train_loss"] >= record["train_disco"]  # the loss includes lambda * dCor^2


def test_disco_needs_jet_masses():
    with pytest.raises(JetaeError, match="disco_lambda > 0 needs jets with masses"):
        create_model("dense_ae", SMALL, epochs=1, disco_lambda=1.0).fit(plane_points(100, 1))


# ---------------------------------------------------------------- batches and progress
def test_resident_batches_cover_every_sample_once_in_an_epoch_dependent_order():
    tensors = {"inputs": torch.arange(10.0)[:, None], "index": torch.arange(10)}
    epoch = {"value": 0}
    batches = ResidentBatches(tensors, batch_size=4, shuffle=True, seed=1, epoch_source=lambda: epoch["value"])
    assert len(batches) == 3
    first = torch.cat([b["index"] for b in batches])
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(torch.cat([b["index"] for b in batches]), first)  # same epoch: same order
    epoch["value"] = 1
    second = torch.cat([b["index"] for b in batches])
    assert sorted(second.tolist()) == list(range(10)) and not torch.equal(first, second)
    ordered = ResidentBatches(tensors, batch_size=4, shuffle=False)
    assert torch.cat([b["index"] for b in ordered]).tolist() == list(range(10))


def test_progress_bar_shows_the_loss_on_stderr_only(capfd):
    create_model("dense_ae", SMALL, epochs=2, progress=True).fit(plane_points(100, 1))
    out, err = capfd.readouterr()
    assert "train_loss" not in out and "epoch 2/2" in err and "val_loss=" in err
    create_model("dense_ae", SMALL, epochs=1, progress=False).fit(plane_points(100, 1))
    assert "epoch 1/1" not in capfd.readouterr().err
