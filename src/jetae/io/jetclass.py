"""Read JetClass ROOT files (Qu, Li, Qian, arXiv:2202.03772; zenodo 6619768).

The layout, as in the dataset's files and its reference code (jet-universe/particle_transformer,
``data/JetClass/JetClass_full.yaml`` and ``notebooks/JetClass101.ipynb``): one ROOT file per
process and split, a ``TTree`` named ``tree`` with one entry per jet and

``part_px, part_py, part_pz, part_energy``
    per-particle (jagged, ``std::vector<float>``) momenta in GeV; other ``part_*`` branches
    (``part_deta``, ``part_dphi``, ``part_charge``, ``part_isPhoton``, impact parameters, ...)
    are not used by jetae;
``label_QCD, label_Hbb, label_Hcc, label_Hgg, label_H4q, label_Hqql, label_Zqq, label_Wqq, label_Tbqq, label_Tbl``
    one-hot truth labels, stored as float, bool or int32 depending on the branch;
``jet_pt, jet_eta, jet_phi, jet_energy, jet_nparticles, jet_sdmass, jet_tau1..4``
    jet-level quantities (not used: jetae recomputes the jet from its constituents);
``aux_genpart_*, aux_truth_match``
    generator truth (not used; the truth columns of :class:`~jetae.jets.Jets` stay zero).

Reading gives :class:`~jetae.jets.Jets` with the constituents ``(E, px, py, pz)`` =
``(part_energy, part_px, part_py, part_pz)`` ordered by decreasing pT; the class is the one
``label_*`` branch set to 1 (any ``label_*`` branch counts, the ten above come first), and
``is_signal`` is 0 for the background classes (by default ``QCD``) and 1 for every other
class. ``ttv`` is 0 (JetClass keeps its splits in separate files). An RNTuple named ``tree``
with the same fields is read the same way.

uproot (the ``root`` extra: ``pip install 'jetae[root]'``) is imported only when a ROOT file
is read.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from jetae.errors import JetaeError
from jetae.io.dataset_base import DatasetFile, RawChunk, example_rows, one_hot_classes, pack_particles

log = logging.getLogger(__name__)

#: Name of the jet tree in JetClass files.
TREE = "tree"
#: Particle branches in jetae's column order (E, px, py, pz).
PARTICLE_BRANCHES = ("part_energy", "part_px", "part_py", "part_pz")
#: The ten JetClass classes, in the order of the dataset's label list.
LABELS = (
    "label_QCD",
    "label_Hbb",
    "label_Hcc",
    "label_Hgg",
    "label_H4q",
    "label_Hqql",
    "label_Zqq",
    "label_Wqq",
    "label_Tbqq",
    "label_Tbl",
)
#: Classes read as background (``is_signal = 0``) by default.
DEFAULT_BACKGROUND = ("QCD",)
#: ROOT file signature (the first four bytes of every ROOT file).
ROOT_MAGIC = b"root"
_TREE_CLASSES = ("TTree", "ROOT::RNTuple")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0]}" if lines else exc.__class__.__name__


def import_uproot(path: str | os.PathLike | None = None) -> Any:
    """``uproot``, or a JetaeError saying how to install it (the ``root`` extra)."""
    try:
        import uproot
    except ImportError:
        raise JetaeError(
            "reading ROOT files needs uproot, which is not installed: pip install 'jetae[root]'", path
        ) from None
    return uproot


class JetClassFile(DatasetFile):
    """An open JetClass ROOT file (see the module docstring for the layout).

    Opening checks the tree and its branches; :meth:`read` checks each chunk's branch types
    and labels. Use as a context manager.

    Raises
    ------
    JetaeError
        uproot missing, not a readable ROOT file, no tree ``tree``, missing ``part_*``
        branches, no ``label_*`` branch.
    """

    format = "jetclass"
    default_background = DEFAULT_BACKGROUND

    def __init__(self, path: str | os.PathLike, tree: str = TREE):
        super().__init__(path)
        if not self.path.exists():
            raise self.fail("file not found")
        if self.path.is_dir():
            raise self.fail("is a directory, expected a ROOT file")
        uproot = import_uproot(self.path)
        try:
            self.file = uproot.open(self.path)
            found = {name.split(";")[0]: kind for name, kind in self.file.classnames().items()}
        except Exception as exc:  # noqa: BLE001 - uproot raises many kinds on damaged files
            raise self.fail(f"not a readable ROOT file (truncated or damaged?): {_first_line(exc)}") from None
        try:
            self._open_tree(tree, found)
        except BaseException:
            self.close()
            raise

    def _open_tree(self, tree: str, found: dict[str, str]) -> None:
        if found.get(tree) not in _TREE_CLASSES:
            trees = [name for name, kind in found.items() if kind in _TREE_CLASSES]
            what = f"trees found: {', '.join(trees)}" if trees else "no tree in the file"
            raise self.fail(f"no tree '{tree}' ({what}); expected the JetClass layout (tree '{TREE}')")
        try:
            self.tree = self.file[tree]
            branches = list(self.tree.keys())
            self.n_jets = int(self.tree.num_entries)
        except Exception as exc:  # noqa: BLE001
            raise self.fail(f"cannot read tree '{tree}': {_first_line(exc)}") from None
        self.tree_name, self.tree_kind = tree, found[tree]
        missing = [name for name in PARTICLE_BRANCHES if name not in branches]
        if missing:
            raise self.fail(
                f"missing particle branch(es) {', '.join(missing)} in tree '{tree}'; expected the JetClass layout "
                f"({', '.join(PARTICLE_BRANCHES)} and label_* branches)"
            )
        labels = [name for name in branches if name.startswith("label_")]
        if not labels:
            raise self.fail(f"no label_* branches in tree '{tree}' (JetClass labels: {', '.join(LABELS)})")
        self.label_branches = [name for name in LABELS if name in labels] + [n for n in labels if n not in LABELS]
        self.classes = [name.removeprefix("label_") for name in self.label_branches]
        self.n_branches = len(branches)

    def close(self) -> None:
        file = getattr(self, "file", None)
        if file is not None:
            try:
                file.close()
            except Exception:  # noqa: BLE001 - closing a damaged file must not hide the real error
                pass

    def describe(self) -> str:
        kind = "TTree" if self.tree_kind == "TTree" else "RNTuple"
        return (
            f"JetClass (ROOT {kind} '{self.tree_name}', {self.n_branches} branches, "
            f"{len(self.label_branches)} label branches)"
        )

    def _arrays(self, names: list[str], lo: int, hi: int) -> Any:
        try:
            return self.tree.arrays(filter_name=names, entry_start=lo, entry_stop=hi, library="ak")
        except Exception as exc:  # noqa: BLE001
            raise self.fail(f"cannot read branches {', '.join(names)} (rows {lo}-{hi}): {_first_line(exc)}") from None

    def _numbers(self, array: Any, name: str, jagged: bool) -> np.ndarray:
        """A branch's values as a float64 numpy array (flattened for a jagged branch)."""
        import awkward as ak

        if array.ndim != (2 if jagged else 1):
            want = "one list of numbers per jet (jagged)" if jagged else "one number per jet"
            raise self.fail(f"branch '{name}' has type {array.type}; expected {want}")
        try:
            values = ak.to_numpy(ak.flatten(array) if jagged else array)
        except Exception as exc:  # noqa: BLE001 - records, strings, options
            raise self.fail(f"branch '{name}' does not hold plain numbers ({_first_line(exc)})") from None
        if values.dtype.kind not in "biuf":
            raise self.fail(f"branch '{name}' holds {values.dtype}, expected numbers")
        return values.astype(np.float64)

    def read_classes(self, lo: int, hi: int) -> np.ndarray:
        arrays = self._arrays(self.label_branches, lo, hi)
        return self._classes(arrays, lo)

    def _classes(self, arrays: Any, lo: int) -> np.ndarray:
        columns = [self._numbers(arrays[name], name, jagged=False) for name in self.label_branches]
        values = np.stack(columns, axis=1) if columns else np.zeros((0, 0))
        return one_hot_classes(values, self.label_branches, lo, self.path)

    def read(self, lo: int, hi: int) -> RawChunk:
        import awkward as ak

        arrays = self._arrays(list(PARTICLE_BRANCHES) + self.label_branches, lo, hi)
        columns, counts = [], None
        for name in PARTICLE_BRANCHES:
            columns.append(self._numbers(arrays[name], name, jagged=True))
            branch_counts = np.asarray(ak.num(arrays[name], axis=1), dtype=np.int64)
            if counts is None:
                counts = branch_counts
            elif not np.array_equal(branch_counts, counts):
                differ = branch_counts != counts
                raise self.fail(
                    f"branches {PARTICLE_BRANCHES[0]} and {name} have different numbers of particles "
                    f"in {int(differ.sum())} jet(s), e.g. rows {example_rows(differ, lo)}"
                )
        constituents = pack_particles(np.stack(columns, axis=1), counts)
        return RawChunk(constituents=constituents, class_index=self._classes(arrays, lo))
