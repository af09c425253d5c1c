"""Compatibility shim: the studies moved to :mod:`jetae.experiments.studies` (issue #17).

``jetae.studies.<study>`` still imports (each a shim); the shared helpers that lived here are
re-exported from their new modules. Import from the new paths.
"""

from __future__ import annotations

from jetae.evaluation.samples import read_sample  # noqa: F401 (re-exported)
from jetae.evaluation.samples import sample_source as sample_name  # noqa: F401 (re-exported)
from jetae.experiments.options import (  # noqa: F401 (re-exported)
    check_models,
    has_option,
    model_options_for,
    resolved_configs,
)
from jetae.experiments.studies.common import (  # noqa: F401 (re-exported)
    CONFIG_FILE,
    RESULTS_FILE,
    check_out_dir,
    study_config,
    write_study,
)
