"""``jetae study contamination|reverse|digits|toy`` and the function-autoencoder example, on tiny samples."""

from __future__ import annotations

import json
import runpy
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.experiments.studies.contamination import contamination_study, mix_training_sample
from jetae.experiments.studies.digits import digits_holdout_study
from jetae.experiments.studies.reverse import reverse_study
from jetae.experiments.studies.toy import toy_study
from jetae.io.toptag import write_jets
from toys import prong_jets

#: Toy jets along eta = phi = 0 (the study tests do not need random jet axes).
toy_jets = partial(prong_jets, n_constituents=30, pt=600.0, random_axis=False)

ROOT = Path(__file__).resolve().parents[1]
#: Small images keep pca fast (a 16x16 covariance instead of 40x40).
PCA = ["--model", "pca", "--set", "representation.n_pixels=16", "--set", "n_components=5"]
PCA_OPTIONS = {"pca": {"representation": {"kind": "image", "n_pixels": 16}, "n_components": 5}}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("study_jets")
    samples = {"qcd_train": (300, 1, 1), "top_train": (200, 3, 2), "qcd_test": (150, 1, 3), "top_test": (150, 3, 4)}
    paths = {}
    for name, (n, prongs, seed) in samples.items():
        paths[name] = root / f"{name}.h5"
        write_jets(paths[name], toy_jets(n, prongs, seed), n_constituents=30)
    return paths


def inputs(files: dict[str, Path]) -> list[str]:
    return [
        "--background-train",
        str(files["qcd_train"]),
        "--signal-train",
        str(files["top_train"]),
        "--background-test",
        str(files["qcd_test"]),
        "--signal-test",
        str(files["top_test"]),
    ]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("jetae study: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- contamination
def test_mixing_keeps_size_and_is_nested():
    background, signal = toy_jets(100, 1, 1, n_constituents=10), toy_jets(60, 3, 2, n_constituents=10)
    samples = {f: mix_training_sample(background, signal, f, 80, seed=3) for f in (0.0, 0.1, 0.5)}
    for f, jets in samples.items():
        assert len(jets) == 80 and int(jets.is_signal.sum()) == round(80 * f)
    key = lambda jets: {row.tobytes() for row in jets.constituents}  # noqa: E731
    assert key(samples[0.5][samples[0.5].is_signal == 1]) >= key(samples[0.1][samples[0.1].is_signal == 1])
    assert key(samples[0.5][samples[0.5].is_signal == 0]) <= key(samples[0.1][samples[0.1].is_signal == 0])
    again = mix_training_sample(background, signal, 0.1, 80, seed=3)
    np.testing.assert_array_equal(again.constituents, samples[0.1].constituents)
    with pytest.raises(JetaeError, match="needs 48 signal training jets, only 40"):
        mix_training_sample(background, signal[:40], 0.6, 80)


def test_contamination_cli(files, tmp_path, capsys):
    out = tmp_path / "contamination"
    rc = main(
        [
            "study",
            "contamination",
            *inputs(files),
            "--fractions",
            "0,0.5",
            "--n-train",
            "300",
            "--n-bootstrap",
            "10",
            "--out",
            str(out),
            *PCA,
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "results:" in printed and "pca" in printed
    results = json.loads((out / "results.json").read_text())
    records = results["results"]["pca"]
    assert [r["fraction"] for r in records] == [0.0, 0.5]
    assert [r["n_signal_train"] for r in records] == [0, 150]
    assert all(r["n_background_train"] + r["n_signal_train"] == 300 for r in records)
    assert records[0]["auc"] > 0.8 and records[0]["auc_err"] > 0
    assert records[1]["auc"] < records[0]["auc"]  # the model learns the signal it is shown
    config = json.loads((out / "config.json").read_text())
    assert config["command"].startswith("jetae study contamination")
    assert config["models"]["pca"]["n_components"] == 5  # the fully resolved config
    assert config["models"]["pca"]["representation"]["n_pixels"] == 16
    assert (out / "contamination.png").stat().st_size > 0 and (out / "contamination.pdf").stat().st_size > 0
    # An existing output directory is refused before any training.
    assert main(["study", "contamination", *inputs(files), "--out", str(out), *PCA]) == 2
    assert "already exists" in error_line(capsys)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fractions", "0", "1.5"], "signal fractions must be in [0, 1], got 1.5"),
        (["--fractions", "-0.1"], "signal fractions must be in [0, 1]"),
        (["--fractions", "x"], "--fractions must be numbers"),
        (["--model", "no_such_model"], "unknown model 'no_such_model'"),
        (["--set", "vae:epochs=1"], "model 'vae' is not in this study"),
        (["--set", "no_such_option=1"], "unknown option(s) no_such_option"),
        (["--n-train", "300", "--fractions", "0", "0.9"], "needs 270 signal training jets, only 200"),
    ],
)
def test_contamination_bad_input(files, tmp_path, capsys, extra, message):
    out = tmp_path / "bad"
    model = [] if "--model" in extra else ["--model", "pca"]
    assert main(["study", "contamination", *inputs(files), "--out", str(out), *model, *extra]) == 2
    assert message in error_line(capsys)
    assert not out.exists() and not list(tmp_path.glob(".bad.*"))


def test_missing_file(files, tmp_path, capsys):
    args = inputs(files)
    args[args.index("--signal-test") + 1] = str(tmp_path / "nope.h5")
    assert main(["study", "reverse", *args, "--out", str(tmp_path / "r"), *PCA]) == 2
    line = error_line(capsys)
    assert "nope.h5" in line and "not found" in line
    assert not (tmp_path / "r").exists()
    with pytest.raises(JetaeError, match="signal fractions must be in"):
        contamination_study(
            files["qcd_train"],
            files["top_train"],
            files["qcd_test"],
            files["top_test"],
            models=["pca"],
            fractions=[2.0],
        )


# --------------------------------------------------------------------------- reverse
def test_reverse_both_directions(files, tmp_path, capsys):
    result = reverse_study(
        files["qcd_train"],
        files["top_train"],
        files["qcd_test"],
        files["top_test"],
        models=["pca"],
        model_options=PCA_OPTIONS,
        n_bootstrap=10,
    )
    record = result["results"]["pca"]
    assert set(record) == {"forward", "reverse"}
    assert record["forward"]["n_train"] == 300 and record["reverse"]["n_train"] == 200
    for direction in ("forward", "reverse"):
        assert 0.0 <= record[direction]["auc"] <= 1.0 and "r30" in record[direction]
    assert record["forward"]["auc"] > 0.8
    # Through the CLI, two models with per-model options (MODEL: prefix).
    out = tmp_path / "reverse"
    rc = main(
        [
            "study",
            "reverse",
            *inputs(files),
            "--out",
            str(out),
            "--n-train",
            "150",
            "--n-bootstrap",
            "5",
            "--model",
            "pca",
            "--model",
            "dense_ae",
            "--set",
            "pca:n_components=5",
            "--set",
            "pca:representation.n_pixels=16",
            "--set",
            "dense_ae:hidden=[16]",
            "--set",
            "dense_ae:latent_dim=4",
            "--set",
            "dense_ae:representation.n_constituents=10",
            "--set",
            "dense_ae:device=cpu",
            "--epochs",
            "2",
        ]
    )
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["results"]) == {"pca", "dense_ae"}
    assert results["n_train"] == {"forward": 150, "reverse": 150}
    config = json.loads((out / "config.json").read_text())
    assert config["models"]["dense_ae"]["epochs"] == 2 and config["models"]["dense_ae"]["hidden"] == [16]
    assert (out / "reverse.png").exists() and (out / "reverse.pdf").exists()
    assert "AUC forward" in capsys.readouterr().out


