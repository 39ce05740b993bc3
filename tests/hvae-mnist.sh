#!/bin/sh
# Hierarchical VAEs on MNIST (suite slow): 2 epochs of each model of
# docs/hierarchical.md's table (first 9,000 / last 1,000 of the test set,
# dynamic binarisation, k = 100 importance samples to keep it short); each
# must print a finite test_ll and one KL per layer. Exit 77 without MNIST.
T="$1"
D="$2/t10k-images-idx3-ubyte.gz"
[ -f "$D" ] || { echo "skip: no MNIST at $2"; exit 77; }
C="--data $D --holdout 1000 --binarize dynamic --hidden 200,200 --batch 100 --epochs 2 --eval-ll 100 --diagnostics --threads 1 --seed 1"
for m in "--latent 50" "--latent 50,25 --model hvae" "--latent 50,25 --model ladder"; do
    out=$("$T" $C $m) || { echo "vae-train $m failed"; exit 1; }
    echo "$out" | grep -v '^diagnostics'
    ll=$(echo "$out" | awk '/^test_ll/ {print $2}')
    awk -v v="$ll" 'BEGIN { exit !(v < -80 && v > -300) }' || { echo "$m: test_ll '$ll'"; exit 1; }
    layers=$(echo "$out" | awk '/^layers/ {print $2}')
    kls=$(echo "$out" | awk '/^layers/ {print $4}' | tr ',' '\n' | grep -c .)
    [ "$layers" = "$kls" ] || { echo "$m: layers line"; exit 1; }
done
