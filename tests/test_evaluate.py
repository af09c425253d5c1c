"""`jetae evaluate` and evaluate_model: report layout, metric consistency, HTML rendering, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.evaluation import metrics as m
from jetae.evaluation.evaluate import evaluate_model, evaluate_models
from jetae.evaluation.samples import check_labels
from jetae.evaluation.tradeoff import tradeoff_series
from jetae.features.kinematics import jet_mass
from jetae.io.toptag import read_jets, write_jets
from jetae.jets import Jets
from jetae.models import create_model, load_model

N_CONSTITUENTS = 20
#: A small constituent representation keeps training and the reconstruction plot fast.
CONSTITUENTS = {
    "kind": "constituents",
    "n_constituents": 10,
    "features": ["delta_eta", "delta_phi", "log_pt"],
    "flatten": True,
}
SIDECAR = {"command": "jetae generate top --n-jets 300 --seed 7", "seed": 7, "n_jets": 300, "pythia": "8.317"}


def synthetic_jets(n: int, signal: bool, seed: int) -> Jets:
    """Toy jets of pT ~ 600 GeV: background = one narrow prong, signal = three prongs ~0.3 apart."""
    rng = np.random.default_rng(seed)
    constituents = np.zeros((n, N_CONSTITUENTS, 4), np.float32)
    for i in range(n):
        centres = rng.normal(0.0, 0.3 if signal else 0.02, size=(3 if signal else 1, 2))
        k = int(rng.integers(8, N_CONSTITUENTS + 1))
        prong = rng.integers(0, len(centres), size=k)
        pt = np.sort(rng.uniform(550, 650) * rng.dirichlet(np.full(k, 0.7)))[::-1]
        eta = centres[prong, 0] + rng.normal(0.0, 0.05, k)
        phi = centres[prong, 1] + rng.normal(0.0, 0.05, k)
        constituents[i, :k] = np.column_stack(
            [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)]
        )
    return Jets.from_constituents(constituents, is_signal=int(signal), ttv=1)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Data files (signal with a generation sidecar) and two trained models: pca (images), dense_ae."""
    root = tmp_path_factory.mktemp("evaluate")
    write_jets(root / "qcd.h5", synthetic_jets(400, False, 1), n_constituents=N_CONSTITUENTS)
    write_jets(root / "top.h5", synthetic_jets(200, True, 2), n_constituents=N_CONSTITUENTS)
    (root / "top.h5.json").write_text(json.dumps(SIDECAR))
    train = synthetic_jets(600, False, 3)
    create_model("pca", n_components=5, representation={"kind": "image", "n_pixels": 16}).fit(train).save(root / "pca")
    create_model("dense_ae", epochs=2, hidden=[16], latent_dim=4, progress=False, representation=CONSTITUENTS).fit(
        train
    ).save(root / "dense")
    return root


@pytest.fixture(scope="module")
def multi_report(work) -> tuple[Path, str]:
    """`jetae evaluate pca dense` through the CLI; returns (report dir, stdout)."""
    out = work / "report_multi"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = main(
            [
                "evaluate",
                str(work / "pca"),
                str(work / "dense"),
                "--background",
                str(work / "qcd.h5"),
                "--signal",
                str(work / "top.h5"),
                "--out",
                str(out),
                "--n-bootstrap",
                "20",
            ]
        )
    assert rc == 0
    return out, buffer.getvalue()


def leftovers(parent: Path, name: str) -> list[Path]:
    """Temporary or partial outputs of an evaluation into ``parent / name``."""
    return [p for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}.")]


