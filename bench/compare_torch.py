#!/usr/bin/python3
"""Training throughput of libvae's vae-train against the same VAE in PyTorch.

Both sides train the identical model on the same data, in the same way:

  * encoder 784-400 (ReLU) with mean and log-variance heads 400-20 each,
    decoder 20-400 (ReLU)-784 giving Bernoulli logits;
  * loss per example: BCE-with-logits summed over the 784 pixels plus the
    analytic KL(q(z|x) || N(0, I)) (one reparameterised z sample), averaged
    over the batch (= minus libvae's ELBO); log-variance clamped to [-30, 20]
    as in libvae;
  * Adam, lr 1e-3 (betas 0.9/0.999, eps 1e-8), batch 100 by default;
  * the first 9000 MNIST test-set images as training data (pixels / 255,
    float32 in [0, 1], not binarised), reshuffled every epoch; the last 1000
    images as the test set;
  * PyTorch's default nn.Linear initialisation (libvae uses the same
    uniform(+-1/sqrt(fan_in)) rule).

Speed is examples / seconds of an epoch's training loop (shuffling, batch
gathering, forward, backward, update), the definition of vae-train's
samples/s column; evaluation is outside the timed region on both sides.
libvae runs with --threads T, PyTorch with torch.set_num_threads(T) and
OPENBLAS_NUM_THREADS=T (Debian's PyTorch calls the system OpenBLAS, whose
threads set_num_threads does not limit); for T > 1 PyTorch is also run with
a single-threaded BLAS (OPENBLAS_NUM_THREADS=1), which on few cores avoids
its two thread pools competing, and both ratios are printed. Runs
alternate (libvae, PyTorch, libvae, ...) over --reps repetitions, so drifts
in machine load hit both alike; each side's figure is the median over all
epochs of all repetitions. The test ELBO after the last epoch is printed as
a sanity column (nats, analytic KL, one z sample per test example).

usage: /usr/bin/python3 bench/compare_torch.py [--vae-train build/examples/vae-train]
           [--data ../shared/data/mnist/t10k-images-idx3-ubyte.gz]
           [--epochs 3] [--reps 3] [--threads 1,2] [--batch 100]
"""
import argparse
import gzip
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N_TRAIN, N_TEST = 9000, 1000
LINE_RE = re.compile(r"^epoch (\d+) time ([0-9.]+) samples/s ([0-9.]+) "
                     r"train_elbo (-?[0-9.]+) test_elbo (-?[0-9.]+)$")


def load_idx_images(path):
    """The IDX3 u8 images of a gzip file as float32 in [0, 1], shape (n, rows*cols)."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise ValueError("%s: not an IDX3 u8 file (magic %#x)" % (path, magic))
    x = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=16)
    return (x.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0))


# ---------------------------------------------------------------------------
# The PyTorch side (run in its own process: python3 compare_torch.py --worker)
# ---------------------------------------------------------------------------

def torch_worker(args):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = load_idx_images(args.data)
    train = torch.from_numpy(x[:N_TRAIN].copy())
    test = torch.from_numpy(x[len(x) - N_TEST:].copy())

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc_mu = nn.Linear(400, 20)
            self.fc_logvar = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, xb):
            h = F.relu(self.fc1(xb))
            mu = self.fc_mu(h)
            logvar = torch.clamp(self.fc_logvar(h), -30.0, 20.0)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.fc4(F.relu(self.fc3(z)))
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(1)
            kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(1)
            return rec, kl  # per example: -log p(x|z), KL

    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates, train_elbos = [], []
    n, b = train.shape[0], args.batch
    for _ in range(args.epochs):
        total = 0.0
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, b):
            xb = train[perm[i:i + b]]
            rec, kl = model(xb)
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        dt = time.perf_counter() - t0
        rates.append(n / dt)
        train_elbos.append(-total / n)
    with torch.no_grad():
        rec, kl = model(test)
        test_elbo = -(rec + kl).mean().item()
    json.dump({"rates": rates, "train_elbo": train_elbos, "test_elbo": test_elbo,
               "torch": torch.__version__, "threads": torch.get_num_threads()}, sys.stdout)


def run_torch(args, threads, batch, seed, blas_threads):
    """One PyTorch run in a fresh process. Debian's PyTorch does its matrix
    products in the system BLAS (libblas.so.3 = OpenBLAS), whose thread pool
    torch.set_num_threads does not control: without OPENBLAS_NUM_THREADS it
    uses every core even at set_num_threads(1). So the BLAS thread count is
    set explicitly, before torch is imported."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--data", args.data,
           "--epochs", str(args.epochs), "--threads", str(threads), "--batch", str(batch),
           "--seed", str(seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(blas_threads))
    r = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(r.stdout)


# ---------------------------------------------------------------------------
# The libvae side
# ---------------------------------------------------------------------------

