"""Explorer tools on tiny real checkpoints, the shipped classifier and digits (the shipped DCGAN where a
trained model matters): latent maps, manifold, training scrubber, GAN inversion, memorization check,
label vectors, arithmetic, custom directions and recipes. Seeded, CPU."""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY, make_checkpoint
from genlab import latent, render
from genlab.checkpoints import load_snapshot, save_checkpoint
from genlab.configs import ConvVAEConfig
from genlab.data import load_offline_mnist
from genlab.engine import Engine
from genlab.explore import (MAX_INVERSION_STEPS, ExploreRequest, Explorer, ExplorerError, atlas_pixel, atlas_point)
from genlab.models import get_architecture
from genlab.registry import Registry

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def confident_classifier(root: Path) -> None:
    """A tiny classifier under the shipped id, its head scaled so that it is confident (p > 0.9) often."""
    torch.manual_seed(0)
    clf = get_architecture("classifier").build(TINY["classifier"]).eval()
    with torch.no_grad():
        clf.head.weight.mul_(200.0)
    save_checkpoint(root / "mnist-classifier", clf, id="mnist-classifier", architecture="classifier")


@pytest.fixture(scope="module")
def ex(tmp_path_factory) -> Explorer:
    root = tmp_path_factory.mktemp("tools")
    make_checkpoint(root, "tiny-gan", "dcgan")
    make_checkpoint(root, "tiny-vae", "conv_vae")
    make_checkpoint(root, "tiny-vae2", "conv_vae", ConvVAEConfig(image_size=28, channels=1, z_dim=2, base=4, hidden=16))
    make_checkpoint(root, "tiny-flat", "dcgan", snapshots=())
    gen = get_architecture("dcgan").build(TINY["dcgan"]).eval()
    save_checkpoint(root / "tiny-epochs", gen, id="tiny-epochs", architecture="dcgan", training={"epochs": 3},
                    snapshots={1: {k: v * 0.5 if v.is_floating_point() else v for k, v in gen.state_dict().items()}})
    confident_classifier(root)
    return Explorer(Registry([root]), Engine())


@pytest.fixture(scope="module")
def digits():
    return load_offline_mnist()


def pixels(res) -> bytes:
    return render.png_bytes(res.image)


def encodings(ex, model_id: str) -> torch.Tensor:
    """Held-out encoder means, computed here independently of the tools' cache."""
    ck = ex.load(model_id)
    return ex.engine.encode(ck, ex.reference_images(ck))[0]


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
        ("tiny-gan", "pca", "needs a VAE"), ("nope", "pca", "no model 'nope'")])
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


class TestScrubber:
    def test_snapshot_lists(self, ex):
        assert ex.snapshots("tiny-gan") == [1, 2, "final"]
        assert ex.snapshots("tiny-epochs") == [1, 3] and ex.snapshots("tiny-flat") == []

    def test_scrub_uses_the_epoch_weights_and_caches_them(self, ex):
        ck = ex.load("tiny-gan")
        z = latent.sample(1, 8, seed=4)
        first = ex.scrub("tiny-gan", 1, latent=z[0].tolist())
        snap = load_snapshot(ck.manifest, ck.folder, 1)
        assert np.array_equal(first.image, render.to_uint8(snap.decode(z).detach(), (-1, 1))[0])
        final = ex.scrub("tiny-gan", "final", latent=z[0].tolist())
        assert np.array_equal(final.image, ex.engine.decode_uint8(ck, z)[0]) and pixels(first) != pixels(final)
        assert any(k[0] == "snapshot" and k[1] == "tiny-gan" for k in ex._cache)
        assert ex.scrub("tiny-epochs", 3, seed=2, n=4).image.shape == (62, 62, 1)

    @pytest.mark.parametrize("model,epoch,message", [
        ("tiny-gan", 7, "available: 1, 2, final"), ("tiny-flat", 1, "no training snapshots"),
        ("tiny-gan", "soon", "whole number")])
    def test_scrub_errors(self, ex, model, epoch, message):
        with pytest.raises(ExplorerError, match=message):
            ex.scrub(model, epoch)

    def test_evolution_strip_and_gif(self, ex):
        res = ex.evolution("tiny-gan", seed=1, n=4, fps=5)
        assert res.data["epochs"] == [1, 2, "final"] and res.image.shape == (66, 3 * 64 + 2, 3)
        gif = Image.open(io.BytesIO(res.data["gif"]))
        assert gif.n_frames == 3
        with pytest.raises(ExplorerError, match="no training snapshots"):
            ex.evolution("tiny-flat")


