"""Self-contained studies that train and compare detectors (``jetae study ...``).

One module per study, each a plain function returning a JSON-ready dict plus a
``write_*`` / plot helper:

* :mod:`.contamination`: AUC vs the fraction of signal mixed into the training jets;
* :mod:`.reverse`: train on QCD and tag the signal, train on the signal and tag QCD;
* :mod:`.digits`: hold one of scikit-learn's 8x8 digit classes out, score it;
* :mod:`.toy`: the function autoencoder, points on a curve y = f(x) (the classroom picture).

The autoencoder as a tool (issue #20; shared pieces in :mod:`.autoencoder`):

* :mod:`.pretrain`: a tagger from the AE's encoder (unsupervised pretraining) vs from random weights;
* :mod:`.features`: boosted trees on jet observables, on the AE's code + error, on both;
* :mod:`.sample`: jets drawn from the decoder (``jetae sample``), compared with real ones;
* :mod:`.morph`: decoded jets along lines through the latent space, measured.

Shared: :mod:`.common` (configuration record, report page, writing a study directory atomically),
:mod:`jetae.experiments.options` (model options), :mod:`jetae.evaluation.samples` (reading
samples) and :mod:`jetae.evaluation.direction` (one tagging direction).
"""