def run_libvae(args, threads, batch, seed):
    cmd = [args.vae_train, "--data", args.data, "--holdout", str(N_TEST),
           "--hidden", "400", "--latent", "20", "--batch", str(batch),
           "--optimizer", "adam", "--lr", "1e-3", "--epochs", str(args.epochs),
           "--seed", str(seed), "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("vae-train failed (%d): %s" % (r.returncode, r.stderr.strip()))
    rates, test_elbo, train_elbos = [], None, []
    for line in r.stdout.splitlines():
        m = LINE_RE.match(line)
        if not m:
            raise RuntimeError("unexpected vae-train output: %r" % line)
        rates.append(float(m.group(3)))
        train_elbos.append(float(m.group(4)))
        test_elbo = float(m.group(5))
    if len(rates) != args.epochs:
        raise RuntimeError("vae-train printed %d epochs, expected %d" % (len(rates), args.epochs))
    return {"rates": rates, "train_elbo": train_elbos, "test_elbo": test_elbo}


def find_vae_train():
    for d in ("build", "build-release", "builddir", "_build"):
        p = os.path.join(ROOT, d, "examples", "vae-train")
        if os.access(p, os.X_OK):
            return p
    return None


def int_list(s):
    return [int(v) for v in s.split(",") if v]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vae-train", default=None, help="path to the built vae-train "
                    "(default: build/examples/vae-train)")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mnist",
                                                   "t10k-images-idx3-ubyte.gz"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--batch", default="100", help="comma-separated batch sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        args.threads, args.batch = int(args.threads), int(args.batch)
        torch_worker(args)
        return 0

    args.vae_train = args.vae_train or find_vae_train()
    if not args.vae_train or not os.access(args.vae_train, os.X_OK):
        ap.error("vae-train not found: build it (meson compile -C build) or pass --vae-train")
    if not os.path.exists(args.data):
        ap.error("no MNIST images at %s (pass --data)" % args.data)
    threads, batches = int_list(args.threads), int_list(args.batch)

    import numpy
    import torch
    print("# libvae vae-train: %s" % args.vae_train)
    print("# PyTorch %s, numpy %s, Python %s, %s, %d CPUs"
          % (torch.__version__, numpy.__version__, platform.python_version(), cpu_name(),
             os.cpu_count()))
    print("# data: %s (first %d train, last %d test)" % (args.data, N_TRAIN, N_TEST))
    print("# %d epochs x %d reps per configuration, alternating libvae / PyTorch"
          % (args.epochs, args.reps))
    print("# load average at start: %.2f %.2f %.2f" % os.getloadavg())
    sys.stdout.flush()

    # PyTorch variants: "torch" gives PyTorch's intra-op pool and its BLAS
    # T threads each (T threads in total, like libvae), "torch-b1" keeps the
    # BLAS single-threaded (T threads in total at most, with no two pools
    # competing for the cores); they coincide for T = 1.
    configs = [(t, b) for b in batches for t in threads]
    sides = {c: ["libvae", "torch"] + (["torch-b1"] if c[0] > 1 else []) for c in configs}
    results = {c: {s: [] for s in ("libvae", "torch", "torch-b1")} for c in configs}
    for rep in range(args.reps):
        for (t, b) in configs:
            seed = args.seed + rep
            # alternate the order too, so that no side always runs first
            order = sides[(t, b)] if rep % 2 == 0 else sides[(t, b)][::-1]
            for side in order:
                if side == "libvae":
                    r = run_libvae(args, t, b, seed)
                else:
                    r = run_torch(args, t, b, seed, t if side == "torch" else 1)
                results[(t, b)][side].append(r)
                print("rep %d threads %d batch %d %-8s samples/s %s test_elbo %.2f"
                      % (rep + 1, t, b, side, " ".join("%.0f" % v for v in r["rates"]),
                         r["test_elbo"]))
                sys.stdout.flush()

    def med_rate(c, side):
        rs = results[c][side] or results[c]["torch"]
        return statistics.median(v for r in rs for v in r["rates"])

    def med_elbo(c, side):
        return statistics.median(r["test_elbo"] for r in results[c][side])

    print()
    print("| threads | batch | libvae samples/s | PyTorch samples/s (BLAS T threads) "
          "| libvae/PyTorch | PyTorch samples/s (BLAS 1 thread) | libvae/PyTorch "
          "| libvae test ELBO | PyTorch test ELBO |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        lv, pt, pb = med_rate(c, "libvae"), med_rate(c, "torch"), med_rate(c, "torch-b1")
        print("| %d | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.2f | %.2f |"
              % (c[0], c[1], lv, pt, lv / pt, pb, lv / pb, med_elbo(c, "libvae"),
                 med_elbo(c, "torch")))
    print()
    print("# load average at end: %.2f %.2f %.2f" % os.getloadavg())
    print("samples/s: median over %d epochs x %d reps; test ELBO (nats): median over reps "
          "after %d epochs" % (args.epochs, args.reps, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