class TestInversion:
    def test_result_panels_data_and_determinism(self, ex, digits):
        target = digits.test()[0][0]
        calls = []
        res = ex.invert("tiny-gan", target, steps=10, restarts=2, progress=lambda *a: calls.append(a))
        d = res.data
        assert res.image.shape == (28, 3 * 28 + 4, 3) and d["steps_run"] == 10 and len(d["latent"]) == 8
        assert all(isinstance(d[k], float) for k in ("mse_gan", "mse_vae", "mse_random"))
        assert [c[0] for c in calls] == list(range(1, 11)) and all(c[1] == 10 for c in calls)
        assert ex.invert("tiny-gan", target, steps=10, restarts=2).data["latent"] == d["latent"]
        two = ex.invert("tiny-gan", target, steps=3, vae=None)
        assert two.image.shape == (28, 2 * 28 + 2, 3) and two.data["mse_vae"] is None

    def test_stop_button(self, ex, digits):
        asked = []
        stop = lambda: asked.append(1) or len(asked) > 5  # noqa: E731 -- True from the 6th check on
        res = ex.invert("tiny-gan", digits.test()[0][1], steps=200, should_stop=stop)
        assert res.data["steps_run"] <= 6 and "stopped at step 5" in res.info

    @pytest.mark.parametrize("model,kw,message", [
        ("tiny-gan", {"steps": MAX_INVERSION_STEPS + 1}, "between 1 and 500"), ("tiny-gan", {"steps": 0}, "between 1"),
        ("tiny-gan", {"lr": -1}, "learning rate"), ("tiny-gan", {"restarts": 0}, "restarts"),
        ("tiny-vae", {}, "needs a GAN"), ("tiny-gan", {"vae": "tiny-gan"}, "needs a VAE")])
    def test_bad_requests(self, ex, digits, model, kw, message):
        with pytest.raises(ExplorerError, match=message):
            ex.invert(model, digits.test()[0][0], **kw)

    def test_bad_images(self, ex):
        with pytest.raises(ExplorerError, match="blank"):
            ex.invert("tiny-gan", np.zeros((40, 40), np.uint8))
        with pytest.raises(ExplorerError, match="not an image"):
            ex.invert("tiny-gan", b"hello")

    def test_shipped_dcgan_beats_a_random_latent(self, digits):
        reg = Registry([SHIPPED])
        if "mnist-dcgan" not in reg.ids():
            pytest.skip("the shipped mnist-dcgan checkpoint is not installed (still training?)")
        sx = Explorer(reg, Engine())
        for i in (0, 1):
            t0 = time.perf_counter()
            d = sx.invert("mnist-dcgan", digits.test()[0][i], steps=80, restarts=8).data
            print(f"held-out digit {i}: mse_gan {d['mse_gan']:.4f} mse_random {d['mse_random']:.4f} "
                  f"mse_vae {d['mse_vae']} in {time.perf_counter() - t0:.2f} s")
            assert d["mse_gan"] < 0.5 * d["mse_random"]


