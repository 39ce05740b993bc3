"""examples/python/train_mnist.py prints vae-train's lines with the same ELBOs."""
import os
import re
import subprocess
import sys
import unittest

from vaetest import MNIST_IMAGES, REPO, need_mnist, tmpdir, vae_train_path

SCRIPT = os.path.join(REPO, "examples", "python", "train_mnist.py")
LINE = re.compile(r"^epoch \d+ time \d+\.\d{3} samples/s \d+\.\d train_elbo -?\d+\.\d{4} "
                  r"test_elbo -?\d+\.\d{4}$")


def run(cmd, expect_rc=0):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=600)
    if expect_rc is not None and p.returncode != expect_rc:
        raise AssertionError("%s exited %d\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    return p


def without_timing(out):
    """The lines with time and samples/s cut out (they differ run to run)."""
    lines = []
    for line in out.splitlines():
        if line.startswith("epoch "):
            assert LINE.match(line), "bad line format: %r" % line
            f = line.split()
            lines.append(" ".join(f[:2] + f[6:]))
        else:
            lines.append(line)
    return lines


class TestExample(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.exe = vae_train_path()
        if not cls.exe:
            raise unittest.SkipTest("vae-train not found (set VAE_TRAIN)")

    def compare(self, args):
        c = run([self.exe] + args).stdout
        py = run([sys.executable, SCRIPT] + args).stdout
        self.assertTrue(c.strip())
        self.assertEqual(without_timing(py), without_timing(c))
        return py

    def test_synthetic(self):
        out = self.compare(["--epochs", "2", "--hidden", "64"])
        self.assertEqual(len(out.splitlines()), 2)
        self.compare(["--epochs", "2", "--hidden", "48,24", "--latent", "5", "--optimizer",
                      "momentum", "--lr", "0.001", "--binarize", "threshold", "--seed", "3",
                      "--batch", "64", "--holdout", "300"])
        self.compare(["--epochs", "1", "--hidden", "none", "--likelihood", "gaussian",
                      "--optimizer", "adagrad", "--threads", "2", "--holdout", "0"])

    def test_estimators_and_objectives(self):
        self.compare(["--epochs", "1", "--hidden", "32", "--estimator", "score-loo",
                      "--samples", "3", "--eval-ll", "20"])
        self.compare(["--epochs", "1", "--hidden", "32", "--objective", "iwae", "--k", "3",
                      "--posterior", "logistic", "--binarize", "dynamic"])

    def test_checkpoints_cross_over(self):
        with tmpdir() as d:
            a, b = os.path.join(d, "py.ckpt"), os.path.join(d, "c.ckpt")
            common = ["--epochs", "1", "--hidden", "40", "--latent", "6"]
            run([sys.executable, SCRIPT] + common + ["--save", a])
            run([self.exe] + common + ["--save", b])
            # A checkpoint written from Python continues in vae-train and vice versa.
            self.compare(["--epochs", "2", "--load", a])
            self.compare(["--epochs", "2", "--load", b])
            self.assertEqual(without_timing(run([self.exe, "--epochs", "1", "--load", a]).stdout),
                             without_timing(run([self.exe, "--epochs", "1", "--load", b]).stdout))

    def test_errors(self):
        p = run([sys.executable, SCRIPT, "--latent", "0"], expect_rc=2)
        self.assertIn("bad value '0'", p.stderr)
        run([sys.executable, SCRIPT, "--optimizer", "rmsprop"], expect_rc=2)
        run([sys.executable, SCRIPT, "extra"], expect_rc=2)
        p = run([sys.executable, SCRIPT, "--data", "/nonexistent.idx"], expect_rc=1)
        self.assertIn("/nonexistent.idx", p.stderr)
        p = run([sys.executable, SCRIPT, "--holdout", "2000"], expect_rc=1)
        self.assertIn("--holdout", p.stderr)
        self.assertIn("--eval-ll", run([sys.executable, SCRIPT, "--help"]).stdout)

    @need_mnist
    def test_mnist(self):
        self.compare(["--data", MNIST_IMAGES, "--holdout", "1000", "--hidden", "200",
                      "--latent", "10", "--epochs", "1", "--threads", "2"])


if __name__ == "__main__":
    unittest.main()
