#!/usr/bin/env bash
# Signal-zoo test samples, 10 000 jets each (git-ignored data/zoo/), from the cards shipped with
# jetae (src/jetae/generation/cards/, docs/generation.md "Signal zoo"). Same jet selection as
# bench/make_samples.sh (the defaults). Command recorded in each FILE.h5.json sidecar.
# At 0.10-0.29 jets per event a 10k-jet sample is 35 000-100 000 events (heavy_scalar_ww the most).
set -e
cd "$(dirname "$0")/.."   # repo root
J=.venv/bin/jetae
$J generate --card light_scalar_qq --n 10000 --seed 301 --out data/zoo/light_scalar_qq.h5 --no-progress
$J generate --card light_scalar_gg --n 10000 --seed 302 --out data/zoo/light_scalar_gg.h5 --no-progress
$J generate --card higgs_bb        --n 10000 --seed 303 --out data/zoo/higgs_bb.h5 --no-progress
$J generate --card higgs_aa_4b     --n 10000 --seed 304 --out data/zoo/higgs_aa_4b.h5 --no-progress
$J generate --card light_top       --n 10000 --seed 305 --out data/zoo/light_top.h5 --no-progress
$J generate --card heavy_scalar_ww --n 10000 --seed 306 --out data/zoo/heavy_scalar_ww.h5 --no-progress
$J generate --card dark_shower     --n 10000 --seed 307 --out data/zoo/dark_shower.h5 --no-progress
