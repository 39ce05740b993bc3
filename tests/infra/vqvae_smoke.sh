#!/usr/bin/env bash
# Smoke test of examples/vqvae-mnist (suite infra): 2 short epochs on real
# MNIST print 2 lines of the output contract, the PNG passes pngcheck and has
# the promised size (2 rows of 8 digits), and bad flags exit nonzero with a
# message on stderr. Exit 77 (skip) without the MNIST directory.
#
# usage: vqvae_smoke.sh VQVAE_MNIST
set -euo pipefail
exe=$1
tmp=$(mktemp -d "${VAE_TEST_TMPDIR:-${TMPDIR:-/tmp}}/vqvae-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
die() { echo "FAIL: $*" >&2; exit 1; }

for args in "--codes 0" "--codebook bogus" "--epochs -1" "--no-such-flag" "--data /nonexistent.gz" "stray"; do
    set +e
    # shellcheck disable=SC2086
    "$exe" $args > "$tmp/out" 2> "$tmp/err"
    rc=$?
    set -e
    [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || die "'$args' exit status $rc"
    [ -s "$tmp/err" ] || die "'$args' printed nothing on stderr"
    [ ! -s "$tmp/out" ] || die "'$args' printed on stdout"
done
"$exe" --help | grep -q '^usage: vqvae-mnist' || die "--help prints no usage"

mnist=${VAE_MNIST_DIR:-}
if [ -z "$mnist" ] || [ ! -d "$mnist" ]; then
    echo "SKIP: no MNIST directory '$mnist'"
    exit 77
fi
"$exe" --epochs 2 --codes 32 --latents 4 --hidden 64 --show 8 --png "$tmp/grid.png" --threads 1 > "$tmp/out"
cat "$tmp/out"
NUM='-?[0-9]+(\.[0-9]+)?'
RE="^epoch [0-9]+ time [0-9.]+ samples/s [0-9.]+ train_rec $NUM test_rec $NUM perplexity [0-9.]+ used [0-9]+\$"
[ "$(wc -l < "$tmp/out")" -eq 2 ] || die "expected 2 lines"
i=1
while IFS= read -r line; do
    [[ $line =~ $RE ]] || die "line does not match the contract: '$line'"
    [[ $line == "epoch $i "* ]] || die "expected epoch $i"
    i=$((i + 1))
done < "$tmp/out"
pngcheck "$tmp/grid.png" || die "pngcheck rejects the picture"
# 8 columns of 28 px + 7 gaps of 2 = 238 wide; 2 rows + 1 gap = 58 high
pngcheck -v "$tmp/grid.png" | grep -q '238 x 58' || die "unexpected picture size: $(pngcheck -v "$tmp/grid.png" | head -3)"
echo "ok"
