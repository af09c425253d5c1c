"""The benchmark's samples: which files and how many jets, generating the quick ones, reading every role.

Samples (``DATA_DIR/<name>.h5``, the names of ``bench/make_samples.sh``)::

    qcd_train   forward training (first n_train jets)
    top_train   reverse training (first jets) + reverse test background (its LAST n_test jets)
    qcd_test    forward background; reverse anomaly
    top_test    forward signal "top"
    w_test      forward signal "w"
    w_outliers  outlier-exposure jets for oe_vae (both directions), never the W test file
    zoo/NAME    forward signal NAME of the signal zoo (first n_test jets; presets zoo, zoo-quick,
                or --zoo), made by ``jetae generate --card NAME`` (bench/make_zoo_samples.sh)

The reverse test set is held out of ``top_train`` (its last ``n_test`` jets), so the top
jets of the forward signal (``top_test``) and of the reverse background are different,
independent samples; the reverse training set is the jets before them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from jetae.errors import JetaeError
from jetae.evaluation.provenance import file_provenance
from jetae.evaluation.samples import check_labels, read_sample
from jetae.experiments.benchmark.config import BenchmarkConfig, needs_outliers
from jetae.experiments.benchmark.presets import PRESET_DEFAULTS, SAMPLES, ZOO_SAMPLES
from jetae.experiments.sample_files import ensure_sample_files
from jetae.io.toptag import count_jets
from jetae.jets import Jets

log = logging.getLogger(__name__)

#: The script that makes the shared samples of the full preset.
MAKE_SAMPLES = "bench/make_samples.sh"
#: The script that makes the zoo samples of the zoo preset (``DATA_DIR/zoo/NAME.h5``).
MAKE_ZOO_SAMPLES = "bench/make_zoo_samples.sh"
#: Folder of the zoo samples inside the data directory.
ZOO_DIR = "zoo"


def zoo_sample(signal: str) -> str:
    """The sample name (path below the data directory, without ``.h5``) of zoo signal ``signal``."""
    return f"{ZOO_DIR}/{signal}"


def sample_seed(name: str) -> int | None:
    """The generation seed of sample ``name`` (a benchmark sample or ``zoo/NAME``); None for a
    zoo signal of the user's own (not made by jetae's sample scripts)."""
    if name.startswith(f"{ZOO_DIR}/"):
        return ZOO_SAMPLES.get(name.split("/", 1)[1])
    return SAMPLES[name][1]


def required_samples(config: BenchmarkConfig) -> dict[str, int]:
    """``{sample name: minimum number of jets}`` for a resolved config."""
    assert config.n_train is not None and config.n_test is not None and config.n_outliers is not None
    required = {
        "qcd_train": config.n_train,
        "top_train": config.n_train + config.n_test,
        "qcd_test": config.n_test,
        "top_test": config.n_test,
        "w_test": config.n_test,
    }
    if any(needs_outliers(name) for name in config.models or ()):
        required["w_outliers"] = config.n_outliers
    for signal in config.zoo or ():
        required[zoo_sample(signal)] = config.n_test
    return required


def sample_count(path: Path) -> int | None:
    """Jets in ``path``; None if it is missing, -1 if it is unreadable."""
    if not path.exists():
        return None
    try:
        return count_jets(path)
    except JetaeError:
        return -1


def prepare_samples(config: BenchmarkConfig) -> dict[str, Path]:
    """Paths of the samples, generated first for the quick preset; a clear error if any is missing.

    Quick: a file with at least the needed number of jets is reused (its first jets are
    taken); a missing, unreadable or smaller one is (re)generated with Pythia 8 + FastJet.
    Full: never generates; every missing file is named with the script that makes it. Zoo
    samples (``zoo/NAME``) are generated from the card ``NAME`` shipped with jetae.
    ``top_train`` may be smaller than ``n_train + n_test`` (the reverse direction then
    trains on fewer jets), but must hold more than ``n_test``.
    """
    data_dir = Path(config.data_dir or ".")
    required = required_samples(config)
    assert config.n_test is not None
    minimum = dict(required, top_train=config.n_test + 1)
    counts = {name: sample_count(data_dir / f"{name}.h5") for name in required}
    short = {name: n for name, n in required.items() if (counts[name] or 0) < minimum[name]}
    if short and PRESET_DEFAULTS[config.preset].generate:
        log.info("generating %d quick benchmark sample(s) in %s (cached for the next run)", len(short), data_dir)
        zoo = {name: name.split("/", 1)[1] for name in short if name.startswith(f"{ZOO_DIR}/")}
        ensure_sample_files(
            data_dir,
            {name: (None if name in zoo else SAMPLES[name][0], n, sample_seed(name)) for name, n in short.items()},
            workers=config.workers,
            cards=zoo,
        )
    elif short:

        def why(name: str) -> str:
            count = counts[name]
            return "missing" if count is None else "unreadable" if count < 0 else f"{count} jets, needs {minimum[name]}"

        own = [name for name in short if name.startswith(f"{ZOO_DIR}/") and sample_seed(name) is None]
        if own:
            raise JetaeError(
                "signal sample(s) of your own not usable: "
                + ", ".join(f"{data_dir / f'{name}.h5'} ({why(name)})" for name in own)
                + f"; make each with `jetae generate --card YOUR_CARD --n {config.n_test} --out DATA_DIR/zoo/NAME.h5`"
                " (docs/generation.md) or copy a file in the reference layout there"
            )
        scripts = sorted({MAKE_ZOO_SAMPLES if name.startswith(f"{ZOO_DIR}/") else MAKE_SAMPLES for name in short})
        problems = [f"{data_dir / f'{name}.h5'} ({why(name)})" for name in short]
        raise JetaeError(
            f"the {config.preset} benchmark needs the shared samples made by {' and '.join(scripts)} "
            f"(run `bash {'` and `bash '.join(scripts)}` from the repository root, or point --data-dir at a copy); "
            f"not usable: {', '.join(problems)}"
        )
    return {name: data_dir / f"{name}.h5" for name in required}


@dataclass
class Samples:
    """The jets of one benchmark run (see the module docstring for the roles)."""

    qcd_train: Jets
    #: The reverse training jets (first jets of top_train) and the held-out reverse test jets (its last).
    top_train: Jets
    top_holdout: Jets
    qcd_test: Jets
    top_test: Jets
    w_test: Jets
    w_outliers: Jets | None
    #: Provenance per file: path, counts, rows used, generation sidecar.
    provenance: dict[str, Any]
    #: ``{zoo signal: jets}`` (first n_test jets of ``zoo/NAME.h5``), in the order of ``config.zoo``.
    zoo: dict[str, Jets] = field(default_factory=dict)


def load_samples(config: BenchmarkConfig, paths: Mapping[str, Path]) -> Samples:
    """Read the jets of every role (first jets of each file; the held-out top jets are the last ``n_test``)."""
    assert config.n_train is not None and config.n_test is not None and config.n_outliers is not None
    n_top = count_jets(paths["top_train"])
    n_reverse_train = min(config.n_train, n_top - config.n_test)
    rows = {
        "qcd_train": {"train": (0, config.n_train)},
        "top_train": {"reverse_train": (0, n_reverse_train), "reverse_test": (n_top - config.n_test, n_top)},
        "qcd_test": {"test": (0, config.n_test)},
        "top_test": {"test": (0, config.n_test)},
        "w_test": {"test": (0, config.n_test)},
    }
    if "w_outliers" in paths:
        rows["w_outliers"] = {"outliers": (0, config.n_outliers)}
    for signal in config.zoo or ():
        rows[zoo_sample(signal)] = {"test": (0, config.n_test)}
    jets: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for name, slices in rows.items():
        for role, (start, stop) in slices.items():
            jets[role if name == "top_train" else name] = read_sample(
                paths[name], f"{name} rows {start}-{stop} ({role})", n_max=stop - start, start=start
            )
        first = jets["reverse_train" if name == "top_train" else name]
        record = file_provenance(first, paths[name])
        record.pop("n_jets_used", None)
        record.pop("n_labelled_signal", None)
        record["rows_used"] = {role: [start, stop] for role, (start, stop) in slices.items()}
        provenance[name] = record
    # Catch swapped files from the is_signal_new labels (errors only for an all-signal QCD sample).
    check_labels(jets["qcd_train"], {})
    zoo = {signal: jets[zoo_sample(signal)] for signal in config.zoo or ()}
    check_labels(
        jets["qcd_test"], {"top": jets["top_test"], "w": jets["w_test"], "top_train": jets["reverse_train"], **zoo}
    )
    return Samples(
        qcd_train=jets["qcd_train"],
        top_train=jets["reverse_train"],
        top_holdout=jets["reverse_test"],
        qcd_test=jets["qcd_test"],
        top_test=jets["top_test"],
        w_test=jets["w_test"],
        w_outliers=jets.get("w_outliers"),
        provenance=provenance,
        zoo=zoo,
    )
