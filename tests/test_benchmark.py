"""`jetae benchmark`: a tiny quick-preset run through the CLI (real Pythia 8 + FastJet samples, real training)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jetae.cli.main import main
from jetae.experiments.benchmark import (
    JSON_FILE,
    MARKDOWN_FILE,
    PUBLISHED_HEADING,
    PUBLISHED_REFERENCE,
    RESULT_COLUMNS,
    SAMPLES,
)
from jetae.models import create_model

#: Small enough that generating every sample takes seconds on 2 cores.
TINY = [
    "--models",
    "pca",
    "dense_ae",
    "--n-train",
    "150",
    "--n-test",
    "100",
    "--epochs",
    "2",
    "--n-bootstrap",
    "20",
    "--workers",
    "1",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """One tiny benchmark (generates the samples into its own data dir)."""
    root = tmp_path_factory.mktemp("benchmark")
    data, out = root / "data", root / "out"
    code = main(["benchmark", *TINY, "--data-dir", str(data), "--out", str(out)])
    return {
        "root": root,
        "data": data,
        "out": out,
        "code": code,
        "json": json.loads((out / JSON_FILE).read_text()),
        "md": (out / MARKDOWN_FILE).read_text(),
    }


def finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in ``markdown`` (header rows included, the
    ``|---|`` lines left out), whatever the padding of the columns."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]
    return [row for row in rows if not all(set(cell) <= set(":-") and cell for cell in row)]


def has_row(markdown: str, *cells: str) -> bool:
    """Whether a table row of ``markdown`` starts with ``cells``."""
    return any(row[: len(cells)] == list(cells) for row in table_rows(markdown))


def test_tiny_run_writes_json_with_both_directions(tiny):
    assert tiny["code"] == 0
    result = tiny["json"]
    assert set(result) == {"meta", "config", "models", "failed", "published_reference"}
    assert result["failed"] == []
    meta = result["meta"]
    for key in (
        "command",
        "preset",
        "wall_seconds",
        "jetae",
        "torch",
        "device",
        "cpu_count",
        "seeds",
        "sizes",
        "samples",
    ):
        assert meta[key] is not None, key
    assert meta["preset"] == "quick" and meta["command"].startswith("jetae benchmark --preset quick")
    assert meta["torch_threads"] == 1  # the quick preset's default
    assert meta["sizes"] == {
        "n_train_forward": 150,
        "n_train_reverse": 150,
        "n_test": 100,
        "n_reverse_test": 100,
        "n_outliers": None,
    }
    # Every sample file is recorded with its generation sidecar (no outliers without oe_vae).
    assert set(meta["samples"]) == set(SAMPLES) - {"w_outliers"}
    for name, info in meta["samples"].items():
        assert info["sidecar"] == info["path"] + ".json"
        assert info["generation"]["arguments"]["seed"] == SAMPLES[name][1]
    # The reverse test top jets are the held-out end of top_train, after its training jets.
    assert meta["samples"]["top_train"]["rows_used"] == {"reverse_train": [0, 150], "reverse_test": [150, 250]}

    assert list(result["models"]) == ["pca", "dense_ae"]
    for directions in result["models"].values():
        forward, reverse = directions["forward"], directions["reverse"]
        assert forward["status"] == reverse["status"] == "ok"
        assert set(forward["signals"]) == {"top", "w"} and set(reverse["signals"]) == {"qcd"}
        for block in (*forward["signals"].values(), reverse["signals"]["qcd"]):
            assert finite(block["auc"]) and 0.0 <= block["auc"] <= 1.0
            assert finite(block["auc_err"]) and block["n"] == 100
        for key in ("jsd_eff50", "jsd_eff10"):  # 100 test jets: cuts keeping 50 or 10 jets resolve no JSD
            assert forward["mass_sculpting"][key] is None and "needs >= " in forward["mass_sculpting"][f"{key}_reason"]
        assert 0.0 <= forward["mass_sculpting"]["dcorr"] <= 1.0
        assert forward["train_seconds"] > 0 and forward["inference_jets_per_s"] > 0
        assert forward["n_scored"] == 300 and forward["options"]["seed"] == 0
    assert result["models"]["dense_ae"]["forward"]["options"]["epochs"] == 2


def test_markdown_table_and_published_reference(tiny):
    md = tiny["md"]
    assert has_row(md, *RESULT_COLUMNS)
    rows = [line for line in md.splitlines() if line.startswith("| pca ") or line.startswith("| dense_ae ")]
    assert len(rows) == 2 and all(row.count("|") == len(RESULT_COLUMNS) + 1 for row in rows)
    # The published numbers come after our table, under a heading saying they are another sample.
    assert PUBLISHED_HEADING.endswith("not the same sample") and "Delphes" in PUBLISHED_HEADING
    heading = f"## {PUBLISHED_HEADING}"
    assert md.index(heading) > md.index(rows[-1])
    published = md[md.index(heading) :]
    for row in PUBLISHED_REFERENCE:
        assert row["source"] in published and format(row["top_auc"], ".4g") in published
    assert "0.362" in published and "0.448" in published  # reverse AUCs of the notebook
    assert "unverified" in published
    assert tiny["json"]["published_reference"]["rows"][0]["source"] == PUBLISHED_REFERENCE[0]["source"]


def test_failure_of_one_model_is_recorded_and_the_rest_continue(tiny, capsys):
    data = tiny["data"]
    stamps = {p.name: p.stat().st_mtime_ns for p in data.glob("*.h5")}
    out = tiny["root"] / "failing"
    # 150 training jets with a 99.9% validation split leave none to train on: a JetaeError inside fit.
    copy = tiny["root"] / "results"
    code = main(
        [
            "benchmark",
            *TINY,
            "--data-dir",
            str(data),
            "--out",
            str(out),
            "--results-copy",
            str(copy),
            "--set",
            "dense_ae.val_fraction=0.999",
        ]
    )
    assert code == 1
    assert "failed: dense_ae/forward, dense_ae/reverse" in capsys.readouterr().out
    result = json.loads((out / JSON_FILE).read_text())
    assert result["failed"] == ["dense_ae/forward", "dense_ae/reverse"]
    failure = result["models"]["dense_ae"]["forward"]
    assert failure["status"] == "failed" and "too small" in failure["error"] and failure["error_type"] == "JetaeError"
    assert result["models"]["pca"]["forward"]["status"] == "ok"
    md = (out / MARKDOWN_FILE).read_text()
    assert has_row(md, "dense_ae", "failed") and "Failures:" in md
    assert (copy / "benchmark_quick.md").read_text() == md
    assert json.loads((copy / "benchmark_quick.json").read_text()) == result
    # The cached samples were reused, not generated again.
    assert {p.name: p.stat().st_mtime_ns for p in data.glob("*.h5")} == stamps


def test_a_model_can_train_on_fewer_jets_and_the_table_says_so(tiny, monkeypatch):
    from jetae.experiments.benchmark import presets

    monkeypatch.setitem(presets.MODEL_TRAIN_JETS, "quick", {"dense_ae": (80, "a slow model")})
    out = tiny["root"] / "capped"
    assert main(["benchmark", *TINY, "--data-dir", str(tiny["data"]), "--out", str(out)]) == 0
    result = json.loads((out / JSON_FILE).read_text())
    assert result["meta"]["sizes"]["n_train_forward"] == 150  # the run's samples are unchanged
    dense, pca = result["models"]["dense_ae"], result["models"]["pca"]
    assert dense["forward"]["n_train"] == dense["reverse"]["n_train"] == 80
    assert pca["forward"]["n_train"] == pca["reverse"]["n_train"] == 150
    assert dense["forward"]["signals"]["top"]["n"] == 100  # same test samples
    md = (out / MARKDOWN_FILE).read_text()
    assert "- dense_ae: trained on the first 80 QCD / 80 top jets only (a slow model); same test samples." in md
    assert "- pca: trained" not in md


def run_error(args: list[str], capsys) -> tuple[int, str]:
    code = main(["benchmark", *args])
    return code, capsys.readouterr().err


def test_unknown_model_and_bad_options_fail_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_error(["--models", "pca", "conv", "--data-dir", str(tmp_path / "data"), "--out", str(out)], capsys)
    assert code == 2 and "unknown model 'conv'" in err and "conv_ae" in err
    code, err = run_error(["--models", "pca", "--set", "lr=1", "--out", str(out)], capsys)
    assert code == 2 and "MODEL.KEY=VALUE" in err
    code, err = run_error(
        ["--models", "dense_ae", "--set", "dense_ae.wings=2", "--data-dir", str(tmp_path / "data"), "--out", str(out)],
        capsys,
    )
    assert code == 2 and "wings" in err
    assert not out.exists() and not (tmp_path / "data").exists()


def test_full_preset_without_samples_points_at_the_script(tmp_path, capsys):
    (tmp_path / "qcd_train.h5").write_text("not a jet file")
    code, err = run_error(
        ["--preset", "full", "--models", "pca", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")], capsys
    )
    assert code == 2
    assert "bench/make_samples.sh" in err and "qcd_test.h5 (missing)" in err and "qcd_train.h5 (unreadable)" in err
    assert "w_outliers" not in err  # only oe_vae needs outliers
    assert not (tmp_path / "out").exists()


def test_existing_output_is_refused(tiny, capsys):
    code, err = run_error([*TINY, "--data-dir", str(tiny["data"]), "--out", str(tiny["out"])], capsys)
    assert code == 2 and "--overwrite" in err


def _split_run(tiny, tmp_path, name: str, models: list[str], **meta_changes) -> Path:
    """A benchmark directory holding ``models`` of the tiny run (as if run with --models)."""
    payload = json.loads(json.dumps(tiny["json"]))
    payload["models"] = {model: payload["models"][model] for model in models}
    payload["meta"].update(meta_changes)
    directory = tmp_path / name
    directory.mkdir()
    (directory / JSON_FILE).write_text(json.dumps(payload))
    return directory


def test_merge_combines_disjoint_runs_and_refuses_mismatches(tiny, tmp_path, capsys):
    first = _split_run(tiny, tmp_path, "a", ["dense_ae"], command="jetae benchmark --models dense_ae")
    second = _split_run(tiny, tmp_path, "b", ["pca"], command="jetae benchmark --models pca")
    out = tmp_path / "merged"
    assert main(["benchmark", "--merge", str(first), str(second), "--out", str(out)]) == 0
    merged = json.loads((out / JSON_FILE).read_text())
    assert list(merged["models"]) == ["pca", "dense_ae"]  # the table order, not the argument order
    assert merged["models"] == tiny["json"]["models"]
    assert [part["models"] for part in merged["meta"]["parts"]] == [["dense_ae"], ["pca"]]
    assert has_row((out / MARKDOWN_FILE).read_text(), "pca")

    # A later directory's model replaces the earlier one (a re-run), and the merge records it.
    rerun = _split_run(tiny, tmp_path, "c", ["pca"])
    payload = json.loads((rerun / JSON_FILE).read_text())
    payload["models"]["pca"]["forward"]["train_seconds"] = 123.0
    (rerun / JSON_FILE).write_text(json.dumps(payload))
    assert main(["benchmark", "--merge", str(first), str(second), str(rerun), "--out", str(tmp_path / "z")]) == 0
    replaced = json.loads((tmp_path / "z" / JSON_FILE).read_text())
    assert replaced["models"]["pca"]["forward"]["train_seconds"] == 123.0
    assert [part["replaced_by_later_runs"] for part in replaced["meta"]["parts"]] == [[], ["pca"], []]
    assert main(["benchmark", "--merge", str(first), "--out", str(tmp_path / "x")]) == 2
    assert "at least two" in capsys.readouterr().err
    other_sizes = _split_run(tiny, tmp_path, "d", ["dense_ae"], sizes={"n_train_forward": 1})
    assert main(["benchmark", "--merge", str(second), str(other_sizes), "--out", str(tmp_path / "y")]) == 2
    assert "sizes differs" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_seed_summary_gives_each_seed_and_the_spread(tiny, tmp_path, capsys):
    import numpy as np

    from jetae.experiments.seeds import JSON_FILE as SEEDS_JSON
    from jetae.experiments.seeds import MARKDOWN_FILE as SEEDS_MD

    seed1 = tmp_path / "seed1"
    assert main(["benchmark", *TINY, "--seed", "1", "--data-dir", str(tiny["data"]), "--out", str(seed1)]) == 0
    capsys.readouterr()
    out, copy = tmp_path / "seeds", tmp_path / "results"
    # A run may be given as its directory or its benchmark.json.
    assert (
        main(
            [
                "benchmark",
                "--seed-summary",
                str(tiny["out"] / JSON_FILE),
                str(seed1),
                "--out",
                str(out),
                "--results-copy",
                str(copy),
            ]
        )
        == 0
    )
    assert has_row(capsys.readouterr().out, "dense_ae", "0, 1")
    summary = json.loads((out / SEEDS_JSON).read_text())
    assert summary == json.loads((copy / "benchmark_quick_seeds.json").read_text())
    assert summary["meta"]["seeds"] == [0, 1] and summary["failed"] == []
    assert list(summary["models"]) == ["pca", "dense_ae"]
    runs = [tiny["json"], json.loads((seed1 / JSON_FILE).read_text())]
    for name, block in summary["models"].items():
        assert block["seeds"] == [0, 1]
        top = [run["models"][name]["forward"]["signals"]["top"]["auc"] for run in runs]
        reverse = [run["models"][name]["reverse"]["signals"]["qcd"]["auc"] for run in runs]
        assert block["values"]["top_auc"] == top and block["values"]["reverse_auc"] == reverse
        rates = [run["models"][name]["forward"]["inference_jets_per_s"] for run in runs]
        assert block["values"]["infer_jets_s"] == rates
        speed = block["stats"]["infer_jets_s"]
        assert (speed["min"], speed["max"]) == (min(rates), max(rates))
        stats = block["stats"]["top_auc"]
        assert stats["mean"] == pytest.approx(np.mean(top)) and stats["sd"] == pytest.approx(np.std(top, ddof=1))
        assert (stats["min"], stats["max"]) == (min(top), max(top))
        errors = [run["models"][name]["forward"]["signals"]["top"]["auc_err"] for run in runs]
        assert block["bootstrap_sd"]["top_auc"] == pytest.approx(np.mean(errors))
    # The seed reaches the network: dense_ae trains differently.
    assert len(set(summary["models"]["dense_ae"]["values"]["top_auc"])) == 2
    md = (out / SEEDS_MD).read_text()
    assert has_row(md, "model", "seeds", "top AUC") and "reverse AUC per seed" in md and "- seed 1: `" in md


def test_seed_summary_refuses_duplicates_and_mismatches(tiny, tmp_path, capsys):
    first = _split_run(tiny, tmp_path, "a", ["pca", "dense_ae"])
    again = _split_run(tiny, tmp_path, "b", ["dense_ae"])
    other_sizes = _split_run(
        tiny,
        tmp_path,
        "c",
        ["dense_ae"],
        sizes={"n_train_forward": 1},
        seeds={**tiny["json"]["meta"]["seeds"], "models": 5},
    )
    cases = [
        ([str(first)], "at least two"),
        ([str(first), str(again)], "dense_ae with seed 0 is also in"),
        ([str(first), str(other_sizes)], "sizes differs"),
        ([str(first), str(tmp_path / "nowhere")], "no such benchmark directory"),
        ([str(first), str(tmp_path)], "not a benchmark directory"),
    ]
    for runs, message in cases:
        assert main(["benchmark", "--seed-summary", *runs, "--out", str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
    assert (
        main(
            [
                "benchmark",
                "--seed-summary",
                str(first),
                str(again),
                "--merge",
                str(first),
                str(again),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    assert "separate steps" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_seed_summary_leaves_out_failed_runs_and_infinite_rejections(tiny, tmp_path):
    from jetae.experiments.seeds import markdown_summary, summarize_seeds

    first = _split_run(tiny, tmp_path, "a", ["pca", "dense_ae"])
    second = _split_run(tiny, tmp_path, "b", ["pca", "dense_ae"], seeds={**tiny["json"]["meta"]["seeds"], "models": 3})
    payload = json.loads((second / JSON_FILE).read_text())
    payload["models"]["pca"]["forward"]["signals"]["top"]["r30"] = None  # no background jet left: infinite
    payload["models"]["dense_ae"]["reverse"] = {"status": "failed", "error": "diverged", "error_type": "JetaeError"}
    (second / JSON_FILE).write_text(json.dumps(payload))
    summary = summarize_seeds([first, second])
    pca, dense = summary["models"]["pca"], summary["models"]["dense_ae"]
    assert pca["values"]["top_r30"][1] is None and pca["stats"]["top_r30"]["mean"] is None
    assert pca["stats"]["top_auc"]["sd"] == 0.0  # same values for both seeds
    assert dense["values"]["reverse_auc"][1] is None and dense["stats"]["reverse_auc"]["mean"] is None
    assert dense["stats"]["top_auc"]["mean"] is not None
    assert summary["failed"] == ["dense_ae seed 3 reverse"]
    md = markdown_summary(summary)
    assert "dense_ae seed 3 reverse" in md and has_row(md, "dense_ae", "0, 3")


# --------------------------------------------------------------------------- presets, tables, old import paths
def test_presets_and_published_numbers_come_typed_from_the_package_data():
    from jetae.experiments.benchmark import MODEL_OPTIONS, MODEL_TRAIN_JETS, PRESET_DEFAULTS, PUBLISHED_CAVEATS

    assert PRESET_DEFAULTS["quick"].n_train == 2000 and PRESET_DEFAULTS["quick"].generate is True
    assert PRESET_DEFAULTS["full"].threads is None and PRESET_DEFAULTS["full"].n_test == 10_000
    assert SAMPLES["top_train"] == ("top", 106)
    assert MODEL_OPTIONS["full"]["nae"] == {}  # nae's defaults are the tuned setting (docs/nae.md)
    nae = create_model("nae").get_params()
    assert nae["nae_lr"] == 1e-3 and nae["epochs"] == 8 and nae["batch_size"] == 128
    assert nae["stages"] == [[10, 10], [10, 5]] and nae["representation"]["pixel_eta"] == 0.058
    assert MODEL_TRAIN_JETS["full"]["nae"] == (10_000, "its Langevin MCMC costs ~40 network passes per training jet")

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    for value in leaves(MODEL_OPTIONS):
        assert isinstance(value, (bool, int, float, type(None))) or not value.replace(".", "").isdigit(), value
    assert [row["top_auc"] for row in PUBLISHED_REFERENCE] == [0.824, 0.911, 0.8962, 0.8917, 0.8669, 0.8539]
    assert [(row["r30"], row["reverse_auc"]) for row in PUBLISHED_REFERENCE[:3]] == [
        (18.0, 0.362),
        (83.0, 0.448),
        (None, None),
    ]
    assert len(PUBLISHED_CAVEATS) == 5 and "AUC 0.869" in PUBLISHED_CAVEATS[3]


def test_a_number_written_as_text_in_the_presets_is_refused():
    from jetae.errors import JetaeError
    from jetae.experiments.benchmark.presets import _check_options

    assert _check_options({"init": "on_manifold", "lr": 1e-3}, "x") == {"init": "on_manifold", "lr": 1e-3}
    with pytest.raises(JetaeError, match="nae.lr: the number '1e-3' was read as text"):
        _check_options({"lr": "1e-3"}, "nae")


def test_markdown_tables_keep_cells_as_formatted():
    from jetae.experiments.tables import markdown_table

    lines = markdown_table(
        ("model", "AUC", "n"), [["a|b", "0.870 ± 0.010", "1,234"], ["pca", "n/a", "7"]], right=(1, 2)
    )
    assert table_rows("\n".join(lines)) == [
        ["model", "AUC", "n"],
        ["a/b", "0.870 ± 0.010", "1,234"],
        ["pca", "n/a", "7"],
    ]
    separator = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert separator[0].startswith(":") and separator[1].endswith(":") and separator[2].endswith(":")


def test_old_import_paths_still_work():
    import jetae.benchmark
    import jetae.benchmark_seeds
    import jetae.demo
    import jetae.experiments.benchmark as benchmark
    import jetae.studies
    from jetae.experiments import seeds
    from jetae.experiments.studies import digits
    from jetae.experiments.studies.digits import digits_holdout_study

    assert jetae.benchmark.run_benchmark is benchmark.run_benchmark
    assert jetae.benchmark.MODEL_TRAIN_JETS is benchmark.MODEL_TRAIN_JETS  # one dict: patching either patches both
    assert jetae.benchmark_seeds.summarize_seeds is seeds.summarize_seeds
    assert digits_holdout_study is digits.digits_holdout_study
    assert callable(jetae.demo.run_demo) and callable(jetae.studies.read_sample)


def test_benchmark_never_replaces_the_samples_it_reads(tmp_path, capsys):
    """`--out` equal to (or holding) the data directory is refused, even with --overwrite, before any work."""
    data = tmp_path / "samples"
    data.mkdir()
    (data / "qcd_train.h5").write_bytes(b"precious")
    for out in (data, tmp_path):
        code = main(["benchmark", "--models", "pca", "--data-dir", str(data), "--out", str(out), "--overwrite"])
        assert code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(data) in err
    assert (data / "qcd_train.h5").read_bytes() == b"precious"
