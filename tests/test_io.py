"""Reference-layout I/O, its cache, every bad-input case, and ``jetae info``."""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from jetae import JetaeError, Jets
from jetae.cli.main import main
from jetae.io import cache as jet_cache
from jetae.io.cache import read_cached
from jetae.io.toptag import (
    count_jets,
    iter_jets,
    jets_to_frame,
    read_jets,
    reference_columns,
    write_jets,
)


def make_jets(n_jets: int = 60, n_max: int = 30, seed: int = 0) -> Jets:
    """Random pT-ordered jets with labels, splits, truth and varying multiplicity."""
    rng = np.random.default_rng(seed)
    pt = -np.sort(-(rng.exponential(30.0, (n_jets, n_max)) + 1.0), axis=1)
    eta, phi = rng.normal(0, 0.2, (2, n_jets, n_max))
    constituents = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1)
    multiplicity = rng.integers(3, n_max + 1, n_jets)
    constituents[np.arange(n_max)[None, :] >= multiplicity[:, None]] = 0.0
    return Jets(
        constituents=constituents,
        truth=rng.normal(0, 100, (n_jets, 4)),
        ttv=rng.integers(0, 3, n_jets),
        is_signal=rng.integers(0, 2, n_jets),
    )


@pytest.fixture
def jets() -> Jets:
    return make_jets()


@pytest.fixture
def jet_file(tmp_path, jets):
    return write_jets(tmp_path / "jets.h5", jets)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Keep the read cache of every test inside its own temporary directory."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("JETAE_CACHE_DIR", str(directory))
    return directory


def assert_same_jets(a: Jets, b: Jets) -> None:
    width = min(a.n_constituents_max, b.n_constituents_max)
    np.testing.assert_array_equal(a.constituents[:, :width], b.constituents[:, :width])
    assert not a.constituents[:, width:].any() and not b.constituents[:, width:].any()
    np.testing.assert_array_equal(a.truth, b.truth)
    np.testing.assert_array_equal(a.ttv, b.ttv)
    np.testing.assert_array_equal(a.is_signal, b.is_signal)


# ---------------------------------------------------------------- good files


def test_round_trip_is_exact(jet_file, jets):
    back = read_jets(jet_file)
    assert back.n_constituents_max == 200  # the reference layout always has 200 slots
    assert_same_jets(back, jets)
    assert back.constituents.dtype == np.float32 and back.ttv.dtype == np.int64
    assert back.source == str(jet_file)
    assert count_jets(jet_file) == len(jets)


def test_plain_pandas_reads_the_reference_layout(jet_file, jets):
    frame = pd.read_hdf(jet_file, "table")
    assert frame.shape == (len(jets), 806)
    assert list(frame.columns) == reference_columns()
    assert list(frame.columns[:5]) == ["E_0", "PX_0", "PY_0", "PZ_0", "E_1"]
    assert list(frame.columns[-6:]) == ["truthE", "truthPX", "truthPY", "truthPZ", "ttv", "is_signal_new"]
    np.testing.assert_array_equal(frame["PY_2"].to_numpy(), jets.constituents[:, 2, 2])
    np.testing.assert_array_equal(frame["is_signal_new"].to_numpy(), jets.is_signal)


def test_chunked_iteration_equals_full_read(jet_file, jets):
    chunks = list(iter_jets(jet_file, chunk_size=7))
    assert [len(c) for c in chunks] == [7] * 8 + [4]
    assert_same_jets(Jets.concatenate(chunks), read_jets(jet_file))
    part = list(iter_jets(jet_file, chunk_size=5, start=10, stop=22))
    assert_same_jets(Jets.concatenate(part), jets[10:22])
    assert_same_jets(read_jets(jet_file, n_max=9, start=50), jets[50:59])


def test_write_is_atomic_and_replaces(tmp_path, jets):
    path = tmp_path / "out" / "jets.h5"
    write_jets(path, jets[:10])
    write_jets(path, jets[10:15])
    assert count_jets(path) == 5
    assert [p.name for p in path.parent.iterdir()] == ["jets.h5"]  # no temporaries left


def test_writing_no_jets_is_refused_and_writes_nothing(tmp_path, jets):
    with pytest.raises(JetaeError, match="no jets to write"):
        write_jets(tmp_path / "empty.h5", jets[:0])
    assert not (tmp_path / "empty.h5").exists()


