"""Compatibility: split into :mod:`jetae.generation.generate`, :mod:`~jetae.generation.plan`,
:mod:`~jetae.generation.run` and :mod:`~jetae.generation.shard_files`; import from there.
"""

from jetae.generation.generate import generate_jets, generate_to_file
from jetae.generation.plan import (
    GENERATOR_FORMAT,
    check_settings,
    default_shard_size,
    make_plan,
    resolve_process,
)
from jetae.generation.run import available_cores, run_tasks, runs_in_process
from jetae.generation.shard_files import MANIFEST, work_dir_for
from jetae.io.provenance import sidecar_for

__all__ = [
    "GENERATOR_FORMAT",
    "MANIFEST",
    "available_cores",
    "check_settings",
    "default_shard_size",
    "generate_jets",
    "generate_to_file",
    "make_plan",
    "resolve_process",
    "run_tasks",
    "runs_in_process",
    "sidecar_for",
    "work_dir_for",
]
