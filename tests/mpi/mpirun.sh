#!/bin/sh
# mpirun.sh NP PROGRAM [ARGS...]: run PROGRAM on NP ranks on this machine
# only, with a bounded time (VAE_MPI_TIMEOUT seconds, default 240) so that
# a hang fails the test instead of blocking it. Flags:
#   --allow-run-as-root  CI runs as root
#   --oversubscribe      more ranks than free cores (2 cores, shared)
#   --mca btl self,vader loopback: shared memory between local ranks, no network
#   --bind-to none       do not pin ranks to cores others use
np=$1; shift
exec timeout -k 10 "${VAE_MPI_TIMEOUT:-240}" "${MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe \
    --mca btl self,vader --bind-to none -np "$np" "$@"