# --------------------------------------------------------------------------- layout and metrics
def test_multi_model_layout_and_terminal_table(work, multi_report):
    out, stdout = multi_report
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary) == {"background", "signals", "models"}
    assert summary["signals"] == ["top"] and list(summary["models"]) == ["pca", "dense"]
    for label in ("pca", "dense"):
        sub = out / label
        assert json.loads((sub / "metrics.json").read_text()) == summary["models"][label]
        for name in ("roc", "scores_reconstruction", "mass_reconstruction", "reconstruction", "latent"):
            for ext in ("png", "pdf"):
                assert (sub / "plots" / f"{name}.{ext}").stat().st_size > 1000, (label, name, ext)
        assert (sub / "report.html").exists()
    assert (out / "plots" / "roc.png").exists() and (out / "plots" / "roc.pdf").exists()
    assert (out / "plots" / "tradeoff_top.png").exists() and (out / "plots" / "tradeoff_top.pdf").exists()
    assert leftovers(work, "report_multi") == [out]  # no temporary directory left behind
    lines = [line for line in stdout.splitlines() if line.startswith(("pca ", "dense "))]
    assert len(lines) == 2  # one line per model x signal
    assert f"{summary['models']['pca']['signals']['top']['auc']:.4f}" in lines[0]


def test_single_model_metrics_layout_and_values(work, multi_report):
    out, _ = multi_report
    metrics = json.loads((out / "pca" / "metrics.json").read_text())
    # the single-model layout, exactly
    assert set(metrics) == {"model", "run_dir", "score", "background", "signals", "mass_sculpting"}
    assert metrics["model"] == "pca" and metrics["run_dir"] == str(work / "pca")
    assert metrics["background"] == str(work / "qcd.h5")
    assert {"auc", "auc_err", "r30", "r50", "n"} <= set(metrics["signals"]["top"])
    figures = {"jsd_eff50", "jsd_eff10", "inv_jsd_eff50", "inv_jsd_eff10", "dcorr"}
    # 400 background jets: a cut keeping 10% keeps 40, too few for a JSD (null, with the reason)
    assert set(metrics["mass_sculpting"]) == figures | {"jsd_eff10_reason", "inv_jsd_eff10_reason"}
    assert metrics["mass_sculpting"]["jsd_eff10"] is None
    # the numbers are those of the metric functions on the model's own scores
    detector = load_model(work / "pca")
    background, signal = read_jets(work / "qcd.h5"), read_jets(work / "top.h5")
    scores_b, scores_s = detector.anomaly_score(background), detector.anomaly_score(signal)
    top = metrics["signals"]["top"]
    assert top["auc"] == pytest.approx(m.auc(scores_b, scores_s), abs=1e-12)
    assert top["n"] == 200 and top["n_background"] == 400
    r50 = m.r50(scores_b, scores_s)
    # quoted when at least MIN_PASSING_JETS background jets pass the cut at eps_S = 0.5
    assert top["r50"] == (pytest.approx(r50) if 400 / r50 >= m.MIN_PASSING_JETS else None)
    from jetae.features.kinematics import jet_mass

    assert metrics["mass_sculpting"]["jsd_eff50"] == pytest.approx(
        m.mass_sculpting_jsd(jet_mass(background.constituents), scores_b, 0.5)
    )
    # physics sanity: three-prong jets are anomalous to a model trained on one-prong jets
    for label in ("pca", "dense"):
        assert json.loads((out / label / "metrics.json").read_text())["signals"]["top"]["auc"] > 0.7


