#!/usr/bin/python3
"""libvae against PyTorch 1.13: throughput, sgemm roofline and peak memory, in one run.

For every configuration (architecture x batch x threads) the script runs,
alternating and each in a fresh process:

  libvae        build/examples/vae-train --threads T
  torch-literal PyTorch with torch.set_num_threads(T), as the issue states it.
                Debian's PyTorch does its matrix products in the system
                OpenBLAS, whose own thread pool set_num_threads does not
                control, so OPENBLAS_NUM_THREADS=T is set too (without it
                OpenBLAS uses every core even at T = 1). For T > 1 the two
                pools (PyTorch's OpenMP and OpenBLAS's) compete for the cores.
  torch-tuned   (T > 1 only) PyTorch's best setting we found on 2 cores:
                torch.set_num_threads(T) with OPENBLAS_NUM_THREADS=1 (the
                intra-op pool does the element-wise work, the BLAS runs on
                the calling thread). For T = 1 both settings are the same run.
  sgemm         bench-sgemm: the matrix products of one training step alone
                (same shapes and transposes as libvae), with OpenBLAS at T
                threads and, for T > 1, at 1 thread: the roofline; and for
                T > 1 with --team, split over a team of T single-threaded
                calls as libvae runs them (faster than OpenBLAS's threads on
                these shapes): the stricter roofline.

The convolutional VAE (config item conv:B; libvae side: bench-conv --data,
the public API with the networks as text, input shape (1, 28, 28)):
  encoder conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu
  decoder dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu
          convT2d(1,4,2,1)
PyTorch: nn.Conv2d / nn.Linear / nn.ConvTranspose2d with the same sizes and
their default initialisation (libvae draws conv weights and biases from
U(+-1/sqrt(fan_in)) like PyTorch). Its roofline is bench-sgemm --conv: the
products libvae makes for it (per block of 8 examples, same shapes and
transposes), alone.

Both trainers: encoder D-h1-..-hk (ReLU) with mean and log-variance heads,
decoder mirrored (ReLU) giving Bernoulli logits; loss = BCE-with-logits
summed over pixels + analytic KL, one z sample, batch mean; log-variance
clamped to [-30, 20]; PyTorch's default nn.Linear initialisation (libvae
uses the same rule); Adam lr 1e-3; the first 9000 MNIST images (pixels/255)
for training, reshuffled each epoch, the last 1000 for the test ELBO.

samples/s: examples / seconds of one epoch's training loop (evaluation
excluded), median over all epochs of all repetitions. GFLOP/s: matrix-product
FLOPs of forward and backward per example (2 M N K per product; the first
layer's input gradient is not needed and not counted) x samples/s. Peak RSS:
ru_maxrss of each process (os.wait4; it includes this small driver's size at
fork, ~10 MiB, an upper bound), median over repetitions.

The machine during each run (Linux /proc/stat, whole system, between the
child's start and its end): "steal", the time the hypervisor gave this
VM's vCPUs to others, and "others", CPU time spent by processes other than
the child, each as a share of the run's wall time x CPUs. On a VM a
two-thread run whose second vCPU was stolen or busy measures the machine,
not the code; such runs are listed at the end ("disturbed": either share
above 5%). Before each two-thread run, bench-cores (bench/bench_cores.c)
adds how far apart CPUs 0 and 1 were just then: a cache line's round trip
between them and "parallel", two pinned threads' arithmetic against one's
(about 1 when the two vCPUs shared one core: a two-thread run then gets
little from its second thread, whatever the code), and "handover", the
GB/s at which a 1 MiB buffer moves when the two threads take turns
rewriting it (a step hands its weights and activations between the cores
the same way; 45-53 GB/s on the Zen 5 VM when fast, ~31 when a
two-thread MLP run was slow: docs/performance.md, round seven).

Without PyTorch (python3-torch) the torch columns are skipped ("-").

usage: /usr/bin/python3 bench/compare.py [--build build] [--epochs 3] [--reps 3]
           [--threads 1,2] [--configs "400-20:32;400-20:100;400-20:256;1024,512-64:100;conv:100"]
"""
import argparse
import gzip
import importlib.util
import json
import os
import platform
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
N_TRAIN, N_TEST, D = 9000, 1000, 784
EPOCH_RE = re.compile(r"^epoch (\d+) time ([0-9.]+) samples/s ([0-9.]+) "
                      r"train_elbo (-?[0-9.]+) test_elbo (-?[0-9.]+)"
                      r"(?: cpu_samples/s ([0-9.]+))?$")
