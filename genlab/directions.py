"""Discovered latent directions: one Explore slider per direction, in sigma units.

A slider value ``w`` moves a latent by ``w * sigmas[k] * vectors[k]``. Each method says what one
sigma means: for GANSpace, SeFa and raw/KL dims it is 1.0, the prior's std along any unit direction;
for PCA of encodings it is the encodings' own std along the component.

Methods: GANSpace (Haerkoenen et al. 2020; PCA of first-block activations, regressed back to z),
SeFa (Shen & Zhou 2021; eigenvectors of A^T A for the first layer's weight A), VAE dimensions
ordered by KL, PCA of VAE encodings, raw coordinates, and custom attribute vectors from two groups.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genlab import latent
from genlab.checkpoints import Checkpoint
from genlab.metrics import gaussian_kl_per_dim

# An autoencoder's logvar is a constant (no posterior), so only the PCA of its codes orders its directions.
METHODS = {"gan": ("ganspace", "sefa"), "vae": ("kl_dims", "pca_encodings"), "ae": ("pca_encodings",)}
_ENCODING_METHODS = ("kl_dims", "pca_encodings")  # these need held-out images to encode
_EXACT_PCA_MAX = 1024  # exact SVD above this min(n, F) takes minutes on a laptop CPU (64-px DCGAN: F = 8192)


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value, so compare by identity
class Directions:
    """K directions in a D-dim latent space, with the scale of one slider unit.

    vectors ``[K, D]`` float32 unit rows; sigmas ``[K]`` float32 latent distance of 1 sigma;
    scores ``[K]`` what the rows were ranked by (variance ratio, eigenvalue, KL nats);
    dims: the latent coordinate of each row, for one-hot methods (kl_dims, raw) only.
    """

    method: str
    names: tuple[str, ...]
    vectors: torch.Tensor
    sigmas: torch.Tensor
    scores: torch.Tensor
    dims: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        k = self.vectors.shape[0] if self.vectors.dim() == 2 else -1
        if k < 0 or len(self.names) != k or self.sigmas.shape != (k,) or self.scores.shape != (k,):
            raise ValueError(f"inconsistent directions: vectors {tuple(self.vectors.shape)}, "
                             f"{len(self.names)} names, sigmas {tuple(self.sigmas.shape)}, "
                             f"scores {tuple(self.scores.shape)}")
        if self.dims is not None and len(self.dims) != k:
            raise ValueError(f"dims has {len(self.dims)} entries for {k} directions")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def offset(self, weights) -> torch.Tensor:
        """Slider values ``[K]`` in sigma units -> latent offset ``[D]`` (add it to z)."""
        w = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
        if w.shape[0] != len(self):
            raise ValueError(f"expected {len(self)} slider weights, got {w.shape[0]}")
        return (w * self.sigmas) @ self.vectors


def methods_for(manifest) -> list[str]:
    """Direction methods worth offering for a checkpoint's family ('gan' or 'vae'); [] otherwise."""
    return list(METHODS.get(manifest.family, ()))


def _make(method, names, vectors, sigmas, scores, dims=None) -> Directions:
    """Directions with float32 CPU tensors (results may come from float64 maths)."""
    as32 = lambda t: torch.as_tensor(t).detach().to("cpu", torch.float32)  # noqa: E731
    return Directions(method, tuple(names), as32(vectors), as32(sigmas), as32(scores),
                      None if dims is None else tuple(int(d) for d in dims))


def _fix_signs(rows: torch.Tensor) -> torch.Tensor:
    """Flip each row so its largest-magnitude coordinate is positive (eigenvectors have no sign)."""
    signs = torch.sign(rows.gather(1, rows.abs().argmax(1, keepdim=True)))
    return rows * torch.where(signs == 0, torch.ones_like(signs), signs)


def first_block(ckpt: Checkpoint):
    """``z [B, D] -> [B, F]`` activations after the first generator/decoder layer and its ReLU."""
    arch, m = ckpt.manifest.architecture, ckpt.model
    if arch == "dcgan":
        return lambda z: m.main[:3](z[:, :, None, None]).flatten(1).float().cpu()  # [B, C*16]
    if arch in ("conv_vae", "conv_ae"):
        return lambda z: m.fc_dec[:2](z).float().cpu()
    if arch == "mlp_vae":
        return lambda z: torch.relu(m.fc3(z)).float().cpu()
    if arch == "mlp_gan":
        return lambda z: m.main[:2](z.reshape(z.shape[0], -1)).float().cpu()  # Linear + LeakyReLU: [B, width]
    raise ValueError(f"no first block known for architecture {arch!r}")


