"""Distributed data-parallel training: ``jetae train --devices 2 --device cpu``.

Lightning's DDP launcher re-executes the command line for the second process, so this
runs the real console script in a subprocess (two CPU processes talking over gloo).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from jetae.io.toptag import write_jets
from jetae.jets import Jets
from jetae.models import load_model


def toy_jets(n: int, seed: int = 0, n_constituents: int = 30, pt: float = 500.0) -> Jets:
    """One-prong jets of massless constituents, pT-ordered, in GeV."""
    rng = np.random.default_rng(seed)
    eta = rng.uniform(-1, 1, (n, 1)) + rng.normal(0, 0.05, (n, n_constituents))
    phi = rng.uniform(-np.pi, np.pi, (n, 1)) + rng.normal(0, 0.05, (n, n_constituents))
    constituent_pt = pt * np.sort(rng.dirichlet(np.full(n_constituents, 0.5), n), axis=1)[:, ::-1]
    p4 = np.stack(
        [
            constituent_pt * np.cosh(eta),
            constituent_pt * np.cos(phi),
            constituent_pt * np.sin(phi),
            constituent_pt * np.sinh(eta),
        ],
        axis=-1,
    )
    return Jets.from_constituents(p4)


def test_ddp_on_two_cpu_processes_writes_one_model(tmp_path):
    train_file = tmp_path / "qcd.h5"
    write_jets(train_file, toy_jets(300, seed=1), n_constituents=30)
    out = tmp_path / "runs" / "ddp"
    script = Path(sys.executable).with_name("jetae")
    assert script.exists(), "the jetae console script is installed next to the interpreter"
    command = [
        str(script),
        "train",
        "dense_ae",
        "--train",
        str(train_file),
        "--out",
        str(out),
        "--devices",
        "2",
        "--device",
        "cpu",
        "--epochs",
        "3",
        "--set",
        "hidden=[16]",
        "--set",
        "latent_dim=4",
        "--set",
        "representation.n_constituents=10",
        "--set",
        "batch_size=32",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("LOCAL_RANK", None)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # Both processes trained (each logs its start) but only rank 0 saved, once.
    assert result.stderr.count("training dense_ae on cpu (32-true, 2 processes)") == 2
    assert result.stderr.count("saved dense_ae model") == 1
    assert result.stdout.count("trained dense_ae") == 1
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]  # no checkpoints or temporaries left
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.json", "weights.safetensors"]
    assert not any(tmp_path.glob("lightning_logs"))

    history = json.loads((out / "history.json").read_text())
    assert [record["epoch"] for record in history] == [0, 1, 2]
    # Epoch losses are summed over both processes, so both ranks agreed on the best epoch.
    assert result.stderr.count("best epoch") == 2
    assert len({line.split("best epoch")[1] for line in result.stderr.splitlines() if "best epoch" in line}) == 1
    meta = json.loads((out / "config.json").read_text())
    assert meta["trainer"]["devices"] == 2
    scores = load_model(out).anomaly_score(toy_jets(20, seed=2))
    assert scores.shape == (20,) and np.isfinite(scores).all()
