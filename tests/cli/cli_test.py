#!/usr/bin/env python3
"""Acceptance tests of the example programs' command line (suite cli).

usage: cli_test.py MODE VAE_TRAIN [OTHER_EXE...]
  outputs   unwritable outputs and impossible pictures fail with status 2
            before training (no epoch line)
  sigint    SIGINT / SIGTERM during training: status 130 / 143, a loadable
            checkpoint, 'interrupted: saved FILE'
  resume    --save-every 1 for 2 epochs, then --load for 2 more == 4 epochs
  patience  --patience 1 on a tiny set stops early and keeps the best model
  log       --log: the header and one row per epoch, matching stdout
  progress  the progress bar: on a terminal only
  csv       --data x.csv trains; --labels col:N with --conditional; errors
  sigint-mnist  vqvae-mnist and cvae-digits (OTHER_EXE): SIGINT saves, status 130
  convention the other programs: --help, exit 2 for usage errors, never 77
Runs on the built-in synthetic set or small generated files: a few seconds.
"""
import csv
import gzip
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

NUM = r"-?[0-9]+(?:\.[0-9]+)?"
LINE = re.compile(r"^epoch ([0-9]+) time [0-9.]+ samples/s [0-9.]+ train_elbo (%s) test_elbo (%s)$"
                  % (NUM, NUM))


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, cwd=None):
    print("+ " + " ".join(args))
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       cwd=cwd, timeout=120)
    for line in p.stdout.splitlines():
        print("  stdout: " + line)
    for line in p.stderr.splitlines():
        print("  stderr: " + line)
    return p


def epochs(stdout):
    """{epoch: (train_elbo, test_elbo)} of the epoch lines; every line must match."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("epoch "):
            m = LINE.match(line)
            if not m:
                fail("bad epoch line %r" % line)
            out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def write_csv(path, n, d, header=False, label_col=None, classes=3, seed=1):
    """n rows of d values in [0, 1] (two-decimal), plus an integer label column."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        cols = d + (label_col is not None)
        if header:
            f.write(",".join("c%d" % j for j in range(cols)) + "\n")
        for i in range(n):
            k = i % classes
            row = ["%.2f" % (0.8 if (j % classes) == k else 0.1 * rng.random()) for j in range(d)]
            if label_col is not None:
                row.insert(label_col if label_col >= 0 else len(row), str(k))
            f.write(",".join(row) + "\n")


def mode_outputs(exe, tmp):
    missing = os.path.join(tmp, "no-such-dir")
    cases = [
        ["--samples-png", missing + "/s.png"],
        ["--manifold-png", missing + "/m.png", "--latent", "2"],
        ["--save", missing + "/m.ckpt"],
        ["--save", tmp],                      # a directory
        ["--log", missing + "/log.csv"],
        ["--manifold-png", os.path.join(tmp, "m.png"), "--latent", "3"],
        ["--save-every", "1"],                # needs --save
        ["--patience", "2", "--holdout", "0"],
        ["--labels", "col:x", "--data", os.path.join(tmp, "x.csv")],
    ]
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    os.chmod(ro, 0o555)
    if not os.access(ro, os.W_OK):  # root writes anywhere
        cases.append(["--save", ro + "/m.ckpt"])
    for extra in cases:
        p = run([exe, "--epochs", "50"] + extra)
        if p.returncode != 2:
            fail("%s: exit status %d, expected 2" % (extra, p.returncode))
        if "epoch" in p.stdout:
            fail("%s: training started before the error" % extra)
        if not p.stderr.strip():
            fail("%s: no message" % extra)
    # A conditional model's manifold (its decoder needs a class): refused
    # before training.
    lab = os.path.join(tmp, "lab.csv")
    write_csv(lab, 60, 16, label_col=16)
    ck = os.path.join(tmp, "cond.ckpt")
    p = run([exe, "--data", lab, "--labels", "col:last", "--conditional", "independent",
             "--latent", "2", "--epochs", "50", "--manifold-png", os.path.join(tmp, "c.png"),
             "--save", ck])
    if p.returncode != 2 or "epoch" in p.stdout or "conditional" not in p.stderr:
        fail("conditional --manifold-png: status %d, stderr %r" % (p.returncode, p.stderr))
    # The message names the flag and the path once.
    p = run([exe, "--epochs", "1", "--samples-png", missing + "/s.png"])
    if p.stderr.count(missing + "/s.png") != 1 or "--samples-png" not in p.stderr:
        fail("the message should name --samples-png and the path once")
    # A writable existing file is not truncated by the check; a missing one is not created.
    keep = os.path.join(tmp, "keep.png")
    with open(keep, "w") as f:
        f.write("old")
    p = run([exe, "--epochs", "1", "--samples-png", keep, "--manifold-png", keep, "--latent", "3"])
    if p.returncode != 2 or open(keep).read() != "old":
        fail("a refused run changed an existing output file")
    if any(n.startswith(".vae-train-check") for n in os.listdir(tmp)):
        fail("the writability check left a temporary file")


