#!/usr/bin/env bash
# First look at the signal zoo (docs/agnostic.md): six detectors at their defaults, trained on the 50k QCD
# jets of bench/make_samples.sh (oe_vae also on its W outliers), evaluated on every zoo sample of
# bench/make_zoo_samples.sh.
set -e
cd "$(dirname "$0")/.."   # repo root
J=.venv/bin/jetae
for m in pca dense_ae vae lola_ae seq_ae; do
  $J -q train $m --train data/qcd_train.h5 --out runs/zoo_$m --overwrite
done
$J -q train oe_vae --train data/qcd_train.h5 --outliers data/w_outliers.h5 --out runs/zoo_oe_vae --overwrite
$J -q evaluate runs/zoo_pca runs/zoo_dense_ae runs/zoo_vae runs/zoo_oe_vae runs/zoo_lola_ae runs/zoo_seq_ae \
  --background data/qcd_test.h5 \
  --signal data/top_test.h5 --signal data/w_test.h5 $(for f in data/zoo/*.h5; do echo --signal $f; done) \
  --out reports/zoo_first_look --overwrite --n-bootstrap 20
