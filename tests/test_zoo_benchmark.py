"""`jetae benchmark` on the signal zoo: a tiny zoo-quick run over two seeds (real Pythia 8 + FastJet
samples from the shipped cards, real training) and the zoo.json it writes."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from jetae.cli.main import main
from jetae.experiments.benchmark import JSON_FILE, MODEL_OPTIONS, PRESET_DEFAULTS, PRESET_ZOO, ZOO_SAMPLES
from jetae.experiments.benchmark.zoo import zoo_summary

ZOO = ["light_top", "dark_shower"]  # the two cheapest cards (0.17-0.31 jets per event)
SEEDS = [0, 1]
#: pca (one score, no seed) and vae (several scores, seed-dependent) on a few hundred jets.
TINY = [
    "--preset",
    "zoo-quick",
    "--zoo",
    *ZOO,
    "--models",
    "pca",
    "vae",
    "--n-train",
    "200",
    "--n-test",
    "200",
    "--epochs",
    "2",
    "--n-bootstrap",
    "10",
    "--workers",
    "1",
]
#: The keys every entry of zoo.json has (the issue's layout first, then the extras).
ENTRY_KEYS = {
    "auc",
    "auc_sd",
    "min_auc",
    "median_auc",
    "reverse_auc",
    "min_auc_sd",
    "median_auc_sd",
    "reverse_auc_sd",
    "r30",
    "r30_sd",
    "top_auc",
    "top_auc_sd",
    "top_r30",
    "w_auc",
    "w_auc_sd",
    "model",
    "score",
    "default_score",
    "seeds",
    "per_seed",
    "train_jets_per_s",
    "score_jets_per_s",
    "train_seconds",
    "peak_rss_mb",
    "peak_rss_above_start_mb",
    "failed",
}


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory) -> dict:
    """One tiny zoo-quick run over two seeds (generates its samples into its own data dir)."""
    root = tmp_path_factory.mktemp("zoo")
    data, out = root / "data", root / "out"
    code = main(["benchmark", *TINY, "--seeds", *map(str, SEEDS), "--data-dir", str(data), "--out", str(out)])
    return {
        "root": root,
        "data": data,
        "out": out,
        "code": code,
        "zoo": json.loads((out / "zoo.json").read_text()),
        "runs": [json.loads((out / f"seed{seed}" / JSON_FILE).read_text()) for seed in SEEDS],
    }


def test_zoo_json_has_the_layout_of_the_issue(zoo_run):
    assert zoo_run["code"] == 0
    zoo = zoo_run["zoo"]
    assert set(zoo) == {"signals", "models"} and zoo["signals"] == ZOO
    vae_scores = zoo_run["runs"][0]["models"]["vae"]["forward"]["score_names"]
    assert len(vae_scores) > 1 and vae_scores[0] == "elbo"  # vae's default score comes first
    assert list(zoo["models"]) == ["pca", *(f"vae:{score}" for score in vae_scores)]
    for name, entry in zoo["models"].items():
        assert set(entry) == ENTRY_KEYS, name
        assert set(entry["auc"]) == set(entry["auc_sd"]) == set(entry["r30"]) == set(ZOO)
        for key in ("min_auc", "median_auc", "reverse_auc", "top_auc", "w_auc", "peak_rss_mb"):
            assert isinstance(entry[key], float) and math.isfinite(entry[key]), (name, key)
        assert entry["seeds"] == SEEDS and entry["failed"] == []
        assert entry["train_jets_per_s"] > 0 and entry["score_jets_per_s"] > 0
        assert entry["peak_rss_mb"] >= entry["peak_rss_above_start_mb"] >= 0
    assert zoo["models"]["vae:elbo"]["default_score"] and not zoo["models"]["vae:kl"]["default_score"]
    assert zoo["models"]["pca"]["score"] == "reconstruction" and zoo["models"]["vae:kl"]["model"] == "vae"
    # top and W are reported apart, never as zoo signals.
    assert "top" not in zoo["models"]["pca"]["auc"] and "w" not in zoo["models"]["pca"]["auc"]


def test_zoo_figures_are_per_seed_minimum_and_median_then_averaged(zoo_run):
    runs = zoo_run["runs"]
    assert [run["meta"]["seeds"]["models"] for run in runs] == SEEDS
    for entry in zoo_run["zoo"]["models"].values():
        model, score = entry["model"], entry["score"]

        def auc(run, direction, signal, model=model, score=score):
            return run["models"][model][direction]["scores"][score]["signals"][signal]["auc"]

        per_seed = np.array([[auc(run, "forward", s) for s in ZOO] for run in runs])  # (seeds, signals)
        mins, medians = per_seed.min(axis=1), np.median(per_seed, axis=1)
        assert entry["per_seed"]["min_auc"] == pytest.approx(list(mins))
        assert entry["min_auc"] == pytest.approx(mins.mean()) and entry["min_auc_sd"] == pytest.approx(mins.std(ddof=1))
        assert entry["median_auc"] == pytest.approx(medians.mean())
        assert entry["median_auc_sd"] == pytest.approx(medians.std(ddof=1))
        for j, signal in enumerate(ZOO):
            assert entry["auc"][signal] == pytest.approx(per_seed[:, j].mean())
            assert entry["auc_sd"][signal] == pytest.approx(per_seed[:, j].std(ddof=1))
        reverse = [auc(run, "reverse", "qcd") for run in runs]
        assert entry["reverse_auc"] == pytest.approx(np.mean(reverse))
        assert entry["reverse_auc_sd"] == pytest.approx(np.std(reverse, ddof=1))
        assert entry["top_auc"] == pytest.approx(np.mean([auc(run, "forward", "top") for run in runs]))
    # The seed reaches vae: its figures move between seeds, pca's do not.
    assert zoo_run["zoo"]["models"]["pca"]["min_auc_sd"] == 0.0
    assert any(entry["auc_sd"]["dark_shower"] > 0 for name, entry in zoo_run["zoo"]["models"].items() if name != "pca")


def test_each_seed_run_holds_the_zoo_every_score_and_the_costs(zoo_run):
    run = zoo_run["runs"][1]
    meta = run["meta"]
    assert meta["zoo"] == ZOO and meta["preset"] == "zoo-quick"
    assert "--zoo light_top dark_shower" in meta["command"] and "--seed 1" in meta["command"]
    zoo_file = meta["samples"]["zoo/light_top"]
    assert zoo_file["path"].endswith("zoo/light_top.h5") and zoo_file["rows_used"] == {"test": [0, 200]}
    assert zoo_file["generation"]["arguments"]["seed"] == ZOO_SAMPLES["light_top"] == 305
    assert "--card" in zoo_file["generation"]["command"]  # made from the shipped card
    assert meta["seeds"]["samples"]["zoo/dark_shower"] == ZOO_SAMPLES["dark_shower"]
    vae = run["models"]["vae"]
    for direction, signals in (("forward", {"top", "w", *ZOO}), ("reverse", {"qcd"})):
        block = vae[direction]
        assert set(block["scores"]) == set(block["score_names"])
        for score_block in block["scores"].values():
            assert set(score_block["signals"]) == signals
        assert block["signals"] == block["scores"][block["score"]]["signals"]  # the default score, as before
        assert block["train_jets_per_s"] == pytest.approx(block["n_train"] / block["train_seconds"])
        assert block["memory"]["peak_rss_mb"] > 0 and block["memory"]["peak_rss_scope"] in ("direction", "process")
    assert "mass_sculpting" in vae["forward"]["scores"]["kl"]
    md = (zoo_run["out"] / "seed1" / "benchmark.md").read_text()
    assert "## Signal zoo (seed 1; every score of each model)" in md and "| vae:kl " in md


def test_zoo_markdown_leads_with_min_median_reverse_top(zoo_run):
    md = (zoo_run["out"] / "zoo.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    cells = [cell.strip() for cell in header.strip("|").split("|")]
    assert cells[:8] == ["model", "min AUC", "median AUC", "reverse AUC", "top AUC", *ZOO, "W AUC"]
    assert cells[8:] == ["train jets/s", "score jets/s", "peak RSS MB"]
    pca = zoo_run["zoo"]["models"]["pca"]
    assert re.search(rf"\| pca +\| +{pca['min_auc']:.3f} ± 0\.000 \|", md)
    assert "taken per seed and then averaged over the seeds" in md
    assert "--seeds 0 1" in md and "- seed 1: `" in md
    assert {p.name for p in zoo_run["out"].iterdir()} == {
        "seed0",
        "seed1",
        "zoo.json",
        "zoo.md",
        "benchmark_seeds.json",
        "benchmark_seeds.md",
    }


def test_seed_summary_of_zoo_runs_writes_zoo_json_and_its_copy(zoo_run, tmp_path):
    out, copy = tmp_path / "summary", tmp_path / "results"
    runs = [str(zoo_run["out"] / f"seed{seed}") for seed in SEEDS]
    assert main(["benchmark", "--seed-summary", *runs, "--out", str(out), "--results-copy", str(copy)]) == 0
    summary = json.loads((out / "zoo.json").read_text())
    assert summary == zoo_run["zoo"]
    assert json.loads((copy / "zoo_zoo_quick.json").read_text()) == summary  # preset zoo: bench/results/zoo.json
    assert (copy / "zoo_zoo_quick.md").exists() and (copy / "benchmark_zoo-quick_seeds.json").exists()
    assert "zoo" not in json.loads((out / "benchmark_seeds.json").read_text())
    # Runs of another zoo are not summarized together.
    other = tmp_path / "other"
    other.mkdir()
    payload = json.loads((Path(runs[1]) / JSON_FILE).read_text())
    payload["meta"]["zoo"] = ["light_top"]
    (other / JSON_FILE).write_text(json.dumps(payload))
    assert main(["benchmark", "--seed-summary", runs[0], str(other), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_overwrite_removes_seed_runs_the_new_seeds_do_not_have(zoo_run, tmp_path):
    """--seeds with --overwrite over an OUT of an earlier run: afterwards OUT holds exactly the runs its
    summary describes (a stale seed7/ would be read as a result), and nothing else is touched."""
    out = tmp_path / "out"
    shutil.copytree(zoo_run["out"], out)
    (out / "seed7").mkdir()
    (out / "seed7" / JSON_FILE).write_text("{}")
    (out / "notes.txt").write_text("mine")
    pca_only = [*TINY[: TINY.index("--models") + 1], "pca", *TINY[TINY.index("vae") + 1 :]]
    args = ["benchmark", *pca_only, "--seeds", "0", "1", "--data-dir", str(zoo_run["data"]), "--out", str(out)]
    assert main([*args, "--overwrite"]) == 0
    assert not (out / "seed7").exists() and (out / "notes.txt").read_text() == "mine"
    assert {p.name for p in out.iterdir() if p.name.startswith("seed")} == {"seed0", "seed1"}
    assert list(json.loads((out / "zoo.json").read_text())["models"]) == ["pca"]


def test_min_and_median_are_taken_per_seed_before_the_mean():
    """Two seeds whose worst signal differs: the mean of the minima is below the minimum of the means."""

    def direction(aucs: dict[str, float], scores=("a", "b")) -> dict:
        signals = {name: {"auc": value, "r30": 2.0} for name, value in aucs.items()}
        shifted = {name: {"auc": value - 0.1, "r30": None} for name, value in aucs.items()}
        return {
            "status": "ok",
            "score": scores[0],
            "score_names": list(scores),
            "signals": signals,
            "scores": {scores[0]: {"signals": signals}, scores[1]: {"signals": shifted}},
            "n_train": 100,
            "train_seconds": 2.0,
            "train_jets_per_s": 50.0,
            "inference_jets_per_s": 1000.0,
            "memory": {"peak_rss_mb": 300.0, "rss_start_mb": 200.0, "peak_rss_scope": "direction"},
        }

    results = {
        "m": {
            3: {
                "forward": direction({"s1": 0.6, "s2": 0.9, "s3": 0.8, "top": 0.9}),
                "reverse": direction({"qcd": 0.4}),
            },
            5: {
                "forward": direction({"s1": 0.9, "s2": 0.7, "s3": 0.8, "top": 0.8}),
                "reverse": direction({"qcd": 0.6}),
            },
        }
    }
    summary = zoo_summary(results, ["s1", "s2", "s3"])
    assert list(summary["models"]) == ["m:a", "m:b"]
    entry = summary["models"]["m:a"]
    assert entry["min_auc"] == pytest.approx(0.65)  # mean of 0.6 and 0.7; the per-signal means are 0.75, 0.8, 0.8
    assert entry["min_auc_sd"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert entry["median_auc"] == pytest.approx(0.8) and entry["median_auc_sd"] == pytest.approx(0.0)
    assert entry["auc"] == pytest.approx({"s1": 0.75, "s2": 0.8, "s3": 0.8})
    assert entry["reverse_auc"] == pytest.approx(0.5) and entry["top_auc"] == pytest.approx(0.85)
    assert entry["w_auc"] is None  # no W in these runs
    assert entry["peak_rss_mb"] == 300.0 and entry["peak_rss_above_start_mb"] == 100.0
    assert summary["models"]["m:b"]["min_auc"] == pytest.approx(0.55)
    assert summary["models"]["m:b"]["r30"]["s1"] is None  # a seed without the figure: no mean
    # A failed direction leaves its figures without a mean and is listed.
    results["m"][5]["reverse"] = {"status": "failed", "error": "diverged"}
    entry = zoo_summary(results, ["s1", "s2", "s3"])["models"]["m:a"]
    assert entry["reverse_auc"] is None and entry["failed"] == ["seed 5 reverse"]
    assert entry["min_auc"] == pytest.approx(0.65)
    # One seed: the values, no spread.
    single = zoo_summary({"m": {3: results["m"][3]}}, ["s1", "s2"])["models"]["m:a"]
    assert single["min_auc"] == 0.6 and single["min_auc_sd"] is None


# --------------------------------------------------------------------------- presets and bad input
def test_zoo_presets_extend_quick_and_full_with_every_shipped_card():
    from importlib import resources

    assert PRESET_ZOO["zoo"] == PRESET_ZOO["zoo-quick"] == tuple(ZOO_SAMPLES)
    assert PRESET_ZOO["quick"] == PRESET_ZOO["full"] == ()
    assert MODEL_OPTIONS["zoo"] == MODEL_OPTIONS["full"] and MODEL_OPTIONS["zoo-quick"] == MODEL_OPTIONS["quick"]
    assert PRESET_DEFAULTS["zoo"] == PRESET_DEFAULTS["full"] and PRESET_DEFAULTS["zoo-quick"].generate is True
    cards = {p.name for p in resources.files("jetae.generation").joinpath("cards").iterdir()}
    assert {f"{name}.cmnd" for name in ZOO_SAMPLES} <= cards
    # The seeds are those of bench/make_zoo_samples.sh, so quick zoo samples are made the same way.
    script = (Path(__file__).parents[1] / "bench" / "make_zoo_samples.sh").read_text()
    made = {m[0]: int(m[1]) for m in re.findall(r"--card (\w+) +--n \d+ --seed (\d+)", script)}
    assert made == ZOO_SAMPLES


def test_nested_model_options_are_checked_at_every_depth():
    from jetae.errors import JetaeError
    from jetae.experiments.benchmark.presets import _check_options

    members = {"members": [{"model": "pca", "options": {"n_components": 5}}, {"model": "vae", "lr": 1.0e-3}]}
    assert _check_options(members, "combination") == members
    with pytest.raises(JetaeError, match=r"combination.members\[1\].lr: the number '1e-3' was read as text"):
        _check_options({"members": [{"model": "pca"}, {"model": "vae", "lr": "1e-3"}]}, "combination")


def test_zoo_errors_come_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        (["--preset", "zoo", "--models", "pca"], "bench/make_zoo_samples.sh"),
        (["--zoo", "light_top", "unicorn", "--models", "pca"], "unknown zoo signal 'unicorn'"),
        (["--preset", "zoo-quick", "--models", "pca", "--seeds", "0", "1", "--seed", "2"], "not both"),
        (["--preset", "zoo-quick", "--models", "pca", "--seeds", "3"], "at least two different seeds"),
    ]
    for args, message in cases:
        assert main(["benchmark", *args, "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert "zoo/light_top.h5 (missing)" in main_error(tmp_path, capsys)
    assert not out.exists() and not (tmp_path / "data").exists()


def test_own_signal_sample_joins_the_zoo_of_a_non_generating_preset(zoo_run, tmp_path, capsys):
    # A user's signal file in DATA_DIR/zoo/NAME.h5 is scored like a shipped zoo signal: here a copy of
    # light_top under another name, so pca (no seed) must give it light_top's AUC exactly.
    data = tmp_path / "data"
    shutil.copytree(zoo_run["data"], data)
    shutil.copy(data / "zoo" / "light_top.h5", data / "zoo" / "my_signal.h5")
    args = ["--preset", "zoo", "--models", "pca", "--n-train", "200", "--n-test", "200", "--n-bootstrap", "10"]
    out = tmp_path / "out"
    assert main(["benchmark", *args, "--zoo", "my_signal", "--data-dir", str(data), "--out", str(out)]) == 0
    run = json.loads((out / JSON_FILE).read_text())
    assert run["meta"]["zoo"] == ["my_signal"] and run["meta"]["seeds"]["samples"]["zoo/my_signal"] is None
    mine = run["models"]["pca"]["forward"]["signals"]["my_signal"]["auc"]
    assert mine == zoo_run["runs"][0]["models"]["pca"]["forward"]["signals"]["light_top"]["auc"]

    # a missing one is named with the command that makes it; a quick preset cannot generate it
    assert main(["benchmark", *args, "--zoo", "other", "--data-dir", str(data), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "zoo/other.h5 (missing)" in err and "jetae generate --card YOUR_CARD" in err
    assert main(["benchmark", "--zoo", "my_signal", "--models", "pca", "--out", str(tmp_path / "o3")]) == 2
    assert "for a signal of your own use --preset zoo or full" in capsys.readouterr().err
    assert main(["benchmark", *args, "--zoo", "../up", "--data-dir", str(data), "--out", str(tmp_path / "o4")]) == 2
    assert "zoo signal name '../up'" in capsys.readouterr().err


def main_error(tmp_path: Path, capsys) -> str:
    main(
        [
            "benchmark",
            "--preset",
            "zoo",
            "--models",
            "pca",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    return capsys.readouterr().err
