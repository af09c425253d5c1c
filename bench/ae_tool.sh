#!/usr/bin/env bash
# The autoencoder as a tool (issue #20, docs/ae_tool.md): unsupervised pretraining, AE features for boosted
# trees, jets from the decoder, latent morphing, on the samples of bench/make_samples.sh. Full outputs
# (plots, report.html, the generated files) go to reports/ae_tool/; the small results (results.json,
# config.json, the learning curve) are copied to bench/results/ae_tool/.
# LOCK="flock /tmp/cpu.lock" runs each command under a lock (shared machines); JETAE picks the executable.
set -e
cd "$(dirname "$0")/.."   # repo root
J="${LOCK:-} ${JETAE:-.venv/bin/jetae}"
O=reports/ae_tool
R=bench/results/ae_tool
DATA="--background data/qcd_train.h5 --signal data/top_train.h5 --test-background data/qcd_test.h5 --test-signal data/top_test.h5"

# the autoencoders, 20k QCD jets each: a dense AE on 40x40 unit-sum images, the VAE at its defaults
# (20 constituents x (delta_eta, delta_phi, pt_rel)) and a VAE on the images with beta = 0.01
$J -q train dense_ae --train data/qcd_train.h5 --n-train 20000 --out runs/ae_tool_dense \
  --set 'representation={"kind": "image"}' --set scaler=global --overwrite
$J -q train vae --train data/qcd_train.h5 --n-train 20000 --out runs/ae_tool_vae --overwrite
$J -q train vae --train data/qcd_train.h5 --n-train 20000 --out runs/ae_tool_vae_image \
  --set 'representation={"kind": "image"}' --set scaler=global --set beta=0.01 --overwrite

$J study pretrain $DATA --seeds 5 --out $O/pretrain --overwrite
$J study features runs/ae_tool_dense $DATA --out $O/features --overwrite
$J sample runs/ae_tool_dense --n 10000 --train data/qcd_train.h5 --out $O/dense_generated.h5 --overwrite
$J sample runs/ae_tool_vae --n 10000 --train data/qcd_train.h5 --out $O/vae_generated.h5 --overwrite
$J sample runs/ae_tool_vae_image --n 10000 --train data/qcd_train.h5 --out $O/vae_image_generated.h5 --overwrite
$J study morph runs/ae_tool_dense --from data/qcd_test.h5 --to data/top_test.h5 --out $O/morph --overwrite

for d in pretrain features morph dense_generated_report vae_generated_report vae_image_generated_report; do
  mkdir -p $R/$d
  cp $O/$d/results.json $O/$d/config.json $R/$d/
done
cp $O/pretrain/pretrain.png $R/pretrain/
