"""Experiments built on the library: the benchmark of the model zoo, seed summaries, studies, the demo.

* :mod:`.benchmark`: ``jetae benchmark`` (presets and published numbers are YAML data files);
* :mod:`.seeds`: the spread of benchmark numbers over training seeds;
* :mod:`.studies`: contamination, reverse, digits and toy studies (``jetae study``);
* :mod:`.demo`: ``jetae demo``;
* shared: :mod:`.tables` (Markdown tables), :mod:`.outputs` (writing result files),
  :mod:`.options` (per-model options), :mod:`.sample_files` (generated, cached samples).
"""
