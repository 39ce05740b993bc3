"""Training in pieces from Python (0.3.0): compute_gradients + apply_gradients
equal train_step bit for bit; keyed shards average to the whole batch;
gradient/set_gradient; reseed; elbo_keyed; Dataset.gather."""
import unittest

from vaetest import np

import libvae

D = 12


def model(seed=3):
    return libvae.Model(input_dim=D, hidden=(8,), latent=3, seed=seed)


def rows(n, seed=1):
    return (np.random.default_rng(seed).random((n, D)) < 0.3).astype(np.float32)


class TestGradients(unittest.TestCase):

    def test_pieces_equal_train_step(self):
        a, b = model(), model()
        oa, ob = libvae.Optimizer("adam"), libvae.Optimizer("adam")
        x = rows(40)
        for s in range(6):
            batch = x[(s % 4) * 10:(s % 4) * 10 + 10]
            sa = a.train_step(batch, oa)
            sb = b.compute_gradients(batch)
            b.apply_gradients(ob)
            self.assertEqual(sa.loss, sb.loss)
        self.assertTrue(np.array_equal(a.get_params(), b.get_params()))

    def test_keyed_shards(self):
        m = model(11)
        x = rows(100, 2)
        m.compute_gradients(x, key=5)
        full = m.gradient()
        m.compute_gradients(x[:50], key=5, first=0)
        g0 = m.gradient()
        m.compute_gradients(x[50:], key=5, first=50)
        avg = 0.5 * (g0 + m.gradient())
        self.assertLess(np.linalg.norm(avg - full) / np.linalg.norm(full), 1e-6)

    def test_set_gradient_and_apply(self):
        m = model()
        opt = libvae.Optimizer("sgd", lr=0.5)
        p0 = m.get_params()
        g = np.linspace(-1, 1, p0.size).astype(np.float32)
        m.set_gradient(g)
        self.assertTrue(np.array_equal(m.gradient(), g))
        m.apply_gradients(opt)
        self.assertTrue(np.array_equal(m.get_params(), p0 - np.float32(0.5) * g))
        g[3] = np.nan
        m.set_gradient(g)
        with self.assertRaises(libvae.Error) as cm:
            m.apply_gradients(opt)
        self.assertEqual(cm.exception.status, libvae.capi.VAE_ERR_DIVERGED)
        with self.assertRaises(libvae.Error):
            m.set_gradient(g[:-1])

    def test_reseed_and_elbo_keyed(self):
        a, b = model(), model()
        a.reseed(1, 0)
        b.reseed(1, 1)
        x = rows(10)
        self.assertNotEqual(a.compute_gradients(x).loss, b.compute_gradients(x).loss)
        per, st = a.elbo_keyed(x, key=7)
        part, _ = a.elbo_keyed(x[4:], key=7, first=4)
        self.assertTrue(np.array_equal(per[4:], part))
        self.assertAlmostEqual(float(per.mean()), st.elbo, places=4)

    def test_gather(self):
        x = np.random.default_rng(0).random((5, D)).astype(np.float32)
        ds = libvae.Dataset.from_numpy(x, binarize="dynamic")
        a = ds.gather([3, 1, 3], seed=1, key=9)
        self.assertEqual(a.shape, (3, D))
        self.assertTrue(np.array_equal(a[0], a[2]))
        self.assertTrue(np.array_equal(ds.gather([1], seed=1, key=9)[0], a[1]))
        with self.assertRaises(libvae.Error):
            ds.gather([5], seed=1, key=9)


if __name__ == "__main__":
    unittest.main()
