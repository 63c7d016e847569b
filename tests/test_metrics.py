"""Tests for genlab.metrics: closed forms and limiting cases."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab import metrics


def _gauss(n=2000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mix  # correlated, full rank


class TestFrechet:
    def test_self_is_zero(self):
        a = _gauss()
        scale = 2 * np.trace(np.cov(a, rowvar=False))
        assert metrics.frechet_distance(a, a) < 1e-6 * scale

    def test_shift_gives_squared_norm(self):
        a = _gauss()
        shift = np.linspace(-1, 2, a.shape[1])
        assert metrics.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-6)

    def test_diagonal_closed_form(self):
        var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
        mu_b = np.array([1.0, -2.0, 0.0])
        expected = mu_b @ mu_b + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
        got = metrics.frechet_distance_from_stats(np.zeros(3), np.diag(var_a), mu_b, np.diag(var_b))
        assert got == pytest.approx(expected, rel=1e-9)

    def test_non_commuting_covariances(self):
        sa, sb = np.cov(_gauss(500, 5, 1), rowvar=False), np.cov(_gauss(500, 5, 2), rowvar=False)
        # tr sqrt(Sa Sb) = sum of sqrt of the (real, non-negative) eigenvalues of Sa Sb
        tr_covmean = np.sqrt(np.linalg.eigvals(sa @ sb).real.clip(0)).sum()
        expected = np.trace(sa) + np.trace(sb) - 2 * tr_covmean
        got = metrics.frechet_distance_from_stats(np.zeros(5), sa, np.zeros(5), sb)
        assert got == pytest.approx(expected, rel=1e-8)

    def test_accepts_torch_and_singular_covariance(self):
        a = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))
        a[:, 3] = 0  # rank-deficient features, as with dead classifier units
        assert metrics.frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
        assert metrics.frechet_distance(a, a + 1) == pytest.approx(4, rel=1e-6)

    def test_bad_shape(self):
        with pytest.raises(ValueError, match=r"\[N, D\]"):
            metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))

    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 10_000), st.integers(1, 6))
    def test_symmetric_and_non_negative(self, seed, d):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(40, d)), rng.normal(size=(30, d)) * 2 + 0.5
        ab, ba = metrics.frechet_distance(a, b), metrics.frechet_distance(b, a)
        assert ab >= 0 and ab == pytest.approx(ba, rel=1e-7, abs=1e-9)


class TestClassifierScores:
    k = 10
    confident = np.eye(10)[np.arange(1000) % 10]

    def test_is_of_confident_uniform_classes_is_k(self):
        mean, std = metrics.inception_score(self.confident, splits=10)
        assert mean == pytest.approx(self.k, rel=1e-6) and std == pytest.approx(0, abs=1e-6)

    def test_is_of_constant_probs_is_one(self):
        probs = np.tile(np.random.default_rng(0).dirichlet(np.ones(self.k)), (500, 1))
        mean, _ = metrics.inception_score(probs)
        assert mean == pytest.approx(1.0, abs=1e-9)

    def test_is_of_single_class_is_one(self):
        assert metrics.inception_score(np.eye(10)[np.zeros(100, int)])[0] == pytest.approx(1.0)

    def test_coverage(self):
        probs = np.eye(4)[[0, 0, 1, 3]] * 0.7 + 0.075
        np.testing.assert_allclose(metrics.class_coverage(probs), [0.5, 0.25, 0, 0.25])
        np.testing.assert_allclose(metrics.class_coverage(torch.as_tensor(self.confident)), [0.1] * 10)

    def test_mean_confidence(self):
        probs = np.array([[0.9, 0.1], [0.4, 0.6]])
        assert metrics.mean_confidence(probs) == pytest.approx(0.75)


class TestVaeMetrics:
    def test_active_units(self):
        rng = np.random.default_rng(0)
        mu = np.concatenate([rng.normal(size=(500, 3)), 0.01 * rng.normal(size=(500, 2))], axis=1)
        count, variances = metrics.active_units(mu)
        assert count == 3 and variances.shape == (5,)
        assert (variances[:3] > 0.5).all() and (variances[3:] < 0.001).all()
        assert metrics.active_units(mu, threshold=1e-6)[0] == 5

    def test_kl_per_dim(self):
        mu = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
        logvar = np.array([[0.0, 0.0, math.log(4.0)], [0.0, 0.0, math.log(4.0)]])
        kl = metrics.gaussian_kl_per_dim(mu, logvar)
        np.testing.assert_allclose(kl, [0.0, 0.5, 0.5 * (4 - 1 - math.log(4))])
        np.testing.assert_allclose(metrics.gaussian_kl(mu, logvar), [kl.sum()] * 2)

    def test_bernoulli_nll(self):
        x = np.full((2, 1, 28, 28), 0.5)
        np.testing.assert_allclose(metrics.bernoulli_nll(x, x), [784 * math.log(2)] * 2)
        worst = metrics.bernoulli_nll(np.ones((1, 4)), np.zeros((1, 4)), eps=1e-6)
        assert np.isfinite(worst).all() and worst[0] == pytest.approx(-4 * math.log(1e-6))
        perfect = metrics.bernoulli_nll(torch.ones(1, 4), torch.ones(1, 4))
        assert 0 < perfect[0] < 1e-4

    def test_gaussian_nll(self):
        x = np.zeros((3, 10))
        per_pixel = math.log(2) + 0.5 * math.log(2 * math.pi)
        np.testing.assert_allclose(metrics.gaussian_nll(x, x, sigma=2.0), [10 * per_pixel] * 3)
        diff = metrics.gaussian_nll(x + 1, x, sigma=1.0) - metrics.gaussian_nll(x, x, sigma=1.0)
        np.testing.assert_allclose(diff, [5.0] * 3)
        with pytest.raises(ValueError, match="sigma"):
            metrics.gaussian_nll(x, x, sigma=0)

    def test_reconstruction_mse(self):
        x = np.zeros((2, 1, 2, 2))
        y = np.stack([np.zeros((1, 2, 2)), np.full((1, 2, 2), 0.5)])
        np.testing.assert_allclose(metrics.reconstruction_mse(x, y), [0.0, 0.25])
        with pytest.raises(ValueError, match="shapes"):
            metrics.reconstruction_mse(x, y[:, :, :1])


class TestHolesPlane:
    def test_extent_is_the_percentile_box(self):
        codes = np.stack([np.linspace(0, 100, 101), np.linspace(-50, 50, 101)], 1)
        assert metrics.code_extent(codes, 1, 99) == pytest.approx((1.0, 99.0, -49.0, 49.0))
        with pytest.raises(ValueError):
            metrics.code_extent(np.zeros((5, 3)))

    def test_grid_rows_run_top_down_like_the_manifold_view(self):
        z = metrics.plane_grid((0.0, 1.0, 10.0, 20.0), 3).reshape(3, 3, 2)
        assert z[0, 0].tolist() == [0.0, 20.0] and z[0, 2].tolist() == [1.0, 20.0]  # row 0: largest z[1]
        assert z[2, 0].tolist() == [0.0, 10.0] and z[1, 1].tolist() == [0.5, 15.0]
        with pytest.raises(ValueError):
            metrics.plane_grid((0.0, 0.0, 0.0, 1.0), 3)

    def test_share_counts_cells_below_the_threshold(self):
        assert metrics.holes_share(np.array([[0.1, 0.49], [0.5, 0.99]])) == 0.5
        assert metrics.holes_share(np.ones((4, 4))) == 0.0


class _Plane(torch.nn.Module):
    """A fixture "decoder" on a 2-D plane: ten anchors on a circle of radius 3, one real held-out digit of
    each class per anchor. Within ``radius`` of an anchor a point decodes to that anchor's digit; farther away
    to ``far[i]`` (i = the nearest anchor), or to the digit again when ``far`` is None (digits everywhere)."""

    def __init__(self, digits, far=None, radius: float = 0.8):
        super().__init__()
        angle = torch.arange(10) * (2 * math.pi / 10)
        self.anchors = 3 * torch.stack([angle.cos(), angle.sin()], 1)
        self.digits, self.far, self.radius = digits, far, radius

    def decode(self, z):
        d = torch.cdist(z, self.anchors.to(z.dtype))
        near, i = d.min(1)
        out = self.digits[i].clone()
        if self.far is not None:
            out[near > self.radius] = self.far[i[near > self.radius]]
        return out


@pytest.fixture(scope="module")
def plane_parts():
    from pathlib import Path

    from genlab import data as gdata
    from genlab.checkpoints import load_checkpoint
    from genlab.engine import Engine
    from genlab.evaluate import feats_probs, novelty_reference

    clf, engine, digits = load_checkpoint(Path(__file__).parents[1] / "checkpoints/mnist-classifier"), Engine(), \
        gdata.load_offline_mnist()
    x, y = digits.test()
    x = gdata.to_range(x)
    one = torch.stack([x[int(np.nonzero(y == k)[0][0])] for k in range(10)])  # one digit per class
    # Two-digit blends the classifier cannot read (top-1 < 0.5): what an autoencoder's holes decode to.
    blends = (x[:400] + x[400:800]) / 2
    _, probs = feats_probs(engine, clf, blends)
    unreadable = blends[torch.as_tensor(probs.max(1) < 0.5)][:10]
    assert len(unreadable) == 10
    noise = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return clf, engine, one, unreadable, noise, novelty_reference(engine, clf, digits)


def _as_ckpt(model):
    from types import SimpleNamespace

    return SimpleNamespace(model=model, manifest=SimpleNamespace(id="plane", latent_size=2, output_range=(0.0, 1.0)))


def test_holes_grow_when_the_plane_between_the_data_decodes_to_garbage(plane_parts):
    from genlab.evaluate import holes

    clf, engine, one, unreadable, noise, ref = plane_parts
    g = torch.Generator().manual_seed(1)
    everywhere = _Plane(one)
    codes = everywhere.anchors.repeat(50, 1) + 0.3 * torch.randn(500, 2, generator=g)  # clusters at the anchors
    full = holes(engine, _as_ckpt(everywhere), clf, codes, grid=32, reference=ref)
    blurry = holes(engine, _as_ckpt(_Plane(one, unreadable)), clf, codes, grid=32, reference=ref)
    noisy = holes(engine, _as_ckpt(_Plane(one, noise)), clf, codes, grid=32, reference=ref)
    assert full["confidence"].shape == (32, 32) and full["novelty"].shape == (32, 32)
    assert full["share"] < 0.05 and full["offdata_share"] < 0.05  # digits everywhere: no holes
    assert blurry["share"] > full["share"] + 0.5  # unreadable decodings between the clusters are holes
    # The classifier reads noise confidently, so confidence misses it; the feature distance does not.
    assert noisy["offdata_share"] > full["offdata_share"] + 0.5
    # The same extent for every model (what the compare view passes), and the centre of the circle is a hole.
    same = holes(engine, _as_ckpt(everywhere), clf, extent=blurry["extent"], grid=32)
    assert same["extent"] == blurry["extent"] and "novelty" not in same
    assert blurry["confidence"][16, 16] < 0.5 <= full["confidence"][16, 16]
