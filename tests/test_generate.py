"""``jetae generate``: real Pythia 8 + FastJet on small samples (tens to ~150 jets)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.features.kinematics import (
    delta_r,
    jet_four_momentum,
    jet_kinematics,
    mass,
    padding_mask,
    pt,
    rapidity_fastjet,
)
from jetae.generation import clustering
from jetae.generation import pythia as gen_pythia
from jetae.generation import regional as regional_module
from jetae.generation.clustering import JetWindow
from jetae.generation.generate import generate_jets, generate_to_file
from jetae.generation.jet_finding import find_jets
from jetae.generation.processes import get_process, read_card
from jetae.generation.shard_files import work_dir_for
from jetae.generation.shards import shard_seed, shard_sizes
from jetae.io.provenance import sidecar_for
from jetae.io.toptag import read_jets

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "examples" / "cards"
PT_MIN, PT_MAX, ETA_MAX, RADIUS = 550.0, 650.0, 2.0, 0.8


@pytest.fixture(scope="module")
def top_jets():
    return generate_jets("top", 120, seed=11, workers=1)


@pytest.fixture(scope="module")
def w_jets():
    return generate_jets("w", 80, seed=12, workers=1)


@pytest.fixture(scope="module")
def qcd_jets():
    # two shards of 30 jets: the reference for the worker-count, Dask and file tests
    return generate_jets("qcd", 60, seed=13, workers=1, shard_size=30)


def _check_window_and_order(jets) -> None:
    kin = jet_kinematics(jets.constituents)
    full = kin["multiplicity"] < 200  # truncated jets lose soft constituents, so their pT may move a little
    assert full.mean() > 0.9
    assert np.all((kin["pt"][full] > PT_MIN - 1e-3) & (kin["pt"][full] < PT_MAX + 1e-3))
    assert np.all((kin["pt"] > PT_MIN - 5.0) & (kin["pt"] < PT_MAX + 5.0))
    assert np.all(np.abs(kin["eta"]) < ETA_MAX + 1e-4)
    # constituents hardest first, padding only at the end
    const_pt = pt(jets.constituents)
    assert np.all(np.diff(const_pt, axis=1) <= 1e-4)
    mask = padding_mask(jets.constituents)
    assert np.all(mask[:, :-1] | ~mask[:, 1:])
    assert jets.constituents.shape[1:] == (200, 4)
    assert np.all(jets.ttv == 0)


def test_top_jets_have_the_top_mass_and_match_their_top(top_jets):
    assert len(top_jets) == 120
    _check_window_and_order(top_jets)
    masses = jet_kinematics(top_jets.constituents)["mass"]
    assert 150.0 < np.median(masses) < 200.0
    assert np.all(top_jets.is_signal == 1)
    # truth is the matched top (last copy before decay), within R of the jet; Pythia's
    # Breit-Wigner lets a few per cent of tops be far off shell
    truth_mass = mass(top_jets.truth)
    assert abs(np.median(truth_mass) - 172.5) < 2.0 and np.mean(np.abs(truth_mass - 172.5) < 10.0) > 0.8
    assert np.all(delta_r(jet_four_momentum(top_jets.constituents), top_jets.truth) < RADIUS)


def test_w_jets_have_the_w_mass(w_jets):
    assert len(w_jets) == 80
    _check_window_and_order(w_jets)
    masses = jet_kinematics(w_jets.constituents)["mass"]
    assert 65.0 < np.median(masses) < 95.0
    truth_mass = mass(w_jets.truth)
    assert abs(np.median(truth_mass) - 80.4) < 2.0 and np.mean(np.abs(truth_mass - 80.4) < 10.0) > 0.8
    assert np.all(delta_r(jet_four_momentum(w_jets.constituents), w_jets.truth) < RADIUS)


def test_qcd_jets_are_lighter_and_broad(qcd_jets, top_jets):
    _check_window_and_order(qcd_jets)
    qcd_mass = jet_kinematics(qcd_jets.constituents)["mass"]
    top_mass = jet_kinematics(top_jets.constituents)["mass"]
    assert np.median(qcd_mass) < np.median(top_mass) - 40.0
    q25, q75 = np.percentile(qcd_mass, [25, 75])
    t25, t75 = np.percentile(top_mass, [25, 75])
    assert q75 - q25 > t75 - t25  # broad, not a resonance peak
    assert np.all(qcd_jets.is_signal == 0)
    assert not np.any(qcd_jets.truth)


def test_other_seed_other_jets(qcd_jets):
    # (same seed -> identical jets is checked by the file, worker-count and Dask tests)
    other = generate_jets("qcd", 10, seed=14, workers=1, shard_size=30)
    assert not np.array_equal(other.constituents, qcd_jets.constituents[:10])


def test_worker_count_does_not_change_the_jets(qcd_jets):
    pooled = generate_jets("qcd", 60, seed=13, workers=2, shard_size=30)
    assert np.array_equal(pooled.constituents, qcd_jets.constituents)
    assert np.array_equal(pooled.truth, qcd_jets.truth)


def test_dask_cluster_gives_the_same_jets(qcd_jets):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = generate_jets("qcd", 60, seed=13, scheduler=client, shard_size=30)
    assert np.array_equal(on_dask.constituents, qcd_jets.constituents)


def test_file_is_the_reference_layout_with_the_same_jets_for_the_same_seed(tmp_path, qcd_jets):
    out = tmp_path / "new" / "folder" / "qcd.h5"  # a missing output folder is made
    provenance = generate_to_file(out, "qcd", 60, seed=13, workers=1, shard_size=30)
    frame = pd.read_hdf(out, "table")
    assert frame.shape == (60, 806)
    assert list(frame.columns[:4]) == ["E_0", "PX_0", "PY_0", "PZ_0"]
    assert frame.index.is_unique
    assert set(frame["is_signal_new"]) == {0}
    jets = read_jets(out)
    assert np.array_equal(jets.constituents, qcd_jets.constituents)
    recorded = json.loads(sidecar_for(out).read_text())
    assert recorded == json.loads(json.dumps(provenance))
    assert recorded["versions"]["pythia8mc"].startswith("8.3")
    assert [s["seed"] for s in recorded["shards"]] == [shard_seed(13, 0), shard_seed(13, 1)]
    assert "HardQCD:all = on" in recorded["pythia_settings"]
    assert not work_dir_for(out).exists()


def _cli(*args: str) -> int:
    return main(["generate", *args, "--no-progress"])


def test_resume_after_a_kill_remakes_only_missing_shards(tmp_path):
    out = tmp_path / "q.h5"
    args = ["qcd", "--n", "60", "--out", str(out), "--seed", "5", "--workers", "1", "--shard-size", "10"]
    work = work_dir_for(out)
    process = subprocess.Popen(
        [sys.executable, "-m", "jetae.cli.main", "-q", "generate", *args, "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while len(list(work.glob("shard-*.npz"))) < 2 and time.time() < deadline and process.poll() is None:
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = sorted(work.glob("shard-*.npz"))
    assert not out.exists() and 2 <= len(finished) < 6
    finished[0].unlink()  # lose one finished shard as well
    assert _cli(*args) == 0
    provenance = json.loads(sidecar_for(out).read_text())
    assert provenance["shards_reused"] == len(finished) - 1
    assert not work.exists()
    assert np.array_equal(
        read_jets(out).constituents, generate_jets("qcd", 60, seed=5, workers=1, shard_size=10).constituents
    )


def test_resume_refuses_other_arguments_unless_restart(tmp_path):
    out = tmp_path / "q.h5"
    work = work_dir_for(out)
    work.mkdir()
    (work / "manifest.json").write_text(json.dumps({"arguments": {"n_jets": 999}}))
    with pytest.raises(JetaeError, match="--restart"):
        generate_to_file(out, "qcd", 5, seed=1, workers=1)
    assert _cli("qcd", "--n", "5", "--out", str(out), "--workers", "1") == 2
    assert not out.exists()
    generate_to_file(out, "qcd", 5, seed=1, workers=1, restart=True)
    assert len(read_jets(out)) == 5 and not work.exists()


def test_card_generates_matched_signal(tmp_path):
    spec = read_card(CARDS / "zprime_ttbar.cmnd")
    assert spec.match_id == 6 and spec.name == "zprime-ttbar"
    out = tmp_path / "zp.h5"
    assert _cli("--card", str(CARDS / "zprime_ttbar.cmnd"), "--n", "20", "--out", str(out), "--workers", "1") == 0
    jets = read_jets(out)
    assert np.all(jets.is_signal == 1)
    assert 140.0 < np.median(jet_kinematics(jets.constituents)["mass"]) < 210.0
    assert json.loads(sidecar_for(out).read_text())["arguments"]["process"]["card_text"] == spec.card_text


@pytest.mark.parametrize(
    ("card_text", "message"),
    [
        ("! jetae: match = 6\nTop:gg2ttbar = on\nTop:gg2ttbarr = on\n", "line 3: Pythia rejects"),
        ("Top:gg2ttbar = on\n", "jetae: match"),
        ("! jetae: match = 6\nTop:gg2ttbar = off\n", "no process switched on"),
        ("! jetae: match = 6\nBeams:eCM = 13000\nTop:gg2ttbar = on\n", "line 2: 'Beams:eCM = 13000' is set by jetae"),
    ],
    ids=["bad-setting", "no-match-line", "init-fails", "reserved-setting"],
)
def test_bad_cards_fail_cleanly(tmp_path, capsys, card_text, message):
    card = tmp_path / "my.cmnd"
    card.write_text(card_text)
    out = tmp_path / "never.h5"
    with pytest.raises(JetaeError, match=message) as info:
        generate_to_file(out, None, 5, card=card, workers=1)
    assert str(card) in str(info.value)
    assert _cli("--card", str(card), "--n", "5", "--out", str(out)) == 2
    assert str(card) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my.cmnd"]  # no output, no work dir


def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert _cli("higgs", "--n", "5", "--out", str(out)) == 2
    assert "unknown process 'higgs'" in capsys.readouterr().err
    for bad in (["--n", "0"], ["--n", "-3"], ["--n", "5", "--workers", "0"]):
        with pytest.raises(SystemExit) as info:  # argparse: one usage error naming the option
            _cli("qcd", *bad, "--out", str(out))
        assert info.value.code == 2
        assert f"argument {bad[-2]}: must be a positive integer" in capsys.readouterr().err
    assert _cli("qcd", "--n", "5", "--out", str(out), "--pt-min", "700") == 2
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    assert _cli("qcd", "--n", "5", "--out", str(not_a_folder / "x.h5")) == 2
    assert "output folder" in capsys.readouterr().err
    assert _cli("qcd", "--n", "5", "--out", str(not_a_folder / "deeper" / "x.h5")) == 2
    assert "a file is in its way" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    out.write_text("precious")
    assert _cli("qcd", "--n", "5", "--out", str(out)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "precious"
    with pytest.raises(JetaeError):
        generate_jets("qcd", 0)


def test_next_batch_gives_the_same_events_as_next():
    settings = ["HardQCD:all = on", *gen_pythia.physics_settings(14000, False, 440, 812)]
    looped = gen_pythia.make_pythia(settings, 4321)
    batched = gen_pythia.make_pythia(settings, 4321)
    batch = gen_pythia.next_batch(batched, 3)
    for k in range(3):
        assert looped.next()
        entries = looped.event
        start, stop = batch.offsets[k], batch.offsets[k + 1]
        assert stop - start == entries.size()
        last = entries[entries.size() - 1]
        assert np.allclose(batch.p4[stop - 1], [last.e(), last.px(), last.py(), last.pz()])
        assert batch.pid[stop - 1] == last.id()


def test_shard_seeds_and_sizes():
    seeds = [shard_seed(7, i) for i in range(200)]
    assert len(set(seeds)) == 200 and all(1 <= s <= gen_pythia.PYTHIA_SEED_MAX for s in seeds)
    assert seeds == [shard_seed(7, i) for i in range(200)]
    assert shard_seed(8, 0) != seeds[0]
    assert shard_sizes(45, 20) == [20, 20, 5]
    assert sum(shard_sizes(100_000, 2000)) == 100_000
    assert os.cpu_count()  # the default worker count


# --- regional clustering: the same jets as clustering every event in full ----------------


@functools.lru_cache(maxsize=None)
def _events(name: str, seed: int, n_batches: int = 1):
    spec = get_process(name)
    lo, hi = spec.pthat_window(PT_MIN, PT_MAX)
    pythia = gen_pythia.make_pythia([*spec.settings, *gen_pythia.physics_settings(14000, False, lo, hi)], seed)
    visible = gen_pythia.VisibilityTable(pythia)
    return spec, visible, tuple(gen_pythia.next_batch(pythia, 200) for _ in range(n_batches))


def _assert_same(regional, full) -> None:
    assert np.array_equal(regional.constituents, full.constituents)
    assert np.array_equal(regional.truth, full.truth)
    assert np.array_equal(regional.event, full.event)
    assert np.array_equal(regional.window_event, full.window_event)


@pytest.mark.parametrize(
    "name, seed, radius", [("qcd", 31, RADIUS), ("top", 32, RADIUS), ("w", 33, RADIUS), ("qcd", 31, 1.0)]
)
def test_regional_clustering_gives_the_same_jets_as_full_clustering(name, seed, radius):
    # 200 events each (10^4 per process in bench/bench_generate.py-style checks, see docs)
    spec, visible, batches = _events(name, seed)
    window = JetWindow(radius=radius)
    stats: dict[str, int] = {}
    n_window = 0
    for batch in batches:
        regional = find_jets(batch, visible, window, spec.match_id, stats=stats)
        _assert_same(regional, find_jets(batch, visible, window, spec.match_id, regional=False))
        n_window += regional.n_in_window
    assert n_window >= 30  # a real test: many jets in the window
    # and it is cheaper: about half the events and a third of the particles are clustered
    assert stats["events_clustered"] < 0.8 * stats["events"]
    assert stats["particles_clustered"] < 0.6 * stats["particles"]


def test_regional_clustering_falls_back_to_full_events(monkeypatch):
    # every jet "reaches towards its region's edge": each event with a jet is clustered in full
    monkeypatch.setattr(regional_module, "CONTAIN_RADIUS_R", 0.05)
    spec, visible, batches = _events("top", 32)
    stats: dict[str, int] = {}
    regional = find_jets(batches[0], visible, JetWindow(), spec.match_id, stats=stats)
    _assert_same(regional, find_jets(batches[0], visible, JetWindow(), spec.match_id, regional=False))
    assert stats["events_in_full"] == len(np.unique(regional.window_event)) > 10


def test_public_fastjet_interface_gives_the_same_jets(monkeypatch):
    # jetae feeds numpy into fastjet's (private) multi-event engine; the public Awkward
    # interface, used when a fastjet version lacks it, gives the same jets
    spec, visible, batches = _events("top", 32)
    fast = find_jets(batches[0], visible, JetWindow(), spec.match_id)
    monkeypatch.setattr(clustering, "USE_NUMPY_ENGINE", False)
    _assert_same(find_jets(batches[0], visible, JetWindow(), spec.match_id), fast)


def test_low_pt_window_clusters_every_event():
    # below 20 x the skeleton's particle pT, regional clustering is off
    spec, visible, batches = _events("qcd", 31)
    window = JetWindow(pt_min=60.0, pt_max=120.0)
    stats: dict[str, int] = {}
    regional = find_jets(batches[0], visible, window, None, stats=stats)
    _assert_same(regional, find_jets(batches[0], visible, window, None, regional=False))
    assert not stats and len(regional) > 0


def test_regional_clustering_keeps_window_jets_next_to_a_harder_skeleton_jet():
    # Two QCD events (qcd --n 50000 --seed 101, shards 15 and 22) where the skeleton merged
    # hard particles that full clustering gives to a neighbouring jet: skeleton jets of 740
    # and 768 GeV around window jets of 567 and 649 GeV. Regional clustering once lost them.
    window = JetWindow(radius=RADIUS)
    with np.load(Path(__file__).parent / "data" / "regional_hard_events.npz", allow_pickle=False) as events:
        for name in events.files:
            p4 = events[name]
            counts = np.array([len(p4)])
            jet_p4, _, offsets, index = clustering.cluster(p4, counts, window)
            full = clustering.in_window(jet_p4, window)
            assert len(full) == 1, name
            pt_, y = np.hypot(p4[:, 1], p4[:, 2]), rapidity_fastjet(p4[:, 0], p4[:, 3])
            r_p4, _, r_offsets, r_index = regional_module.regional_jets(
                p4, pt_, y, np.zeros(len(p4), np.int64), 1, window, None, None
            )
            assert np.array_equal(r_p4, jet_p4[full]), name
            assert np.array_equal(r_index[r_offsets[0] : r_offsets[1]], index[offsets[full[0]] : offsets[full[0] + 1]])
