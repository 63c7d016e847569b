"""The training view: snapshot lists, the scrubber, the evolution strip; models shipped without snapshots. Seeded, CPU."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from genlab import latent, render
from genlab.checkpoints import load_snapshot
from genlab.views import (ExplorerError)
from views.conftest import pixels


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


class TestWithoutSnapshots:
    def test_snapshots_is_empty_and_the_message_names_models_that_have_them(self, ex):
        assert ex.snapshots("tiny-flat") == []
        assert "tiny-gan" in ex.models_with_snapshots() and "tiny-flat" not in ex.models_with_snapshots()
        with pytest.raises(ExplorerError, match="no training snapshots.*try tiny-epochs or tiny-gan|try tiny-gan"):
            ex.scrub("tiny-flat", 0)

    def test_shipped_vae_has_no_snapshots(self, shipped):
        assert shipped.snapshots("mnist-vae") == []
        assert shipped.snapshots("mnist-dcgan")[-1] == 200 and shipped.snapshots("mnist-vae-2d")
        with pytest.raises(ExplorerError, match="mnist-vae has no training snapshots.*try mnist-"):
            shipped.evolution("mnist-vae")
