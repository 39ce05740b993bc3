#!/usr/bin/python3
"""dae_spiral.py: a denoising autoencoder on a noisy 2-D spiral, and the
vector field r(x) - x of its reconstruction r on a grid (docs/autoencoders.md).

A denoising autoencoder trained with small Gaussian corruption learns a
reconstruction r(x) that moves points back towards the data: r(x) - x is
approximately sigma^2 times the score d log p(x) / dx (Alain & Bengio 2014),
so the arrows point to the spiral. Needs numpy and matplotlib
(python3-matplotlib).

    PYTHONPATH=python LIBVAE_LIBRARY=build/src/libvae.so \\
        /usr/bin/python3 examples/python/dae_spiral.py docs/images/dae-spiral.png
"""
import os
import sys

import numpy as np

try:
    import libvae
except ImportError:     # run from a source tree: <repo>/python holds the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import libvae

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def spiral(n, noise, rng):
    """n points of the spiral r = t / (3.5 pi), angle t, t in [0.5 pi, 3.5 pi], plus noise."""
    t = rng.uniform(0.5 * np.pi, 3.5 * np.pi, n)
    clean = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.5 * np.pi)
    return (clean + noise * rng.normal(size=clean.shape)).astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "dae-spiral.png"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = np.random.default_rng(1)
    x = spiral(4000, 0.02, rng)
    with libvae.Model(input_dim=2, hidden=[128, 128], latent=2, activation="tanh",
                      family="ae", likelihood="gaussian", gaussian_sigma=0.1,
                      corruption="gaussian", corruption_level=0.1, seed=3,
                      threads=1) as m, libvae.Optimizer("adam", lr=2e-3) as opt:
        for e in range(epochs):
            st = m.fit(x, epochs=1, batch_size=100, optimizer=opt)[-1]
        g = np.linspace(-1.1, 1.1, 23)
        gx, gy = np.meshgrid(g, g)
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        d = m.denoise(grid) - grid
        noisy = x + 0.1 * rng.normal(size=x.shape).astype(np.float32)
        err_before = np.mean(np.sum((noisy - x) ** 2, axis=1))
        err_after = np.mean(np.sum((m.denoise(noisy) - x) ** 2, axis=1))
    print("final loss %.4f; squared error of corrupted points %.5f, denoised %.5f"
          % (st.loss, err_before, err_after))
    t = np.linspace(0.5 * np.pi, 3.5 * np.pi, 400)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.scatter(x[:, 0], x[:, 1], s=1, c="0.7", label="training data (noisy spiral)")
    ax.plot(t * np.cos(t) / (3.5 * np.pi), t * np.sin(t) / (3.5 * np.pi), "k-", lw=0.8,
            label="spiral")
    # Arrows longer than the grid spacing are drawn at that length; the colour
    # gives the true length |r(x) - x|.
    length = np.linalg.norm(d, axis=1)
    shown = d * np.minimum(1.0, 0.09 / np.maximum(length, 1e-12))[:, None]
    q = ax.quiver(grid[:, 0], grid[:, 1], shown[:, 0], shown[:, 1], length, cmap="viridis",
                  angles="xy", scale_units="xy", scale=1, width=0.004, label="r(x) - x")
    fig.colorbar(q, ax=ax, shrink=0.7, label="|r(x) - x|")
    ax.set_aspect("equal")
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_title("Denoising AE (Gaussian corruption 0.1): r(x) - x\n"
                 "(arrows clipped to 0.09, colour = length)", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