SGEMM_RE = re.compile(r"gflops ([0-9.]+)")
PRODUCT_RE = re.compile(r"product (\S+)")
PRODUCTS = set()  # the products vt_gemm ran in the team runs (vt_gemm_kernel_name)
DISTURBED = 0.05  # a run is listed as disturbed above this steal or others share


def load_idx_images(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise ValueError("%s: not an IDX3 u8 file" % path)
    x = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=16)
    return x.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0)


def torch_worker(args):
    """The PyTorch side, in its own process (--worker)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    hidden = [int(h) for h in args.hidden.split(",")] if args.hidden != "conv" else [256]
    x = load_idx_images(args.data)
    train = torch.from_numpy(x[:N_TRAIN].copy())
    test = torch.from_numpy(x[len(x) - N_TEST:].copy())

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = [D] + hidden
            self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
            self.mu = nn.Linear(hidden[-1], args.latent)
            self.lv = nn.Linear(hidden[-1], args.latent)
            dsizes = [args.latent] + hidden[::-1]
            self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dsizes, dsizes[1:]))
            self.out = nn.Linear(hidden[0], D)

        def forward(self, xb):
            h = xb
            for l in self.enc:
                h = F.relu(l(h))
            mu = self.mu(h)
            logvar = torch.clamp(self.lv(h), -30.0, 20.0)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            for l in self.dec:
                z = F.relu(l(z))
            logits = self.out(z)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(1)
            kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(1)
            return rec, kl

    class ConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),
                                     nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(3136, 256), nn.ReLU())
            self.mu = nn.Linear(256, args.latent)
            self.lv = nn.Linear(256, args.latent)
            self.dec = nn.Sequential(nn.Linear(args.latent, 256), nn.ReLU(),
                                     nn.Linear(256, 3136), nn.ReLU(),
                                     nn.Unflatten(1, (64, 7, 7)),
                                     nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())

        def forward(self, xb):
            h = self.enc(xb.view(-1, 1, 28, 28))
            mu = self.mu(h)
            logvar = torch.clamp(self.lv(h), -30.0, 20.0)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.dec(z)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(1)
            kl = 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar).sum(1)
            return rec, kl

    model = ConvVAE() if args.hidden == "conv" else VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates, cpu_rates = [], []
    n, b = train.shape[0], args.batch
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n)
        for i in range(0, n, b):
            xb = train[perm[i:i + b]]
            rec, kl = model(xb)
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates.append(n / (time.perf_counter() - t0))
        cpu_rates.append(n / (time.process_time() - c0))
    with torch.no_grad():
        rec, kl = model(test)
        test_elbo = -(rec + kl).mean().item()
    json.dump({"rates": rates, "cpu_rates": cpu_rates, "test_elbo": test_elbo,
               "torch": torch.__version__}, sys.stdout)


def cpu_times():
    """(busy, steal) CPU seconds of the whole system so far (/proc/stat's
    first line: user nice system idle iowait irq softirq steal ...), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(v) < 8:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[7] / hz


# Every run's machine shares, for the closing list of disturbed runs.
MACHINE = []


def run(cmd, env=None):
    """Run cmd; return (stdout, peak RSS in MiB) from the child's own rusage.
    Appends the run's steal and others shares (see the top) to MACHINE."""
    t0, c0 = time.monotonic(), cpu_times()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        out = p.stdout.read().decode()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError("%s failed (%d): %s" % (cmd[0], p.returncode,
                                                       err.read().decode().strip()))
    wall, c1 = time.monotonic() - t0, cpu_times()
    if c0 and c1 and wall > 0:
        cap = wall * (os.cpu_count() or 1)
        own = ru.ru_utime + ru.ru_stime
        MACHINE.append({"cmd": os.path.basename(cmd[1] if cmd[0] == sys.executable else cmd[0]),
                        "steal": (c1[1] - c0[1]) / cap,
                        "others": max(0.0, (c1[0] - c0[0]) - own) / cap})
    return out, ru.ru_maxrss / 1024.0


def machine_note():
    """' steal S% others O%' of the last run, or ''."""
    if not MACHINE:
        return ""
    m = MACHINE[-1]
    return " steal %.1f%% others %.1f%%" % (100 * m["steal"], 100 * m["others"])