def first_layer_matrix(ckpt: Checkpoint) -> torch.Tensor:
    """The first layer as a linear map from z: A ``[F, D]`` float64 on the CPU (biases ignored)."""
    arch, m = ckpt.manifest.architecture, ckpt.model
    if arch == "dcgan":
        w = m.main[0].weight  # ConvTranspose2d on a 1x1 input: [nz, C, 4, 4], one 4x4 map per z coordinate
        return w.detach().reshape(w.shape[0], -1).T.cpu().double()
    if arch in ("conv_vae", "conv_ae"):
        return m.fc_dec[0].weight.detach().cpu().double()  # Linear: [hidden, z]
    if arch == "mlp_vae":
        return m.fc3.weight.detach().cpu().double()
    if arch == "mlp_gan":
        return m.main[0].weight.detach().cpu().double()  # Linear: [width, nz]
    raise ValueError(f"no first layer known for architecture {arch!r}")


def top_pca(x: torch.Tensor, k: int, seed: int = 0, iters: int = 8):
    """``latent.pca`` of ``x [n, F]`` for the top k only: (mean ``[F]``, comps ``[k, F]``, std ``[k]``).

    Small inputs get the exact SVD. Large ones use seeded randomized subspace iteration (Halko et
    al. 2011): cost ~ iters * n * F * (2k + 10) instead of n * F * min(n, F), deterministic for a seed.
    """
    if min(x.shape) <= _EXACT_PCA_MAX:
        return latent.pca(x, k)
    mean = x.mean(0, dtype=torch.float64).float()
    xc = x.float() - mean  # float32 matmuls: ~5x faster on CPU than float64; QR keeps them accurate
    k, p = min(k, *x.shape), min(2 * k + 10, *x.shape)  # oversampling helps flat spectra converge
    q = torch.randn(x.shape[1], p, generator=latent.cpu_generator(seed))
    for _ in range(iters):  # QR each half-step keeps the basis from collapsing onto the top axis
        q = torch.linalg.qr((torch.linalg.qr(xc @ q)[0].T @ xc).T)[0]  # (Q^T X)^T: fast, unlike X^T Q
    _, s, wh = torch.linalg.svd((xc @ q).double(), full_matrices=False)
    comps = _fix_signs((wh @ q.double().T)[:k])  # right singular vectors of xc restricted to span(q)
    return mean, comps.float(), (s[:k] / max(x.shape[0] - 1, 1) ** 0.5).float()


def ganspace(ckpt: Checkpoint, engine, k: int = 10, n: int = 4000, seed: int = 0) -> Directions:
    """GANSpace: PCA of first-block activations over ``n`` prior samples, mapped back to z.

    k is capped at the latent size: z-space has no more independent directions than that.
    Scores are each component's share of the activations' total variance (descending).
    """
    dim = ckpt.manifest.latent_size
    z = latent.sample(n, dim, seed)
    acts = torch.cat(engine.run(first_block(ckpt), z))  # [n, F] float32 (64-px DCGAN: F = 8192)
    mean, comps, std = top_pca(acts, min(k, dim), seed)
    coords = ((acts - mean) @ comps.T).double()  # [n, k] each sample's PCA coordinates
    # Least squares z ~ coords @ W: row j of W is how z moves per unit of PC j (GANSpace's transfer).
    w = torch.linalg.lstsq(coords, z.double()).solution  # [k, D]
    vectors = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    ratio = std.double() ** 2 / acts.var(0).double().sum().clamp_min(1e-12)
    names = [f"GANSpace PC{j + 1} ({100 * float(r):.1f}% var)" for j, r in enumerate(ratio)]
    return _make("ganspace", names, vectors, torch.ones(len(names)), ratio)


def sefa(ckpt: Checkpoint, k: int = 10) -> Directions:
    """SeFa: top-k eigenvectors of ``A^T A`` for the first layer's weight A (no data, no sampling).

    They are the unit z-directions the first layer amplifies most: ``||A v_1|| >= ||A v_2|| ...``.
    Scores are the eigenvalues ``||A v||^2``.
    """
    a = first_layer_matrix(ckpt)
    evals, evecs = torch.linalg.eigh(a.T @ a)  # ascending, orthonormal columns
    order = torch.argsort(evals, descending=True)[: min(k, a.shape[1])]
    vectors = _fix_signs(evecs[:, order].T)
    names = [f"SeFa {j + 1}" for j in range(len(order))]
    return _make("sefa", names, vectors, torch.ones(len(order)), evals[order].clamp_min(0))


