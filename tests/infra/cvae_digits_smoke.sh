#!/bin/bash
# Smoke test of examples/cvae-digits: one short epoch on 2000 MNIST digits,
# then the 10 x 10 grid must be a valid PNG (pngcheck) of 10*28 + 9*2 = 298
# pixels a side. Skipped (exit 77) without MNIST or pngcheck.
set -u
exe=$1
dir=${VAE_MNIST_DIR:-}
if [ -z "$dir" ] || [ ! -r "$dir/t10k-images-idx3-ubyte.gz" ]; then
    echo "MNIST not found; skipped"; exit 77
fi
if ! command -v pngcheck >/dev/null; then
    echo "pngcheck not installed; skipped"; exit 77
fi
out="${VAE_TEST_TMPDIR:-/tmp}/cvae-digits-$$.png"
trap 'rm -f "$out"' EXIT
"$exe" --mnist "$dir" --epochs 1 --train 2000 --out "$out" || { echo "cvae-digits failed"; exit 1; }
report=$(pngcheck "$out") || { echo "pngcheck rejected $out: $report"; exit 1; }
echo "$report"
echo "$report" | grep -q "(298x298, 8-bit grayscale" || { echo "unexpected size or type"; exit 1; }
# A bad flag is refused with status 2.
"$exe" --epochs x >/dev/null 2>&1; [ $? -eq 2 ] || { echo "bad flag not refused"; exit 1; }
echo ok