def cores_note(args):
    """' cores: round-trip N ns parallel R handover G GB/s' from bench-cores, or ''."""
    if not os.access(args.cores, os.X_OK):
        return ""
    try:
        out = subprocess.run([args.cores, "--reps", "3"], capture_output=True, text=True,
                             timeout=60).stdout
    except subprocess.TimeoutExpired:
        return " cores: (bench-cores timed out)"
    m = re.search(r"round-trip (\d+) ns parallel (-?[0-9.]+)(?: handover (-?[0-9.]+) GB/s)?", out)
    if not m:
        return ""
    return " cores: round-trip %s ns parallel %s" % m.groups()[:2] + (
        " handover %s GB/s" % m.group(3) if m.group(3) else "")


def run_libvae(args, arch, batch, threads, seed, bench_conv=None):
    hidden, latent = arch
    if hidden == "conv":
        out, rss = run([bench_conv or args.bench_conv, "--data", args.data, "--batch", str(batch),
                        "--epochs", str(args.epochs), "--seed", str(seed),
                        "--threads", str(threads)])
    else:
        out, rss = run([args.vae_train, "--data", args.data, "--holdout", str(N_TEST),
                    "--hidden", hidden, "--latent", str(latent), "--batch", str(batch),
                    "--optimizer", "adam", "--lr", "1e-3", "--epochs", str(args.epochs),
                        "--seed", str(seed), "--threads", str(threads)])
    rates, cpu_rates, elbo = [], [], None
    for line in out.splitlines():
        m = EPOCH_RE.match(line)
        if m:
            rates.append(float(m.group(3)))
            elbo = float(m.group(5))
            if m.group(6):
                cpu_rates.append(float(m.group(6)))
    if len(rates) != args.epochs:
        raise RuntimeError("vae-train printed %d epochs: %r" % (len(rates), out))
    return {"rates": rates, "cpu_rates": cpu_rates, "test_elbo": elbo, "rss": rss}


def run_torch(args, arch, batch, threads, blas_threads, seed):
    hidden, latent = arch
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas_threads))
    out, rss = run([sys.executable, os.path.abspath(__file__), "--worker", "--data", args.data,
                    "--hidden", hidden, "--latent", str(latent), "--epochs", str(args.epochs),
                    "--threads", str(threads), "--batch", str(batch), "--seed", str(seed)], env)
    r = json.loads(out)
    r["rss"] = rss
    return r


def run_sgemm(args, arch, batch, threads, team=False):
    hidden, latent = arch
    shape = ["--conv"] if hidden == "conv" else ["--hidden", hidden]
    out, _ = run([args.sgemm] + shape + ["--latent", str(latent), "--batch", str(batch),
                                         "--threads", str(threads),
                                         "--seconds", str(args.sgemm_seconds)]
                 + (["--team"] if team else []))
    if team:
        m = PRODUCT_RE.search(out)
        if m:
            PRODUCTS.add(m.group(1))
    return float(SGEMM_RE.search(out).group(1))


# The convolutional VAE's products per example, (M, N, K) of one example's
# share: conv2d  (Cout, Ho*Wo, Cin*k*k); convT2d (Cout*k*k, H*W, Cin); dense (1, out, in).
CONV_LAYERS = [(32, 196, 16), (64, 49, 512), (1, 256, 3136), (1, 20, 256), (1, 20, 256),
               (1, 256, 20), (1, 3136, 256), (512, 49, 64), (16, 196, 32)]


def flops_per_example(arch):
    hidden, latent = arch
    if hidden == "conv":
        macs = [m * n * k for m, n, k in CONV_LAYERS]
        # forward, weight gradient, input gradient for all but the first layer
        return 2.0 * (2 * sum(macs) + sum(macs[1:]))
    h = [int(v) for v in hidden.split(",")]
    enc = list(zip([D] + h, h)) + [(h[-1], latent)] * 2
    dec = list(zip([latent] + h[::-1], h[::-1] + [D]))
    layers = enc + dec
    # forward + weight gradient for every layer, input gradient for all but the first
    return sum(2.0 * a * b * 2 for a, b in layers) + sum(2.0 * a * b for a, b in layers[1:])