def mode_sigint(exe, tmp):
    for sig, status in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        ck = os.path.join(tmp, "int-%d.ckpt" % sig)
        args = [exe, "--epochs", "100000", "--hidden", "64", "--latent", "4", "--save", ck]
        print("+ " + " ".join(args) + "  (signal %d after the first epoch line)" % sig)
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = p.stdout.readline()
        if not first.startswith("epoch 1 "):
            p.kill()
            fail("no first epoch line: %r" % first)
        time.sleep(0.05)  # a few batches into a later epoch
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("the program did not stop after signal %d" % sig)
        print("  stderr: " + err.replace("\n", "\n  stderr: "))
        if p.returncode != status:
            fail("exit status %d after signal %d, expected %d" % (p.returncode, sig, status))
        if "interrupted: saved " + ck not in err:
            fail("no 'interrupted: saved FILE' message")
        p2 = run([exe, "--load", ck, "--epochs", "1"])
        if p2.returncode != 0 or len(epochs(p2.stdout)) != 1:
            fail("the checkpoint written on the signal does not load and train")
    # Without --save: 'interrupted' and the status all the same.
    p = subprocess.Popen([exe, "--epochs", "100000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    if p.returncode != 130 or "interrupted" not in err:
        fail("without --save: status %d, stderr %r" % (p.returncode, err))
    # A program without checkpoints (estimator-variance trains before it
    # prints anything): the batch ends, "interrupted", status 143.
    ev = os.path.join(os.path.dirname(exe), "estimator-variance")
    p = subprocess.Popen([ev, "--epochs", "100000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # into its training (the status is checked, not the time)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    if p.returncode != 143 or "estimator-variance: interrupted" not in err:
        fail("estimator-variance after SIGTERM: status %d, stderr %r" % (p.returncode, err))


def mode_resume(exe, tmp):
    ck = os.path.join(tmp, "r.ckpt")
    flags = ["--hidden", "64", "--latent", "4", "--seed", "7"]
    straight = run([exe, "--epochs", "4"] + flags)
    a = run([exe, "--epochs", "2", "--save-every", "1", "--save", ck] + flags)
    if a.returncode != 0 or not os.path.exists(ck):
        fail("the first half failed")
    if a.stderr.count("wrote " + ck) != 2:
        fail("--save-every 1 over 2 epochs should write the checkpoint twice (once per epoch)")
    b = run([exe, "--load", ck, "--epochs", "2"])
    s, r = epochs(straight.stdout), epochs(b.stdout)
    if sorted(r) != [3, 4]:
        fail("the resumed run should number its epochs 3 and 4, got %s" % sorted(r))
    if s[3] != r[3] or s[4] != r[4]:
        fail("resumed %s != straight %s" % (r, {k: s[k] for k in (3, 4)}))
    print("ok: epochs 3-4 resumed == straight: %s" % (r[4],))
    # --load with architecture flags: a note names those the checkpoint overrides.
    p = run([exe, "--load", ck, "--epochs", "1", "--hidden", "32", "--latent", "4"])
    if p.returncode != 0 or "overrides --hidden" not in p.stderr or "--latent" in p.stderr:
        fail("the note should name --hidden (32 != 64) and not --latent (4 == 4)")


def mode_progress(exe, tmp):
    """The progress bar: on stderr when it is a terminal, never otherwise."""
    import pty
    master, slave = pty.openpty()
    args = [exe, "--epochs", "2", "--hidden", "64"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = p.stdout.read().decode()
    p.wait()
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    print(out)
    print(repr(err[:200]))
    if p.returncode != 0 or sorted(epochs(out)) != [1, 2] or len(out.splitlines()) != 2:
        fail("stdout changed with a terminal on stderr")
    if b"epoch 1 [" not in err or b"epoch 2 [" not in err:
        fail("no progress bar on a terminal")
    q = run(args)
    if q.stderr:
        fail("output on stderr (a progress bar?) when it is not a terminal")


def mode_patience(exe, tmp):
    data = os.path.join(tmp, "tiny.csv")
    write_csv(data, 60, 16, seed=3)
    ck = os.path.join(tmp, "best.ckpt")
    flags = ["--data", data, "--holdout", "20", "--hidden", "128", "--latent", "8",
             "--batch", "10", "--lr", "0.01", "--seed", "2"]
    p = run([exe, "--epochs", "300", "--patience", "1", "--save", ck] + flags)
    if p.returncode != 0:
        fail("exit status %d" % p.returncode)
    ep = epochs(p.stdout)
    if len(ep) >= 300:
        fail("no early stop in 300 epochs")
    m = re.search(r"best epoch ([0-9]+) test_elbo (%s)" % NUM, p.stderr)
    if not m:
        fail("no 'best epoch' message")
    best, best_elbo = int(m.group(1)), m.group(2)
    if ep[best][1] != best_elbo:
        fail("best epoch %d has test_elbo %s, the message says %s" % (best, ep[best][1], best_elbo))
    if max(float(v[1]) for v in ep.values()) != float(best_elbo):
        fail("epoch %d is not the best epoch" % best)
    last = max(ep)
    if last != best + 1:
        fail("with --patience 1 the run should stop one epoch after the best (%d, %d)" % (best, last))
    q = run([exe, "--load", ck, "--epochs", "0", "--eval"] + flags)
    m2 = re.search(r"^test_elbo (%s)$" % NUM, q.stdout, re.M)
    if q.returncode != 0 or not m2:
        fail("--load --epochs 0 --eval of the saved model failed")
    if m2.group(1) != best_elbo:
        fail("the saved model's test_elbo %s != the best epoch's %s" % (m2.group(1), best_elbo))
    print("ok: stopped after epoch %d, kept epoch %d (test_elbo %s)" % (last, best, best_elbo))


def mode_log(exe, tmp):
    log = os.path.join(tmp, "train.csv")
    p = run([exe, "--epochs", "3", "--hidden", "32", "--latent", "4", "--beta", "2",
             "--log", log])
    if p.returncode != 0:
        fail("exit status %d" % p.returncode)
    if "wrote " + log not in p.stderr:
        fail("the log file is not announced")
    with open(log, newline="") as f:
        header = f.readline().rstrip("\n")
        rows = list(csv.reader(f))
    if header != "epoch,time_s,samples_per_s,train_elbo,test_elbo,rec,kl,beta":
        fail("header %r" % header)
    ep = epochs(p.stdout)
    if len(rows) != 3 or [int(r[0]) for r in rows] != [1, 2, 3]:
        fail("expected rows for epochs 1..3: %s" % rows)
    for r in rows:
        vals = [float(v) for v in r]
        e = int(r[0])
        if abs(vals[3] - float(ep[e][0])) > 1e-3 or abs(vals[4] - float(ep[e][1])) > 1e-3:
            fail("row %s does not match the epoch line %s" % (r, ep[e]))
        if vals[7] != 2.0 or not (vals[6] >= 0) or not (vals[5] <= 0):
            fail("rec/kl/beta columns %s" % r)
        if abs(vals[5] - vals[6] - vals[3]) > 1e-2:
            fail("train_elbo != rec - kl in %s" % r)


def mode_csv(exe, tmp):
    plain = os.path.join(tmp, "x.csv")
    write_csv(plain, 200, 16)
    p = run([exe, "--data", plain, "--epochs", "2", "--hidden", "32", "--latent", "2"])
    if p.returncode != 0 or sorted(epochs(p.stdout)) != [1, 2]:
        fail("--data x.csv did not train")
    for col, header in (("0", True), ("last", False), ("5", False)):
        path = os.path.join(tmp, "lab-%s.csv" % col)
        write_csv(path, 200, 16, header=header,
                  label_col={"0": 0, "last": -1, "5": 5}[col])
        p = run([exe, "--data", path, "--labels", "col:" + col, "--conditional", "learned-prior",
                 "--epochs", "2", "--hidden", "32", "--latent", "2", "--diagnostics"])
        if p.returncode != 0 or sorted(epochs(p.stdout)) != [1, 2]:
            fail("--labels col:%s --conditional did not train" % col)
        if "diagnostics " not in p.stdout:
            fail("no diagnostics line for the conditional model")
    # The label column is taken out of the features: 16 pixels, a 4 x 4 square.
    path = os.path.join(tmp, "lab-0.csv")
    p = run([exe, "--data", path, "--labels", "col:0", "--conditional", "independent",
             "--epochs", "1", "--hidden", "8", "--latent", "2",
             "--samples-png", os.path.join(tmp, "s.png")])
    if p.returncode != 0 or not os.path.exists(os.path.join(tmp, "s.png")):
        fail("--samples-png of a conditional CSV model")
    bad = [
        (["--labels", os.path.join(tmp, "x.csv")], 2),     # a file, not col:N, for CSV
        (["--labels", "col:99"], 2),                        # no such column
    ]
    for extra, status in bad:
        p = run([exe, "--data", plain, "--epochs", "1"] + extra)
        if p.returncode != status or "epoch" in p.stdout or not p.stderr:
            fail("%s: status %d, expected %d with a message" % (extra, p.returncode, status))
    gz = plain + ".gz"
    with open(plain, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    p = run([exe, "--data", gz, "--epochs", "1", "--seed", "3"])
    q = run([exe, "--data", plain, "--epochs", "1", "--seed", "3"])
    if p.returncode != 0 or "epoch 1" not in p.stdout:
        fail("gzip CSV: status %d: %s" % (p.returncode, p.stderr))
    if p.stdout.split("train_elbo")[1] != q.stdout.split("train_elbo")[1]:
        fail("gzip CSV trains differently from the same CSV uncompressed")
    # IDX (raw) with col:N is refused; --mnist DIR is --data DIR/<images>.
    d = os.path.join(tmp, "mnist")
    os.mkdir(d)
    n = 50
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 4, 4))
        f.write(bytes(((i * 37 + j * 11) % 256) for i in range(n) for j in range(16)))
    p = run([exe, "--mnist", d, "--epochs", "1", "--hidden", "8", "--latent", "2"])
    if p.returncode != 0 or len(epochs(p.stdout)) != 1:
        fail("--mnist DIR did not train on DIR's images")
    p = run([exe, "--data", d, "--labels", "col:0", "--epochs", "1"])
    if p.returncode != 2:
        fail("IDX data with --labels col:N: status %d, expected 2" % p.returncode)


def mode_sigint_mnist(exe, others, tmp):
    """vqvae-mnist and cvae-digits: SIGINT after the first epoch line saves a
    checkpoint and exits 130 (skipped, 77, without the MNIST file)."""
    mnist = os.environ.get("VAE_MNIST_DIR", "")
    if not os.path.isfile(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")):
        print("SKIP: no MNIST in '%s'" % mnist)
        sys.exit(77)
    done = {}
    for prog in others:
        name = os.path.basename(prog)
        ck = os.path.join(tmp, name + ".ckpt")
        pic = os.path.join(tmp, name + ".png")
        flag = "--png" if name == "vqvae-mnist" else "--out"
        args = [prog, "--data", mnist, "--epochs", "1000", "--save", ck, flag, pic]
        print("+ " + " ".join(args) + "  (SIGINT after the first epoch line)")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = p.stdout.readline()
        if not first.startswith("epoch 1 "):
            p.kill()
            fail("%s: no first epoch line: %r" % (name, first))
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("%s did not stop after SIGINT" % name)
        print("  stderr: " + err)
        if p.returncode != 130 or "interrupted: saved " + ck not in err:
            fail("%s: status %d, stderr %r" % (name, p.returncode, err))
        if os.path.exists(pic):
            fail("%s wrote its picture after the interrupt" % name)
        done[name] = (first + out).count("epoch ")
    vq = next((o for o in others if os.path.basename(o) == "vqvae-mnist"), None)
    if vq:
        q = run([vq, "--data", mnist, "--load", os.path.join(tmp, "vqvae-mnist.ckpt"),
                 "--epochs", "1", "--png", ""])
        if q.returncode != 0:
            fail("the interrupted vqvae-mnist checkpoint does not load")
        # --load continues the numbering after the epochs the checkpoint finished.
        want = "epoch %d " % (done["vqvae-mnist"] + 1)
        if not q.stdout.startswith(want):
            fail("vqvae-mnist --load: expected %r first, got %r" % (want, q.stdout[:40]))


def mode_convention(exe, others, tmp):
    """Every program: --help on stdout with status 0; a bad flag, a bad value and an
    unwritable output give status 2 before any work; a missing data file 1, never 77."""
    missing = os.path.join(tmp, "no-such-dir")
    for prog in [exe] + others:
        name = os.path.basename(prog)
        p = run([prog, "--help"])
        if p.returncode != 0 or not p.stdout.startswith("usage: "):
            fail("%s --help" % name)
        for opt in ("--data", "--threads", "--seed"):
            if opt not in p.stdout:
                fail("%s --help does not mention %s" % (name, opt))
        bads = [["--no-such-flag"], ["--threads", "0"], ["--seed", "x"], ["--epochs"]]
        if name != "ae-compare":  # ae-compare MNIST_DIR ...: its older positional form
            bads.append(["stray-argument"])
        for bad in bads:
            q = run([prog] + bad)
            if q.returncode != 2 or not q.stderr:
                fail("%s %s: status %d, expected 2 and a message" % (name, bad, q.returncode))
        extra = ["--out", tmp] if name == "ae-compare" else []
        q = run([prog, "--data", missing + "/images.gz", "--epochs", "1"] + extra)
        if q.returncode != 1 or not q.stderr:
            fail("%s: a missing data file: status %d, expected 1" % (name, q.returncode))
        out_flag = next((f for f in ("--save", "--out", "--png", "--csv") if f in p.stdout), None)
        if out_flag:
            q = run([prog, out_flag, missing + "/out", "--epochs", "1"])
            if q.returncode != 2 or out_flag not in q.stderr:
                fail("%s %s into a missing directory: status %d" % (name, out_flag, q.returncode))


def main():
    mode, exe, others = sys.argv[1], sys.argv[2], sys.argv[3:]
    base = os.environ.get("VAE_TEST_TMPDIR") or None
    with tempfile.TemporaryDirectory(prefix="cli-%s." % mode, dir=base) as tmp:
        if mode == "convention":
            mode_convention(exe, others, tmp)
        elif mode == "sigint-mnist":
            mode_sigint_mnist(exe, others, tmp)
        else:
            globals()["mode_" + mode](exe, tmp)
    print("ok: " + mode)


if __name__ == "__main__":
    main()
