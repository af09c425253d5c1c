"""The constituent autoencoders ``lola_ae``, ``particle_ae`` and ``seq_ae``.

Symmetries checked numerically (permutations, Lorentz boosts, padding), a small fit on toy
jets for each model, and the save/load round trip. Everything runs for real on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from jetae.errors import JetaeError
from jetae.features.kinematics import jet_four_momentum, rapidity
from jetae.jets import Jets
from jetae.models import create_model, get_model_spec, load_model
from jetae.models.base import CONFIG_FILE, WEIGHTS_FILE
from jetae.models.lola_ae import CombinationLayer, LorentzLayer, jet_frame, minkowski_dot
from jetae.models.particle_ae import chamfer_distance, knn_graph, sinkhorn_distance
from toys import prong_jets

MODELS = ("lola_ae", "particle_ae", "seq_ae")
#: Small and short: each fit takes about a second on one core.
FAST = {"epochs": 2, "batch_size": 32, "lr": 3e-3, "device": "cpu", "patience": 0, "progress": False}
TOY_OPTIONS = {
    "lola_ae": dict(FAST, representation={"n_constituents": 20}, hidden=[32], latent_dim=4),
    "particle_ae": dict(FAST, channels=[16, 16], encoder_hidden=[16], decoder_hidden=[32], latent_dim=4),
    "seq_ae": dict(FAST, hidden=24, latent_dim=4),
}


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    return roc_auc_score(np.r_[np.zeros(len(background)), np.ones(len(signal))], np.r_[background, signal])


def with_padding(jets: Jets, extra: int) -> Jets:
    """The same jets with ``extra`` all-zero constituent rows appended."""
    padded = np.concatenate([jets.constituents, np.zeros((len(jets), extra, 4), np.float32)], axis=1)
    return Jets.from_constituents(padded, is_signal=jets.is_signal, source=jets.source)


@pytest.fixture(scope="module")
def toy_samples():
    return prong_jets(240, 1, seed=11), prong_jets(100, 1, seed=12), prong_jets(100, 3, seed=13)


@pytest.fixture(scope="module")
def fitted_models(toy_samples):
    """{name: detector fitted for 2 epochs on toy one-prong jets}: one fit per model for the module."""
    train, _, _ = toy_samples
    return {name: create_model(name, TOY_OPTIONS[name]).fit(train) for name in MODELS}


@pytest.fixture(params=MODELS)
def fitted(request, fitted_models):
    """(name, fitted detector), for each model."""
    return request.param, fitted_models[request.param]


# ---------------------------------------------------------------- registry and options
def test_models_are_registered_with_their_scores():
    for name in MODELS:
        spec = get_model_spec(name)
        assert spec.description.strip()
        assert spec.detector_cls.score_names[0] == "reconstruction"
        assert {"mahalanobis", "latent_distance"} <= set(spec.detector_cls.score_names)
        assert not spec.detector_cls.benchmark_by_default


@pytest.mark.parametrize("name, epochs", [("lola_ae", 30), ("particle_ae", 40), ("seq_ae", 30)])
def test_training_options_are_trainer_options_with_the_models_defaults(name, epochs):
    detector = create_model(name)
    assert (detector.trainer_config.epochs, detector.trainer_config.batch_size) == (epochs, 128)
    assert not hasattr(detector.config, "epochs") and not hasattr(detector.config, "batch_size")
    assert create_model(name, epochs=2).trainer_config.epochs == 2
    same = create_model(name, detector.get_params())
    assert same.config == detector.config and same.trainer_config == detector.trainer_config


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("lola_ae", {"scaler": "standard"}, "scaler must be 'none'"),
        ("lola_ae", {"representation": {"features": ["E", "px"]}}, "E, px, py, pz|'E', 'px', 'py', 'pz'"),
        ("particle_ae", {"representation": {"features": ["pt_rel", "log_e"]}}, "delta_eta"),
        ("particle_ae", {"set_loss": "emd"}, "set_loss must be one of"),
        ("seq_ae", {"cell": "rnn"}, "cell must be one of"),
        ("seq_ae", {"representation": {"flatten": True}}, "flatten false"),
    ],
)
def test_invalid_options_are_refused(name, options, message):
    with pytest.raises(JetaeError, match=message):
        create_model(name, options)


# ---------------------------------------------------------------- fit, score, persistence
def test_each_model_separates_three_prong_from_one_prong_jets(fitted, toy_samples):
    name, detector = fitted
    _, background, signal = toy_samples
    for score in detector.score_names:
        b, s = detector.anomaly_score(background, score=score), detector.anomaly_score(signal, score=score)
        assert b.shape == (100,) and b.dtype == np.float64
        assert np.isfinite(b).all() and np.isfinite(s).all(), (name, score)
    reconstruction = auc(detector.anomaly_score(background), detector.anomaly_score(signal))
    assert reconstruction > 0.75, (name, reconstruction)
    assert detector.encode(background[:5]).shape == (5, detector.config.latent_dim)


def test_reconstruct_returns_target_and_reconstruction(fitted, toy_samples):
    name, detector = fitted
    target, reconstruction = detector.reconstruct(toy_samples[1][:6])
    assert len(target) == len(reconstruction) == 6
    assert np.isfinite(target).all() and np.isfinite(reconstruction).all()
    if name != "particle_ae":  # particle_ae emits a set of n_outputs points, not one per input slot
        assert target.shape == reconstruction.shape


def test_save_load_round_trip_gives_identical_scores(fitted, toy_samples, tmp_path):
    name, detector = fitted
    _, background, signal = toy_samples
    path = detector.save(tmp_path / name)
    assert (path / CONFIG_FILE).exists() and (path / WEIGHTS_FILE).exists()
    assert not list(path.glob("*.pkl")) and not list(path.glob("*.pt"))
    loaded = load_model(path)
    assert type(loaded) is type(detector)
    for score in detector.score_names:
        for jets in (background, signal):
            np.testing.assert_array_equal(
                loaded.anomaly_score(jets, score=score), detector.anomaly_score(jets, score=score)
            )


def test_appending_padding_rows_changes_no_score(fitted, toy_samples):
    _, detector = fitted
    jets = toy_samples[2][:20]
    for score in detector.score_names:
        np.testing.assert_allclose(
            detector.anomaly_score(with_padding(jets, 7), score=score),
            detector.anomaly_score(jets, score=score),
            rtol=1e-6,
            atol=1e-7,
        )


@pytest.mark.parametrize("name", ["particle_ae", "seq_ae"])
def test_extra_padding_slots_change_nothing_in_the_network(fitted_models, name, toy_samples):
    """The set and sequence networks take any number of slots: more padding slots, same code and loss."""
    detector = fitted_models[name]
    inputs = torch.from_numpy(detector.transform(toy_samples[2][:16]))
    # Jets with fewer real constituents than slots, too.
    inputs[:8, 9:] = 0.0
    padded = torch.cat([inputs, torch.zeros(16, 6, inputs.shape[2])], dim=1)
    network = detector.network_.eval()
    with torch.no_grad():
        plain, more = network(inputs), network(padded)
        torch.testing.assert_close(more["latent"], plain["latent"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            detector.jet_loss(network, padded, more), detector.jet_loss(network, inputs, plain), rtol=1e-5, atol=1e-6
        )


def test_lola_padding_slots_give_zero_lola_features(toy_samples):
    detector = create_model("lola_ae", TOY_OPTIONS["lola_ae"], epochs=1).fit(toy_samples[0][:64])
    few = Jets.from_constituents(toy_samples[1].constituents[:4, :12], source="few")  # 12 of 20 slots real
    features = detector.lola_features(few)
    assert features.shape == (4, 20 + 15, 4 + 2)
    assert np.all(features[:, 12:20] == 0.0) and np.any(features[:, :12] != 0.0)
    assert np.any(features[:, 20:] != 0.0)  # the combinations are real vectors


# ---------------------------------------------------------------- particle_ae: permutation invariance
def _shuffle(inputs: torch.Tensor, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(inputs.shape[1], generator=generator) for _ in range(len(inputs))])
    return torch.gather(inputs, 1, order.unsqueeze(-1).expand_as(inputs))


@pytest.mark.parametrize("set_loss", ["chamfer", "sinkhorn"])
def test_particle_ae_encoder_and_loss_are_permutation_invariant(set_loss, toy_samples):
    detector = create_model(
        "particle_ae", TOY_OPTIONS["particle_ae"], epochs=1, set_loss=set_loss, sinkhorn_iterations=10
    ).fit(toy_samples[0][:64])
    inputs = torch.from_numpy(detector.transform(toy_samples[2][:12]))
    inputs[:6, 10:] = 0.0  # padding rows that the shuffle mixes in between real ones
    shuffled = _shuffle(inputs, seed=3)
    assert not torch.equal(shuffled, inputs)
    network = detector.network_.eval()
    with torch.no_grad():
        plain, permuted = network(inputs), network(shuffled)
        torch.testing.assert_close(permuted["latent"], plain["latent"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(permuted["reconstruction"], plain["reconstruction"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            detector.jet_loss(network, shuffled, permuted),
            detector.jet_loss(network, inputs, plain),
            rtol=1e-5,
            atol=1e-5,
        )


def test_set_losses_ignore_point_order_and_padding():
    generator = torch.Generator().manual_seed(0)
    points, outputs = torch.randn(3, 9, 3, generator=generator), torch.randn(3, 7, 3, generator=generator)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 6:] = False
    points = points * mask.unsqueeze(-1)
    order = torch.randperm(9, generator=generator)
    for loss in (
        lambda p, m, o: chamfer_distance(p, m, o),
        lambda p, m, o: sinkhorn_distance(p, m.float(), o, epsilon=0.1, iterations=50),
    ):
        reference = loss(points, mask, outputs)
        torch.testing.assert_close(loss(points[:, order], mask[:, order], outputs), reference, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            loss(points, mask, outputs[:, torch.randperm(7, generator=generator)]), reference, rtol=1e-5, atol=1e-6
        )
        # Masked rows take no part, whatever they hold.
        moved = points.clone()
        moved[1, 7] = 5.0
        torch.testing.assert_close(loss(moved, mask, outputs), reference)
    # Chamfer of a set with itself is zero.
    torch.testing.assert_close(chamfer_distance(outputs, torch.ones(3, 7, dtype=torch.bool), outputs), torch.zeros(3))


def test_knn_graph_never_links_padding_or_self():
    coordinates = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.0, 0.2], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, True, False]])
    index, valid = knn_graph(coordinates, mask, k=3)
    assert index.shape == (1, 4, 3)
    assert valid[0, :3].sum(dim=1).tolist() == [2, 2, 2] and not valid[0, 3].any()
    for point in range(3):
        linked = set(index[0, point][valid[0, point]].tolist())
        assert point not in linked and 3 not in linked


# ---------------------------------------------------------------- lola_ae: Lorentz invariance
def boost(p4: torch.Tensor, beta: float, axis: tuple[float, float, float]) -> torch.Tensor:
    """Pure boost with speed ``beta`` along ``axis`` of ``(..., 4)`` (E, px, py, pz)."""
    n = torch.tensor(axis, dtype=p4.dtype)
    n = n / n.norm()
    gamma = 1.0 / np.sqrt(1.0 - beta**2)
    energy, momentum = p4[..., 0], p4[..., 1:]
    parallel = (momentum * n).sum(dim=-1)
    new_energy = gamma * (energy - beta * parallel)
    new_momentum = momentum + ((gamma - 1.0) * parallel - gamma * beta * energy).unsqueeze(-1) * n
    return torch.cat([new_energy.unsqueeze(-1), new_momentum], dim=-1)


def rotate_z(p4: torch.Tensor, angle: float) -> torch.Tensor:
    c, s = np.cos(angle), np.sin(angle)
    return torch.stack(
        [p4[..., 0], c * p4[..., 1] - s * p4[..., 2], s * p4[..., 1] + c * p4[..., 2], p4[..., 3]], dim=-1
    )


@pytest.fixture(scope="module")
def lola_vectors():
    """(n, N, 4) float64 toy jets in GeV (padding in the last slots of half the jets) and their mask."""
    p4 = torch.from_numpy(prong_jets(6, 3, seed=5, n_constituents=12).constituents.astype(np.float64))
    p4[:3, 9:] = 0.0
    return p4, (p4 != 0).any(dim=-1)


@pytest.mark.parametrize(
    "beta, axis", [(0.6, (0.0, 0.0, 1.0)), (-0.8, (0.0, 0.0, 1.0)), (0.5, (0.3, -0.5, 0.8)), (0.7, (1.0, 0.0, 0.0))]
)
def test_lola_invariants_are_lorentz_invariant(lola_vectors, beta, axis):
    p4, mask = lola_vectors
    torch.manual_seed(0)
    cola, lola = CombinationLayer(12, 5).double(), LorentzLayer(17, 3).double()
    vector_mask = torch.cat([mask, torch.ones(len(mask), 5, dtype=torch.bool)], dim=1)
    boosted = boost(p4, beta, axis)
    assert not torch.allclose(boosted, p4)
    with torch.no_grad():
        before, after = lola(cola(p4), vector_mask), lola(cola(boosted), vector_mask)
    columns = lola.invariant_columns()
    assert columns == [0, 4, 5, 6]
    scale = before[..., columns].abs().max()
    torch.testing.assert_close(after[..., columns], before[..., columns], rtol=1e-9, atol=1e-12 * scale)
    # Sanity: pT and E are not invariant, so the check above is not vacuous.
    assert not torch.allclose(after[..., 1:3], before[..., 1:3], rtol=1e-3)
    # The combinations' masses are those of the boosted combinations.
    torch.testing.assert_close(
        minkowski_dot(cola(boosted), cola(boosted)), minkowski_dot(cola(p4), cola(p4)), rtol=1e-9, atol=1e-9 * scale
    )


def test_jet_frame_removes_longitudinal_boosts_and_azimuthal_rotations(lola_vectors):
    p4, mask = lola_vectors
    frame = jet_frame(p4, mask)
    moved = jet_frame(rotate_z(boost(p4, 0.7, (0.0, 0.0, 1.0)), 1.1), mask)
    torch.testing.assert_close(moved, frame, rtol=1e-9, atol=1e-12)
    jets = frame.sum(dim=1)
    torch.testing.assert_close(jets[:, 2:], torch.zeros(6, 2, dtype=torch.float64), atol=1e-12, rtol=0)  # py = pz = 0
    torch.testing.assert_close(jets[:, 1], torch.ones(6, dtype=torch.float64))  # pT = 1
    assert torch.all(frame[~mask] == 0.0)
    np.testing.assert_allclose(rapidity(jet_four_momentum(frame.numpy())), 0.0, atol=1e-12)


def test_lola_ae_scores_do_not_change_under_longitudinal_boosts(toy_samples):
    detector = create_model("lola_ae", TOY_OPTIONS["lola_ae"], epochs=1).fit(toy_samples[0][:64])
    jets = toy_samples[2][:10]
    p4 = torch.from_numpy(jets.constituents.astype(np.float64))
    moved = rotate_z(boost(p4, -0.5, (0.0, 0.0, 1.0)), 0.4).numpy().astype(np.float32)
    moved_jets = Jets.from_constituents(moved, source="moved")
    np.testing.assert_allclose(detector.anomaly_score(moved_jets), detector.anomaly_score(jets), rtol=2e-4, atol=1e-6)
