"""The nearest view: the memorization check against the 9,000 training digits. Seeded, CPU."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from genlab.views import (ExplorerError)


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
