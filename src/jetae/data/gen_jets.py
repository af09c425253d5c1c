"""Compatibility: split into :mod:`jetae.generation.clustering`, :mod:`~jetae.generation.regional`,
:mod:`~jetae.generation.matching` and :mod:`~jetae.generation.jet_finding`; import from there.
"""

from jetae.generation.clustering import BANNER, JetWindow, cluster, pack_constituents, visible_final_state
from jetae.generation.jet_finding import BatchJets, find_jets
from jetae.generation.matching import TruthPartons, decay_partons, match_jets, truth_partons
from jetae.generation.regional import REGIONAL_MIN_PT_FACTOR, SKELETON_JET_FRACTION, SKELETON_PT

__all__ = [
    "BANNER",
    "REGIONAL_MIN_PT_FACTOR",
    "SKELETON_JET_FRACTION",
    "SKELETON_PT",
    "BatchJets",
    "JetWindow",
    "TruthPartons",
    "cluster",
    "decay_partons",
    "find_jets",
    "match_jets",
    "pack_constituents",
    "truth_partons",
    "visible_final_state",
]
