#!/usr/bin/env bash
# Held-out check samples (git-ignored data/holdout/): a fresh QCD test sample (a seed no other
# sample uses) and four signals from bench/holdout_cards/ that are not in the zoo jetae's detectors
# were chosen on. Same jet selection as bench/make_samples.sh. ~6 min on 2 cores, and ~5 min more
# for the fresh top and QCD training samples at the end.
set -e
cd "$(dirname "$0")/.."   # repo root
J=.venv/bin/jetae
$J generate qcd --n 10000 --seed 411 --out data/holdout/qcd_test.h5 --no-progress
$J generate --card bench/holdout_cards/scalar_bb_60.cmnd --n 5000 --seed 412 --out data/holdout/scalar_bb_60.h5 --no-progress
$J generate --card bench/holdout_cards/scalar_qq_150.cmnd --n 5000 --seed 413 --out data/holdout/scalar_qq_150.h5 --no-progress
$J generate --card bench/holdout_cards/scalar_gg_80.cmnd --n 5000 --seed 414 --out data/holdout/scalar_gg_80.h5 --no-progress
$J generate --card bench/holdout_cards/scalar_tautau_50.cmnd --n 5000 --seed 415 --out data/holdout/scalar_tautau_50.h5 --no-progress
# Fresh top samples for the reverse direction (bench/reverse_check.py), added 2026-12-06: ~2 min.
$J generate top --n 10000 --seed 422 --out data/holdout/top_test.h5 --no-progress
$J generate top --n 20000 --seed 421 --out data/holdout/top_train.h5 --no-progress
# A fresh QCD training sample (bench/holdout_check.py --train), added 2026-12-06: ~3 min.
$J generate qcd --n 50000 --seed 431 --out data/holdout/qcd_train.h5 --no-progress
