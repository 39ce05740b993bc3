#!/usr/bin/python3
"""train_mnist.py: train a VAE with libvae from Python, like vae-train.

The same options and the same output as examples/vae-train.c, one line per
epoch:

    epoch <E> time <seconds> samples/s <rate> train_elbo <nats> test_elbo <nats>

where time and samples/s cover the training pass only and test_elbo is the
analytic-KL ELBO of the held-out examples with one z sample each. With the
same options, seed and threads the ELBOs are those of vae-train, digit for
digit. Without --data it trains on vae-train's built-in synthetic "bars".

    PYTHONPATH=python /usr/bin/python3 examples/python/train_mnist.py \\
        --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz --holdout 1000 --epochs 10
"""
import argparse
import os
import sys
import time

import numpy as np

try:
    import libvae
except ImportError:     # run from a source tree: <repo>/python holds the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import libvae

PROG = "train_mnist.py"
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian-learned")
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
BINARIZE = ("none", "threshold", "dynamic")
ESTIMATORS = ("pathwise", "score", "score-ema", "score-loo")
OBJECTIVES = ("elbo", "iwae")
POSTERIORS = ("gaussian", "laplace", "logistic")


def make_synthetic(n):
    """vae-train's synthetic 28x28 "bars": each image lights three random rows
    or columns, drawn from the same 64-bit LCG, so both programs see the same data."""
    side = 28
    x = np.zeros((n, side, side), dtype=np.float32)
    s = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for i in range(n):
        for _ in range(3):
            s = (s * 6364136223846793005 + 1442695040888963407) & mask
            pos, vertical = (s >> 33) % side, (s >> 20) & 1
            if vertical:
                x[i, :, pos] = 1.0
            else:
                x[i, pos, :] = 1.0
    return x.reshape(n, side * side)


def int_in(lo, hi):
    def parse(s):
        try:
            v = int(s, 10)
        except ValueError:
            raise argparse.ArgumentTypeError("bad value '%s'" % s)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError("bad value '%s'" % s)
        return v
    return parse


def hidden_sizes(s):
    if s in ("none", ""):
        return ()
    try:
        sizes = tuple(int(t, 10) for t in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("bad value '%s'" % s)
    if len(sizes) > 8 or any(not 1 <= v <= 1 << 20 for v in sizes):
        raise argparse.ArgumentTypeError("bad value '%s'" % s)
    return sizes


def positive_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError("bad value '%s'" % s)
    if not v > 0:
        raise argparse.ArgumentTypeError("bad value '%s'" % s)
    return v


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="Train a variational autoencoder and print one line per "
        "epoch: epoch <E> time <s> samples/s <rate> train_elbo <nats> test_elbo <nats>")
    p.add_argument("--data", metavar="PATH",
                   help="IDX images (gzip or raw); default: a built-in synthetic set")
    p.add_argument("--labels", metavar="PATH", help="IDX labels for the images")
    p.add_argument("--holdout", type=int_in(0, 1 << 28), default=-1, metavar="N",
                   help="the last N examples are the test set (default 10%%)")
    p.add_argument("--hidden", type=hidden_sizes, default=None, metavar="A[,B..]",
                   help="hidden layer sizes (default 400)")
    p.add_argument("--latent", type=int_in(1, 65536), metavar="K",
                   help="latent dimensions (default 20)")
    p.add_argument("--batch", type=int_in(1, 1 << 20), default=100, metavar="N",
                   help="batch size (default 100)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", metavar="NAME",
                   help="adam|sgd|momentum|adagrad (default adam)")
    p.add_argument("--lr", type=positive_float, metavar="RATE",
                   help="learning rate (default: the optimizer's)")
    p.add_argument("--epochs", type=int_in(0, 1000000), default=10, metavar="N",
                   help="epochs (default 10)")
    p.add_argument("--likelihood", choices=LIKELIHOODS, metavar="NAME",
                   help="bernoulli|gaussian|gaussian-learned (default bernoulli)")
    p.add_argument("--binarize", choices=BINARIZE, default="none", metavar="MODE",
                   help="none|threshold|dynamic (default none)")
    p.add_argument("--estimator", choices=ESTIMATORS, metavar="NAME",
                   help="pathwise|score|score-ema|score-loo (default pathwise)")
    p.add_argument("--samples", type=int_in(1, 4096), metavar="L",
                   help="z samples per example in training (default 1)")
    p.add_argument("--objective", choices=OBJECTIVES, default="elbo", metavar="NAME",
                   help="elbo|iwae (default elbo)")
    p.add_argument("--k", type=int_in(1, 4096), default=5, metavar="K",
                   help="importance samples of the IWAE objective (default 5)")
    p.add_argument("--posterior", choices=POSTERIORS, metavar="NAME",
                   help="gaussian|laplace|logistic (default gaussian)")
    p.add_argument("--eval-ll", type=int_in(1, 1 << 20), default=0, metavar="K",
                   help="after training print 'test_ll <nats>': log p(x) on the test set "
                   "estimated with K importance samples")
    p.add_argument("--seed", type=int_in(0, 0x7FFFFFFF), metavar="N",
                   help="random seed (default 1)")
    p.add_argument("--threads", type=int_in(1, 256), default=1, metavar="N",
                   help="BLAS threads (default 1)")
    p.add_argument("--save", metavar="PATH", help="write a checkpoint after training")
    p.add_argument("--load", metavar="PATH",
                   help="start from a checkpoint (its architecture wins)")
    return p.parse_args(argv)