# --------------------------------------------------------------------------- digits
def test_digits_two_held_out(tmp_path, capsys):
    result = digits_holdout_study(
        models=["conv_ae"], digits=[0, 1], model_options={"conv_ae": {"epochs": 2, "device": "cpu"}}
    )
    assert set(result["auc"]["conv_ae"]) == {"0", "1"}
    assert all(0.0 <= v <= 1.0 for v in result["auc"]["conv_ae"].values())
    assert result["n_anomalies"]["0"] == 178  # all images of the held-out class
    out = tmp_path / "digits"
    assert main(["study", "digits", "--model", "pca", "--digits", "3", "8", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["auc"]["pca"]) == {"3", "8"} and results["mean_auc"]["pca"] > 0.5
    assert (out / "digits.png").exists()
    assert main(["study", "digits", "--model", "pca", "--digits", "10", "--out", str(tmp_path / "d2")]) == 2
    assert "between 0 and 9" in error_line(capsys)


# --------------------------------------------------------------------------- toy
def test_toy_learns_the_curve(tmp_path):
    result = toy_study("sin", n_points=500, model_options={"epochs": 60})
    s = result.summary
    assert s["error_off_curve"] > 10 * s["error_on_curve"]
    assert s["auc_off_vs_on"] > 0.95
    assert result.curve.shape[1] == 2 and result.score_map.shape == (120, 120)
    with pytest.raises(JetaeError, match="unknown function"):
        toy_study("no_such_function")


def test_toy_cli_and_example(tmp_path, capsys, monkeypatch):
    out = tmp_path / "toy"
    assert (
        main(
            [
                "study",
                "toy",
                "--function",
                "parabola",
                "--n-points",
                "300",
                "--epochs",
                "20",
                "--grid-size",
                "30",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "results.json").read_text())
    assert summary["function"] == "parabola" and summary["options"]["latent_dim"] == 1
    assert (out / "toy.png").exists() and (out / "toy.pdf").exists()
    # The example script is a thin wrapper over the same function.
    example_out = tmp_path / "example"
    monkeypatch.setattr(
        sys, "argv", ["function_autoencoder.py", "--n-points", "200", "--epochs", "30", "--out", str(example_out)]
    )
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "examples" / "function_autoencoder.py"), run_name="__main__")
    assert exit_info.value.code == 0
    assert json.loads((example_out / "results.json").read_text())["error_ratio"] > 1


def test_a_study_never_replaces_the_files_it_reads(tmp_path, capsys):
    """`--out` that is or holds an input file is refused, even with --overwrite, before any work."""
    data = tmp_path / "samples"
    data.mkdir()
    files = {name: data / f"{name}.h5" for name in ("qcd_train", "top_train", "qcd_test", "top_test")}
    for path in files.values():
        path.write_bytes(b"precious")
    inputs = [
        "--background-train",
        str(files["qcd_train"]),
        "--signal-train",
        str(files["top_train"]),
        "--background-test",
        str(files["qcd_test"]),
        "--signal-test",
        str(files["top_test"]),
    ]
    for out in (data, tmp_path):
        assert main(["study", "reverse", *inputs, "--out", str(out), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "input" in err
    assert all(path.read_bytes() == b"precious" for path in files.values())
