"""The arithmetic view: label vectors, towards a digit, a - b + c, custom directions from two groups. Seeded, CPU."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab import latent
from genlab.engine import Engine
from genlab.views import (ExploreRequest, Explorer, ExplorerError)


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
        monkeypatch.setattr(fresh.ctx, "classify", fake_classify)  # views classify through the shared context
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
