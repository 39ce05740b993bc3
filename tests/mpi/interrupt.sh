#!/bin/sh
# interrupt.sh MPIRUN_SH VAE_TRAIN_MPI VAE_TRAIN: SIGINT delivered to the
# ranks of a 2-rank run ends training after the current epoch on both, the
# checkpoint is written, rank 0 says "interrupted: saved FILE", the run
# exits 130, and vae-train loads the checkpoint.
set -eu
run=$1 trainmpi=$2 train=$3
dir=${VAE_TEST_TMPDIR:-/tmp}/mpi-int.$$
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
"$run" 2 "$trainmpi" --epochs 100000 --hidden 32 --latent 4 --save "$dir/ck.vae" \
    >"$dir/out" 2>"$dir/err" &
pid=$!
# Wait for the first epoch line (bounded), then signal the ranks only: the
# pattern starts with the program's path, which mpirun's command line does not.
i=0
until grep -q '^epoch 1 ' "$dir/out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "FAIL: no first epoch line"; kill $pid; exit 1; }
    sleep 0.1
done
pkill -INT -f "^$trainmpi --epochs 100000"
status=0
wait $pid || status=$?
cat "$dir/err"
[ $status -eq 130 ] || { echo "FAIL: exit status $status, expected 130"; exit 1; }
grep -q "^interrupted: saved $dir/ck.vae" "$dir/err" || { echo "FAIL: no 'interrupted: saved'"; exit 1; }
"$train" --load "$dir/ck.vae" --epochs 1 | grep -q "^epoch " || { echo "FAIL: the checkpoint does not load"; exit 1; }
echo ok
