"""Compare: the same action on several models, aligned on one input (shipped checkpoints)."""
import numpy as np
import pytest

from genlab.explore import Explorer, ExplorerError
from genlab.registry import Registry


@pytest.fixture(scope="module")
def ex():
    return Explorer(Registry())


def test_maps_share_one_plane_and_shade_holes(ex):
    ids = [i for i in ("mnist-ae-2d", "mnist-vae-2d", "mnist-beta-vae-2d") if i in ex.model_ids()]
    res = ex.compare("maps", ids)
    extents = {tuple(r.data["extent"]) for r in res}
    assert len(extents) == 1, "every model is drawn over the same square"
    for r in res:
        assert r.image.ndim == 3 and r.image.shape[-1] == 3 and 0.0 <= r.data["holes_share"] <= 1.0
        assert "holes" in r.info


def test_a_gan_in_the_map_comparison_says_why_it_has_no_map(ex):
    res = ex.compare("maps", ["mnist-vae-2d", "mnist-dcgan"])
    assert res[0].image is not None and res[1].image is None and "no encoder" in res[1].info


def test_samples_use_the_same_seed_in_every_model(ex):
    a = ex.compare("samples", ["mnist-vae", "mnist-dcgan"], seed=4)
    b = ex.compare("samples", ["mnist-vae", "mnist-dcgan"], seed=4)
    c = ex.compare("samples", ["mnist-vae", "mnist-dcgan"], seed=5)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert not np.array_equal(a[0].image, c[0].image)


@pytest.mark.slow
def test_interpolation_between_the_same_digits_encodes_or_inverts(ex):
    res = ex.compare("interpolation", ["mnist-vae", "mnist-dcgan"], a=3, b=21, mode="lerp")
    assert len(res) == 2 and "encoded" in res[0].info and "inverted" in res[1].info
    assert res[0].image.shape[1] == res[1].image.shape[1]  # aligned strips: same number of pictures


def test_reconstruction_of_the_same_picture(ex):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 13:16] = 255  # a "1"
    res = ex.compare("reconstruction", ["mnist-vae", "mnist-vae-2d"], source=digit)
    assert [r.info.split(":")[0] for r in res] == ["mnist-vae", "mnist-vae-2d"] and "MSE" in res[0].info


def test_bad_requests_get_clear_messages(ex):
    with pytest.raises(ExplorerError, match="between 1 and 4"):
        ex.compare("maps", ["mnist-vae"] * 0)
    with pytest.raises(ExplorerError, match="action must be"):
        ex.compare("dance", ["mnist-vae"])
    with pytest.raises(ExplorerError):
        ex.compare("maps", ["no-such-model"])
    with pytest.raises(ExplorerError, match="upload an image"):
        ex.compare("reconstruction", ["mnist-vae"], source=None)
