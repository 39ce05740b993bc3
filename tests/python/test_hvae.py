"""Hierarchical VAEs from Python (0.4.0): Model(latent=(K1, K2, ...),
inference='bottom-up'|'ladder', hier_network=...), layer_stats(), training,
checkpoints, sampling and the refusals (docs/hierarchical.md)."""
import os
import unittest

from vaetest import np

import libvae
from libvae import Error, capi

D = 12


def data(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((n, D)) < 0.4).astype(np.float32)


class HierarchicalTest(unittest.TestCase):
    def make(self, inference, **kw):
        return libvae.Model(input_dim=D, hidden=(8,), latent=(4, 3), inference=inference,
                            activation="tanh", seed=3, **kw)

    def test_config_round_trip(self):
        for inf in ("bottom-up", "ladder"):
            with self.make(inf) as m:
                c = m.config
                self.assertEqual(c["latent"], (4, 3))
                self.assertEqual(c["inference"], inf)
                self.assertEqual(c["hier_network"], "dense(8) tanh")
        with libvae.Model(input_dim=D, latent=5) as m:
            self.assertEqual(m.config["latent"], 5)
        with self.make("ladder", hier_network="dense(6) softplus") as m:
            self.assertEqual(m.config["hier_network"], "dense(6) softplus")
            names = list(m.params())
            self.assertIn("enc.l2.mu.W", names)
            self.assertIn("prior.l1.logvar.b", names)

    def test_train_stats_save_sample(self):
        x = data(64, 1)
        for inf in ("bottom-up", "ladder"):
            with self.make(inf) as m:
                opt = libvae.Optimizer("adam", lr=1e-2)
                first = m.train_step(x, optimizer=opt)
                for _ in range(50):
                    last = m.train_step(x, optimizer=opt)
                self.assertLess(last.loss, first.loss)
                stats = m.layer_stats(x)
                self.assertEqual([s.layer for s in stats], [1, 2])
                self.assertEqual([s.dims for s in stats], [4, 3])
                _, elbo = m.elbo(x)
                self.assertAlmostEqual(sum(s.kl for s in stats), elbo.kl,
                                       delta=0.15 * elbo.kl + 0.2)
                ll = m.log_likelihood(x[:8], k=200)[0]
                self.assertGreaterEqual(float(np.mean(ll)) + 0.5, elbo.elbo)
                path = os.path.join(os.environ.get("VAE_TEST_TMPDIR", "/tmp"),
                                    "py-hvae-%s.ckpt" % inf)
                m.save(path)
                with libvae.Model.load(path) as back:
                    self.assertEqual(back.config["latent"], (4, 3))
                    np.testing.assert_array_equal(back.elbo(x)[0], m.elbo(x)[0])
                os.remove(path)
                s = m.sample(5)
                self.assertEqual(s.shape, (5, D))
                self.assertTrue(np.all(np.isfinite(s)))

    def test_refusals(self):
        with self.assertRaises(Error) as cm:
            self.make("bottom-up", estimator="score")
        self.assertIn("estimator", str(cm.exception))
        with self.assertRaises(Error) as cm:
            self.make("ladder", free_bits=0.5)
        self.assertIn("free_bits", str(cm.exception))
        with self.make("ladder") as m:
            with self.assertRaises(Error) as cm:
                m.diagnostics(data(8, 2))
            self.assertEqual(cm.exception.status, capi.VAE_ERR_UNSUPPORTED)


if __name__ == "__main__":
    unittest.main()
