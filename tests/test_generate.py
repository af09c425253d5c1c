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
from jetae.generation.matching import match_jets
from jetae.generation.plan import check_settings, make_plan
from jetae.generation.processes import ProcessSpec, find_card, get_process, read_card, shipped_cards
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
        # caught within the first few hundred events, not after 50 000 without a jet
        ("! jetae: match = 6\nWeakBosonAndParton:qqbar2Wg = on\n", r"no particle with \|PDG id\| = 6"),
        (
            "! jetae: match = 24\nWeakBosonAndParton:qqbar2Wg = on\n24:onMode = off\n24:onIfAny = 11 13\n",
            "none decayed to quarks or gluons.*match_mode = axis",
        ),
    ],
    ids=["bad-setting", "no-match-line", "init-fails", "reserved-setting", "wrong-match-id", "leptonic-decay-rule"],
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


# --- signal zoo: shipped cards, --card NAME, axis matching ----------------------------------


def test_at_least_six_zoo_cards_are_shipped_and_documented():
    cards = shipped_cards()
    assert len(cards) >= 6
    for name, path in cards.items():
        header = "\n".join(line for line in path.read_text().splitlines() if line.startswith("!"))
        for field in ("Process:", "Masses:", "Decays:", "Prongs:", "Matching:"):
            assert field in header, (name, field)


@pytest.mark.parametrize("name", sorted(shipped_cards()))
def test_shipped_card_passes_pythia_init(name):
    spec = read_card(name)
    assert spec.is_signal and spec.card_path == str(shipped_cards()[name])
    _, tasks = make_plan(spec, 10, 1, JetWindow(), 14000.0, False)
    check_settings(spec, tasks[0])  # Pythia's readString and init() accept every line


def test_card_name_resolution(tmp_path, monkeypatch, capsys):
    shipped = shipped_cards()
    assert find_card("higgs_bb") == find_card("higgs-bb") == find_card("higgs_bb.cmnd") == shipped["higgs_bb"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "higgs_bb").write_text("! jetae: match = 25\nHiggsSM:gg2Hg(l:t) = on\n")
    assert find_card("higgs_bb") == Path("higgs_bb")  # a path that exists wins
    assert read_card("higgs_bb").settings == ("HiggsSM:gg2Hg(l:t) = on",)
    with pytest.raises(JetaeError, match="no card of that name is shipped with jetae .*dark_shower"):
        read_card("no_such_card")
    with pytest.raises(JetaeError, match="card file not found") as info:
        read_card(tmp_path / "cards" / "higgs_bb.cmnd")  # a path with folders is never a shipped name
    assert "shipped" not in str(info.value)
    assert _cli("--card", "no_such_card", "--n", "5", "--out", str(tmp_path / "x.h5")) == 2
    err = capsys.readouterr().err
    assert "no_such_card" in err and all(name in err for name in shipped)
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize(
    ("option", "mode"),
    [("", "decay"), ("! jetae: match_mode = axis\n", "axis"), ("! jetae: match_mode = Decay\n", "decay")],
)
def test_match_mode_option(tmp_path, option, mode):
    card = tmp_path / "c.cmnd"
    card.write_text(f"! jetae: match = 6\n{option}Top:gg2ttbar = on\n")
    spec = read_card(card)
    assert spec.match_mode == mode
    assert ProcessSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["match_mode"] == mode


def test_bad_match_mode_is_refused(tmp_path):
    card = tmp_path / "c.cmnd"
    card.write_text("! jetae: match = 6\n! jetae: match_mode = cone\nTop:gg2ttbar = on\n")
    with pytest.raises(JetaeError, match="match_mode = cone' is not one of decay, axis"):
        read_card(card)


def _p4(pt_, eta_, phi_, m=0.0):
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)
    return [np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz]