def test_report_html_is_self_contained_with_provenance(work, multi_report):
    out, _ = multi_report
    page = (out / "pca" / "report.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:|//|file:)', page) and "<script" not in page and "<link" not in page
    assert "jetae generate top --n-jets 300 --seed 7" in page  # generation record of top.h5
    assert '"n_components": 5' in page  # model config as JSON
    assert "no generation record" in page  # qcd.h5 has no sidecar
    provenance = json.loads((out / "pca" / "provenance.json").read_text())
    assert provenance["signals"]["top"]["generation"] == SIDECAR
    assert provenance["background"]["generation"] is None and provenance["background"]["n_jets_in_file"] == 400
    assert provenance["background"]["path"] == str((work / "qcd.h5").resolve())
    command = provenance["evaluation"]["command"]
    assert command.startswith(f"jetae evaluate {work / 'pca'} {work / 'dense'} --background {work / 'qcd.h5'}")
    overview = (out / "report.html").read_text()
    assert 'href="pca/report.html"' in overview and 'href="dense/report.html"' in overview


def test_several_scores_and_overwrite(work, tmp_path):
    vae = create_model("vae", epochs=1, hidden=[16], latent_dim=2, progress=False, representation=CONSTITUENTS)
    vae.fit(read_jets(work / "qcd.h5"))
    out = tmp_path / "report"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(JetaeError, match="already exists"):
        evaluate_model(vae, work / "qcd.h5", [work / "top.h5"], out, scores=["reconstruction", "kl"])
    metrics = evaluate_model(
        vae,
        work / "qcd.h5",
        {"three_prong": work / "top.h5"},
        out,
        scores=["reconstruction", "kl"],
        overwrite=True,
        n_bootstrap=10,
        n_latent=100,
    )
    assert not (out / "stale.txt").exists()
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"model", "run_dir", "score", "background", "signals", "mass_sculpting", "scores"}
    assert metrics["run_dir"] is None and metrics["score"] == "reconstruction"
    assert list(metrics["scores"]) == ["reconstruction", "kl"]
    assert metrics["signals"] == metrics["scores"]["reconstruction"]["signals"]
    assert metrics["mass_sculpting"] == metrics["scores"]["reconstruction"]["mass_sculpting"]
    assert metrics["scores"]["kl"]["signals"]["three_prong"]["auc"] != metrics["signals"]["three_prong"]["auc"]
    for name in ("scores_reconstruction", "scores_kl", "mass_kl", "latent"):
        assert (out / "plots" / f"{name}.png").exists()


