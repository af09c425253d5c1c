"""Making jet samples: Pythia 8 events, FastJet jets, truth matching, shards, the output file.

Data flows top-down through the modules:

- :mod:`~jetae.generation.processes`: what to generate (built-in processes, user cards);
- :mod:`~jetae.generation.pythia`: Pythia set-up and events of a whole batch as numpy columns;
- :mod:`~jetae.generation.clustering`, :mod:`~jetae.generation.regional`,
  :mod:`~jetae.generation.matching`, :mod:`~jetae.generation.jet_finding`: from a batch of
  events to the jets in the window (FastJet clustering, regional clustering, truth matching);
- :mod:`~jetae.generation.shards`: one seeded shard of a run;
- :mod:`~jetae.generation.plan`, :mod:`~jetae.generation.run`,
  :mod:`~jetae.generation.shard_files`: the shards of a run, where they run, how they resume;
- :mod:`~jetae.generation.generate`: ``generate_jets`` and ``generate_to_file`` (``jetae generate``).

Nothing is imported here: Pythia and FastJet load only with the modules that use them.
"""
