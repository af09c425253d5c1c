"""Which physics coordinates would lift the zoo minimum? (issue #18, docs/agnostic.md, one seed)

`observable_density` fits a Gaussian mixture on log(1 + m) and log tau_1..tau_5. This exploration
asks whether other jet observables, other reference densities or more views in the background-
calibrated combination put the zoo's hardest signals (30 GeV S -> gg, dark shower, H -> bb) further
into QCD's tail. It computes, for every sample, besides the basis above:

- the constituent multiplicity and pT_D = sqrt(sum pT_i^2) / sum pT_i (IRC-unsafe);
- soft drop (beta = 0, z_cut = 0.1, R0 = 0.8, C/A): groomed mass, z_g, R_g;
- energy-correlation ratios C2 and D2 for beta = 1, 2;
- the primary Lund plane: emissions with kT > 1, 5, 10 GeV inside R = 0.8, and the largest kT;

all with the real FastJet (and its contrib, through the ``fastjet`` package). Each *view* (a list
of coordinates) gets the same density as `observable_density` (40-component full-covariance
mixture, fitted on 40 000 standardised QCD training jets); a combination turns each view's score
(and the PCA's reconstruction error) into a p-value against the other 10 000 QCD training jets and
adds them by Fisher's method, as the `combination` model does. The reverse direction trains the
same way on 16 000 top jets (calibrated on the next 4 000). A supervised reference
(histogram gradient boosting on half of QCD + signal, AUC on the other half) says how much
information the coordinates hold at all.

    python bench/agnostic_features.py            # ~10 min on 2 CPU cores; features cached in --cache
    python bench/agnostic_features.py --only base base+n combo_pca_base

Writes bench/results/agnostic_features.json: per variant the AUC for top, W and every zoo signal,
the zoo minimum and median, and the reverse AUC.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import awkward as ak
import fastjet
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from jetae.experiments.benchmark.presets import ZOO_SAMPLES
from jetae.features.cpp_output import capture_stdout
from jetae.features.kinematics import jet_kinematics, padding_mask, pt
from jetae.features.substructure import LOG_FLOOR, nsubjettiness
from jetae.io.toptag import read_jets
from jetae.models import create_model

#: The signal zoo (cards in jetae/generation/cards, samples: bench/make_zoo_samples.sh).
ZOO_SIGNALS = tuple(ZOO_SAMPLES)
SIGNALS = ("top_test", "w_test", *ZOO_SIGNALS)
N_FIT, N_CAL = 40_000, 10_000  # QCD training jets: density fit / p-value calibration
N_FIT_TOP, N_CAL_TOP = 16_000, 4_000
BASE = ["m", "tau1", "tau2", "tau3", "tau4", "tau5"]

#: Single densities: name -> (coordinates, alpha_mass, alpha_marginals); the score is
#: -log p(x) + alpha_mass * log p(m) + alpha_marginals * sum_i log p(x_i) (0, 0: plain density).
DENSITIES: dict[str, tuple[list[str], float, float]] = {
    "base": (BASE, 0.0, 0.0),
    "base+n": (BASE + ["n"], 0.0, 0.0),
    "base+ptd": (BASE + ["ptd"], 0.0, 0.0),
    "base+d2": (BASE + ["d2_b1"], 0.0, 0.0),
    "base+lund5": (BASE + ["lund5"], 0.0, 0.0),
    "base+softdrop": (BASE + ["msd", "zg", "rg"], 0.0, 0.0),
    "base+d2+lund5": (BASE + ["d2_b1", "lund5"], 0.0, 0.0),
    "base_given_mass": (BASE, 1.0, 0.0),
    "base_half_copula": (BASE, 0.0, 0.5),
}
#: Fisher combinations of views ("pca" = the PCA's image reconstruction error).
COMBINATIONS: dict[str, list] = {
    "combo_pca_base": ["pca", BASE],
    "combo_pca_base_lund": ["pca", BASE, ["m", "lund5", "ktmax"]],
    "combo_pca_base_ecf_lund": ["pca", BASE, ["m", "d2_b1", "d2_b2", "c2_b1"], ["m", "lund5", "ktmax"]],
    "combo_base_ecf_lund": [BASE, ["m", "d2_b1", "d2_b2", "c2_b1"], ["m", "lund5", "ktmax"]],
    # the substructure's rarity given the mass as a view of its own ({"given_mass": names}:
    # -log p(x) + log p(m)), next to the joint density or the mass density alone
    "combo_pca_base_given_mass": ["pca", BASE, {"given_mass": BASE}],
    "combo_pca_mass_given_mass": ["pca", ["m"], {"given_mass": BASE}],
    "combo_base_given_mass": [BASE, {"given_mass": BASE}],
}
SUPERVISED = {
    "base": BASE,
    "base+n": BASE + ["n"],
    "base+all": BASE + ["n", "ptd", "d2_b1", "lund5", "msd", "zg", "rg"],
}


def sample_paths(data: Path) -> dict[str, Path]:
    paths = {name: data / f"{name}.h5" for name in ("qcd_train", "qcd_test", "top_train", "top_test", "w_test")}
    paths.update({name: data / "zoo" / f"{name}.h5" for name in ZOO_SIGNALS})
    return paths


def load_samples(paths: dict[str, Path], cache: Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """``(jets, features)`` of each sample (``top_train``: its first fit + calibration jets); the
    features are computed once and cached in ``cache`` as ``NAME.npz`` (``/`` in a name -> ``_``)."""
    cache.mkdir(parents=True, exist_ok=True)
    jets, features = {}, {}
    for name, path in paths.items():
        jets[name] = read_jets(path)
        if name == "top_train":
            jets[name] = jets[name][: N_FIT_TOP + N_CAL_TOP]
        cached = cache / f"{name.replace('/', '_')}.npz"
        if not cached.exists():
            t0 = time.time()
            np.savez(cached, **jet_features(jets[name].constituents))
            print(f"features {name}: {len(jets[name])} jets, {time.time() - t0:.0f} s", flush=True)
        features[name] = dict(np.load(cached))
    return jets, features


def fastjet_features(constituents: np.ndarray, batch_size: int = 5000) -> dict[str, np.ndarray]:
    """Soft drop, energy correlators and primary Lund-plane counts of each jet (C/A reclustering)."""
    definition = fastjet.JetDefinition(fastjet.cambridge_algorithm, 1.5)  # one jet from all constituents
    parts: dict[str, list] = {k: [] for k in ("msd", "zg", "rg", "c2_b1", "c2_b2", "d2_b1", "d2_b2", "lund1")}
    parts.update({"lund5": [], "lund10": [], "ktmax": []})
    for start in range(0, len(constituents), batch_size):
        chunk = constituents[start : start + batch_size]
        real = padding_mask(chunk)
        flat = chunk[real]
        particles = ak.unflatten(
            ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}), real.sum(axis=1)
        )
        with capture_stdout(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sequence = fastjet.ClusterSequence(particles, definition)
            groomed = sequence.exclusive_jets_softdrop_grooming(njets=1, beta=0, symmetry_cut=0.1, R0=0.8)
            lund = sequence.exclusive_jets_lund_declusterings(njets=1)
            for name, beta, func in (("c2_b1", 1, "C2"), ("c2_b2", 2, "C2"), ("d2_b1", 1, "D2"), ("d2_b2", 2, "D2")):
                values = ak.to_numpy(sequence.exclusive_jets_energy_correlator(njets=1, beta=beta, func=func))
                parts[name].append(np.nan_to_num(values.reshape(-1)))
        parts["msd"].append(ak.to_numpy(groomed.msoftdrop))
        parts["zg"].append(ak.to_numpy(groomed.symmetrysoftdrop))
        parts["rg"].append(np.clip(ak.to_numpy(groomed.deltaRsoftdrop), 0.0, None))  # -1: nothing groomed
        lund = lund[:, 0] if lund.ndim > 2 else lund
        inside = lund.Delta < 0.8
        for cut in (1, 5, 10):
            parts[f"lund{cut}"].append(ak.to_numpy(ak.sum((lund.kt > cut) & inside, axis=-1)))
        parts["ktmax"].append(ak.to_numpy(ak.fill_none(ak.max(ak.where(inside, lund.kt, 0.0), axis=-1), 0.0)))
    return {name: np.concatenate(values).astype(np.float64) for name, values in parts.items()}


def jet_features(constituents: np.ndarray) -> dict[str, np.ndarray]:
    """All coordinates of one sample, raw (GeV, counts, dimensionless)."""
    constituents = np.asarray(constituents, dtype=np.float64)
    real = padding_mask(constituents)
    weights = np.where(real, pt(constituents), 0.0)
    taus = nsubjettiness(constituents, n_max=5, betas=(1.0,))[:, :, 0]
    features = {"m": np.asarray(jet_kinematics(constituents)["mass"], dtype=np.float64)}
    features.update({f"tau{n}": taus[:, n - 1] for n in range(1, 6)})
    features["n"] = real.sum(axis=1).astype(np.float64)
    features["ptd"] = np.sqrt((weights**2).sum(axis=1)) / weights.sum(axis=1)
    features.update(fastjet_features(constituents))
    return features


def coordinates(features: dict[str, np.ndarray], names: list[str], seed: int = 0) -> np.ndarray:
    """``(n_jets, len(names))`` density coordinates: logs of the positive quantities, z_g as it is,
    counts dequantised by a uniform jitter (a density on integers is not a density)."""
    rng = np.random.default_rng(seed)
    columns = []
    for name in names:
        values = features[name]
        if name in ("m", "msd"):
            columns.append(np.log1p(values))
        elif name == "zg":
            columns.append(values)
        elif name.startswith("lund"):
            columns.append(values + rng.uniform(0.0, 1.0, len(values)))
        else:
            columns.append(np.log(np.abs(values) + LOG_FLOOR))
    return np.stack(columns, axis=1)


class Density:
    """Standardise, then a 40-component full-covariance Gaussian mixture (as `observable_density`)."""

    def __init__(self, x: np.ndarray, n_components: int = 40, seed: int = 0):
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0)
        self.mixture = GaussianMixture(
            n_components, covariance_type="full", reg_covar=1e-4, max_iter=300, random_state=seed
        ).fit((x - self.mean) / self.scale)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return self.mixture.score_samples((x - self.mean) / self.scale) - np.log(self.scale).sum()


def density_scorer(train: dict, names: list[str], alpha_mass: float, alpha_marginals: float, n_fit: int):
    def fit(cols: list[str], k: int) -> Density:
        return Density(coordinates(train, cols)[:n_fit], n_components=k)

    joint = fit(names, 40)
    mass = fit(["m"], 10) if alpha_mass else None
    marginals = [fit([name], 10) for name in names] if alpha_marginals else []

    def score(features: dict) -> np.ndarray:
        values = -joint.log_prob(coordinates(features, names))
        if mass is not None:
            values += alpha_mass * mass.log_prob(coordinates(features, ["m"]))
        for name, marginal in zip(names, marginals):
            values += alpha_marginals * marginal.log_prob(coordinates(features, [name]))
        return values

    return score


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    labels = np.r_[np.zeros(len(background)), np.ones(len(signal))]
    return float(roc_auc_score(labels, np.r_[background, signal]))


def p_values(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Upper-tail p-values of ``scores`` against the background ``reference`` (+1 smoothing)."""
    reference = np.sort(reference)
    return (len(reference) - np.searchsorted(reference, scores, side="left") + 1) / (len(reference) + 1)


