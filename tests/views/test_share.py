"""The share view: recipes round-trip a Position exactly; malformed recipes are ExplorerErrors. Seeded, CPU."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab import latent
from genlab.engine import Engine
from genlab.views import (ExploreRequest, Explorer, ExplorerError)
from views.conftest import pixels


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
