"""Compatibility: score tables moved to :mod:`jetae.evaluation.score_table`, their files to
:mod:`jetae.io.scores`. Kept so that old imports (``from jetae.scoring import read_scores``) work."""

from jetae.evaluation.score_table import check_finite_scores, score_table
from jetae.io.scores import read_scores, write_scores

__all__ = ["check_finite_scores", "read_scores", "score_table", "write_scores"]