class TestNearest:
    def test_a_training_digit_finds_itself(self, ex, digits):
        res = ex.nearest(None, image=digits.train()[0][17], k=3)
        for space in ("feature", "pixel"):
            best = res.data[space][0]
            assert best["index"] == 17 and best["distance"] < 1e-3 and best["label"] == digits.train()[1][17]
            assert len(res.data[space]) == 3
        assert res.image.shape == (2 * 58 + 2, 4 * 58 + 2, 3) and "possibly memorised" in res.info

    def test_held_out_digit_floors_and_spaces(self, ex, digits):
        res = ex.nearest(None, image=digits.test()[0][5], k=5, space="feature")
        d = res.data
        assert set(d) == {"feature", "ratio", "feature_floor", "pixel_floor", "feature_floor_by_label",
                          "pixel_floor_by_label"}
        assert 0 < d["feature"][0]["distance"] <= d["feature"][-1]["distance"]
        assert d["feature_floor"] > 0 and d["pixel_floor"] > 0 and len(d["pixel_floor_by_label"]) == 10
        floor = d["feature_floor_by_label"][d["feature"][0]["label"]]
        assert d["ratio"] == pytest.approx(d["feature"][0]["distance"] / floor)

    def test_latent_and_upload_queries(self, ex, digits):
        res = ex.nearest("tiny-gan", latent=[0.1] * 8, k=2, space="pixel")
        assert list(res.data)[0] == "pixel" and res.image.shape == (60, 3 * 58 + 2, 3)
        buf = io.BytesIO()
        Image.fromarray(255 - np.pad(digits.train()[0][3], 20)).save(buf, "PNG")  # dark on light, off-size
        assert ex.nearest(None, image=buf.getvalue(), k=1, space="pixel").data["pixel"][0]["index"] == 3

    @pytest.mark.parametrize("kw,message", [
        ({}, "either a latent"), ({"latent": [0.0] * 8, "image": np.zeros((28, 28), np.uint8)}, "either a latent"),
        ({"image": np.zeros((28, 28), np.uint8), "k": 0}, "neighbours"),
        ({"image": np.zeros((28, 28), np.uint8), "space": "fourier"}, "space must be"),
        ({"latent": [0.0] * 3}, "length 8")])
    def test_errors(self, ex, kw, message):
        with pytest.raises(ExplorerError, match=message):
            ex.nearest("tiny-gan", **kw)


