"""The interpolate view's default path: what the view shows when it opens. Seeded, CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab import latent
from genlab.views import ExplorerError


class TestDefaultInterpolation:
    def test_from_the_current_latent_to_a_second_seed(self, ex):
        z = latent.sample(1, 8, seed=5)[0].tolist()
        res = ex.default_interpolation("tiny-gan", z, seed=3)
        want = ex.interpolate("tiny-gan", ["current", 3], "slerp", 12, current=z)
        assert np.array_equal(res.image, want.image) and res.data["gif"] == want.data["gif"]
        assert len(res.data["probs"]) == 12 and len(res.data["realism"]) == 12
        assert torch.allclose(torch.tensor(res.data["latents"][0]), torch.tensor(z))
        assert torch.allclose(torch.tensor(res.data["latents"][-1]), latent.sample(1, 8, seed=3)[0], atol=1e-6)

    def test_deterministic_and_works_without_a_current_latent(self, ex):
        a, b = ex.default_interpolation("tiny-vae"), ex.default_interpolation("tiny-vae", "", 1)
        assert np.array_equal(a.image, b.image) and a.data["keyframes"] == ["seed:0", 1]

    def test_bad_inputs(self, ex):
        with pytest.raises(ExplorerError, match="seed"):
            ex.default_interpolation("tiny-gan", None, -1)
        with pytest.raises(ExplorerError, match="length 8"):
            ex.default_interpolation("tiny-gan", [0.0] * 3)
