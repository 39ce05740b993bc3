"""libvae.PCA against numpy.linalg.eigh, and libvae.corrupt."""
import unittest

from vaetest import np

import libvae


def data(n=400, d=25, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = 2.0 * 0.8 ** np.arange(d)
    return ((rng.normal(size=(n, d)) * scales) @ q.T + 0.3).astype(np.float32)


class TestPCA(unittest.TestCase):

    def test_matches_numpy_eigh(self):
        x = data()
        n, d = x.shape
        xd = x.astype(np.float64)
        c = np.cov(xd, rowvar=False, bias=True)
        w, v = np.linalg.eigh(c)
        w, v = w[::-1], v[:, ::-1]
        k = 8
        with libvae.PCA(x, k) as pca:
            self.assertEqual(pca.components.shape, (k, d))
            self.assertEqual(pca.mean.shape, (d,))
            np.testing.assert_allclose(pca.mean, xd.mean(axis=0), atol=1e-6)
            np.testing.assert_allclose(pca.explained_variance, w[:k], rtol=0, atol=1e-5 * w[0])
            self.assertAlmostEqual(pca.total_variance, np.trace(c), delta=1e-5 * np.trace(c))
            np.testing.assert_allclose(pca.explained_variance_ratio, w[:k] / w.sum(),
                                       atol=1e-6)
            for j in range(k):
                ref = v[:, j] * np.sign(v[np.argmax(np.abs(v[:, j])), j])
                np.testing.assert_allclose(pca.components[j], ref, atol=1e-4)
            codes = pca.project(x)
            np.testing.assert_allclose(codes, (xd - xd.mean(0)) @ pca.components.T.astype(
                np.float64), atol=1e-4)
            rec = pca.reconstruct(x)
            np.testing.assert_allclose(rec, pca.decode(codes), atol=1e-5)
            err = pca.reconstruction_error(x)
            self.assertAlmostEqual(err, w[k:].sum(), delta=1e-5 * w.sum())
            self.assertAlmostEqual(err, ((x - rec).astype(np.float64) ** 2).sum(1).mean(),
                                   delta=1e-4 * err)
            # a wrong variant fails: a perturbed reference vector is noticed
            bad = v[:, 0] + 1e-3 * v[:, 1]
            self.assertFalse(np.allclose(np.abs(pca.components[0]), np.abs(bad), atol=1e-4))

    def test_from_dataset_and_errors(self):
        x = data(n=100, d=6)
        with libvae.Dataset.from_numpy(x) as ds:
            with libvae.PCA(ds, 6) as pca:
                np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(6),
                                           atol=1e-6)
                self.assertAlmostEqual(pca.reconstruction_error(ds), 0.0, delta=1e-6)
                with self.assertRaises(libvae.Error) as cm:
                    pca.project(np.zeros((2, 5), np.float32))
                self.assertEqual(cm.exception.status, libvae.VAE_ERR_SHAPE)
                bad = x[:2].copy()
                bad[1, 2] = np.nan
                with self.assertRaises(libvae.Error) as cm:
                    pca.project(bad)
                self.assertEqual(cm.exception.status, libvae.VAE_ERR_NONFINITE)
                self.assertIn("x[1][2]", cm.exception.message)
            for k in (0, 7):
                with self.assertRaises(libvae.Error) as cm:
                    libvae.PCA(ds, k)
                self.assertEqual(cm.exception.status, libvae.VAE_ERR_INVALID)
        pca = libvae.PCA(x, 2)
        pca.close()
        with self.assertRaises(libvae.Error):
            pca.project(x)


class TestCorrupt(unittest.TestCase):

    def test_statistics_and_determinism(self):
        rng = np.random.default_rng(1)
        x = (0.1 + 0.8 * rng.random((200, 500))).astype(np.float32)
        m = x.size
        g = libvae.corrupt(x, "gaussian", 0.5, seed=3)
        e = (g - x).astype(np.float64)
        self.assertLess(abs(e.mean()), 4 * 0.5 / np.sqrt(m))
        self.assertLess(abs(e.var() - 0.25), 4 * 0.25 * np.sqrt(2.0 / m))
        mk = libvae.corrupt(x, "mask", 0.3, seed=3)
        zero = mk == 0
        self.assertLess(abs(zero.mean() - 0.3), 4 * np.sqrt(0.21 / m))
        np.testing.assert_array_equal(mk[~zero], x[~zero])
        sp = libvae.corrupt(x, "saltpepper:0.2", seed=3)
        changed = sp != x
        self.assertLess(abs(changed.mean() - 0.2), 4 * np.sqrt(0.16 / m))
        self.assertTrue(np.isin(sp[changed], (0.0, 1.0)).all())
        self.assertLess(abs((sp[changed] == 0).mean() - 0.5), 4 * np.sqrt(0.25 / changed.sum()))
        np.testing.assert_array_equal(libvae.corrupt(x, "mask", 0.3, seed=3), mk)
        self.assertFalse(np.array_equal(libvae.corrupt(x, "mask", 0.3, seed=4), mk))
        np.testing.assert_array_equal(libvae.corrupt(x, "none"), x)

    def test_parse_and_errors(self):
        self.assertEqual(libvae.corruption_parse("mask:0.5"), (2, 0.5))
        self.assertEqual(libvae.corruption_parse("gaussian:0.25"), (1, 0.25))
        for bad in ("mask:1.5", "gaussian:-1", "foo:0.1", "gaussian", "mask:x"):
            with self.assertRaises(libvae.Error) as cm:
                libvae.corruption_parse(bad)
            self.assertEqual(cm.exception.status, libvae.VAE_ERR_INVALID)
        x = np.zeros((2, 3), np.float32)
        with self.assertRaises(libvae.Error):
            libvae.corrupt(x, "mask", 2.0)
        with self.assertRaises(libvae.Error):
            libvae.corrupt(x, "blur", 0.1)
        with self.assertRaises(libvae.Error):
            libvae.corrupt(x, "mask")


if __name__ == "__main__":
    unittest.main()