def parse_configs(s):
    """"400-20:32;1024,512-64:100" -> [(("400", 20), 32), (("1024,512", 64), 100)]"""
    out = []
    for item in re.findall(r"(?:([0-9,]+)-([0-9]+)|(conv)):([0-9]+)", s):
        if item[2]:
            out.append((("conv", 20), int(item[3])))
        else:
            out.append(((item[0].strip(","), int(item[1])), int(item[3])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "mnist",
                                                   "t10k-images-idx3-ubyte.gz"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--configs",
                    default="400-20:32;400-20:100;400-20:256;1024,512-64:100;conv:100",
                    help="hidden-latent:batch or conv:batch items separated by ';'")
    ap.add_argument("--sgemm-seconds", type=float, default=1.0)
    ap.add_argument("--baseline-build", default=None,
                    help="another build directory (e.g. of the commit before a change): its "
                         "bench-conv runs as one more side, 'libvae-base', for the conv rows")
    ap.add_argument("--seed", type=int, default=1)
    # worker options
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--hidden", default="400", help=argparse.SUPPRESS)
    ap.add_argument("--latent", type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        torch_worker(args)
        return 0

    args.vae_train = os.path.join(args.build, "examples", "vae-train")
    args.sgemm = os.path.join(args.build, "bench", "bench-sgemm")
    args.bench_conv = os.path.join(args.build, "bench", "bench-conv")
    args.cores = os.path.join(args.build, "bench", "bench-cores")
    for p in (args.vae_train, args.sgemm, args.bench_conv):
        if not os.access(p, os.X_OK):
            ap.error("%s not found: build first (meson compile -C %s)" % (p, args.build))
    threads = [int(t) for t in args.threads.split(",") if t]
    configs = [(arch, b, t) for arch, b in parse_configs(args.configs) for t in threads]

    # torch and numpy are imported only in the workers: a child's ru_maxrss
    # starts from this process's size at fork, which must stay small.
    print("# Python %s, %d CPUs, load average %.2f %.2f %.2f"
          % (platform.python_version(), os.cpu_count(), *os.getloadavg()))
    print("# %d epochs x %d reps per configuration, alternating sides and their order"
          % (args.epochs, args.reps))
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("# PyTorch not installed (Debian: python3-torch): torch columns skipped")
    sys.stdout.flush()
    res = {c: {k: [] for k in ("libvae", "libvae-base", "torch-literal", "torch-tuned", "sgemm",
                               "sgemm1", "team")}
           for c in configs}
    disturbed = []
    for rep in range(args.reps):
        for c in configs:
            arch, b, t = c
            sides = ["libvae", "torch-literal"] + (["torch-tuned"] if t > 1 else []) + ["sgemm"]
            if not have_torch:
                sides = ["libvae", "sgemm"]
            if args.baseline_build and arch[0] == "conv":
                sides.insert(1, "libvae-base")
            if rep % 2:
                sides = sides[::-1]
            for side in sides:
                seed = args.seed + rep
                cores = cores_note(args) if t > 1 and side != "sgemm" else ""
                if side == "libvae":
                    r = run_libvae(args, arch, b, t, seed)
                elif side == "libvae-base":
                    r = run_libvae(args, arch, b, t, seed, os.path.join(
                        args.baseline_build, "bench", "bench-conv"))
                elif side == "torch-literal":
                    r = run_torch(args, arch, b, t, t, seed)
                elif side == "torch-tuned":
                    r = run_torch(args, arch, b, t, 1, seed)
                else:
                    res[c]["sgemm"].append(run_sgemm(args, arch, b, t))
                    if t > 1:
                        res[c]["sgemm1"].append(run_sgemm(args, arch, b, 1))
                    # at T = 1 too: vt_gemm may run libvae's own product, not cblas_sgemm
                    res[c]["team"].append(run_sgemm(args, arch, b, t, team=True))
                    continue
                res[c][side].append(r)
                if "torch" in r and not res.get("torch_version"):
                    res["torch_version"] = r["torch"]
                    print("# PyTorch %s" % r["torch"])
                label = "rep %d %s-%d batch %d threads %d %-13s" % (rep + 1, arch[0], arch[1],
                                                                     b, t, side)
                note = machine_note() + cores
                if note and max(MACHINE[-1]["steal"], MACHINE[-1]["others"]) > DISTURBED:
                    disturbed.append(label.strip() + note)
                print("%s samples/s %s rss %.0f MiB test_elbo %.2f%s%s"
                      % (label, " ".join("%.0f" % v for v in r["rates"]), r["rss"],
                         r["test_elbo"],
                         " per-cpu-s " + " ".join("%.0f" % v for v in r["cpu_rates"])
                         if r.get("cpu_rates") else "", note))
                sys.stdout.flush()

    def rate(c, side):
        rs = res[c][side] or res[c]["torch-literal"]
        return statistics.median(v for r in rs for v in r["rates"]) if rs else float("nan")

    def rss(c, side):
        rs = res[c][side] or res[c]["torch-literal"]
        return statistics.median(r["rss"] for r in rs) if rs else float("nan")

    print()
    print("torch-literal: torch.set_num_threads(T), OpenBLAS T threads (the issue's setting); "
          "torch-tuned: set_num_threads(T), OpenBLAS 1 thread (PyTorch's best on 2 cores; "
          "= literal at T = 1).")
    print("roofline: cblas_sgemm GFLOP/s on the step's products with OpenBLAS at T threads "
          "[best of 1..T threads in brackets]; team: the same products split over T "
          "single-threaded sgemm calls as libvae runs them (bench-sgemm --team; product: %s)."
          % (", ".join(sorted(PRODUCTS)) or "?"))
    print()
    print("| model | batch | T | libvae samples/s | torch-literal | x literal | torch-tuned "
          "| x tuned | libvae GFLOP/s | sgemm GFLOP/s | % of roofline | team GFLOP/s | % of team "
          "| libvae RSS MiB | torch RSS MiB | RSS ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        arch, b, t = c
        lv, pl, pt = rate(c, "libvae"), rate(c, "torch-literal"), rate(c, "torch-tuned")
        gf = lv * flops_per_example(arch) * 1e-9
        sg = statistics.median(res[c]["sgemm"])
        best = max(sg, statistics.median(res[c]["sgemm1"])) if res[c]["sgemm1"] else sg
        team = statistics.median(res[c]["team"]) if res[c]["team"] else sg
        rl, rt = rss(c, "libvae"), rss(c, "torch-tuned")
        name = ("conv-%d" % arch[1] if arch[0] == "conv"
                else "784-%s-%d" % (arch[0].replace(",", "-"), arch[1]))
        row = ("| %s | %d | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.1f | %.1f [%.1f] "
               "| %.0f%% [%.0f%%] | %.1f | %.0f%% | %.0f | %.0f | 1/%.1f |"
               % (name, b, t, lv, pl, lv / pl, pt, lv / pt, gf, sg, best, 100 * gf / sg,
                  100 * gf / best, team, 100 * gf / team, rl, rt, rt / rl))
        print(row.replace("nanx", "-").replace("nan", "-"))
        if res[c]["libvae-base"]:
            lb = rate(c, "libvae-base")
            gb = lb * flops_per_example(arch) * 1e-9
            print("| %s (baseline build) | %d | %d | %.0f | %.0f | %.2fx | %.0f | %.2fx | %.1f | "
                  "| %.0f%% | | %.0f%% | %.0f | %.0f | 1/%.1f |"
                  % (name, b, t, lb, pl, lb / pl, pt, lb / pt, gb, 100 * gb / sg, 100 * gb / team,
                     rss(c, "libvae-base"), rt, rt / rss(c, "libvae-base")))
    cpu_rows = [c for c in configs if any(r.get("cpu_rates") for r in res[c]["libvae"])]
    if cpu_rows:
        def cpu_rate(c, side):
            # torch-tuned at T = 1 is the literal run; no other side falls back
            runs = res[c][side] or (res[c]["torch-literal"] if side == "torch-tuned" else [])
            rs = [v for r in runs for v in r.get("cpu_rates", [])]
            return statistics.median(rs) if rs else float("nan")
        print()
        print("Samples per CPU second of the training loop (process CPU time, all threads; "
              "at T = 1 a load-independent estimate of the quiet machine's samples/s):")
        print()
        print("| model | batch | T | libvae | libvae baseline build | torch-literal | x literal "
              "| torch-tuned | x tuned |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in cpu_rows:
            arch, b, t = c
            lv, lb = cpu_rate(c, "libvae"), cpu_rate(c, "libvae-base")
            pl, pt = cpu_rate(c, "torch-literal"), cpu_rate(c, "torch-tuned")
            name = "conv-%d" % arch[1] if arch[0] == "conv" else "784-%s-%d" % arch
            row = ("| %s | %d | %d | %.0f | %.0f | %.0f | %.2fx | %.0f | %.2fx |"
                   % (name, b, t, lv, lb, pl, lv / pl, pt, lv / pt))
            print(row.replace("nanx", "-").replace("nan", "-"))
    print()
    if MACHINE:
        print("# machine during the runs: steal up to %.1f%%, others up to %.1f%% of wall x CPUs"
              % (100 * max(m["steal"] for m in MACHINE), 100 * max(m["others"] for m in MACHINE)))
        for d in disturbed:
            print("# disturbed: %s" % d)
    print("# load average at end: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