def test_pandas_fixed_format_is_read_too(tmp_path, jets):
    path = tmp_path / "fixed.h5"
    jets_to_frame(jets).to_hdf(path, key="table", mode="w")  # pandas' default "fixed" format
    assert count_jets(path) == len(jets)
    assert_same_jets(Jets.concatenate(list(iter_jets(path, chunk_size=25))), jets)


def test_optional_truth_and_ttv_columns_default_to_zero(tmp_path, jets):
    frame = jets_to_frame(jets).drop(columns=["truthE", "truthPX", "truthPY", "truthPZ", "ttv"])
    frame.to_hdf(tmp_path / "bare.h5", key="table", format="table")
    back = read_jets(tmp_path / "bare.h5")
    assert not back.truth.any() and not back.ttv.any()
    np.testing.assert_array_equal(back.is_signal, jets.is_signal)


# ---------------------------------------------------------------- bad files


def _write_frame(path, frame):
    frame.to_hdf(path, key="table", mode="w", format="table")
    return path


def _bad_files(tmp_path, jets, jet_file):
    """name -> (path, expected message fragment)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = jet_file.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.h5").write_text("E_0,PX_0\n1,2\n")
    (tmp_path / "zero_bytes.h5").write_bytes(b"")
    (tmp_path / "a_directory.h5").mkdir()
    jets_to_frame(jets).to_hdf(tmp_path / "wrong_key.h5", key="jets", mode="w", format="table")
    _write_frame(tmp_path / "missing_px.h5", jets_to_frame(jets).drop(columns=["PX_3"]))
    # the last slot without its energy: once read as 199 slots plus three "extra" columns
    _write_frame(tmp_path / "missing_last_e.h5", jets_to_frame(jets).drop(columns=["E_199"]))
    _write_frame(tmp_path / "no_momenta.h5", jets_to_frame(jets)[["ttv", "is_signal_new"]])
    _write_frame(tmp_path / "missing_label.h5", jets_to_frame(jets).drop(columns=["is_signal_new"]))
    nan = jets_to_frame(jets)
    nan.loc[17, "PY_1"] = np.nan
    _write_frame(tmp_path / "nan.h5", nan)
    inf = jets_to_frame(jets)
    inf.loc[33, "E_0"] = np.inf
    _write_frame(tmp_path / "inf.h5", inf)
    empty_jet = jets_to_frame(jets)
    empty_jet.iloc[5, :800] = 0.0
    _write_frame(tmp_path / "empty_jet.h5", empty_jet)
    nan_label = jets_to_frame(jets).astype({"is_signal_new": float})
    nan_label.loc[2, "is_signal_new"] = np.nan
    _write_frame(tmp_path / "nan_label.h5", nan_label)
    # A table with zero rows: pandas will not write one, so write one row and delete it.
    _write_frame(tmp_path / "zero_rows.h5", jets_to_frame(jets[:1]))
    with pd.HDFStore(tmp_path / "zero_rows.h5") as store:
        store.remove("table", start=0, stop=1)
    with h5py.File(tmp_path / "not_pandas.h5", "w") as plain:
        plain.create_dataset("table", data=np.zeros((3, 806)))
    return {
        "missing": (tmp_path / "does_not_exist.h5", "file not found"),
        "directory": (tmp_path / "a_directory.h5", "is a directory"),
        "text": (tmp_path / "text.h5", "not a readable HDF5 file"),
        "zero_bytes": (tmp_path / "zero_bytes.h5", "not a readable HDF5 file"),
        "truncated": (tmp_path / "truncated.h5", "truncated or damaged"),
        "wrong_key": (tmp_path / "wrong_key.h5", "no 'table' key in the file \\(keys: /jets\\)"),
        "not_pandas": (tmp_path / "not_pandas.h5", "no 'table' key"),
        "missing_px": (tmp_path / "missing_px.h5", "missing constituent columns: PX_3"),
        "missing_last_e": (tmp_path / "missing_last_e.h5", "missing constituent columns: E_199$"),
        "no_momenta": (tmp_path / "no_momenta.h5", "no constituent columns"),
        "missing_label": (tmp_path / "missing_label.h5", "missing label column 'is_signal_new'"),
        "nan": (tmp_path / "nan.h5", "NaN or inf momenta in 1 jet\\(s\\), e.g. rows \\[17\\]"),
        "inf": (tmp_path / "inf.h5", "NaN or inf momenta in 1 jet\\(s\\), e.g. rows \\[33\\]"),
        "empty_jet": (tmp_path / "empty_jet.h5", "1 jet\\(s\\) have no constituents, e.g. rows \\[5\\]"),
        "nan_label": (tmp_path / "nan_label.h5", "NaN 'is_signal_new' in 1 jet\\(s\\), e.g. rows \\[2\\]"),
        "zero_rows": (tmp_path / "zero_rows.h5", "contains no jets"),
    }


BAD_CASES = [
    "missing",
    "directory",
    "text",
    "zero_bytes",
    "truncated",
    "wrong_key",
    "not_pandas",
    "missing_px",
    "missing_last_e",
    "no_momenta",
    "missing_label",
    "nan",
    "inf",
    "empty_jet",
    "nan_label",
    "zero_rows",
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """Written once per module: the bad files are only ever read."""
    directory = tmp_path_factory.mktemp("bad")
    jets = make_jets()
    return _bad_files(directory, jets, write_jets(directory / "good.h5", jets))


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_file_gives_one_clear_error_naming_the_file(bad_files, case):
    path, message = bad_files[case]
    with pytest.raises(JetaeError) as raised:
        read_jets(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert re.search(message, text), text
    assert "\n" not in text  # one line, no HDF5 back trace


@pytest.mark.parametrize("case", ["truncated", "nan", "empty_jet", "missing_px", "zero_rows"])
def test_bad_file_leaves_no_cache_behind(bad_files, case, private_cache):
    path, message = bad_files[case]
    with pytest.raises(JetaeError, match=message):
        read_cached(path)
    assert not private_cache.exists() or not any(private_cache.iterdir())


def test_damage_inside_the_data_is_reported_with_the_rows(tmp_path, jets):
    path = write_jets(tmp_path / "damaged.h5", make_jets(n_jets=400, n_max=30))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\x17" * 4096  # the superblock still says the file is fine
    path.write_bytes(bytes(data))
    with pytest.raises(JetaeError, match=r"damaged.h5: could not read rows \d+-\d+ \(truncated or damaged"):
        read_jets(path)


# ---------------------------------------------------------------- cache


def test_cache_reads_the_same_jets_trimmed_to_the_longest(jet_file, jets, private_cache):
    direct = read_jets(jet_file)
    cached = read_cached(jet_file)
    assert cached.n_constituents_max == jets.multiplicity.max()
    assert_same_jets(cached, direct)
    assert cached.source == str(jet_file)
    (entry,) = private_cache.iterdir()
    with h5py.File(entry) as stored:
        assert stored.attrs["format"] == jet_cache.CACHE_FORMAT
        assert stored["values"].shape == (jets.multiplicity.sum(), 4)  # no padding stored
    # Second read comes from the cache file, slices too.
    assert_same_jets(read_cached(jet_file, n_max=11, start=40), jets[40:51])
    assert [p.name for p in private_cache.iterdir()] == [entry.name]


def test_cache_keeps_interior_zero_rows(tmp_path, jets):
    constituents = jets.constituents.copy()
    constituents[0, 1] = 0.0  # a zero row between real constituents stays where it was
    odd = Jets(constituents, jets.truth, jets.ttv, jets.is_signal)
    path = write_jets(tmp_path / "odd.h5", odd)
    assert_same_jets(read_cached(path), odd)


def test_cache_is_rebuilt_when_the_source_changes(jet_file, jets, private_cache):
    read_cached(jet_file)
    (old_entry,) = private_cache.iterdir()
    write_jets(jet_file, jets[:20])
    os.utime(jet_file, ns=(1, 1))  # different mtime even on coarse clocks
    assert len(read_cached(jet_file)) == 20
    (new_entry,) = private_cache.iterdir()  # the stale entry is gone
    assert new_entry != old_entry


def test_damaged_cache_file_is_rebuilt(jet_file, jets, private_cache):
    read_cached(jet_file)
    (entry,) = private_cache.iterdir()
    entry.write_bytes(b"garbage")
    assert_same_jets(read_cached(jet_file), jets)
    with h5py.File(entry) as stored:
        assert stored.attrs["n_jets"] == len(jets)


def test_unwritable_cache_directory_falls_back_to_direct_reads(jet_file, jets, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("JETAE_CACHE_DIR", str(blocker / "cache"))
    assert_same_jets(read_cached(jet_file), jets)


def test_cache_reports_the_source_for_missing_files(tmp_path):
    with pytest.raises(JetaeError, match="nope.h5: file not found"):
        read_cached(tmp_path / "nope.h5")


# ---------------------------------------------------------------- jetae info


def test_info_prints_counts_stats_and_provenance(jet_file, jets, capsys):
    provenance = {"generator": "pythia8 8.317", "seed": 7, "process": "HardQCD:all", "cuts": {"pt": [550, 650]}}
    jet_file.with_name(jet_file.name + ".json").write_text(json.dumps(provenance))
    assert main(["info", str(jet_file)]) == 0
    out = capsys.readouterr().out
    n_signal = int(jets.is_signal.sum())
    assert f"jets          {len(jets)}" in out
    assert f"signal {n_signal} (" in out and f"background {len(jets) - n_signal} (" in out
    assert f"train {int((jets.ttv == 0).sum())} (" in out and f"val {int((jets.ttv == 2).sum())} (" in out
    multiplicity_line = next(line for line in out.splitlines() if line.strip().startswith("constituents"))
    mean = float(multiplicity_line.split()[1])
    assert mean == pytest.approx(jets.multiplicity.mean(), abs=0.01)
    assert "generator: pythia8 8.317" in out and "seed: 7" in out and '"pt": [550, 650]' in out


def test_info_max_jets_and_several_files(tmp_path, jet_file, capsys):
    other = write_jets(tmp_path / "other.h5", make_jets(n_jets=5, seed=3))
    assert main(["info", str(jet_file), str(other), "--max-jets", "10"]) == 0
    out = capsys.readouterr().out
    assert "10 summarised of 60" in out and f"{other}\n  jets          5" in out
    assert "provenance    none" in out


@pytest.mark.parametrize("case", ["missing", "truncated", "nan", "zero_rows", "text"])
def test_info_on_bad_files_exits_2_with_one_line(bad_files, case, capsys):
    path, message = bad_files[case]
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"jetae info: error: {path}: ")
    assert re.search(message, err[-1])


def test_info_survives_a_broken_sidecar(jet_file, capsys):
    jet_file.with_name(jet_file.name + ".json").write_text("{not json")
    assert main(["info", str(jet_file)]) == 0
    assert "(not readable JSON)" in capsys.readouterr().out


# ---------------------------------------------------------------- old import paths (issue #17)

SHIMS = [
    "jetae._atomic",
    "jetae.data.cache",
    "jetae.data.check",
    "jetae.data.gen_jets",
    "jetae.data.gen_pythia",
    "jetae.data.gen_shard",
    "jetae.data.generate",
    "jetae.data.hdf5_layout",
    "jetae.data.jets",
    "jetae.data.processes",
    "jetae.data.toptag",
    "jetae.data.validate",
]


@pytest.mark.parametrize("old", SHIMS)
def test_old_import_paths_re_export_the_new_modules(old):
    import importlib

    module = importlib.import_module(old)
    assert module.__all__, old
    for name in module.__all__:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)
        if home is not None:  # functions and classes live in the new layout, not in the shim
            assert home.startswith("jetae.") and not home.startswith("jetae.data") and home != "jetae._atomic", (
                old,
                name,
                home,
            )
            assert getattr(importlib.import_module(home), value.__name__) is value, (old, name)


def test_readme_api_examples_import():
    import jetae.data.toptag
    from jetae.data.toptag import read_jets as old_read_jets  # the README's (old) import path: a shim
    from jetae.io.toptag import read_jets as new_read_jets
    from jetae.jets import Jets as CoreJets
    from jetae.models import create_model, load_model  # noqa: F401

    assert old_read_jets is new_read_jets is jetae.data.toptag.read_jets
    assert Jets is CoreJets
