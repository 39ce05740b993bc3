#!/bin/sh
# mpi_scaling.sh BENCH_MPI [ARGS...]: run bench-mpi on 1 and then 2 ranks of
# this machine (loopback, shared memory) with Open MPI's flags for root and
# oversubscription; prints one line per rank count.
prog=$1; shift
for np in 1 2; do
    timeout -k 10 100 "${MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe --mca btl self,vader \
        --bind-to none -np "$np" "$prog" "$@" || exit 1
done
