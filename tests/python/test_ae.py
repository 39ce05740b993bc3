"""libvae.Model(family='ae'), denoising settings and Model.denoise."""
import os
import tempfile
import unittest

from vaetest import np

import libvae


def unit_data(n, d, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


class TestAutoencoder(unittest.TestCase):

    def test_ae_config_and_calls(self):
        with libvae.Model(input_dim=12, hidden=[8], latent=3, family="ae", code_l2=0.5,
                          likelihood="gaussian", seed=3) as m:
            cfg = m.config
            self.assertEqual(cfg["family"], "ae")
            self.assertAlmostEqual(cfg["code_l2"], 0.5)
            x = unit_data(10, 12)
            st = m.train_step(x, optimizer=libvae.Optimizer("adam"))
            self.assertAlmostEqual(st.loss, -st.elbo, places=6)
            mu, lv = m.encode(x)
            self.assertTrue(np.all(lv == 0))
            self.assertGreater(st.kl, 0)
            np.testing.assert_array_equal(m.denoise(x), m.reconstruct(x))
            with self.assertRaises(libvae.Error) as cm:
                m.sample(3)
            self.assertIn("autoencoder", str(cm.exception))

    def test_vae_rejects_code_l2(self):
        with self.assertRaises(libvae.Error):
            libvae.Model(input_dim=12, hidden=[8], latent=3, code_l2=0.5)

    def test_denoising_settings_round_trip(self):
        x = (unit_data(40, 12, 1) < 0.4).astype(np.float32)
        path = os.path.join(os.environ.get("VAE_TEST_TMPDIR", tempfile.gettempdir()),
                            "py-dae-%d.ckpt" % os.getpid())
        with libvae.Model(input_dim=12, hidden=[8], latent=3, corruption="mask",
                          corruption_level=0.5, seed=2) as m:
            self.assertEqual(m.config["corruption"], "mask")
            m.fit(x, epochs=2, batch_size=10, optimizer=libvae.Optimizer("adam"))
            m.save(path, m.optimizer)
            with libvae.Model.load(path) as l:
                self.assertEqual(l.config["corruption"], "mask")
                self.assertAlmostEqual(l.config["corruption_level"], 0.5)
                np.testing.assert_array_equal(l.denoise(x), m.denoise(x))
            os.remove(path)
        with self.assertRaises(libvae.Error):
            libvae.Model(input_dim=12, hidden=[8], latent=3, corruption="gaussian",
                         corruption_level=-1.0)


if __name__ == "__main__":
    unittest.main()
