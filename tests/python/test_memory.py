"""Acceptance: creating, training one batch with and freeing 1000 models keeps RSS flat."""
import gc
import os
import unittest

from vaetest import np, unit_data

import libvae

ITERATIONS = 1000
WARMUP = 100
LIMIT = 8 * 1024 * 1024


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TestMemory(unittest.TestCase):

    def test_models_are_freed(self):
        x = unit_data(32, 784)
        labels = np.arange(32)
        start = None
        for i in range(WARMUP + ITERATIONS):
            if i == WARMUP:
                gc.collect()
                start = rss_bytes()
            model = libvae.Model(hidden=(128,), latent=10, seed=i)
            opt = libvae.Optimizer("adam")
            st = model.train_step(x, opt)
            self.assertEqual(st.n, 32)
            # Datasets (copied and borrowed) and their views are freed too.
            ds = libvae.Dataset.from_numpy(x, labels=labels, copy=(i % 2 == 0))
            view = ds.numpy()
            model.evaluate(ds, batch_size=16)
            ds.close()
            del view
            model.close()
            opt.close()
        gc.collect()
        growth = rss_bytes() - start
        self.assertLess(growth, LIMIT, "RSS grew by %.1f MB over %d models"
                        % (growth / 1e6, ITERATIONS))

    def test_garbage_collection_frees(self):
        """Without close(): dropping the last reference frees the handle."""
        x = unit_data(16, 784)
        start = None
        for i in range(WARMUP + 300):
            if i == WARMUP:
                gc.collect()
                start = rss_bytes()
            model = libvae.Model(hidden=(128,), latent=10)
            model.train_step(x)            # creates model.optimizer (Adam) on the way
            del model
        gc.collect()
        self.assertLess(rss_bytes() - start, LIMIT)


if __name__ == "__main__":
    unittest.main()