def _encode(ckpt: Checkpoint, engine, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder (mu, logvar) ``[N, Z]`` for held-out images ``[N, C, H, W]`` in the VAE's range."""
    if not hasattr(ckpt.model, "encode"):
        raise ValueError(f"{ckpt.manifest.id} has no encoder ({ckpt.manifest.architecture})")
    if images01 is None or len(images01) < 2:
        raise ValueError("need at least 2 held-out images to encode")
    return engine.encode(ckpt, torch.as_tensor(images01, dtype=torch.float32))


def kl_dims(ckpt: Checkpoint, engine, images01: torch.Tensor, k: int | None = None) -> Directions:
    """VAE latent coordinates ordered by mean KL to N(0, 1) over ``images01`` (most used first).

    Dims with KL ~ 0 are inactive (posterior collapse): their slider barely changes the image.
    """
    mu, logvar = _encode(ckpt, engine, images01)
    kl = gaussian_kl_per_dim(mu, logvar)  # [Z] nats
    order = np.argsort(-kl, kind="stable")[: k or len(kl)]  # stable: ties keep coordinate order
    vectors = torch.eye(len(kl))[torch.as_tensor(order)]
    names = [f"z[{d}] (KL {kl[d]:.2f} nats)" for d in order]
    return _make("kl_dims", names, vectors, torch.ones(len(order)), kl[order], dims=order)


def pca_encodings(ckpt: Checkpoint, engine, images01: torch.Tensor, k: int = 10) -> Directions:
    """PCA of the encoder means over ``images01``; one sigma = the means' std along the component."""
    mu, _ = _encode(ckpt, engine, images01)
    _, comps, std = latent.pca(mu, k)
    ratio = std.double() ** 2 / mu.double().var(0).sum().clamp_min(1e-12)
    names = [f"PCA {j + 1} of encodings ({100 * float(r):.0f}%)" for j, r in enumerate(ratio)]
    return _make("pca_encodings", names, comps, std, ratio)


def raw_dims(latent_size: int, dims) -> Directions:
    """One-hot directions for latent coordinates ``dims`` (e.g. ``range(8)`` or a picked one)."""
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_size]
    if bad or not dims:
        raise ValueError(f"dims must be a non-empty list within [0, {latent_size}), got {dims}")
    vectors = torch.eye(latent_size)[dims]
    return _make("raw", [f"z[{d}]" for d in dims], vectors, torch.ones(len(dims)), torch.zeros(len(dims)), dims)


def from_groups(latents_a: torch.Tensor, latents_b: torch.Tensor, name: str) -> Directions:
    """Attribute vector from group a ``[Na, D]`` towards group b ``[Nb, D]``: unit mean(b) - mean(a).

    One sigma is the population std of both groups together projected on the direction (floor
    1e-3): for two tight groups that is half the gap, so +1 goes halfway and +2 the whole way
    from a's mean to b's, while spread-out groups get a proportionally larger step.
    Score is the gap ``|mean(b) - mean(a)|``.
    """
    a, b = (torch.as_tensor(t, dtype=torch.float64) for t in (latents_a, latents_b))
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"groups must be non-empty [N, D] with equal D, got {tuple(a.shape)} and {tuple(b.shape)}")
    diff = b.mean(0) - a.mean(0)
    gap = diff.norm()
    if gap < 1e-8:
        raise ValueError("the two groups have the same mean latent: no direction between them")
    v = diff / gap
    sigma = (torch.cat([a, b]) @ v).std(correction=0).clamp_min(1e-3)
    return _make("custom", [name], v[None], sigma[None], gap[None])


def traversal(z: torch.Tensor, dirs: Directions, index: int, steps: int = 7, span: float = 3.0) -> torch.Tensor:
    """``[steps, D]`` latents ``z + t * sigma * vector`` for t in linspace(-span, span, steps)."""
    if not 0 <= index < len(dirs):
        raise ValueError(f"direction index {index} out of range for {len(dirs)} directions")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    t = torch.linspace(-span, span, steps) if steps > 1 else torch.zeros(1)
    return z.float()[None] + t[:, None] * (dirs.sigmas[index] * dirs.vectors[index])[None]


def compute(ckpt: Checkpoint, engine, method: str, images01: torch.Tensor | None = None,
            k: int = 10, seed: int = 0) -> Directions:
    """Directions by ``method`` name; 'kl_dims' and 'pca_encodings' need held-out ``images01``."""
    if method in _ENCODING_METHODS and images01 is None:
        raise ValueError(f"method {method!r} needs held-out images to encode (images01), got none")
    if method == "ganspace":
        return ganspace(ckpt, engine, k=k, seed=seed)
    if method == "sefa":
        return sefa(ckpt, k=k)
    if method == "kl_dims":
        return kl_dims(ckpt, engine, images01, k=k)
    if method == "pca_encodings":
        return pca_encodings(ckpt, engine, images01, k=k)
    if method == "raw":
        return raw_dims(ckpt.manifest.latent_size, range(min(k, ckpt.manifest.latent_size)))
    known = sorted({m for ms in METHODS.values() for m in ms} | {"raw"})
    raise ValueError(f"unknown direction method {method!r}; known: {', '.join(known)}")
