"""The field's other datasets: JetClass ROOT and JetNet HDF5 files, read by content, and `jetae convert`.

The files are written here, in those layouts (uproot writes the ROOT trees, h5py the JetNet
files), from real Pythia 8 + FastJet jets, so the round trips compare real constituents.
"""

from __future__ import annotations

import json
import logging
import sys

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.features.kinematics import jet_kinematics, padding_mask, wrap_phi
from jetae.generation.generate import generate_jets
from jetae.io.cache import read_cached
from jetae.io.convert import convert_file
from jetae.io.datasets import class_counts, detect_format, iter_dataset
from jetae.io.jetclass import LABELS
from jetae.io.toptag import count_jets, iter_jets, read_jets, write_jets
from jetae.jets import Jets

#: Branch types of the labels in the real JetClass files (float, bool and int32 side by side).
LABEL_DTYPES = {"QCD": np.float32, "Hbb": np.bool_, "Hcc": np.bool_, "Hgg": np.bool_, "H4q": np.bool_}


@pytest.fixture(scope="module")
def qcd() -> Jets:
    return generate_jets("qcd", 60, seed=13, workers=1)


@pytest.fixture(scope="module")
def top() -> Jets:
    return generate_jets("top", 40, seed=11, workers=1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JETAE_CACHE_DIR", str(tmp_path / "cache"))


def write_jetclass(
    path,
    jets: Jets,
    labels: str | list[str] = "QCD",
    tree: str = "tree",
    shuffle: bool = True,
    drop: tuple[str, ...] = (),
    replace: dict | None = None,
    rntuple: bool = False,
):
    """``jets`` as a JetClass file: ``part_*`` jagged branches (particles in random order unless
    ``shuffle`` is False), one-hot ``label_*`` branches (one class per jet) and ``jet_*`` branches."""
    rng = np.random.default_rng(0)
    real = padding_mask(jets.constituents)
    counts = real.sum(axis=1)
    order = np.concatenate([rng.permutation(k) if shuffle else np.arange(k) for k in counts])
    flat = jets.constituents[real][order + np.repeat(np.cumsum(counts) - counts, counts)]
    particle = {name: ak.unflatten(flat[:, i], counts) for i, name in enumerate(("energy", "px", "py", "pz"))}
    kin = jet_kinematics(jets.constituents)
    names = [labels] * len(jets) if isinstance(labels, str) else labels
    data: dict = {}
    for label in LABELS:
        cls = label.removeprefix("label_")
        data[label] = np.array([name == cls for name in names]).astype(LABEL_DTYPES.get(cls, np.int32))
    data.update(
        jet_pt=kin["pt"].astype(np.float32),
        jet_eta=kin["eta"].astype(np.float32),
        jet_phi=kin["phi"].astype(np.float32),
        jet_energy=jets.constituents[..., 0].sum(axis=1),
        jet_sdmass=kin["mass"].astype(np.float32),
        jet_nparticles=counts.astype(np.float32),
    )
    for name in drop:
        data.pop(name, None)
        particle.pop(name.removeprefix("part_"), None)
    data.update(replace or {})
    with uproot.recreate(path) as file:
        if rntuple:
            file[tree] = {**{f"part_{k}": v for k, v in particle.items()}, **data}
        else:
            columns = {"part": ak.zip(particle)} if particle else {}
            columns.update(data)
            file.mktree(tree, {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in columns.items()})
            file[tree].extend(columns)
    return path


def jetnet_features(jets: Jets, n_particles: int) -> tuple[np.ndarray, np.ndarray]:
    """``(particle_features, jet_features)`` of ``jets`` in the JetNet convention, from the real jets."""
    c = jets.constituents.astype(np.float64)
    real = padding_mask(c)
    kin = jet_kinematics(c)
    pt = np.hypot(c[..., 1], c[..., 2])
    eta = np.arcsinh(np.divide(c[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(c[..., 2], c[..., 1])
    features = np.stack(
        [eta - kin["eta"][:, None], wrap_phi(phi - kin["phi"][:, None]), pt / kin["pt"][:, None], real], axis=-1
    )
    features[~real] = 0.0
    padded = np.zeros((len(jets), n_particles, 4))
    width = min(n_particles, features.shape[1])
    padded[:, :width] = features[:, :width]
    return padded, np.stack([kin["pt"], kin["eta"], kin["mass"], real.sum(axis=1)], axis=1)


def write_jetnet(path, jets: Jets, n_particles: int = 30, type_codes=None, particles=None, jet_features=None):
    features, jet = jetnet_features(jets, n_particles)
    if type_codes is not None:
        jet = np.column_stack([type_codes, jet])
    with h5py.File(path, "w") as file:
        file["particle_features"] = (features if particles is None else particles).astype(np.float32)
        file["jet_features"] = (jet if jet_features is None else jet_features).astype(np.float32)
    return path


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(f"jetae {command}: error:")]
    assert len(errors) == 1, err
    return errors[0]


# ---------------------------------------------------------------- JetClass


def test_jetclass_round_trip_gives_the_same_four_momenta(tmp_path, qcd, top):
    qcd_file = write_jetclass(tmp_path / "qcd.root", qcd, "QCD")
    top_file = write_jetclass(tmp_path / "top.root", top, "Tbqq")
    assert detect_format(qcd_file) == "jetclass" and count_jets(qcd_file) == len(qcd)
    back = read_jets(qcd_file)
    # The particles were written in random order: reading sorts them back by pT, padded to 200.
    assert back.constituents.shape == (len(qcd), 200, 4)
    np.testing.assert_array_equal(back.constituents, qcd.constituents)
    assert (back.is_signal == 0).all() and (back.ttv == 0).all() and not back.truth.any()
    assert back.source == str(qcd_file)
    signal = read_jets(top_file)
    np.testing.assert_array_equal(signal.constituents, top.constituents)
    assert (signal.is_signal == 1).all()
    # Chunked streaming gives the same jets as one read.
    chunks = list(iter_jets(top_file, chunk_size=7))
    assert [len(c) for c in chunks] == [7] * 5 + [5]
    np.testing.assert_array_equal(Jets.concatenate(chunks).constituents, signal.constituents)


def test_jetclass_classes_map_to_labels_and_background_can_be_chosen(tmp_path, qcd):
    names = ["QCD", "Tbqq", "Hbb", "Zqq"] * (len(qcd) // 4)
    path = write_jetclass(tmp_path / "mixed.root", qcd, names)
    assert class_counts(path) == {"QCD": 15, "Hbb": 15, "Zqq": 15, "Tbqq": 15}
    np.testing.assert_array_equal(read_jets(path).is_signal, [name != "QCD" for name in names])
    chosen = Jets.concatenate(list(iter_dataset(path, background=["label_QCD", "hbb"])))
    np.testing.assert_array_equal(chosen.is_signal, [name not in ("QCD", "Hbb") for name in names])
    with pytest.raises(JetaeError, match="unknown background class 'Wjj'.*QCD, Hbb"):
        list(iter_dataset(path, background=["Wjj"]))


def test_jetclass_rntuple_and_the_cache_read_the_same_jets(tmp_path, qcd):
    path = write_jetclass(tmp_path / "qcd_rntuple.root", qcd[:20], "QCD", rntuple=True)
    assert uproot.open(path).classnames()["tree;1"] == "ROOT::RNTuple"
    np.testing.assert_array_equal(read_jets(path).constituents, qcd[:20].constituents)
    cached = read_cached(path)
    np.testing.assert_array_equal(cached.constituents, qcd[:20].constituents[:, : cached.n_constituents_max])


def test_content_not_the_name_decides_the_format(tmp_path, qcd):
    root_named_h5 = write_jetclass(tmp_path / "jets.h5", qcd[:10], "QCD")
    jetnet_named_root = write_jetnet(tmp_path / "jets.root", qcd[:10])
    reference = write_jets(tmp_path / "reference.root", qcd[:10])
    assert detect_format(root_named_h5) == "jetclass"
    assert detect_format(jetnet_named_root) == "jetnet"
    assert detect_format(reference) == "toptag"
    np.testing.assert_array_equal(read_jets(root_named_h5).constituents, read_jets(reference).constituents)


def test_a_missing_uproot_is_one_clear_error(tmp_path, qcd, monkeypatch, capsys):
    path = write_jetclass(tmp_path / "qcd.root", qcd[:5], "QCD")
    monkeypatch.setitem(sys.modules, "uproot", None)  # what `import uproot` sees when it is not installed
    assert main(["info", str(path)]) == 2
    line = one_error_line(capsys, "info")
    assert "reading ROOT files needs uproot" in line and "pip install 'jetae[root]'" in line


# ---------------------------------------------------------------- JetNet


def test_jetnet_reconstruction_is_massless_and_rotated_to_phi_zero(tmp_path, top):
    path = write_jetnet(tmp_path / "t150.hdf5", top, n_particles=150)
    assert detect_format(path) == "jetnet"
    back = read_jets(path)
    assert back.constituents.shape == (len(top), 200, 4) and (back.is_signal == 1).all()
    original, rebuilt = top.constituents.astype(np.float64), back.constituents.astype(np.float64)
    real = padding_mask(original)
    np.testing.assert_array_equal(padding_mask(rebuilt), real)
    pt = np.hypot(rebuilt[..., 1], rebuilt[..., 2])
    np.testing.assert_allclose(pt[real], np.hypot(original[..., 1], original[..., 2])[real], rtol=1e-5)
    np.testing.assert_allclose(rebuilt[..., 3][real], original[..., 3][real], rtol=1e-4, atol=1e-4)
    # Azimuth: each jet is turned by minus its own phi.
    jet_phi = jet_kinematics(original)["phi"]
    turned = wrap_phi(np.arctan2(original[..., 2], original[..., 1]) - jet_phi[:, None])
    np.testing.assert_allclose(np.arctan2(rebuilt[..., 2], rebuilt[..., 1])[real], turned[real], atol=1e-5)
    # Massless constituents: E = |p| exactly, so the energy is a little below the real one.
    momentum = np.linalg.norm(rebuilt[..., 1:], axis=-1)
    np.testing.assert_allclose(rebuilt[..., 0][real], momentum[real], rtol=1e-6)
    assert (rebuilt[..., 0][real] <= original[..., 0][real] * (1 + 1e-6)).all()
    # The jets keep their pT; their mass is that of the same constituents made massless,
    # a little lower than the real one (about 1 % for these top jets, more for light QCD jets).
    before, after = jet_kinematics(original), jet_kinematics(rebuilt)
    np.testing.assert_allclose(after["pt"], before["pt"], rtol=1e-5)
    massless = original.copy()
    massless[..., 0] = np.linalg.norm(original[..., 1:], axis=-1)
    np.testing.assert_allclose(after["mass"], jet_kinematics(massless)["mass"], rtol=1e-4)
    assert (after["mass"] < before["mass"]).all() and (after["mass"] > 0.9 * before["mass"]).all()


def test_jetnet30_keeps_the_30_leading_particles(tmp_path, qcd):
    path = write_jetnet(tmp_path / "q.hdf5", qcd, n_particles=30)
    back = read_jets(path)
    assert back.multiplicity.max() == 30 and (back.is_signal == 0).all()
    lead = np.hypot(back.constituents[:, :30, 1], back.constituents[:, :30, 2])
    expected = np.hypot(qcd.constituents[:, :30, 1], qcd.constituents[:, :30, 2])
    np.testing.assert_allclose(lead, expected, rtol=1e-5, atol=1e-6)


def test_jetnet_type_column_and_unknown_types(tmp_path, qcd, caplog):
    codes = np.arange(len(qcd)) % 5  # g, q, t, w, z
    path = write_jetnet(tmp_path / "mixed.hdf5", qcd, type_codes=codes)
    assert class_counts(path) == {name: 12 for name in "gqtwz"}
    np.testing.assert_array_equal(read_jets(path).is_signal, codes >= 2)  # t, w, z are signal
    with caplog.at_level(logging.WARNING):
        unknown = read_jets(write_jetnet(tmp_path / "my_jets.hdf5", qcd[:5]))
    assert (unknown.is_signal == 0).all() and "jet type unknown" in caplog.text
    assert class_counts(tmp_path / "my_jets.hdf5") == {"unknown": 5}


# ---------------------------------------------------------------- commands end to end


def test_info_and_check_describe_both_layouts(tmp_path, qcd, top, capsys):
    root = write_jetclass(tmp_path / "qcd.root", qcd, "QCD")
    jetnet = write_jetnet(tmp_path / "t.hdf5", top)
    assert main(["info", str(root), str(jetnet)]) == 0
    out = capsys.readouterr().out
    assert "format        JetClass (ROOT TTree 'tree'" in out and "classes       QCD 60 (100.0%)" in out
    assert "format        JetNet (HDF5, 30 particle slots" in out and "classes       t 40 (100.0%)" in out
    assert "signal 40 (100.0%), background 0 (0.0%)" in out
    assert main(["check", str(root), str(jetnet)]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK") == 2 and "background (is_signal = 0): g, q" in out
    # A NaN momentum is a problem `check` reports (exit 1) and the readers refuse.
    bad = tmp_path / "nan.hdf5"
    particles, _ = jetnet_features(top, 30)
    particles[2, 0, 2] = np.nan
    write_jetnet(bad, top, particles=particles)
    assert main(["check", str(bad)]) == 1
    assert "NaN or inf momenta: 1 jet(s), e.g. rows [2]" in capsys.readouterr().out
    with pytest.raises(JetaeError, match=r"NaN or inf momenta in 1 jet\(s\), e.g. rows \[2\]"):
        read_jets(bad)


def test_train_score_evaluate_accept_both_layouts(tmp_path, qcd, top, capsys):
    train = write_jetclass(tmp_path / "qcd_train.root", qcd, "QCD")
    signal = write_jetnet(tmp_path / "t150.hdf5", top, n_particles=150)
    background = write_jetclass(tmp_path / "qcd_test.root", qcd[:30], "QCD")
    run = tmp_path / "run"
    image = ["--set", "n_components=3", "--set", "representation.n_pixels=16"]
    assert main(["train", "pca", "--train", str(train), "--out", str(run), *image]) == 0
    assert main(["score", str(run), str(signal), "--out", str(tmp_path / "scores.h5")]) == 0
    with h5py.File(tmp_path / "scores.h5") as scores:
        assert len(scores["score"]) == len(top) and (scores["is_signal"][:] == 1).all()
        assert np.isfinite(scores["score"][:]).all()
    report = tmp_path / "report"
    assert (
        main(
            ["evaluate", str(run), "--background", str(background), "--signal", str(signal), "--out", str(report)]
            + ["--n-bootstrap", "10"]
        )
        == 0
    )
    metrics = json.loads((report / "metrics.json").read_text())
    assert "t150" in json.dumps(metrics)


def test_convert_writes_the_reference_layout(tmp_path, qcd, caplog, capsys):
    source = write_jetclass(tmp_path / "qcd.root", qcd, ["QCD", "Tbqq"] * 30)
    out = tmp_path / "converted.h5"
    assert main(["convert", str(source), str(out)]) == 0
    assert "60 jets (JetClass (ROOT)) ->" in capsys.readouterr().out
    assert detect_format(out) == "toptag"
    back, direct = read_jets(out), read_jets(source)
    np.testing.assert_array_equal(back.constituents, direct.constituents)
    np.testing.assert_array_equal(back.is_signal, [0, 1] * 30)
    record = json.loads((tmp_path / "converted.h5.json").read_text())
    assert record["classes"] == {"QCD": 30, "Tbqq": 30} and record["background"] == ["QCD"]
    assert record["n_jets"] == 60 and record["n_truncated"] == 0 and record["source"] == str(source.resolve())
    # Fewer slots: the hardest constituents are kept, and the cut is counted.
    n_long = int((qcd.multiplicity > 20).sum())
    with caplog.at_level(logging.WARNING):
        record = convert_file(source, tmp_path / "short.h5", n_constituents=20)
    assert record["n_truncated"] == n_long > 0 and f"{n_long} of 60 jets have more than 20" in caplog.text
    short = read_jets(tmp_path / "short.h5")
    np.testing.assert_array_equal(short.constituents[:, :20], direct.constituents[:, :20])
    assert not short.constituents[:, 20:].any()
    # A JetNet file converts too.
    jetnet = write_jetnet(tmp_path / "w.hdf5", qcd)
    assert main(["convert", str(jetnet), str(tmp_path / "w.h5"), "--background", "g,q,w"]) == 0
    assert (read_jets(tmp_path / "w.h5").is_signal == 0).all()


def test_convert_never_replaces_its_input_or_an_existing_file_unasked(tmp_path, qcd, capsys):
    source = write_jetclass(tmp_path / "qcd.root", qcd[:10], "QCD")
    before = source.read_bytes()
    assert main(["convert", str(source), str(source), "--overwrite"]) == 2
    assert "is an input of this command" in one_error_line(capsys, "convert")
    assert source.read_bytes() == before
    out = tmp_path / "out.h5"
    out.write_text("keep me")
    assert main(["convert", str(source), str(out)]) == 2
    assert "exists; pass --overwrite" in one_error_line(capsys, "convert")
    assert out.read_text() == "keep me"
    assert main(["convert", str(source), str(out), "--overwrite"]) == 0
    assert len(read_jets(out)) == 10
    # A failed conversion leaves neither output nor temporary file behind.
    bad = write_jetclass(tmp_path / "bad.root", qcd[:10], "QCD", drop=("label_QCD",))
    assert main(["convert", str(bad), str(tmp_path / "bad.h5")]) == 2
    one_error_line(capsys, "convert")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("bad.h5", ".bad.h5"))]
    with pytest.raises(SystemExit) as usage:  # argparse: one usage line
        main(["convert", str(source), str(tmp_path / "x.h5"), "--n-constituents", "0"])
    assert usage.value.code == 2 and "--n-constituents: must be a positive integer" in capsys.readouterr().err


# ---------------------------------------------------------------- bad files


def _jetclass_case(name):
    def write(path, jets):
        n = len(jets)
        if name == "missing branch":
            return write_jetclass(path, jets, drop=("part_pz",))
        if name == "no tree":
            return write_jetclass(path, jets, tree="Events")
        if name == "no labels":
            return write_jetclass(path, jets, drop=tuple(LABELS))
        if name == "two labels":
            return write_jetclass(path, jets, replace={"label_Hbb": np.ones(n, np.bool_)})
        if name == "label nan":
            return write_jetclass(path, jets, replace={"label_QCD": np.full(n, np.nan, np.float32)})
        if name == "scalar particle branch":
            write_jetclass(path, jets, drop=("part_px",), replace={"part_px": np.ones(n, np.float32)})
            return path
        if name == "nan momentum":
            constituents = jets.constituents.copy()
            constituents[4, 0, 0] = np.nan
            return write_jetclass(path, Jets.from_constituents(constituents))
        if name == "damaged":
            write_jetclass(path, jets)
            path.write_bytes(path.read_bytes()[:300])
            return path
        raise AssertionError(name)

    return write


JETCLASS_BAD = {
    "missing branch": "missing particle branch(es) part_pz",
    "no tree": "no tree 'tree' (trees found: Events)",
    "no labels": "no label_* branches",
    "two labels": "labels are not one-hot: 10 jet(s) with several labels",
    "label nan": "label branch 'label_QCD' holds values other than 0 and 1",
    "scalar particle branch": "branch 'part_px' has type",
    "nan momentum": "NaN or inf momenta in 1 jet(s), e.g. rows [4]",
    "damaged": "not a readable ROOT file (truncated or damaged?)",
}


@pytest.mark.parametrize("case", sorted(JETCLASS_BAD))
def test_bad_jetclass_files_give_one_error_line(tmp_path, qcd, case, capsys):
    path = _jetclass_case(case)(tmp_path / "bad.root", qcd[:10])
    assert main(["info", str(path)]) == 2
    line = one_error_line(capsys, "info")
    assert line.startswith(f"jetae info: error: {path}: ") and JETCLASS_BAD[case] in line


JETNET_BAD = {
    "missing jet_features": "missing dataset 'jet_features'",
    "three features": "dataset 'particle_features' has shape (10, 30, 3)",
    "jet count": "particle_features has 10 jets but jet_features has 9",
    "mask": "particle mask (particle_features[..., 3]) is not 0 or 1 in 1 jet(s), e.g. rows [3]",
    "strings": "dataset 'jet_features' holds |S3",
    "type code": "jet type (jet_features column 0) is not one of the codes 0-4",
    "nan pt": "NaN or inf momenta in 1 jet(s), e.g. rows [6]",
}


@pytest.mark.parametrize("case", sorted(JETNET_BAD))
def test_bad_jetnet_files_give_one_error_line(tmp_path, qcd, case, capsys):
    jets = qcd[:10]
    particles, jet = jetnet_features(jets, 30)
    path = tmp_path / "g.hdf5"
    with h5py.File(path, "w") as file:
        if case == "three features":
            particles = particles[..., :3]
        if case == "mask":
            particles[3, 0, 3] = 0.5
        if case == "jet count":
            jet = jet[:9]
        if case == "type code":
            jet = np.column_stack([np.full(10, 7.0), jet])
        if case == "nan pt":
            jet[6, 0] = np.nan
        file["particle_features"] = particles.astype(np.float32)
        if case == "strings":
            file["jet_features"] = np.full((10, 4), b"abc")
        elif case != "missing jet_features":
            file["jet_features"] = jet.astype(np.float32)
    assert main(["info", str(path)]) == 2
    line = one_error_line(capsys, "info")
    assert line.startswith(f"jetae info: error: {path}: ") and JETNET_BAD[case] in line
