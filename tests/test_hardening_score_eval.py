"""Issue #16, scoring and evaluation half: `jetae score` / `jetae evaluate` refuse bad outputs and models
before any work, and figures a sample cannot resolve are null + reason ("n/a"), never a made-up number."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from jetae.cli.main import main
from jetae.evaluation import metrics as m
from jetae.evaluation.evaluate import evaluate_model
from jetae.io.toptag import write_jets
from jetae.models import create_model
from toys import prong_jets

N_CONSTITUENTS = 20
CONSTITUENTS = {
    "kind": "constituents",
    "n_constituents": 10,
    "features": ["delta_eta", "delta_phi", "log_pt"],
    "flatten": True,
}


def toy(n: int, prongs: int, seed: int):
    return prong_jets(n, prongs, seed=seed, n_constituents=N_CONSTITUENTS, pt=600.0)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """300 background, 100 signal, one-jet files of each, a tiny dense_ae and the same model with NaN weights."""
    root = tmp_path_factory.mktemp("hardening")
    write_jets(root / "qcd.h5", toy(300, 1, 1), n_constituents=N_CONSTITUENTS)
    write_jets(root / "top.h5", toy(100, 3, 2), n_constituents=N_CONSTITUENTS)
    write_jets(root / "qcd1.h5", toy(1, 1, 5), n_constituents=N_CONSTITUENTS)
    write_jets(root / "top1.h5", toy(1, 3, 6), n_constituents=N_CONSTITUENTS)
    create_model("dense_ae", epochs=1, hidden=[8], latent_dim=2, progress=False, representation=CONSTITUENTS).fit(
        toy(200, 1, 3)
    ).save(root / "run")
    # A valid model directory whose weights are all NaN (same tensor names and shapes).
    from safetensors.numpy import load_file, save_file

    shutil.copytree(root / "run", root / "nan_run")
    weights = load_file(root / "nan_run" / "weights.safetensors")
    save_file({k: np.full_like(v, np.nan) for k, v in weights.items()}, root / "nan_run" / "weights.safetensors")
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(f"jetae {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


def leftovers(parent: Path, name: str) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}."))


# --------------------------------------------------------------------------- jetae score: outputs
def test_score_refuses_to_write_onto_its_jet_file(work, tmp_path, capsys):
    jets = tmp_path / "in.h5"
    shutil.copy(work / "qcd.h5", jets)
    before = digest(jets)
    for extra in ([], ["--overwrite"]):
        assert main(["score", str(work / "run"), str(jets), "--out", str(jets), *extra]) == 2
        line = one_error_line(capsys, "score")
        assert str(jets) in line and "input" in line
        assert digest(jets) == before
    assert leftovers(tmp_path, "in.h5") == [jets]


def test_score_refuses_its_inputs_through_symlinks_and_hard_links(work, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(work / "run", run)
    jets = tmp_path / "in.h5"
    shutil.copy(work / "qcd.h5", jets)
    (tmp_path / "jets_link.h5").symlink_to(jets)
    os.link(jets, tmp_path / "jets_hard.h5")
    os.link(run / "weights.safetensors", tmp_path / "weights_hard.h5")
    (tmp_path / "config_link.h5").symlink_to(run / "config.json")
    before = {p: digest(p) for p in [jets, *run.iterdir()]}
    for out in ("jets_link.h5", "jets_hard.h5", "weights_hard.h5", "config_link.h5"):
        assert main(["score", str(run), str(jets), "--out", str(tmp_path / out), "--overwrite"]) == 2, out
        assert "input" in one_error_line(capsys, "score"), out
    for name in ("weights.safetensors", "config.json", "history.json"):  # any file in the run directory
        assert main(["score", str(run), str(jets), "--out", str(run / name), "--overwrite"]) == 2, name
        assert "input" in one_error_line(capsys, "score"), name
    # the jet file given through a symlink, the output its target
    assert main(["score", str(run), str(tmp_path / "jets_link.h5"), "--out", str(jets), "--overwrite"]) == 2
    assert "input" in one_error_line(capsys, "score")
    assert {p: digest(p) for p in [jets, *run.iterdir()]} == before
    assert (tmp_path / "jets_link.h5").is_symlink() and os.stat(tmp_path / "jets_hard.h5").st_nlink == 2


def test_score_refuses_an_existing_output_without_overwrite(work, tmp_path, capsys):
    out = tmp_path / "scores.h5"
    out.write_text("precious")
    assert main(["score", str(work / "run"), str(work / "top.h5"), "--out", str(out)]) == 2
    assert "--overwrite" in one_error_line(capsys, "score") and out.read_text() == "precious"
    assert main(["score", str(work / "run"), str(work / "top.h5"), "--out", str(out), "--overwrite"]) == 0
    from jetae.io.scores import read_scores

    assert len(read_scores(out)["score"]) == 100
    assert leftovers(tmp_path, "scores.h5") == [out]


def test_score_output_that_cannot_be_written_is_refused_before_any_work(work, tmp_path, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    # --out is a directory: a JetaeError, not IsADirectoryError
    assert main(["score", str(work / "run"), str(work / "top.h5"), "--out", str(folder)]) == 2
    assert "is a directory" in one_error_line(capsys, "score")
    assert list(folder.iterdir()) == []
    # a parent that is a regular file (root ignores permission bits, so this is the unwritable case);
    # the jet file does not exist either: the output is checked first, before the inputs are read
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    assert (
        main(["score", str(work / "run"), str(tmp_path / "missing.h5"), "--out", str(blocker / "sub" / "scores.h5")])
        == 2
    )
    line = one_error_line(capsys, "score")
    assert "cannot create the output" in line and str(blocker / "sub" / "scores.h5") in line
    assert blocker.read_text() == "a file"


def test_score_refuses_non_finite_scores(work, tmp_path, capsys):
    out = tmp_path / "nan_scores.h5"
    assert main(["score", str(work / "nan_run"), str(work / "top.h5"), "--out", str(out)]) == 2
    line = one_error_line(capsys, "score")
    assert "100 of 100 jets" in line and "non-finite" in line and "'reconstruction'" in line
    assert str(work / "top.h5") in line
    assert leftovers(tmp_path, "nan_scores.h5") == []


# --------------------------------------------------------------------------- jetae evaluate: outputs
def evaluate_cli(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["evaluate", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return rc, captured.out, captured.err


def test_evaluate_output_that_cannot_be_written_is_refused_before_any_work(work, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    # the background file is missing too: the output is checked first
    rc, _, err = evaluate_cli(
        [
            str(work / "run"),
            "--background",
            str(tmp_path / "missing.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(blocker / "report"),
        ],
        capsys,
    )
    assert rc == 2 and "cannot create the output" in err and str(blocker / "report") in err
    assert len(err.strip().splitlines()) == 1


def test_evaluate_refuses_a_report_directory_holding_its_inputs(work, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(work / "qcd.h5", data / "qcd.h5")
    shutil.copytree(work / "run", tmp_path / "run")
    for inputs, out in (
        ([str(tmp_path / "run")], data),
        ([str(tmp_path / "run")], tmp_path),
        ([str(tmp_path / "run")], tmp_path / "run"),
    ):
        rc, _, err = evaluate_cli(
            [
                *inputs,
                "--background",
                str(data / "qcd.h5"),
                "--signal",
                str(work / "top.h5"),
                "--out",
                str(out),
                "--overwrite",
            ],
            capsys,
        )
        assert rc == 2 and "input" in err, err
    assert (data / "qcd.h5").exists() and (tmp_path / "run" / "weights.safetensors").exists()


def test_evaluate_refuses_non_finite_scores_in_one_line(work, tmp_path, capsys):
    rc, _, err = evaluate_cli(
        [
            str(work / "nan_run"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(tmp_path / "report"),
        ],
        capsys,
    )
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "300 of 300 background jets" in err and "'reconstruction'" in err and str(work / "qcd.h5") in err
    assert leftovers(tmp_path, "report") == []


# --------------------------------------------------------------------------- tiny samples
def test_evaluate_one_jet_background_has_no_figures_and_no_traceback(work, tmp_path, capsys, caplog):
    out = tmp_path / "report"
    with caplog.at_level(logging.WARNING):
        rc, stdout, _ = evaluate_cli(
            [
                str(work / "run"),
                "--background",
                str(work / "qcd1.h5"),
                "--signal",
                str(work / "top.h5"),
                "--out",
                str(out),
                "--n-bootstrap",
                "5",
            ],
            capsys,
        )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    top = metrics["signals"]["top"]
    for key in ("auc", "auc_err", "r30", "r50", "eps_s_at_1e-2", "eps_s_at_1e-3"):
        assert top[key] is None and top[f"{key}_reason"], key
    assert "have 1 background" in top["auc_reason"]
    for key in ("jsd_eff50", "jsd_eff10", "inv_jsd_eff50", "inv_jsd_eff10", "dcorr"):
        assert metrics["mass_sculpting"][key] is None and metrics["mass_sculpting"][f"{key}_reason"], key
    row = [line for line in stdout.splitlines() if line.startswith("dense_ae ")][0]
    assert row.count("n/a") >= 5
    assert f">= {m.MIN_BACKGROUND_JETS_ALL_FIGURES} " in caplog.text  # the stated minimum sample size


def test_evaluate_one_jet_signal_gets_no_auc(work, tmp_path, capsys):
    out = tmp_path / "report"
    rc, stdout, _ = evaluate_cli(
        [
            str(work / "run"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top1.h5"),
            "--out",
            str(out),
            "--n-bootstrap",
            "20",
        ],
        capsys,
    )
    assert rc == 0
    top = json.loads((out / "metrics.json").read_text())["signals"]["top1"]
    assert top["auc"] is None and top["auc_err"] is None and top["r30"] is None
    assert top["auc_reason"] == f"needs >= {m.MIN_JETS_PER_CLASS} jets of each class, have 300 background and 1 signal"
    row = [line for line in stdout.splitlines() if line.startswith("dense_ae ")][0]
    assert "±" not in row and row.split()[3] == "n/a"
    page = (out / "report.html").read_text()
    row = re.search(r"<tr><td class=\"text\">reconstruction</td><td class=\"text\">top1</td>.*?</tr>", page)[0]
    assert "&plusmn;" not in row and row.count(">n/a</span>") == 5  # AUC, R30, R50, eps_S at 1e-2 and 1e-3
    assert html.escape(top["auc_reason"]) in page


def test_evaluate_300_background_jets_do_not_resolve_eps_s_at_1e3(work, tmp_path, capsys):
    out = tmp_path / "report"
    rc, stdout, _ = evaluate_cli(
        [
            str(work / "run"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(out),
            "--n-bootstrap",
            "20",
        ],
        capsys,
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    top = metrics["signals"]["top"]
    assert top["eps_s_at_1e-3"] is None
    assert top["eps_s_at_1e-3_reason"] == ("needs >= 10000 background jets (10 passing at eps_B = 0.001), have 300")
    assert top["eps_s_at_1e-2"] is None and "needs >= 1000 background jets" in top["eps_s_at_1e-2_reason"]
    assert isinstance(top["auc"], float) and isinstance(top["auc_err"], float)  # 300 / 100 jets resolve the AUC
    assert "auc_reason" not in top
    sculpting = metrics["mass_sculpting"]
    assert isinstance(sculpting["jsd_eff50"], float) and isinstance(sculpting["dcorr"], float)  # 150 kept, 300 jets
    assert sculpting["jsd_eff10"] is None and "needs >= 1000 background jets" in sculpting["jsd_eff10_reason"]
    page = (out / "report.html").read_text()
    assert html.escape(top["eps_s_at_1e-3_reason"]) in page and "n/a" in page
    row = [line for line in stdout.splitlines() if line.startswith("dense_ae ")][0]
    assert "n/a" in row  # eps_S at 1e-2


def test_comparison_page_without_any_resolvable_point(work, tmp_path, capsys):
    """Two models and a one-jet signal: the AUC-vs-1/JSD plot has no point to draw, and says so."""
    out = tmp_path / "report"
    rc, _, err = evaluate_cli(
        [
            str(work / "run"),
            str(work / "run"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top1.h5"),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert rc == 0 and "No artists" not in err
    assert (out / "plots" / "tradeoff_top1.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert page.count(">n/a</span>") >= 8  # AUC, R30, R50, eps_S x2 of both models


# --------------------------------------------------------------------------- the rules, unit by unit
def every_null_has_a_reason(block: dict) -> None:
    for key, value in block.items():
        if key.endswith("_reason"):
            assert block[key[: -len("_reason")]] is None and value
        elif value is None:
            assert block.get(f"{key}_reason"), key


def test_resolvability_boundaries_of_summarize():
    rng = np.random.default_rng(1)
    # eps_S at eps_B = x needs MIN_PASSING_JETS / x background jets
    signal = rng.normal(2.0, size=200)
    at = m.summarize(rng.normal(size=1000), signal, n_bootstrap=0)
    below = m.summarize(rng.normal(size=999), signal, n_bootstrap=0)
    assert isinstance(at["eps_s_at_1e-2"], float) and below["eps_s_at_1e-2"] is None
    assert below["eps_s_at_1e-2_reason"] == "needs >= 1000 background jets (10 passing at eps_B = 0.01), have 999"
    # the AUC needs MIN_JETS_PER_CLASS jets of each class
    assert m.summarize(rng.normal(size=10), rng.normal(size=10), n_bootstrap=0)["auc"] is not None
    assert m.summarize(rng.normal(size=10), rng.normal(size=9), n_bootstrap=0)["auc"] is None
    # no bootstrap, no error
    block = m.summarize(rng.normal(size=100), rng.normal(size=100), n_bootstrap=0)
    assert block["auc_err"] is None and "bootstrap" in block["auc_err_reason"]
    for summary in (at, below, block):
        every_null_has_a_reason(summary)
        json.dumps(summary, allow_nan=False)  # no inf or NaN left


def test_rejection_without_background_passing_is_a_lower_bound():
    rng = np.random.default_rng(2)
    background, signal = rng.normal(size=300), rng.normal(100.0, size=100)  # perfect separation
    block = m.summarize(background, signal, n_bootstrap=10)
    assert block["r30"] is None and block["r30_reason"] == "no background jet passes at eps_S = 0.3; R30 > 300"
    assert block["auc"] == 1.0
    # a few background jets pass: R30 has a 1/sqrt(k) error, too large to quote below MIN_PASSING_JETS
    background = np.r_[rng.normal(size=295), rng.normal(200.0, size=5)]  # above every signal jet
    block = m.summarize(background, signal, n_bootstrap=0)
    assert block["r30"] is None and block["r30_reason"].startswith("only 5 background jets pass at eps_S = 0.3")
    # and the signal must define the working point: 10 signal jets at eps_S = 0.3 need 34
    block = m.summarize(rng.normal(size=5000), rng.normal(1.0, size=33), n_bootstrap=0)
    assert block["r30"] is None
    assert block["r30_reason"] == "needs >= 34 signal jets (10 passing at eps_S = 0.3), have 33"
    assert isinstance(m.summarize(rng.normal(size=5000), rng.normal(1.0, size=34), n_bootstrap=0)["r30"], float)


def test_sculpting_figures_need_enough_background_jets():
    rng = np.random.default_rng(3)
    mass = rng.gamma(3.0, 20.0, size=1000)
    score = mass + rng.normal(0, 10, mass.size)
    full = m.mass_sculpting(mass, score)
    assert all(isinstance(full[k], float) for k in ("jsd_eff50", "jsd_eff10", "dcorr"))
    small = m.mass_sculpting(mass[:999], score[:999])
    assert small["jsd_eff10"] is None and small["inv_jsd_eff10"] is None
    assert small["jsd_eff10_reason"] == ("needs >= 1000 background jets (100 kept by the cut at eps_B = 0.1), have 999")
    assert isinstance(small["jsd_eff50"], float)
    tiny = m.mass_sculpting(mass[:1], score[:1])  # one jet: no ValueError from the distance correlation
    assert tiny["dcorr"] is None and tiny["dcorr_reason"] == "needs >= 100 background jets, have 1"
    for block in (full, small, tiny):
        every_null_has_a_reason(block)
        json.dumps(block, allow_nan=False)


def test_evaluate_model_warns_below_the_stated_sample_sizes(work, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="jetae.evaluation.samples"):
        evaluate_model(work / "run", work / "qcd.h5", [work / "top1.h5"], tmp_path / "r", n_bootstrap=0, n_latent=20)
    text = caplog.text
    assert f"300 background jets, fewer than {m.MIN_BACKGROUND_JETS_ALL_FIGURES}" in text
    assert f"1 jets, fewer than {m.MIN_SIGNAL_JETS_ALL_FIGURES}" in text


# --------------------------------------------------------------------------- consumers of metrics.json
def test_benchmark_tables_show_unresolved_figures_as_not_available():
    from jetae.experiments.benchmark import describe_direction, result_rows

    signal = {
        "auc": None,
        "auc_reason": "x",
        "auc_err": None,
        "auc_err_reason": "x",
        "r30": None,
        "r30_reason": "x",
        "n": 1,
        "n_background": 1,
    }
    sculpting = {"jsd_eff50": None, "jsd_eff50_reason": "x", "jsd_eff10": None, "jsd_eff10_reason": "x"}
    forward = {
        "status": "ok",
        "n_train": 5,
        "train_seconds": 1.0,
        "n_scored": 2,
        "inference_jets_per_s": 2.0,
        "signals": {"top": signal, "w": signal},
        "mass_sculpting": sculpting,
    }
    reverse = {"status": "ok", "signals": {"qcd": signal}}
    rows = result_rows({"models": {"pca": {"forward": forward, "reverse": reverse}}})
    assert rows[0][1:8] == ["n/a"] * 7
    line = describe_direction("pca", "forward", forward)
    assert "AUC n/a" in line and "R30 n/a" in line and "JSD50 n/a" in line


def test_not_resolvable_is_never_infinite():
    assert m.not_resolvable_text(None) == "n/a"
    assert m.not_resolvable_text(0.25, ".2f") == "0.25"
    assert not math.isinf(m.background_jets_needed(1e-3)) and m.background_jets_needed(1e-3) == 10000
