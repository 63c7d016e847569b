"""Pure latent operations: seeded sampling, truncation, lerp/slerp, paths, arithmetic, PCA, validation."""
import math

import pytest
import torch

from genlab import latent
from genlab.latent import LatentError


def test_sampling_is_seeded_and_on_the_cpu():
    a, b = latent.sample(8, 100, seed=3), latent.sample(8, 100, seed=3)
    assert torch.equal(a, b) and a.device.type == "cpu" and a.dtype == torch.float32
    assert not torch.equal(a, latent.sample(8, 100, seed=4))
    big = latent.sample(4000, 50, seed=0)
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02


def test_truncation_psi_is_continuous_and_bounded():
    full, half = latent.sample(500, 20, 1, psi=1.0), latent.sample(500, 20, 1, psi=0.5)
    assert half.abs().max() <= 0.675  # central half of N(0,1) mass: |z| < 0.6745
    assert torch.equal(torch.sign(full), torch.sign(half))  # same seed, same directions, shrunk tails
    assert torch.all(latent.sample(3, 5, 1, psi=0.0) == 0)
    assert torch.allclose(latent.sample(10, 5, 2, temperature=2.0), 2 * latent.sample(10, 5, 2))
    with pytest.raises(LatentError):
        latent.sample(2, 2, 0, psi=1.5)


def test_slerp_endpoints_and_norms():
    a, b = torch.randn(64), torch.randn(64) * 2
    path = latent.slerp(a, b, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], a, atol=1e-6) and torch.equal(path[-1], b)
    norms = path.norm(dim=1)
    expected = a.norm() + torch.linspace(0, 1, 9) * (b.norm() - a.norm())
    assert torch.allclose(norms, expected, atol=1e-4)  # norms interpolate linearly, never collapse


def test_slerp_near_parallel_is_stable():
    a = torch.randn(32)
    b = a * 1.5 + 1e-7 * torch.randn(32)
    mid = latent.slerp(a, b, 0.5)
    assert torch.isfinite(mid).all()
    assert torch.allclose(mid, a * 1.25, atol=1e-4)


def test_slerp_antipodal_goes_around_not_through_zero():
    a = torch.randn(16)
    path = latent.slerp(a, -a, torch.linspace(0, 1, 11))
    assert torch.isfinite(path).all()
    assert torch.allclose(path.norm(dim=1), a.norm().expand(11), atol=1e-4)
    mid = path[5]
    assert abs(float(mid @ a)) < 1e-3 * float(a.norm() ** 2)  # halfway is orthogonal to both ends
    assert torch.equal(latent.slerp(a, -a, torch.tensor([0.3])), latent.slerp(a, -a, torch.tensor([0.3])))


def test_lerp_and_paths_through_keyframes():
    keys = torch.stack([torch.zeros(4), torch.ones(4), torch.full((4,), 3.0)])
    p = latent.path(keys, 5, "lerp")
    assert p.shape == (5, 4)
    assert torch.allclose(p[:, 0], torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0]))
    s = latent.path(torch.randn(4, 8), 10, "slerp")
    assert s.shape == (10, 8)
    with pytest.raises(LatentError):
        latent.path(keys[:1], 5)
    with pytest.raises(LatentError):
        latent.path(keys, 5, "cubic")


def test_arithmetic():
    a, b, c = torch.ones(3), torch.full((3,), 2.0), torch.full((3,), 5.0)
    assert torch.equal(latent.combine([(1, a), (-1, b), (1, c)]), torch.full((3,), 4.0))
    dirs = torch.eye(3)
    assert torch.equal(latent.move(a, dirs, torch.tensor([1.0, 0.0, -1.0])), torch.tensor([2.0, 1.0, 0.0]))


def test_pca_finds_the_dominant_axis():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=g) * torch.tensor([0.1, 3.0, 0.1, 1.0, 0.1]) + 7
    mean, comps, std = latent.pca(x, 2)
    assert torch.allclose(mean, torch.full((5,), 7.0), atol=0.2)
    assert comps[0].abs().argmax() == 1 and comps[1].abs().argmax() == 3
    assert math.isclose(float(std[0]), 3.0, rel_tol=0.1)
    assert torch.allclose(comps @ comps.T, torch.eye(2), atol=1e-5)
    assert torch.equal(latent.pca(x, 2)[1], comps)  # deterministic signs


@pytest.mark.parametrize("bad,msg", [([float("nan")] * 4, "NaN"), ([float("inf")] * 4, "NaN or inf"),
                                     ([0.0] * 3, "length 4"), ([1e9] * 4, "within"), ("abc", "numbers")])
def test_validate_rejects_bad_latents(bad, msg):
    with pytest.raises(LatentError, match=msg):
        latent.validate(bad, 4)
