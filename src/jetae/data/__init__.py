"""Compatibility package: the old import paths of jets, I/O and generation.

Every module here is a thin re-export of its new home (``jetae.data.toptag`` ->
:mod:`jetae.io.toptag`, ``jetae.data.jets`` -> :mod:`jetae.jets`, ``jetae.data.generate``
-> :mod:`jetae.generation.generate`, ...), kept so that existing scripts and the README's
examples keep working. New code imports from the new paths.
"""