def summarise(scores: dict[str, np.ndarray], reverse: float) -> dict:
    result = {"auc": {s: round(auc(scores["qcd_test"], scores[s]), 4) for s in SIGNALS}}
    zoo = [result["auc"][s] for s in ZOO_SIGNALS]
    result.update(min_auc=round(min(zoo), 4), median_auc=round(float(np.median(zoo)), 4), reverse_auc=round(reverse, 4))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"), help="bench/make_samples.sh directory (+ zoo/)")
    parser.add_argument("--cache", type=Path, default=Path("data/agnostic_features"), help="feature cache")
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/agnostic_features.json"))
    args = parser.parse_args()
    started = time.time()

    jets, features = load_samples(sample_paths(args.data), args.cache)

    # PCA reconstruction error (a combination member), both directions
    pca_forward = create_model("pca").fit(jets["qcd_train"][:N_FIT])
    pca_reverse = create_model("pca").fit(jets["top_train"][:N_FIT_TOP])
    pca = {
        "forward": {s: pca_forward.anomaly_score(jets[s]) for s in ("qcd_train", "qcd_test", *SIGNALS)},
        "reverse": {s: pca_reverse.anomaly_score(jets[s]) for s in ("top_train", "top_test", "qcd_test")},
    }

    results: dict = json.loads(args.out.read_text()) if args.out.exists() else {}
    results.setdefault("variants", {})
    wanted = set(args.only) if args.only else None

    for name, (names, alpha_mass, alpha_marginals) in DENSITIES.items():
        if wanted is not None and name not in wanted:
            continue
        forward = density_scorer(features["qcd_train"], names, alpha_mass, alpha_marginals, N_FIT)
        reverse = density_scorer(features["top_train"], names, alpha_mass, alpha_marginals, N_FIT_TOP)
        scores = {s: forward(features[s]) for s in ("qcd_test", *SIGNALS)}
        rev = auc(reverse(features["top_test"]), reverse(features["qcd_test"]))
        results["variants"][name] = dict(
            summarise(scores, rev), coordinates=names, alpha_mass=alpha_mass, alpha_marginals=alpha_marginals
        )
        print(name, results["variants"][name]["min_auc"], results["variants"][name]["median_auc"], flush=True)

    def view_scores(view, direction: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(calibration scores, {sample: scores}) of one view."""
        train, n_fit, n_cal = (
            ("qcd_train", N_FIT, N_CAL) if direction == "forward" else ("top_train", N_FIT_TOP, N_CAL_TOP)
        )
        targets = ("qcd_test", *SIGNALS) if direction == "forward" else ("top_test", "qcd_test")
        if view == "pca":
            return pca[direction][train][n_fit : n_fit + n_cal], {s: pca[direction][s] for s in targets}
        if isinstance(view, dict):
            score = density_scorer(features[train], view["given_mass"], 1.0, 0.0, n_fit)
        else:
            score = density_scorer(features[train], view, 0.0, 0.0, n_fit)
        calibration = score({k: v[n_fit : n_fit + n_cal] for k, v in features[train].items()})
        return calibration, {s: score(features[s]) for s in targets}

    for name, views in COMBINATIONS.items():
        if wanted is not None and name not in wanted:
            continue
        combined = {}
        for direction in ("forward", "reverse"):
            fisher: dict[str, np.ndarray] = {}
            for view in views:
                calibration, scores = view_scores(view, direction)
                for sample, values in scores.items():
                    fisher[sample] = fisher.get(sample, 0.0) - np.log(p_values(calibration, values))
            combined[direction] = fisher
        rev = auc(combined["reverse"]["top_test"], combined["reverse"]["qcd_test"])
        results["variants"][name] = dict(summarise(combined["forward"], rev), views=views)
        print(name, results["variants"][name]["min_auc"], results["variants"][name]["median_auc"], flush=True)

    if wanted is None or "supervised" in wanted:
        supervised = {}
        for name, names in SUPERVISED.items():
            supervised[name] = {}
            for signal in ("light_scalar_gg", "dark_shower", "higgs_bb"):
                x = np.r_[coordinates(features["qcd_train"], names)[:10_000], coordinates(features[signal], names)]
                y = np.r_[np.zeros(10_000), np.ones(len(features[signal]["m"]))]
                order = np.random.default_rng(0).permutation(len(x))
                train, test = order[: len(x) // 2], order[len(x) // 2 :]
                classifier = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x[train], y[train])
                supervised[name][signal] = round(
                    float(roc_auc_score(y[test], classifier.predict_proba(x[test])[:, 1])), 4
                )
        results["supervised_reference"] = supervised
        print("supervised", supervised, flush=True)

    results["meta"] = {
        "command": "python bench/agnostic_features.py" + (f" --only {' '.join(args.only)}" if args.only else ""),
        "seed": 0,
        "n_fit": N_FIT,
        "n_calibration": N_CAL,
        "density": "GaussianMixture(40, full, reg_covar=1e-4) on standardised coordinates",
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.time() - started, 1),
    }
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
