"""The CPU speed settings and the training-loop options they came with (issue #21.4, #21.5, #22).

bf16 autocast on the CPU for convolutional training (``precision=auto``), fp32 scoring, the
per-step cosine learning-rate schedule, "same" convolutions with even kernels, and the GPU
benchmark script's fail-fast without a GPU. Real Lightning and real torch on tiny networks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models import create_model
from jetae.models.nets import SameConv2d
from jetae.train.device import cpu_has_native_bf16, resolve_precision
from jetae.train.engine import LAST_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
TINY_CONV = dict(stages=[[4], [4]], conv_dense=[8], latent_dim=2, batch_size=16, device="cpu", progress=False)


def images(n: int, seed: int) -> np.ndarray:
    """``(n, 1, 8, 8)`` non-negative toy images."""
    return np.random.default_rng(seed).gamma(0.5, size=(n, 1, 8, 8)).astype(np.float32)


class LearningRates(L.Callback):
    """Records the learning rate after every Lightning step (a group of mini-batches)."""

    def __init__(self):
        self.rates: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.rates.append((trainer.global_step, trainer.optimizers[0].param_groups[0]["lr"]))


# ---------------------------------------------------------------- precision
def test_auto_precision_is_bf16_for_training_conv_nets_on_a_bf16_cpu_and_fp32_otherwise():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3))
    dense = nn.Sequential(nn.Linear(4, 2))
    bf16 = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    assert resolve_precision("auto", "cpu", conv) == bf16
    assert resolve_precision("auto", "cpu", dense) == "32-true"
    assert resolve_precision("auto", "cpu", conv, training=False) == "32-true"  # scores stay fp32 on the CPU
    assert resolve_precision("32-true", "cpu", conv) == "32-true"
    assert resolve_precision("bf16-mixed", "cpu", dense) == "bf16-mixed"


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no bf16 instructions: auto means fp32")
def test_conv_training_runs_in_bf16_on_this_cpu_and_scores_in_fp32(caplog):
    data = images(64, 0)
    with caplog.at_level("INFO", logger="jetae.train.engine"):
        detector = create_model("conv_ae", TINY_CONV, epochs=1, seed=0).fit(data)
    assert "bf16-mixed" in caplog.text
    fp32 = create_model("conv_ae", TINY_CONV, epochs=1, seed=0, precision="32-true").fit(data)
    # Same seed, other arithmetic: close but not identical weights.
    weights, reference = detector.network_.state_dict(), fp32.network_.state_dict()
    assert any(not torch.equal(weights[k], reference[k]) for k in weights)
    # Scoring is fp32 under precision=auto: the same as scoring the same weights in fp32 by hand.
    scores = detector.anomaly_score(data)
    with torch.no_grad():
        x = torch.from_numpy(detector.transform(data))
        expected = (detector.network_(x)["reconstruction"] - x).square().flatten(1).mean(1).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


# ---------------------------------------------------------------- cosine learning rate per step
def test_cosine_schedule_decays_per_step_from_lr_to_zero():
    rates = LearningRates()
    data = np.random.default_rng(0).normal(size=(320, 6)).astype(np.float32)
    options = dict(hidden=[4], latent_dim=2, batch_size=20, epochs=2, lr=1e-2, patience=0, val_fraction=0.0)
    create_model("dense_ae", options, lr_schedule="cosine", progress=False).fit(data, callbacks=[rates])
    # 16 steps per epoch, one Lightning step of 16 mini-batches: the rate of the last step of each.
    total = 32
    expected = [1e-2 * 0.5 * (1 + np.cos(np.pi * (step - 1) / total)) for step, _ in rates.rates]
    assert [step for step, _ in rates.rates] == [16, 32]
    np.testing.assert_allclose([rate for _, rate in rates.rates], expected, rtol=1e-9)
    assert rates.rates[-1][1] < 1e-4  # ~0 at the end (lr 1e-2)


def test_cosine_schedule_resumes_to_the_same_weights(tmp_path):
    data = np.random.default_rng(1).normal(size=(200, 6)).astype(np.float32)
    options = dict(hidden=[8], latent_dim=2, batch_size=32, epochs=4, patience=0, seed=3, lr_schedule="cosine")
    uninterrupted = create_model("dense_ae", options, progress=False).fit(data)
    create_model("dense_ae", options, progress=False).fit(data, checkpoint_dir=tmp_path, max_epochs=2)
    assert (tmp_path / LAST_CHECKPOINT).exists()
    resumed = create_model("dense_ae", options, progress=False).fit(data, checkpoint_dir=tmp_path, resume=True)
    for key, value in uninterrupted.network_.state_dict().items():
        assert torch.equal(value, resumed.network_.state_dict()[key]), key


def test_unknown_lr_schedule_is_refused():
    with pytest.raises(JetaeError, match="lr_schedule must be one of constant, cosine"):
        create_model("dense_ae", lr_schedule="step")


# ---------------------------------------------------------------- even kernels
@pytest.mark.parametrize("kernel", [2, 3, 4, 5])
def test_same_convolution_keeps_the_size_and_matches_torch_same_padding(kernel):
    torch.manual_seed(0)
    ours = SameConv2d(2, 3, kernel)
    reference = nn.Conv2d(2, 3, kernel, padding="same")
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(4, 2, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no padded-copy warning from our even kernels
        out = ours(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own "same" warns for even kernels
        expected = reference(x)
    assert out.shape == (4, 3, 10, 10)
    assert torch.equal(out, expected)


# ---------------------------------------------------------------- GPU script
@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the script would run for minutes")
def test_gpu_script_stops_at_once_without_a_gpu(tmp_path):
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        OUT_DIR=str(tmp_path / "out"),
        PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu.sh")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert "no CUDA GPU" in done.stderr and "nothing measured" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written
