"""The VQ-VAE binding: training, codes, prior, checkpoints, errors."""
import os
import unittest

from vaetest import np, tmpdir

import libvae


def toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 4, n)
    j = np.arange(16)
    x = ((j[None, :] // 4 == p[:, None]) | (j[None, :] % 4 == p[:, None])).astype(np.float32)
    flip = rng.random(x.shape) < 0.05
    return np.where(flip, 1 - x, x).astype(np.float32)


def small(**kw):
    args = dict(input_dim=16, hidden=(32,), latents=2, code_dim=4, codes=8, seed=3)
    args.update(kw)
    return libvae.VQVAE(**args)


class TestVQVAE(unittest.TestCase):

    def test_train_encode_decode_prior(self):
        x = toy()
        for codebook in ("ema", "loss"):
            with small(codebook=codebook) as q:
                before = q.evaluate(x)
                stats = q.fit(x, epochs=30, batch_size=50)
                after = q.evaluate(x)
                self.assertEqual(len(stats), 30)
                self.assertGreater(after.rec, before.rec)
                if codebook == "ema":   # the loss variant passes a transient peak first
                    self.assertLess(after.loss, before.loss)
                codes = q.encode(x[:10])
                self.assertEqual(codes.shape, (10, 2))
                self.assertTrue(((codes >= 0) & (codes < 8)).all())
                np.testing.assert_array_equal(q.decode(codes), q.reconstruct(x[:10]))
                self.assertAlmostEqual(q.bits_per_example, 6.0)
                with self.assertRaises(libvae.Error):
                    q.sample(2)
                q.fit_prior(x, alpha=0.5)
                self.assertEqual(q.prior.shape, (2, 8))
                np.testing.assert_allclose(q.prior.sum(axis=1), 1.0, rtol=1e-5)
                c, out = q.sample(5)
                self.assertEqual(c.shape, (5, 2))
                self.assertEqual(out.shape, (5, 16))

    def test_codebook_and_checkpoint(self):
        x = toy()
        with tmpdir() as d:
            self._round_trip(x, os.path.join(d, "vq.ckpt"))

    def _round_trip(self, x, path):
        with small(restart_after=5) as a:
            a.fit(x, epochs=2)
            cb = a.codebook
            self.assertEqual(cb.shape, (8, 4))
            a.save(path, a.optimizer)
            b, opt = libvae.VQVAE.load(path, with_optimizer=True)
            with b:
                np.testing.assert_array_equal(b.codebook, cb)
                sa = a.train_epoch(x)
                sb = b.train_epoch(x)
                self.assertEqual(sa, sb)
                np.testing.assert_array_equal(a.codebook, b.codebook)
        with self.assertRaises(libvae.Error) as e:
            libvae.Model.load(path)
        self.assertEqual(e.exception.status, libvae.VAE_ERR_FORMAT)
        self.assertIn("libvae.VQVAE.load", e.exception.message)   # Python terms (issue 18)

    def test_errors(self):
        with self.assertRaises(libvae.Error) as e:
            small(codes=0)
        self.assertIn("codebook_size", e.exception.message)
        with self.assertRaises(libvae.Error):
            small(codebook="bogus")
        with small() as q:
            with self.assertRaises(libvae.Error) as e:
                q.decode(np.array([[0, 9]]))
            self.assertEqual(e.exception.status, libvae.VAE_ERR_INVALID)
            bad = toy(4)
            bad[1, 1] = np.nan
            with self.assertRaises(libvae.Error) as e:
                q.train_step(bad)
            self.assertEqual(e.exception.status, libvae.VAE_ERR_NONFINITE)
            with self.assertRaises(libvae.Error):
                q.codebook = np.zeros((3, 4))
        with self.assertRaises(libvae.Error):
            q.encode(toy(2))


if __name__ == "__main__":
    unittest.main()
