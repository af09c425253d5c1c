"""The one sample reader of evaluation, experiments and bench scripts, and the checks of its jets.

A *sample* is jets given in memory (:class:`~jetae.data.jets.Jets`) or a reference-layout
HDF5 file (``jetae generate`` output, the zenodo files). :func:`read_sample` turns either
into jets (a row range of a file, or of the jets); :func:`load_inputs` reads the background
and signal samples of an evaluation, names the signals and checks their labels.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from jetae.errors import JetaeError
from jetae.evaluation import resolvability as rules
from jetae.io.toptag import read_jets
from jetae.jets import Jets

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
SampleLike = Jets | PathLike


def read_sample(
    sample: SampleLike, role: str | None = None, n_max: int | None = None, start: int = 0, on_unphysical: str = "error"
) -> Jets:
    """Jets as given, or read from a reference-layout file: rows ``start`` to ``start + n_max``.

    Parameters
    ----------
    sample:
        :class:`Jets` (sliced, never copied) or the path of a reference-layout file
        (read with :func:`jetae.data.toptag.read_jets`: checked, never unpickled).
    role:
        What the jets are for (``"background test"``, ``"qcd_train"``, ...): named in the
        log line and in the errors of a missing file or a bad count.
    n_max:
        At most this many jets (None: all from ``start``); must be >= 1.
    start:
        First row used (e.g. the held-out end of a training file).
    on_unphysical:
        For files: ``"error"`` refuses unphysical constituents, ``"drop"`` drops their jets.

    Raises
    ------
    JetaeError
        ``n_max < 1``, no jets (an empty :class:`Jets`, or no rows from ``start``), a missing,
        damaged or foreign file.
    """
    where = f"{role}: " if role else ""
    if n_max is not None and n_max < 1:
        raise JetaeError(f"{where}number of jets (n_max) must be >= 1, got {n_max}")
    if start < 0:
        raise JetaeError(f"{where}first row must be >= 0, got {start}")
    if isinstance(sample, Jets):
        stop = None if n_max is None else start + n_max
        jets = sample if start == 0 and stop is None else sample[start:stop]
        if len(jets) == 0:
            raise JetaeError(f"{where}contains no jets" + (f" from row {start}" if start else ""), sample.source)
        return jets
    path = Path(os.fspath(sample))
    if role and not path.exists():
        raise JetaeError(f"{role} file not found", path)
    jets = read_jets(path, n_max=n_max, start=start, on_unphysical=on_unphysical)
    log.info("%s%d jets from %s", where, len(jets), path)
    return jets


def sample_source(sample: SampleLike) -> str | None:
    """The path of a file sample, or the ``source`` of in-memory jets (for provenance)."""
    return sample.source if isinstance(sample, Jets) else os.fspath(sample)


def signal_name(path_or_jets: SampleLike) -> str:
    """A signal's report name: the file stem (``top_test.h5`` -> ``top_test``)."""
    source = path_or_jets.source if isinstance(path_or_jets, Jets) else path_or_jets
    return Path(os.fspath(source)).stem if source else "signal"


