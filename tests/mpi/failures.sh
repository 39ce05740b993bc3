#!/bin/sh
# failures.sh MPIRUN_SH TEST_MPI_FAIL VAE_TRAIN_MPI: a failing rank ends the job
# with an error message, never a hang (each run is bounded by mpirun.sh's
# timeout, exit 124 = hung).
set -u
run=$1 prog=$2 train=$3
out=${VAE_TEST_TMPDIR:-/tmp}/mpi-failures.$$
export VAE_MPI_TIMEOUT=60
bad=0
check() { # name expected-status-test pattern...
    name=$1 rc=$2; shift 2
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAIL $name: hung (killed by the timeout)"; bad=1; return; fi
    if [ "$rc" -eq 0 ]; then echo "FAIL $name: exit status 0"; bad=1; return; fi
    for p in "$@"; do
        if ! grep -q -- "$p" "$out"; then echo "FAIL $name: no '$p' in the output"; bad=1; return; fi
    done
    echo "ok   $name (exit $rc)"
}

"$run" 2 "$prog" nan >"$out" 2>&1; rc=$?; cat "$out"
check "NaN on rank 1" $rc "\[rank 1\] step 3 failed: rank 1: .*not finite.*parameters kept" \
    "\[rank 0\] step 3 failed: .*other rank(s) failed.*parameters kept"

"$run" 2 "$prog" shard >"$out" 2>&1; rc=$?; cat "$out"
check "shards not covering the batch" $rc "\[rank 0\] step 3 failed: .*shards hold 20 rows, the global batch 30" \
    "\[rank 1\] step 3 failed"

"$run" 2 "$prog" die >"$out" 2>&1; rc=$?; cat "$out"
check "rank 1 dies" $rc "dying at step 3" "exited with non-zero status"

# vae-train-mpi with a data file only rank 0 can read (MPMD launch): every
# rank stops after loading, rank 1 names the file.
"$run" 1 "$train" --epochs 1 : -np 1 "$train" --epochs 1 --data /nonexistent/images.gz >"$out" 2>&1; rc=$?; cat "$out"
check "vae-train-mpi, bad data on rank 1" $rc "nonexistent/images.gz" "rank 1"

# Models of different sizes on the two ranks: sync_model refuses on both.
"$run" 1 "$train" --epochs 1 --hidden 50 : -np 1 "$train" --epochs 1 --hidden 60 >"$out" 2>&1; rc=$?; cat "$out"
check "vae-train-mpi, different models" $rc "\[rank 0\] sync: .*models differ in size" \
    "\[rank 1\] sync: .*models differ in size"

# --conditional without --labels: a usage error, found by every rank before
# loading anything (examples/cli.h: exit status 2).
"$run" 2 "$train" --epochs 1 --conditional independent >"$out" 2>&1; rc=$?; cat "$out"
check "vae-train-mpi --conditional without --labels" $rc "needs --labels"

# Flags the data-parallel trainer cannot honour are refused, not ignored.
for flag in "--aggressive" "--patience 2"; do
    # shellcheck disable=SC2086
    "$run" 2 "$train" --epochs 1 $flag >"$out" 2>&1; rc=$?; cat "$out"
    check "vae-train-mpi $flag" $rc "${flag%% *}: not supported by data-parallel training"
done

rm -f "$out"
exit $bad