class TestArithmetic:
    def test_vae_label_vectors_are_mean_training_encodings(self, ex, digits):
        vecs = ex.label_vectors("tiny-vae")
        assert sorted(vecs) == list(range(10)) and all(len(v) == 4 for v in vecs.values())
        ck = ex.load("tiny-vae")
        mu = ex.engine.encode(ck, ex.reference_images(ck, "train"))[0]
        assert np.allclose(vecs[7], mu[torch.as_tensor(digits.train()[1] == 7)].mean(0).numpy(), atol=1e-5)

    def test_gan_label_vectors_are_means_of_confident_samples(self, ex, monkeypatch):
        """A stand-in classifier (a tiny GAN's samples all look alike): sample i is label i % 10, confident
        (p 0.95) when (i // 10) is even, except that 9 is never confident."""
        def fake_classify(imgs, m):
            i = torch.arange(len(imgs))
            conf = torch.where(((i // 10) % 2 == 0) & (i % 10 != 9), 0.95, 0.5)
            probs = torch.full((len(imgs), 10), 0.0)
            probs[i, i % 10] = conf
            return probs

        fresh = Explorer(ex.registry, Engine())
        monkeypatch.setattr(fresh, "classify", fake_classify)
        vecs = fresh.label_vectors("tiny-gan")
        z = latent.sample(4000, 8, seed=0)
        i = torch.arange(4000)
        assert sorted(vecs) == list(range(9))
        for c in (0, 4):
            assert np.allclose(vecs[c], z[(i % 10 == c) & ((i // 10) % 2 == 0)].mean(0).numpy(), atol=1e-6)
        with pytest.raises(ExplorerError, match="no confident samples of a 9"):
            fresh.toward_label("tiny-gan", [0.0] * 8, 9, 0.5)
        assert len(fresh.arithmetic("tiny-gan", "label:4", "label:0", 7).data["latent"]) == 8

    def test_toward_label(self, ex):
        z = latent.sample(1, 4, seed=3)[0]
        target = torch.tensor(ex.label_vectors("tiny-vae")[2])
        assert torch.allclose(torch.tensor(ex.toward_label("tiny-vae", z.tolist(), 2, 1.0).data["latent"]), target)
        half = torch.tensor(ex.toward_label("tiny-vae", z.tolist(), 2, 0.5).data["latent"])
        assert torch.allclose(half, (z + target) / 2, atol=1e-6)
        for label, amount, message in ((2, 3.0, "amount"), (10, 0.5, "label"), ("x", 0.5, "label")):
            with pytest.raises(ExplorerError, match=message):
                ex.toward_label("tiny-vae", z.tolist(), label, amount)

    def test_a_minus_b_plus_c(self, ex):
        s = latent.sample(1, 4, seed=1)[0], latent.sample(1, 4, seed=2)[0], latent.sample(1, 4, seed=3)[0]
        res = ex.arithmetic("tiny-vae", 1, "seed:2", "3")
        assert torch.allclose(torch.tensor(res.data["latent"]), s[0] - s[1] + s[2], atol=1e-6)
        assert res.image.shape == (60, 4 * 58 + 2, 3)
        half = ex.arithmetic("tiny-vae", "label:7", "label:1", json.dumps(s[2].tolist()), scale=0.5)
        vec = ex.label_vectors("tiny-vae")
        want = s[2] + 0.5 * (torch.tensor(vec[7]) - torch.tensor(vec[1]))
        assert torch.allclose(torch.tensor(half.data["latent"]), want, atol=1e-6)
        for bad, message in (("label:12", "label"), ("current", "not a latent"), ("[1, 2]", "length 4")):
            with pytest.raises(ExplorerError, match=message):
                ex.arithmetic("tiny-vae", bad, 1, 2)


class TestCustomDirections:
    def test_group_direction_registers_a_method(self, ex):
        dirs = ex.group_direction("tiny-vae", [1, 2, "label:3"], "label:8, 5", name="towards 8")
        assert dirs.vectors.shape == (1, 4) and torch.allclose(dirs.vectors.norm(), torch.tensor(1.0))
        assert "custom:towards 8" in ex.custom_directions("tiny-vae") and ex.custom_directions("tiny-gan") == []
        assert ex.directions("tiny-vae", "custom:towards 8") is dirs
        assert len(ex.directions("tiny-vae", "kl_dims")) == 4  # built-ins still fall through to Core
        base = latent.sample(1, 4, seed=9)[0]
        moved = ex.explore(ExploreRequest("tiny-vae", base.tolist(), "custom:towards 8", (2.0,)))
        assert torch.allclose(torch.tensor(moved.data["latent"]), base + 2 * dirs.sigmas[0] * dirs.vectors[0])
        again = ex.group_direction("tiny-vae", [1], [2], name="towards 8")  # redefining replaces
        assert ex.directions("tiny-vae", "custom:towards 8") is again

    @pytest.mark.parametrize("a,b,name,message", [
        ([], [1], "x", "group A needs at least one"), ([1], None, "x", "group B needs"),
        ([1, 2], [2, 1], "x", "same mean"), ([1], [2], "", "name"), ([1], [2], "a/b", "name")])
    def test_group_errors(self, ex, a, b, name, message):
        with pytest.raises(ExplorerError, match=message):
            ex.group_direction("tiny-vae", a, b, name=name)

    def test_unknown_custom_direction(self, ex):
        with pytest.raises(ExplorerError, match="no custom direction 'custom:nope'"):
            ex.directions("tiny-vae", "custom:nope")


class TestRecipes:
    def position(self, ex, method="kl_dims"):
        base = (latent.sample(1, 4, seed=11)[0] * 1.37).tolist()  # arbitrary float32 values
        return dict(model_id="tiny-vae", latent=base, method=method, weights=[1.25, -0.5], raw=[0.1, 0.0, -0.3],
                    pick=(2, 0.7))

    def original(self, ex, p):
        return ex.explore(ExploreRequest(p["model_id"], p["latent"], p["method"], tuple(p["weights"]),
                                         tuple(p["raw"]), *p["pick"]))

    def test_round_trip_gives_identical_png_bytes_in_a_fresh_explorer(self, ex):
        p = self.position(ex)
        text = ex.recipe_json(**p, psi=0.8, temperature=1.0, seed=5)
        fresh = Explorer(ex.registry, Engine())
        out = fresh.render_recipe(fresh.load_recipe(text))
        assert pixels(out) == pixels(self.original(ex, p)) and out.data["matches"]
        loaded = json.loads(text)
        assert torch.equal(torch.tensor(loaded["latent"], dtype=torch.float32), torch.tensor(p["latent"]))
        sha = ex.load("tiny-vae").manifest.file("model").sha256
        assert loaded["genlab_recipe"] == 1 and loaded["model_sha256"] == sha
        assert (loaded["psi"], loaded["seed"], loaded["pick"]) == (0.8, 5, [2, 0.7])

    def test_custom_direction_and_keyframes_travel_with_the_recipe(self, ex):
        ex.group_direction("tiny-vae", [1, 2], [3, "label:4"], name="mine")
        p = self.position(ex, "custom:mine")
        p["weights"] = [1.5]
        text = ex.recipe_json(**p, keyframes=[1, "current", [0, 0, 0, 0.5]], mode="lerp", steps=5)
        fresh = Explorer(ex.registry, Engine())
        out = fresh.render_recipe(text)
        assert pixels(out) == pixels(self.original(ex, p))
        strip = ex.interpolate("tiny-vae", [1, p["latent"], [0, 0, 0, 0.5]], "lerp", 5)
        assert np.array_equal(out.data["strip"], strip.image) and out.data["gif"][:6] == b"GIF89a"

    def recipe(self, ex, **change):
        r = json.loads(ex.recipe_json(**self.position(ex)))
        r.update(change)
        return r

    @pytest.mark.parametrize("change,message", [
        ({"genlab_recipe": 2}, "not a genlab recipe"), ({"colour": "red"}, "unknown field"),
        ({"model": "mnist-huge"}, "needs model mnist-huge, which is not installed here \\(available: tiny"),
        ({"model_sha256": "0" * 64}, "different version of tiny-vae .*the image may differ"),
        ({"model_sha256": "abc"}, "64 hex"), ({"latent": [0.0] * 3}, "length 4"), ({"latent": "0,0,0,0"}, "list"),
        ({"weights": ["1"]}, "numbers only"), ({"weights": [11.0]}, "between -10 and 10"),
        ({"pick": [7, 1.0]}, "picks dimension 7"), ({"keyframes": [[0.0] * 4]}, "2 to 16"),
        ({"keyframes": [[0.0] * 4] * 2, "mode": "cubic"}, "lerp"), ({"method": "custom:gone"}, "does not carry it"),
        ({"seed": -3}, "seed"), ({"psi": 2}, "psi"), ({"method": "warp"}, "'warp', unknown for tiny-vae")])
    def test_invalid_recipes(self, ex, change, message):
        with pytest.raises(ExplorerError, match=message):
            ex.load_recipe(json.dumps(self.recipe(ex, **change)))

    @pytest.mark.parametrize("text,message", [
        ("{", "not valid JSON"), ("[1, 2]", "JSON object"), ('{"latent": [NaN]}', "NaN"), (b"\xff\xfe", "UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
        (b" " * (1 << 20) + b"{}", "1025 KB; the limit is 1024 KB")])
    def test_unreadable_recipes(self, ex, text, message):
        with pytest.raises(ExplorerError, match=message):
            ex.load_recipe(text)

    def test_recipe_files(self, ex, tmp_path):
        good, big = tmp_path / "r.json", tmp_path / "big.json"
        good.write_text(ex.recipe_json(**self.position(ex)))
        assert ex.load_recipe(good)["model"] == "tiny-vae"
        big.write_bytes(b" " * (3 << 20))
        with pytest.raises(ExplorerError, match="3072 KB; the limit is 1024 KB"):
            ex.load_recipe(big)
        with pytest.raises(ExplorerError, match="cannot read"):
            ex.load_recipe(tmp_path / "missing.json")

    def test_other_weights_can_be_loaded_on_request(self, ex):
        r = self.recipe(ex, model_sha256="1" * 64)
        loaded = ex.load_recipe(json.dumps(r), allow_other_version=True)
        assert "different version" in loaded["warning"]
        out = ex.render_recipe(loaded, allow_other_version=True)
        assert "WARNING" in out.info and "different version" in out.info