def _dark_shower_batch() -> gen_pythia.EventBatch:
    """Two copies of one hand-made event: Z_v -> q_v (phi 0) + q_v-bar (phi pi); q_v's two dark
    mesons at phi 0.3 and -1.2 decay to quark pairs, so its coloured descendants are spread
    wider than R = 0.8; q_v-bar has no recorded descendants."""
    #        id       mother  d1 d2  (pT, eta, phi, m)
    rows = [
        (90, 0, 0, 0, (0.0, 0.0, 0.0, 0.0)),
        (4900023, 0, 2, 3, (0.0, 0.0, 0.0, 1500.0)),
        (4900101, 1, 4, 5, (600.0, 0.0, 0.0, 10.0)),
        (-4900101, 1, 0, 0, (600.0, 0.0, np.pi, 10.0)),
        (4900111, 2, 6, 7, (400.0, 0.0, 0.3, 20.0)),
        (4900111, 2, 8, 9, (200.0, 0.0, -1.2, 20.0)),
        (1, 4, 0, 0, (200.0, 0.05, 0.3, 0.0)),
        (-1, 4, 0, 0, (200.0, -0.05, 0.3, 0.0)),
        (2, 5, 0, 0, (100.0, 0.05, -1.2, 0.0)),
        (-2, 5, 0, 0, (100.0, -0.05, -1.2, 0.0)),
    ] * 2
    column = lambda k: np.array([row[k] for row in rows], dtype=np.int32)  # noqa: E731
    p4 = np.array([_p4(*row[4]) for row in rows])
    return gen_pythia.EventBatch(
        offsets=np.array([0, 10, 20], dtype=np.int64),
        pid=column(0),
        status=np.full(len(rows), -22, dtype=np.int32),
        mother1=column(1),
        mother2=np.zeros(len(rows), dtype=np.int32),
        daughter1=column(2),
        daughter2=column(3),
        e=p4[:, 0].copy(),
        px=p4[:, 1].copy(),
        py=p4[:, 2].copy(),
        pz=p4[:, 3].copy(),
    )


def test_axis_matching_needs_only_the_particle_direction():
    batch = _dark_shower_batch()
    # jets: near q_v (event 0), near nothing (event 0), near q_v-bar (event 1), near q_v (event 1)
    jets = np.array([_p4(600.0, *where, 80.0) for where in ((0.1, 0.1), (0.0, 2.0), (0.0, 3.0), (-0.2, -0.3))])
    jet_event = np.array([0, 0, 1, 1])
    matched, truth = match_jets(batch, jets, jet_event, 4900101, RADIUS)  # decay: q_v's products too wide
    assert not matched.any() and not truth.any()
    matched, truth = match_jets(batch, jets, jet_event, 4900101, RADIUS, mode="axis")
    assert matched.tolist() == [True, False, True, True]
    assert np.allclose(truth[[0, 3]], batch.momenta([2, 12]))
    assert np.allclose(truth[2], batch.momenta([13])[0]) and not truth[1].any()
    # the decay rule still holds for a compact decay: q_v's first meson alone (match 4900111)
    matched, _ = match_jets(batch, jets, jet_event, 4900111, RADIUS)
    assert matched.tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="match mode"):
        match_jets(batch, jets, jet_event, 4900101, RADIUS, mode="cone")


def test_dark_shower_card_by_name_matches_on_the_axis(tmp_path):
    out = tmp_path / "dark.h5"
    assert _cli("--card", "dark_shower", "--n", "20", "--out", str(out), "--workers", "1", "--seed", "3") == 0
    jets = read_jets(out)
    assert len(jets) == 20 and np.all(jets.is_signal == 1)
    assert np.all(delta_r(jet_four_momentum(jets.constituents), jets.truth) < RADIUS)
    provenance = json.loads(sidecar_for(out).read_text())
    process = provenance["arguments"]["process"]
    assert process["match_mode"] == "axis" and process["match_id"] == 4900101
    assert process["card_path"] == str(shipped_cards()["dark_shower"])
    assert provenance["totals"]["matched_fraction"] > 0.8  # the decay rule matched 0.2 %
