"""libvae.plot: the vae-train --log reader, the PNGs it draws, and life without matplotlib.

The reader and the no-matplotlib checks run everywhere; the drawing tests
skip when matplotlib is missing (all skipped -> run.py exits 77 only if
nothing else ran, so install python3-matplotlib to test the plots).
"""
import os
import struct
import subprocess
import sys
import unittest
import zlib

from vaetest import REPO, np, tmpdir

import libvae
import libvae.plot as plot

try:
    import matplotlib  # noqa: F401
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False
need_mpl = unittest.skipUnless(HAVE_MPL, "matplotlib is not available to %s" % sys.executable)

HEADER = "epoch,time_s,samples_per_s,train_elbo,test_elbo,rec,kl,beta\n"
SAMPLE = HEADER + (
    "1,1.688,5331.6,-235.2784,-202.9538,-196.5877,6.3661,1\n"
    "2,1.701,5290.8,-188.4469,-193.9703,-188.4735,5.4968,1\n"
    "3,1.650,5454.5,-182.0000,-188.5000,,5.2500,0.5\n")


def png_info(path):
    """(width, height) of a PNG whose chunks, CRCs and image data are all valid."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert len(body) == length, "truncated chunk"
        assert zlib.crc32(kind + body) == crc, "bad CRC in %r" % kind
        chunks.append(kind)
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND", chunks
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + w * channels * depth // 8), "image data of the wrong size"
    return w, h, raw


class TestReader(unittest.TestCase):

    def write(self, d, text, name="log.csv"):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_parses_sample_log(self):
        with tmpdir() as d:
            log = plot.read_training_log(self.write(d, SAMPLE))
        self.assertEqual(tuple(log), plot.LOG_COLUMNS)
        np.testing.assert_array_equal(log["epoch"], [1, 2, 3])
        np.testing.assert_array_equal(log["test_elbo"], [-202.9538, -193.9703, -188.5])
        np.testing.assert_array_equal(log["samples_per_s"], [5331.6, 5290.8, 5454.5])
        np.testing.assert_array_equal(log["beta"], [1, 1, 0.5])
        self.assertTrue(np.isnan(log["rec"][2]))
        self.assertEqual(log["rec"][1], -188.4735)

    def test_refuses_bad_logs(self):
        bad = {
            "wrong header": HEADER.replace("test_elbo", "val_elbo") + "1,1,1,1,1,1,1,1\n",
            "columns swapped": "epoch,time_s,samples_per_s,test_elbo,train_elbo,rec,kl,beta\n",
            "missing column": "epoch,time_s,samples_per_s,train_elbo,test_elbo,rec,kl\n",
            "vae-train stdout": "epoch 1 time 1.7 samples/s 5331.6 train_elbo -235.3\n",
            "empty": "",
            "short row": HEADER + "1,1.688,5331.6,-235.2784\n",
            "text": HEADER + "1,1.688,fast,-235.2784,-202.9538,-196.5877,6.3661,1\n",
        }
        with tmpdir() as d:
            for what, text in bad.items():
                with self.subTest(what):
                    with self.assertRaises(ValueError):
                        plot.read_training_log(self.write(d, text))

    def test_works_without_matplotlib(self):
        # A fresh interpreter where importing matplotlib fails: import libvae and
        # libvae.plot work, reading logs works, plotting raises an ImportError
        # naming the package to install.
        code = (
            "import sys; sys.modules['matplotlib'] = None\n"
            "import libvae, libvae.plot as p\n"
            "log = p.read_training_log(sys.argv[1])\n"
            "assert list(log['epoch']) == [1.0, 2.0, 3.0]\n"
            "try:\n"
            "    p.training_curves(sys.argv[1], sys.argv[1] + '.png')\n"
            "except ImportError as e:\n"
            "    assert isinstance(e, p.MatplotlibMissing)\n"
            "    assert 'python3-matplotlib' in str(e), str(e)\n"
            "    print('refused:', e)\n"
            "else:\n"
            "    raise SystemExit('no ImportError')\n"
            "import os; assert not os.path.exists(sys.argv[1] + '.png')\n")
        with tmpdir() as d:
            path = self.write(d, SAMPLE)
            r = subprocess.run([sys.executable, "-c", code, path], capture_output=True,
                               text=True, env=dict(os.environ))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("refused", r.stdout)
            # the command line says so too, with exit status 1
            cmd = [sys.executable, "-c", "import sys; sys.modules['matplotlib'] = None; "
                   "import runpy; sys.argv[0] = 'plot'; "
                   "runpy.run_module('libvae.plot', run_name='__main__')",
                   "curves", path, "-o", os.path.join(d, "c.png")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("matplotlib", r.stderr)


@need_mpl
class TestPlots(unittest.TestCase):

    def test_training_curves_png(self):
        with tmpdir() as d:
            csv_path = os.path.join(d, "log.csv")
            with open(csv_path, "w") as f:
                f.write(SAMPLE)
            out = os.path.join(d, "curves.png")
            log = plot.training_curves(csv_path, out, dpi=50)
            self.assertEqual(log["epoch"].size, 3)
            w, h, raw = png_info(out)
            self.assertEqual((w, h), (350, 300))   # figsize (7, 6) at 50 dpi
            self.assertGreater(len(set(raw)), 10)   # not a blank canvas
            # the command line, same picture size at the default 100 dpi
            out2 = os.path.join(d, "curves2.png")
            r = subprocess.run([sys.executable, "-m", "libvae.plot", "curves", csv_path,
                                "-o", out2], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(png_info(out2)[:2], (700, 600))
            # a bad log: exit 1, no picture
            bad = os.path.join(d, "bad.csv")
            with open(bad, "w") as f:
                f.write("epoch,elbo\n1,-100\n")
            r = subprocess.run([sys.executable, "-m", "libvae.plot", "curves", bad,
                                "-o", os.path.join(d, "bad.png")], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("header", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "bad.png")))

    def test_latent_scatter_png(self):
        rng = np.random.default_rng(3)
        x = rng.random((300, 12), dtype=np.float32)
        labels = rng.integers(0, 10, 300)
        with libvae.Model(input_dim=12, hidden=(8,), latent=2, seed=5) as m:
            m.fit(x, epochs=1, batch_size=50)
            with tmpdir() as d:
                out = os.path.join(d, "latent.png")
                z = plot.latent_scatter(m, x, labels, out, dpi=40, batch=128)
                # the means, in order; to rounding: with OpenBLAS's Haswell
                # kernels the last bit of a product depends on how it is cut
                # (measured: 15 of 600 values differ by one ulp)
                np.testing.assert_allclose(z, m.encode(x)[0], rtol=1e-6, atol=1e-7)
                w, h, raw = png_info(out)
                self.assertEqual((w, h), (280, 240))
                self.assertGreater(len(set(raw)), 10)
                # from a checkpoint and a Dataset with labels, by the command line's code
                ckpt = os.path.join(d, "m.ckpt")
                m.save(ckpt)
                with libvae.Dataset.from_numpy(x, labels=labels) as ds:
                    z2 = plot.latent_scatter(ckpt, ds, None, os.path.join(d, "l2.png"))
                np.testing.assert_allclose(z2, z, rtol=1e-6, atol=1e-7)  # batch 1000 vs 128
                self.assertEqual(png_info(os.path.join(d, "l2.png"))[:2], (700, 600))
                # many classes: a colour bar instead of a legend
                plot.latent_scatter(m, x, np.arange(300), os.path.join(d, "l3.png"))
                png_info(os.path.join(d, "l3.png"))
                with self.assertRaises(ValueError):
                    plot.latent_scatter(m, x, labels[:10], os.path.join(d, "bad.png"))
                self.assertFalse(os.path.exists(os.path.join(d, "bad.png")))

    def test_latent_dims(self):
        x = np.random.default_rng(4).random((50, 6), dtype=np.float32)
        with libvae.Model(input_dim=6, hidden=(5,), latent=4, seed=2) as m, tmpdir() as d:
            out = os.path.join(d, "l.png")
            with self.assertRaises(ValueError) as cm:
                plot.latent_scatter(m, x, None, out)        # latent_dim 4: refuses to choose
            self.assertIn("dims", str(cm.exception))
            self.assertFalse(os.path.exists(out))
            for bad in [(0, 0), (1, 4), (0,), (-1, 2)]:
                with self.assertRaises(ValueError):
                    plot.latent_scatter(m, x, None, out, dims=bad)
            z = plot.latent_scatter(m, x, None, out, dims=(3, 1), dpi=30)
            np.testing.assert_array_equal(z, m.encode(x)[0][:, [3, 1]])
            self.assertEqual(png_info(out)[:2], (210, 180))

    def test_latent_command_on_idx(self):
        # The command line on IDX files written here: the --holdout rows only.
        rng = np.random.default_rng(6)
        img = rng.integers(0, 256, (40, 4, 4), dtype=np.uint8)
        lab = rng.integers(0, 3, 40).astype(np.uint8)
        with tmpdir() as d:
            ip, lp = os.path.join(d, "img.idx"), os.path.join(d, "lab.idx")
            with open(ip, "wb") as f:
                f.write(b"\0\0\x08\x03" + struct.pack(">III", 40, 4, 4) + img.tobytes())
            with open(lp, "wb") as f:
                f.write(b"\0\0\x08\x01" + struct.pack(">I", 40) + lab.tobytes())
            ckpt = os.path.join(d, "m.ckpt")
            with libvae.Model(input_dim=16, hidden=(6,), latent=2, seed=1) as m:
                m.save(ckpt)
            out = os.path.join(d, "latent.png")
            base = [sys.executable, "-m", "libvae.plot", "latent", ckpt, "--data", ip,
                    "--labels", lp, "-o", out]
            r = subprocess.run(base + ["--holdout", "10"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("10 points", r.stdout)
            self.assertEqual(png_info(out)[:2], (700, 600))
            r = subprocess.run(base + ["--holdout", "41"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("40 images", r.stderr)


if __name__ == "__main__":
    unittest.main()
