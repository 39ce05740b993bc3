#!/bin/sh
# save_load.sh MPIRUN_SH VAE_TRAIN_MPI VAE_TRAIN: a 2-rank run saves a
# checkpoint (rank 0 only) that vae-train loads and that a 2-rank run resumes
# (the epoch numbering goes on: the resumed runs print epoch 2).
set -eu
run=$1 trainmpi=$2 train=$3
dir=${VAE_TEST_TMPDIR:-/tmp}/mpi-save.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
"$run" 2 "$trainmpi" --epochs 1 --hidden 64 --latent 8 --save "$dir/ck.vae"
ls "$dir"
[ -f "$dir/ck.vae" ] || { echo "FAIL: no checkpoint"; exit 1; }
[ "$(ls "$dir" | wc -l)" -eq 1 ] || { echo "FAIL: stray files (temporaries of a second writer?)"; exit 1; }
"$train" --load "$dir/ck.vae" --epochs 1 | grep -q "^epoch 2 " || { echo "FAIL: vae-train cannot load it"; exit 1; }
"$run" 2 "$trainmpi" --load "$dir/ck.vae" --epochs 1 | grep -q "^epoch 2 " || { echo "FAIL: resume"; exit 1; }
echo ok