def test_disco_scan_gives_a_tradeoff_curve_per_model(work, tmp_path):
    """Labelled in-memory detectors: the comparison page plots AUC vs 1/JSD, ordered by lambda."""
    train = read_jets(work / "qcd.h5")
    options = {"epochs": 1, "hidden": [16], "latent_dim": 2, "progress": False, "representation": CONSTITUENTS}
    scan = {f"dense_l{lam:g}": create_model("dense_ae", disco_lambda=lam, **options).fit(train) for lam in (3.0, 0.0)}
    scan["pca"] = create_model("pca", n_components=3, representation=CONSTITUENTS).fit(train)
    out = tmp_path / "scan"
    summary = evaluate_models(scan, work / "qcd.h5", [work / "top.h5"], out, n_bootstrap=5, n_latent=50)
    assert list(summary["models"]) == ["dense_l3", "dense_l0", "pca"]  # the given labels
    assert (out / "plots" / "tradeoff_top.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "Sensitivity vs mass sculpting" in page and len(re.findall(r'<img src="data:image/png', page)) == 2

    def point(label: str) -> tuple:
        metrics = summary["models"][label]
        return metrics["mass_sculpting"]["inv_jsd_eff50"], metrics["signals"]["top"]["auc"]

    results = [
        SimpleNamespace(
            label=label,
            detector=d,
            metadata=d.metadata(),
            score_names=["reconstruction"],
            metrics=json.loads((out / label / "metrics.json").read_text()),
        )
        for label, d in scan.items()
    ]
    series = tradeoff_series(results, "top")
    assert list(series) == ["dense_ae", "pca"]
    assert [name for _, _, name in series["dense_ae"]] == ["λ=0", "λ=3"]  # sorted by lambda, not given order
    assert [p[:2] for p in series["dense_ae"]] == [pytest.approx(point("dense_l0")), pytest.approx(point("dense_l3"))]
    assert series["pca"][0][2] == "pca"  # no DisCo option: labelled by its run label
    assert tradeoff_series(results, "no_such_signal") == {}
    # another architecture of the same model is another curve, named after its first run
    wide = create_model("dense_ae", **dict(options, hidden=[32])).fit(train)
    results.append(
        SimpleNamespace(
            label="wide",
            detector=wide,
            metadata=wide.metadata(),
            score_names=["reconstruction"],
            metrics=results[0].metrics,
        )
    )
    assert list(tradeoff_series(results, "top")) == ["dense_ae [dense_l3]", "pca", "dense_ae [wide]"]


# --------------------------------------------------------------------------- rendering
def test_report_renders_in_headless_chromium(work, multi_report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no chromium binary found")
    out, _ = multi_report
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1200,3000",
            (out / "pca" / "report.html").resolve().as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    from matplotlib.image import imread

    rgb = (imread(screenshot)[..., :3] * 255).round().astype(np.uint32)
    assert rgb.shape[:2] == (3000, 1200)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(colours) > 50, "screenshot is (nearly) blank"
    # the embedded plots are drawn (coloured curves, images): not just dark text on white
    assert (rgb.std(axis=(0, 1)) > 10).all()
    assert np.count_nonzero(np.ptp(rgb, axis=2) > 60) > 5000  # saturated (non-grey) pixels


# --------------------------------------------------------------------------- bad input
def run_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(["evaluate", *args])
    return rc, capsys.readouterr().err


def test_not_a_model_directory(work, tmp_path, capsys):
    (tmp_path / "empty_run").mkdir()
    rc, err = run_cli(
        [
            str(tmp_path / "empty_run"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert rc == 2 and "not a jetae model directory" in err and str(tmp_path / "empty_run") in err
    assert len(err.strip().splitlines()) == 1
    assert not leftovers(tmp_path, "out")


def test_signal_file_given_as_background(work, tmp_path, capsys):
    rc, err = run_cli(
        [
            str(work / "pca"),
            "--background",
            str(work / "top.h5"),
            "--signal",
            str(work / "qcd.h5"),
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert rc == 2 and "labelled signal" in err and str(work / "top.h5") in err
    assert not leftovers(tmp_path, "out")


def test_file_without_jets(work, tmp_path, capsys):
    import pandas as pd

    from jetae.io.toptag import reference_columns

    empty = tmp_path / "empty.h5"  # the reference columns, zero rows
    pd.DataFrame(np.zeros((0, len(reference_columns(4))), np.float32), columns=reference_columns(4)).to_hdf(
        empty, key="table", mode="w", format="fixed"
    )
    rc, err = run_cli(
        [
            str(work / "pca"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(empty),
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert rc == 2 and f"{empty}: contains no jets" in err
    assert not leftovers(tmp_path, "out")


def test_representation_shape_mismatch_names_file_and_model(work, tmp_path, capsys):
    # a model trained on 8x8 images, while its representation makes 16x16 images from jets
    rng = np.random.default_rng(0)
    create_model("pca", n_components=3, representation={"kind": "image", "n_pixels": 16}).fit(
        rng.uniform(size=(50, 1, 8, 8)).astype(np.float32)
    ).save(tmp_path / "pca8")
    rc, err = run_cli(
        [
            str(tmp_path / "pca8"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert rc == 2
    assert "cannot score the background jets with model 'pca'" in err and str(work / "qcd.h5") in err
    assert "(1, 16, 16)" in err and "(1, 8, 8)" in err
    assert not leftovers(tmp_path, "out")


def test_unknown_score_and_bad_options(work, tmp_path, capsys):
    rc, err = run_cli(
        [
            str(work / "pca"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(tmp_path / "out"),
            "--score",
            "nonsense",
        ],
        capsys,
    )
    assert rc == 2 and "no score 'nonsense'" in err and "reconstruction" in err
    rc, err = run_cli(
        [
            str(work / "pca"),
            "--background",
            str(work / "qcd.h5"),
            "--signal",
            str(work / "top.h5"),
            "--out",
            str(tmp_path / "out"),
            "--n-max",
            "0",
        ],
        capsys,
    )
    assert rc == 2 and "--n-max" in err
    assert not leftovers(tmp_path, "out")


def test_existing_report_dir_is_refused(work, multi_report, capsys):
    out, _ = multi_report
    before = (out / "metrics.json").read_text()
    rc, err = run_cli(
        [str(work / "pca"), "--background", str(work / "qcd.h5"), "--signal", str(work / "top.h5"), "--out", str(out)],
        capsys,
    )
    assert rc == 2 and "--overwrite" in err
    assert (out / "metrics.json").read_text() == before


def test_label_rule_errors_only_for_all_signal_background(work, caplog):
    background, signal = read_jets(work / "qcd.h5"), read_jets(work / "top.h5")
    with pytest.raises(JetaeError, match="all 200 jets of the background sample are labelled signal"):
        check_labels(signal, {"qcd": background})
    with caplog.at_level(logging.WARNING, logger="jetae.evaluation.samples"):
        check_labels(background, {"qcd": background[:50]})  # background file given as --signal: warn only
    assert "labelled background" in caplog.text and "background file itself" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jetae.evaluation.samples"):
        check_labels(Jets.concatenate([background[:300], signal[:10]]), {"top": signal})
    assert "10 of 310 background jets are labelled signal" in caplog.text


# --------------------------------------------------------------------------- the one sample reader
def test_read_sample_reads_row_ranges_of_files_and_jets(work):
    from jetae.evaluation.samples import read_sample

    everything = read_jets(work / "qcd.h5")
    middle = read_sample(work / "qcd.h5", "qcd test", n_max=50, start=100)
    np.testing.assert_array_equal(middle.constituents, everything.constituents[100:150])
    assert middle.source == str(work / "qcd.h5")
    np.testing.assert_array_equal(read_sample(everything, n_max=50, start=100).constituents, middle.constituents)
    assert read_sample(everything) is everything  # in-memory jets are used as they are
    with pytest.raises(JetaeError, match="background test file not found"):
        read_sample(work / "nope.h5", "background test")
    with pytest.raises(JetaeError, match="signal: number of jets"):
        read_sample(work / "qcd.h5", "signal", n_max=0)
    with pytest.raises(JetaeError, match="contains no jets"):
        read_sample(everything, start=len(everything))


# --------------------------------------------------------------------------- the one tagging direction
def test_tag_direction_trains_scores_and_summarises_like_the_metrics(work):
    from jetae.evaluation.direction import BACKGROUND, tag_direction

    train, background, signal = synthetic_jets(300, False, 5), read_jets(work / "qcd.h5"), read_jets(work / "top.h5")
    detector = create_model("pca", n_components=5, representation={"kind": "image", "n_pixels": 16})
    result = tag_direction(detector, background, {"top": signal}, train=train, n_bootstrap=10, seed=3)
    assert result.n_train == 300 and result.train_seconds > 0 and result.n_scored == 600
    known, anomalies = detector.anomaly_score(background), detector.anomaly_score(signal)
    np.testing.assert_array_equal(result.scores[BACKGROUND]["reconstruction"], known)
    assert result.signals["top"] == m.summarize(known, anomalies, n_bootstrap=10, seed=3)
    mass = jet_mass(background.constituents)
    assert result.mass_sculpting == m.mass_sculpting(mass, known, seed=3)
    # An already fitted detector, another way of scoring, no sculpting.
    again = tag_direction(
        detector,
        background,
        {"top": signal},
        sculpting=False,
        n_bootstrap=10,
        seed=3,
        score_fn=lambda jets, score: -detector.anomaly_score(jets, score),
    )
    assert again.n_train is None and again.mass_sculpting is None
    assert again.signals["top"]["auc"] == pytest.approx(1.0 - result.signals["top"]["auc"])


def test_tag_direction_refuses_non_finite_scores_and_a_signal_called_background(work):
    from jetae.evaluation.direction import tag_direction

    background, signal = read_jets(work / "qcd.h5"), read_jets(work / "top.h5")
    detector = load_model(work / "pca")
    with pytest.raises(JetaeError, match="non-finite .* scores for 1 of 200 signal 'top' jets"):
        tag_direction(
            detector,
            background,
            {"top": signal},
            score_fn=lambda jets, score: (
                np.where(np.arange(len(jets)) == 7, np.nan, 1.0) if len(jets) == 200 else np.ones(len(jets))
            ),
        )
    with pytest.raises(JetaeError, match="may not be called 'background'"):
        tag_direction(detector, background, {"background": signal})
    with pytest.raises(JetaeError, match="has no score 'nonsense'"):
        tag_direction(detector, background, {"top": signal}, scores=["nonsense"])
