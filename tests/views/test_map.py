"""The map view: latent maps (PCA, t-SNE with a stand-in, the raw plane; GANs by PCA of prior samples), atlas clicks and regions, the manifold. Seeded, CPU."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from genlab import latent, render
from genlab.engine import Engine
from genlab.views import (Explorer, ExplorerError, atlas_pixel, atlas_point)
from views.conftest import encodings, pixels


class TestLatentMap:
    def test_pca_map_data_atlas_and_cache(self, ex):
        res = ex.latent_map("tiny-vae", "pca")
        d, at = res.data, res.data["atlas"]
        assert len(d["x"]) == len(d["y"]) == len(d["labels"]) == 1000 and set(d["labels"]) == set(range(10))
        assert d["method"] == "pca" and len(d["explained"]) == 2 and 0 < sum(d["explained"]) <= 1 + 1e-6
        x0, x1, y0, y1 = d["bounds"]
        assert x0 < min(d["x"]) and max(d["x"]) < x1 and y0 < min(d["y"]) and max(d["y"]) < y1
        assert res.image.dtype == np.uint8 and res.image.shape == (at["height"], at["width"], 3)
        assert at["width"] == 12 * at["cell_px"]
        t0 = time.perf_counter()
        again = ex.latent_map("tiny-vae", "PCA")
        assert time.perf_counter() - t0 < 0.5 and pixels(again) == pixels(res)

    def test_atlas_pixel_point_round_trip(self, ex):
        at = ex.latent_map("tiny-vae", "pca").data["atlas"]
        for px, py in ((0, 0), (5, 600), (671, 671), (300, 17)):
            assert atlas_pixel(at, *atlas_point(at, px, py)) == (px, py)

    def test_pca_select_is_the_exact_inverse(self, ex):
        res = ex.map_select("tiny-vae", "pca", 200, 410)
        mean, comps, _ = latent.pca(encodings(ex, "tiny-vae"), 2)
        z = torch.tensor(res.data["latent"])
        assert torch.allclose((z - mean) @ comps.T, torch.tensor(res.data["point"]), atol=1e-5)
        assert res.image.shape == (28, 28, 1)

    def test_latent_plane_for_a_2d_vae(self, ex):
        res = ex.latent_map("tiny-vae2", "latent")
        mu = encodings(ex, "tiny-vae2")
        assert np.allclose(res.data["x"], mu[:, 0].numpy(), atol=1e-6)
        sel = ex.map_select("tiny-vae2", "latent", 10, 20)
        assert np.allclose(sel.data["latent"], sel.data["point"], atol=1e-6)
        assert "latent" in ex.map_methods("tiny-vae2") and "latent" not in ex.map_methods("tiny-vae")

    def test_neighbour_maps_select_the_mean_of_the_10_nearest(self, ex, monkeypatch):
        """The t-SNE path with a stand-in embedding (the real one is a slow test): cells, clicks, kNN."""
        sk = pytest.importorskip("sklearn.manifold", reason="t-SNE needs scikit-learn")

        class Fake:
            def __init__(self, *a, **kw):
                pass

            def fit_transform(self, x):
                return x[:, :2] * 3.0

        monkeypatch.setattr(sk, "TSNE", Fake)
        fresh = Explorer(ex.registry, Engine())
        self.check_neighbour_map(fresh, "t-SNE")

    @pytest.mark.slow
    def test_real_tsne_map(self, ex):
        pytest.importorskip("sklearn", reason="t-SNE needs scikit-learn")
        self.check_neighbour_map(ex, "tsne")

    @staticmethod
    def check_neighbour_map(ex, method):
        res = ex.latent_map("tiny-vae", method)
        assert res.data["method"] == "tsne" and res.data["explained"] is None and len(res.data["x"]) == 1000
        sel = ex.map_select("tiny-vae", "tsne", 336, 336)
        xy = np.stack([res.data["x"], res.data["y"]], 1)
        near = np.argsort(((xy - np.array(sel.data["point"])) ** 2).sum(1))[:10]
        assert np.allclose(sel.data["latent"], encodings(ex, "tiny-vae")[near].mean(0).numpy(), atol=1e-5)

    def test_missing_umap_names_the_package(self, ex):
        try:
            import umap  # noqa: F401
            pytest.skip("umap-learn is installed")
        except ImportError:
            with pytest.raises(ExplorerError, match="pip install umap-learn"):
                ex.latent_map("tiny-vae", "umap")

    @pytest.mark.parametrize("model,method,message", [
        ("tiny-vae", "latent", "needs a 2-D latent"), ("tiny-vae", "isomap", "unknown map method"),
        ("tiny-gan", "tsne", "is a GAN: its map is the pca"), ("nope", "pca", "no model 'nope'")])
    def test_bad_map_requests(self, ex, model, method, message):
        with pytest.raises(ExplorerError, match=message):
            ex.latent_map(model, method)

    @pytest.mark.parametrize("px,py", [(-1, 5), (672, 5), (5, 1e9), ("left", 3), (float("nan"), 2)])
    def test_select_outside_the_atlas(self, ex, px, py):
        with pytest.raises(ExplorerError, match="pixel"):
            ex.map_select("tiny-vae", "pca", px, py)

    def test_region_histogram_mean_latent_and_errors(self, ex):
        x0, x1, y0, y1 = ex.latent_map("tiny-vae", "pca").data["bounds"]
        res = ex.map_region("tiny-vae", "pca", x1, y1, x0, y0)  # corners in any order
        assert len(res.data["indices"]) == 1000 and sum(res.data["labels"].values()) == 1000
        assert "showing the first 256" in res.info and res.image.shape == (16 * 30 + 2, 16 * 30 + 2, 1)
        assert np.allclose(res.data["latent"], encodings(ex, "tiny-vae").mean(0).numpy(), atol=1e-5)
        with pytest.raises(ExplorerError, match="no held-out digits"):
            ex.map_region("tiny-vae", "pca", x1 + 1, y1 + 1, x1 + 2, y1 + 2)


class TestManifold:
    def test_grid_y_up_and_tiles_are_the_plane(self, ex):
        res = ex.manifold("tiny-vae2", span=2.0, n=5)
        assert res.image.shape == (5 * 28, 5 * 28, 3) and res.data["cell"] is None
        ck = ex.load("tiny-vae2")
        top_left = ex.engine.decode_uint8(ck, torch.tensor([[-2.0, 2.0]]))[0]
        assert np.array_equal(res.image[:28, :28], render.to_rgb(top_left))
        at = res.data["atlas"]
        assert np.allclose(atlas_point(at, 13.5 + 28 * 4, 13.5), (2.0, 2.0), atol=1e-6)  # tile centre -> grid latent

    def test_current_latent_is_boxed_on_the_nearest_tile(self, ex):
        plain = ex.manifold("tiny-vae2", span=2.0, n=5).image
        res = ex.manifold("tiny-vae2", span=2.0, n=5, current=[1.9, -1.1])
        assert res.data["cell"] == [3, 4]  # x = 2 -> last column, y = -1 -> row 3 (y up)
        changed = np.argwhere((res.image != plain).any(-1))
        assert changed[:, 0].min() >= 3 * 28 and changed[:, 1].min() >= 4 * 28
        assert "outside" in ex.manifold("tiny-vae2", span=2.0, n=5, current=[9.0, 0.0]).info

    @pytest.mark.parametrize("model,kw,message", [
        ("tiny-vae", {}, "needs a 2-D latent"), ("tiny-vae2", {"n": 1}, "grid size"),
        ("tiny-vae2", {"span": 0}, "span"), ("tiny-vae2", {"current": [0.0]}, "length 2")])
    def test_errors(self, ex, model, kw, message):
        with pytest.raises(ExplorerError, match=message):
            ex.manifold(model, **kw)


class TestGanMap:
    def test_the_plane_goes_through_the_digit_means(self, ex, monkeypatch):
        """A stand-in classifier that makes three well-separated label means: they fit the plane."""
        from genlab.views import Explorer

        fresh = Explorer(ex.registry, ex.engine)
        means = {0: [1.0] + [0.0] * 7, 1: [0.0, 2.0] + [0.0] * 6, 2: [0.0] * 7 + [3.0]}
        monkeypatch.setattr(fresh.ctx, "label_means", lambda ckpt: means)
        d = fresh.latent_map("tiny-gan", "pca").data
        mean, comps, _ = latent.pca(torch.tensor(list(means.values())), 2)
        assert torch.allclose(torch.tensor(d["plane"]["axes"]), comps)
        assert torch.allclose(torch.tensor(d["plane"]["mean"]), mean)
        z = latent.sample(1000, 8, seed=0)
        assert np.allclose(d["x"], ((z - mean) @ comps.T)[:, 0].numpy(), atol=1e-5)

    def test_gan_pca_map_colours_prior_samples_by_the_classifier(self, ex):
        assert ex.map_methods("tiny-gan") == ["pca"]
        res = ex.latent_map("tiny-gan", "pca")
        d, at = res.data, res.data["atlas"]
        assert d["points"].startswith("prior samples") and len(d["x"]) == len(d["labels"]) == 1000
        z = latent.sample(1000, 8, seed=0)
        ck = ex.load("tiny-gan")
        want = ex.classify(ex.engine.decode(ck, z), ck.manifest).argmax(1)
        assert d["labels"] == want.tolist()
        assert res.image.dtype == np.uint8 and res.image.shape == (at["height"], at["width"], 3)
        assert "classifier" in res.info

    def test_gan_map_select_is_the_exact_inverse_and_regions_work(self, ex):
        res = ex.map_select("tiny-gan", "pca", 100, 500)
        plane = ex.latent_map("tiny-gan", "pca").data["plane"]
        means = list(ex.label_vectors("tiny-gan").values())
        fit = torch.tensor(means) if len(means) >= 3 else latent.sample(1000, 8, seed=0)  # digit means, or samples
        mean, comps, _ = latent.pca(fit, 2)
        assert torch.allclose(torch.tensor(plane["axes"]), comps) and torch.allclose(torch.tensor(plane["mean"]), mean)
        z = torch.tensor(res.data["latent"])
        assert torch.allclose((z - mean) @ comps.T, torch.tensor(res.data["point"]), atol=1e-5)
        x0, x1, y0, y1 = ex.latent_map("tiny-gan", "pca").data["bounds"]
        region = ex.map_region("tiny-gan", "pca", x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
        assert 0 < len(region.data["indices"]) < 1000 and "samples" in region.info
        with pytest.raises(ExplorerError, match="no samples inside"):
            ex.map_region("tiny-gan", "pca", x1 + 1, y1 + 1, x1 + 2, y1 + 2)

    def test_vae_maps_are_unchanged_by_the_gan_path(self, ex):
        res = ex.latent_map("tiny-vae", "pca")
        assert res.data["points"] == "held-out digits" and "held-out digits" in res.info
        assert "encodings' variance" in res.info


def test_shipped_dcgan_map_separates_the_digits(shipped):
    """On the plane through the digit means, a dot's nearest label centre is its own label far above chance."""
    d = shipped.latent_map("mnist-dcgan", "pca").data
    xy, labels = np.stack([d["x"], d["y"]], 1), np.array(d["labels"])
    centres = np.stack([xy[labels == c].mean(0) for c in range(10)])
    nearest = ((xy[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    print(f"nearest-centre accuracy on the mnist-dcgan map: {(nearest == labels).mean():.2f} (chance 0.10)")
    assert (nearest == labels).mean() > 0.3