def unique_names(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Make names unique (and different from ``reserved``) by appending ``_2``, ``_3``, ..."""
    used = set(reserved)
    result = []
    for name in names:
        candidate, k = name, 2
        while candidate in used:
            candidate, k = f"{name}_{k}", k + 1
        used.add(candidate)
        result.append(candidate)
    return result


def check_labels(background: Jets, signals: Mapping[str, Jets]) -> None:
    """Catch swapped files using the ``is_signal_new`` labels.

    Rule: a background sample whose jets are *all* labelled signal is an error (a signal
    file given as background). Any other disagreement between a file's role and its
    labels (some signal-labelled background jets, a signal sample labelled background,
    a signal file that is the background file) only warns: every jet counts as the role
    of the file it was given in.
    """
    n_signal_labelled = int(np.count_nonzero(background.is_signal == 1))
    if n_signal_labelled == len(background):
        raise JetaeError(
            f"all {len(background)} jets of the background sample are labelled signal (is_signal_new = 1): "
            "is this a signal file given as --background?",
            background.source,
        )
    if n_signal_labelled:
        log.warning(
            "%s: %d of %d background jets are labelled signal; they are counted as background",
            background.source or "background",
            n_signal_labelled,
            len(background),
        )
    for name, jets in signals.items():
        where = jets.source or f"signal {name!r}"
        n_background_labelled = int(np.count_nonzero(jets.is_signal != 1))
        if n_background_labelled == len(jets):
            log.warning(
                "%s: all %d jets of signal %r are labelled background (is_signal_new = 0); they are "
                "evaluated as signal (a background file given as --signal?)",
                where,
                len(jets),
                name,
            )
        elif n_background_labelled:
            log.warning(
                "%s: %d of %d jets of signal %r are labelled background; they are counted as signal",
                where,
                n_background_labelled,
                len(jets),
                name,
            )
        if jets.source and background.source and Path(jets.source).resolve() == Path(background.source).resolve():
            log.warning("%s: signal %r is the background file itself (expect AUC = 0.5)", where, name)


def named_signals(signals: Mapping[str, SampleLike] | Sequence[SampleLike] | SampleLike) -> dict[str, SampleLike]:
    """``{name: sample}``: a mapping as given, else each sample named by its file stem (made unique).

    "background" names the background class in tables and plots, so no signal may be called that.
    """
    if isinstance(signals, (Jets, str, os.PathLike)):
        signals = [signals]
    if not isinstance(signals, Mapping):
        signals = dict(zip(unique_names([signal_name(s) for s in signals], reserved=("background",)), signals))
    if not signals:
        raise JetaeError("no signal sample given (--signal FILE.h5)")
    if "background" in signals:
        raise JetaeError("a signal may not be called 'background'; choose another name")
    return dict(signals)


def load_inputs(
    background: SampleLike,
    signals: Mapping[str, SampleLike] | Sequence[SampleLike] | SampleLike,
    n_max: int | None = None,
    on_unphysical: str = "error",
) -> tuple[Jets, dict[str, Jets], PathLike | None, dict[str, PathLike | None]]:
    """Read the samples of an evaluation: ``(background jets, {signal: jets}, background path, {signal: path})``.

    Signals are named by :func:`named_signals`; the labels are checked (:func:`check_labels`).
    Paths are None for in-memory jets.
    """
    signals = named_signals(signals)
    background_path = None if isinstance(background, Jets) else background
    background_jets = read_sample(background, n_max=n_max, on_unphysical=on_unphysical)
    signal_jets = {
        name: read_sample(sample, n_max=n_max, on_unphysical=on_unphysical) for name, sample in signals.items()
    }
    signal_paths = {name: None if isinstance(s, Jets) else s for name, s in signals.items()}
    check_labels(background_jets, signal_jets)
    return background_jets, signal_jets, background_path, signal_paths


def warn_small_samples(background: Jets, signals: Mapping[str, Jets]) -> list[str]:
    """Log (and return) a warning for each sample too small to resolve every figure.

    Thresholds: :data:`jetae.evaluation.resolvability.MIN_BACKGROUND_JETS_ALL_FIGURES`
    background jets (eps_S at eps_B = 1e-3 needs 10 000) and ``MIN_SIGNAL_JETS_ALL_FIGURES``
    signal jets (R30 needs 34). The evaluation goes on; what is not resolved is ``null``
    with a reason in metrics.json and "n/a" in the tables.
    """
    warnings = []
    if len(background) < rules.MIN_BACKGROUND_JETS_ALL_FIGURES:
        warnings.append(
            f"{background.source or 'background'}: {len(background)} background jets, fewer than "
            f"{rules.MIN_BACKGROUND_JETS_ALL_FIGURES} (>= {rules.MIN_BACKGROUND_JETS_ALL_FIGURES} "
            "resolve every figure; eps_S at eps_B = 1e-3 needs that many)"
        )
    for name, jets in signals.items():
        if len(jets) < rules.MIN_SIGNAL_JETS_ALL_FIGURES:
            warnings.append(
                f"{jets.source or name}: signal {name!r} has {len(jets)} jets, fewer than "
                f"{rules.MIN_SIGNAL_JETS_ALL_FIGURES} (>= {rules.MIN_SIGNAL_JETS_ALL_FIGURES} resolve "
                f"every figure; R30 needs that many, the AUC {rules.MIN_JETS_PER_CLASS})"
            )
    for warning in warnings:
        log.warning(
            "%s; figures these jets cannot resolve are null in metrics.json (with a reason) and n/a in the report",
            warning,
        )
    return warnings