def fail(what, msg):
    print("%s: %s: %s" % (PROG, what, msg), file=sys.stderr)
    return 1


def model_options(a):
    """Model() keywords for the flags given; the rest keep the library's defaults."""
    kw = dict(hidden=a.hidden, latent=a.latent, likelihood=a.likelihood, seed=a.seed,
              threads=a.threads, samples=a.samples, posterior=a.posterior)
    if a.estimator is not None:
        kw["estimator"] = "pathwise" if a.estimator == "pathwise" else "score"
        kw["baseline"] = {"score-ema": "ema", "score-loo": "loo"}.get(a.estimator, "none")
    if a.objective == "iwae":
        kw["objective"] = "iwae"
        kw["samples"] = a.k             # the IWAE bound's k is the model's samples
    if a.posterior not in (None, "gaussian"):
        kw["kl"] = "mc"                 # no closed form
    return kw


def main(argv=None):
    a = parse_args(argv)
    try:
        if a.data:
            all_ds = libvae.Dataset.from_idx(a.data, a.labels, binarize=a.binarize)
        else:
            all_ds = libvae.Dataset.from_numpy(make_synthetic(2000), binarize=a.binarize)
    except libvae.Error as e:
        return fail(a.data or "synthetic data", e.message)
    n = len(all_ds)
    holdout = n // 10 if a.holdout < 0 else a.holdout
    if holdout >= n:
        return fail("--holdout", "must leave at least one training example")
    try:
        train = all_ds.subset(0, n - holdout)
        test = all_ds.subset(n - holdout, holdout) if holdout > 0 else None
    except libvae.Error as e:
        return fail("split", e.message)

    opt = None
    if a.load:
        try:
            model, opt = libvae.Model.load(a.load, with_optimizer=True)
        except libvae.Error as e:
            return fail(a.load, e.message)
        model.threads = a.threads
    else:
        try:
            model = libvae.Model(input_dim=all_ds.dim, **model_options(a))
        except libvae.Error as e:
            return fail("model", e.message)
    if opt is None:
        try:
            opt = libvae.Optimizer(a.optimizer, lr=a.lr)
        except libvae.Error as e:
            return fail("optimizer", e.message)

    # After --load the epoch numbering goes on, as in vae-train: the
    # checkpoint's schedule steps over the batches of one epoch.
    first = model.training_state().step // -(-len(train) // a.batch) if a.load else 0
    with model, opt, all_ds, train:
        for e in range(first + 1, first + a.epochs + 1):
            t0 = time.monotonic()
            try:
                tr = model.train_epoch(train, opt, batch_size=a.batch)
            except libvae.Error as err:
                return fail("training", err.message)
            dt = time.monotonic() - t0
            te_elbo = 0.0
            if test is not None:
                try:
                    te_elbo = model.evaluate(test, batch_size=a.batch).elbo
                except libvae.Error as err:
                    return fail("evaluation", err.message)
            print("epoch %d time %.3f samples/s %.1f train_elbo %.4f test_elbo %.4f"
                  % (e, dt, tr.n / dt, tr.elbo, te_elbo), flush=True)
        if a.eval_ll > 0 and test is not None:
            try:
                _, ll = model.log_likelihood(test.numpy(), k=a.eval_ll)
            except libvae.Error as err:
                return fail("log-likelihood", err.message)
            print("test_ll %.4f" % ll, flush=True)
        if a.save:
            try:
                model.save(a.save, opt)
            except libvae.Error as err:
                return fail(a.save, err.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
