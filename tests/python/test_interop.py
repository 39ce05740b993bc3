"""examples/python/to_pytorch.py: libvae -> torch and torch -> libvae agree (needs torch)."""
import os
import subprocess
import sys
import unittest

from vaetest import REPO, tmpdir

SCRIPT = os.path.join(REPO, "examples", "python", "to_pytorch.py")


class TestToPytorch(unittest.TestCase):

    def test_demo(self):
        p = subprocess.run([sys.executable, SCRIPT, "--demo"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
        if p.returncode == 77:
            self.skipTest(p.stderr.strip())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("torch -> libvae", p.stdout)
        self.assertEqual(p.stdout.strip().splitlines()[-1], "ok")

    def test_one_file(self):
        import libvae
        with tmpdir() as d:
            path = os.path.join(d, "interop.safetensors")
            with libvae.Model(input_dim=10, hidden=(6,), latent=2, seed=3) as m:
                m.export_safetensors(path)
            p = subprocess.run([sys.executable, SCRIPT, path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
        if p.returncode == 77:
            self.skipTest(p.stderr.strip())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("max |libvae - torch|", p.stdout)


if __name__ == "__main__":
    unittest.main()
