"""Acceptance: training from a numpy array gives vae-train's ELBOs bit for bit.

vae-train loads the IDX file itself (uint8 pixels divided by 255 in float32);
here the same file is read with gzip + numpy into a float32 array of the raw
0..255 values and handed to Dataset.from_numpy(scale='255'), so the library
divides exactly as its IDX path does. Same model, optimizer, seed, threads,
batch size and split (first 9000 train, last 1000 test).
"""
import re
import subprocess
import unittest

from vaetest import MNIST_IMAGES, mnist_numpy, need_mnist, np, vae_train_path

import libvae

EPOCHS = 2
THREADS = 2
LINE = re.compile(r"^epoch (\d+) time (\S+) samples/s (\S+) train_elbo (\S+) test_elbo (\S+)$")


def run_vae_train():
    exe = vae_train_path()
    if not exe:
        raise unittest.SkipTest("vae-train not found (set VAE_TRAIN)")
    out = subprocess.run(
        [exe, "--data", MNIST_IMAGES, "--holdout", "1000", "--hidden", "400", "--latent", "20",
         "--batch", "100", "--epochs", str(EPOCHS), "--seed", "1", "--threads", str(THREADS)],
        check=True, stdout=subprocess.PIPE, universal_newlines=True, timeout=600).stdout
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, "unexpected vae-train line: %r" % line
        rows.append((int(m.group(1)), m.group(4), m.group(5)))
    return rows


def train_python(train, test):
    """Per-epoch (epoch, train Stats, test Stats) with vae-train's settings."""
    rows = []
    with libvae.Model(input_dim=784, hidden=(400,), latent=20, seed=1, threads=THREADS) as m, \
            libvae.Optimizer("adam") as opt:
        for e in range(1, EPOCHS + 1):
            tr = m.fit(train, epochs=1, batch_size=100, optimizer=opt)[0]
            te = m.evaluate(test, batch_size=100)
            rows.append((e, tr, te))
    return rows


@need_mnist
class TestBitIdentical(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.raw = mnist_numpy()                     # (10000, 784) float32, 0..255

    def test_numpy_data_matches_idx_loader(self):
        with libvae.Dataset.from_numpy(self.raw, scale="255") as a, \
                libvae.Dataset.from_idx(MNIST_IMAGES) as b:
            self.assertEqual(a.shape, (10000, 784))
            self.assertEqual(a.numpy().tobytes(), b.numpy().tobytes())
            # numpy's float32 division is the same IEEE operation as the library's.
            self.assertEqual((self.raw / np.float32(255)).astype(np.float32).tobytes(),
                             b.numpy().tobytes())

    def test_elbo_lines_match_vae_train(self):
        expected = run_vae_train()
        self.assertEqual(len(expected), EPOCHS)
        x = self.raw
        with libvae.Dataset.from_numpy(x[:9000], scale="255") as train, \
                libvae.Dataset.from_numpy(x[9000:], scale="255") as test:
            got = [(e, "%.4f" % tr.elbo, "%.4f" % te.elbo)
                   for e, tr, te in train_python(train, test)]
        self.assertEqual(got, expected)

    def test_numpy_and_idx_paths_agree_exactly(self):
        """The raw doubles, not only the printed digits: numpy arrays vs the IDX loader."""
        x = self.raw
        with libvae.Dataset.from_numpy(x[:9000], scale="255") as tr_np, \
                libvae.Dataset.from_numpy(x[9000:], scale="255") as te_np, \
                libvae.Dataset.from_idx(MNIST_IMAGES) as all_idx:
            with all_idx.subset(0, 9000) as tr_idx, all_idx.subset(9000, 1000) as te_idx:
                a = train_python(tr_np, te_np)
                b = train_python(tr_idx, te_idx)
        for (e1, tr1, te1), (e2, tr2, te2) in zip(a, b):
            self.assertEqual(tr1, tr2)   # Stats tuples: every double equal
            self.assertEqual(te1, te2)

    def test_evaluate_dataset_vs_array(self):
        """evaluate() of a borrowed scaled array == evaluate() of the IDX subset."""
        scaled = (self.raw[9000:] / np.float32(255)).astype(np.float32)
        with libvae.Model(hidden=(400,), latent=20, seed=3) as m, \
                libvae.Dataset.from_idx(MNIST_IMAGES) as all_idx, \
                all_idx.subset(9000, 1000) as te:
            m.fit(all_idx.subset(0, 500), epochs=1)
            self.assertEqual(m.evaluate(te, 100), m.evaluate(scaled, 100))
            per, st = m.elbo(scaled)
            self.assertEqual(per.shape, (1000,))
            self.assertTrue(np.all(np.isfinite(per)))
            self.assertAlmostEqual(st.elbo, float(np.mean(per.astype(np.float64))), places=3)


if __name__ == "__main__":
    unittest.main()
