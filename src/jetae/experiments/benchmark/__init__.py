"""``jetae benchmark``: the whole model zoo on one dataset, in both directions.

* **forward**: every model is trained on QCD jets and tags top and W jets (AUC with a
  bootstrap error, R30 per signal), with the mass sculpting of the QCD background (JSD at
  50% and 10% background efficiency), the training time and the inference throughput;
* **reverse**: the same model trained on top jets, with QCD jets as the anomaly;
* **signal zoo** (presets ``zoo-quick``, ``zoo`` or ``--zoo``): the forward direction also tags
  the zoo signals, every score of each model is evaluated, and a summary over seeds gives
  ``zoo.json`` (minimum and median AUC over the zoo, reverse and top AUC; :mod:`.zoo`).

Presets: ``quick`` generates (and caches) small samples with Pythia 8 + FastJet and trains
briefly (the whole zoo in a few minutes on 2 CPU cores); ``full`` reads the shared samples of
``bench/make_samples.sh`` and never generates. The presets (sizes, per-model options, caps)
live in ``presets.yaml`` and the published reference numbers in ``published_reference.yaml``,
both shipped in this package.

Output (``out_dir``, written atomically): ``benchmark.json`` (see :func:`run_benchmark`) and
``benchmark.md`` (the result table, then the published reference numbers, clearly labelled
as another sample).

Modules: :mod:`.presets` (the data files), :mod:`.config` (what runs), :mod:`.samples`,
:mod:`.run` (the directions of every model), :mod:`.memory` (peak memory), :mod:`.threads`,
:mod:`.results` (the files), :mod:`.markdown` (``benchmark.md``), :mod:`.merge` (``--merge``),
:mod:`.zoo` (the zoo summary); runs over seeds: :mod:`jetae.experiments.seeds`.
"""

from __future__ import annotations

from jetae.experiments.benchmark.config import (
    EPOCH_OPTIONS,
    BenchmarkConfig,
    command_line,
    command_words,
    model_options,
    needs_outliers,
    needs_outliers_safe,
)
from jetae.experiments.benchmark.markdown import RESULT_COLUMNS, markdown_report, markdown_table_only, result_rows
from jetae.experiments.benchmark.merge import merge_benchmarks
from jetae.experiments.benchmark.presets import (
    MODEL_OPTIONS,
    MODEL_ORDER,
    MODEL_TRAIN_JETS,
    PRESET_DEFAULTS,
    PRESET_ZOO,
    PRESETS,
    PUBLISHED_CAVEATS,
    PUBLISHED_HEADING,
    PUBLISHED_REFERENCE,
    SAMPLES,
    ZOO_SAMPLES,
    PresetDefaults,
)
from jetae.experiments.benchmark.results import JSON_FILE, MARKDOWN_FILE, check_same_setup, read_runs, write_results
from jetae.experiments.benchmark.run import (
    FORWARD_SIGNALS,
    RECORDED_ERRORS,
    describe_direction,
    run_benchmark,
    run_direction,
    run_models,
)
from jetae.experiments.benchmark.samples import (
    MAKE_SAMPLES,
    MAKE_ZOO_SAMPLES,
    Samples,
    load_samples,
    prepare_samples,
    required_samples,
)
from jetae.experiments.benchmark.threads import cpu_name, thread_limit
from jetae.experiments.benchmark.zoo import zoo_markdown, zoo_summary, zoo_tables

__all__ = [
    "EPOCH_OPTIONS",
    "FORWARD_SIGNALS",
    "JSON_FILE",
    "MAKE_SAMPLES",
    "MAKE_ZOO_SAMPLES",
    "MARKDOWN_FILE",
    "MODEL_OPTIONS",
    "MODEL_ORDER",
    "MODEL_TRAIN_JETS",
    "PRESETS",
    "PRESET_DEFAULTS",
    "PRESET_ZOO",
    "PUBLISHED_CAVEATS",
    "PUBLISHED_HEADING",
    "PUBLISHED_REFERENCE",
    "RECORDED_ERRORS",
    "RESULT_COLUMNS",
    "SAMPLES",
    "ZOO_SAMPLES",
    "BenchmarkConfig",
    "PresetDefaults",
    "Samples",
    "check_same_setup",
    "command_line",
    "command_words",
    "cpu_name",
    "describe_direction",
    "load_samples",
    "markdown_report",
    "markdown_table_only",
    "merge_benchmarks",
    "model_options",
    "needs_outliers",
    "needs_outliers_safe",
    "prepare_samples",
    "read_runs",
    "required_samples",
    "result_rows",
    "run_benchmark",
    "run_direction",
    "run_models",
    "thread_limit",
    "write_results",
    "zoo_markdown",
    "zoo_summary",
    "zoo_tables",
]
