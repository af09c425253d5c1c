"""Files in and out: jet samples, caches, score tables and provenance sidecars.

- :mod:`jetae.io.toptag`: the Top Tagging Reference layout (read with h5py, written with pandas);
  its ``read_jets`` also reads the formats below;
- :mod:`jetae.io.datasets`: the field's other datasets, recognised by content: JetClass ROOT
  (:mod:`jetae.io.jetclass`) and JetNet HDF5 (:mod:`jetae.io.jetnet`);
  :mod:`jetae.io.convert` writes any of them in the reference layout (``jetae convert``);
- :mod:`jetae.io.hdf5_frame` and :mod:`jetae.io.safe_pickle`: reading pandas' HDF5 frames
  without ever unpickling;
- :mod:`jetae.io.validate` (the per-chunk rules) and :mod:`jetae.io.check` (``jetae check``);
- :mod:`jetae.io.cache`: the fast read cache for repeated reads;
- :mod:`jetae.io.scores`: score-table files; :mod:`jetae.io.provenance`: sidecars;
- :mod:`jetae.io.atomic`: write-then-rename helpers used by every writer.

Nothing is imported here, so ``import jetae.io.atomic`` stays light.
"""
