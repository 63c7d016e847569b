"""Part-2 views through gradio_client on the launched app: maps, scrubber, inversion, memorization,
arithmetic, group directions and recipes (a recipe round trip gives identical bytes)."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from server import client as new_client
from server import running_app

pytestmark = pytest.mark.server
DIGITS = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-digits" / "digits.npz"
ZERO_SLIDERS = [0] * 12 + [0, 0]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as (url, _):
        yield new_client(url)


def img(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def heldout_png(tmp_path_factory) -> str:
    d = np.load(DIGITS, allow_pickle=False)
    path = tmp_path_factory.mktemp("up") / "heldout.png"
    Image.fromarray(d["images"][d["test_idx"][10]]).save(path)
    return str(path)


def test_latent_map_and_point_selection(client):
    atlas, scatter, info = client.predict("mnist-vae", "pca", api_name="/latent_map")
    a = img(atlas)
    assert a.ndim == 3 and a.shape[0] > 100 and "1000" in info.replace(",", "")
    assert scatter is not None
    z = client.predict("mnist-vae", "pca", a.shape[1] // 2, a.shape[0] // 2, api_name="/map_point")
    assert len(z) == 16 and all(np.isfinite(z))
    picked = client.predict("mnist-vae", json.dumps(z), "", *ZERO_SLIDERS, api_name="/explore")
    assert img(picked).shape == (28, 28)
    region, rinfo, _ = client.predict("mnist-vae", "pca", -1, -1, 1, 1, api_name="/map_region")
    assert img(region).ndim >= 2 and rinfo
    with pytest.raises(AppError, match="unknown map method"):
        client.predict("mnist-vae", "spectral", api_name="/latent_map")


def test_tsne_map_is_offered_with_scikit_learn(client):
    atlas, _, info = client.predict("mnist-vae-2d", "tsne", api_name="/latent_map")
    assert img(atlas).shape[0] > 100 and "tsne" in info.lower()


def test_manifold_of_the_2d_vae(client):
    current = client.predict("mnist-vae-2d", 0, api_name="/select_model")[-2]
    grid, info = client.predict("mnist-vae-2d", 3.0, 10, current, api_name="/manifold")
    g = img(grid)
    assert g.ndim == 3 and g.shape[0] >= 10 * 28
    with pytest.raises(AppError, match="2"):
        client.predict("mnist-vae", 3.0, 10, "", api_name="/manifold")


def test_training_scrubber(client):
    first, info0 = client.predict("mnist-dcgan", 0, False, "", 4, 1, api_name="/scrub")
    last, info1 = client.predict("mnist-dcgan", 5, False, "", 4, 1, api_name="/scrub")
    assert img(first).shape == (28, 28) and digest(first) != digest(last)
    assert "epoch 1" in info0
    strip, gif, gif_file, info = client.predict("mnist-dcgan", False, "", 0, 1, 3, api_name="/evolution")
    assert Image.open(gif).n_frames >= 6
    with pytest.raises(AppError, match="no training snapshots"):
        client.predict("mnist-vae", 0, False, "", 0, 1, api_name="/scrub")


def test_gan_inversion_beats_a_random_latent(client, heldout_png):
    result, info, latent = client.predict("mnist-dcgan", handle_file(heldout_png), None, 60, api_name="/invert")
    assert img(result).shape[0] == 28 and len(json.loads(latent)) == 100
    gan = float(info.split("GAN inversion MSE ")[1].split()[0])
    rand = float(info.split("random latent MSE ")[1].split(";")[0].split()[0])
    assert gan < 0.5 * rand, info
    assert "mnist-vae reconstruction MSE" in info
    with pytest.raises(AppError, match="maximum value 500"):
        client.predict("mnist-dcgan", handle_file(heldout_png), None, 600, api_name="/invert")
    with pytest.raises(AppError, match="has an encoder: use Reconstruct"):
        client.predict("mnist-vae", handle_file(heldout_png), None, 10, api_name="/invert")


def test_nearest_training_digits(client):
    current = client.predict("mnist-vae", 0, api_name="/select_model")[-2]
    grid, info = client.predict("mnist-vae", current, 4, api_name="/nearest")
    assert img(grid).ndim == 3 and "feature" in info.lower()


def test_arithmetic_and_toward_label(client):
    current = client.predict("mnist-vae", 0, api_name="/select_model")[-2]
    out, info, z = client.predict("mnist-vae", current, "7", 1.0, api_name="/toward_label")
    assert len(json.loads(z)) == 16 and "7" in info
    out2, info2, z2 = client.predict("mnist-vae", "label:7", "label:1", "3", 1.0, api_name="/arithmetic")
    assert img(out2).ndim >= 2 and len(json.loads(z2)) == 16
    with pytest.raises(AppError):
        client.predict("mnist-vae", "label:12", "1", "2", 1.0, api_name="/arithmetic")


def test_group_direction_is_usable_in_explore(client):
    c = new_client(client.src)
    base = c.predict("mnist-vae", 0, api_name="/select_model")[0]
    a = [json.loads(c.predict("mnist-vae", 1, 16, 1.0, 1.0, False, i, api_name="/tile_latent")) for i in range(3)]
    b = [json.loads(c.predict("mnist-vae", 2, 16, 1.0, 1.0, False, i, api_name="/tile_latent")) for i in range(3)]
    out = c.predict("mnist-vae", json.dumps(a), json.dumps(b), "to b", base, api_name="/make_direction")
    assert out[1]["value"] == "custom:to b" and "added" in out[-1]
    moved = c.predict("mnist-vae", base, "custom:to b", 2.0, *[0] * 11, 0, 0, api_name="/explore")
    still = c.predict("mnist-vae", base, "custom:to b", 0.0, *[0] * 11, 0, 0, api_name="/explore")
    assert digest(moved) != digest(still)


def test_recipe_round_trip_gives_identical_bytes(client, tmp_path):
    c = new_client(client.src)
    base = c.predict("mnist-dcgan", 9, api_name="/select_model")[0]
    sliders = [1.25, -0.5, 0, 0, 0, 0, 0, 0, 0.3, 0, 0, 0, 7, -1.0]
    shown = c.predict("mnist-dcgan", base, "sefa", *sliders, api_name="/explore")
    recipe = c.predict("mnist-dcgan", base, "sefa", *sliders, "1, 2", "slerp", 8, 1.0, 1.0, 9, api_name="/save_recipe")
    text = Path(recipe).read_text()
    r = json.loads(text)
    assert r["model"] == "mnist-dcgan" and len(r["model_sha256"]) == 64 and r["method"] == "sefa"
    png, info = c.predict(text, api_name="/render_recipe")
    assert img(png).tobytes() == img(shown).tobytes()  # the same pixels...
    fresh = new_client(client.src)  # ...and a new session loading the file lands on the same image
    out = fresh.predict(handle_file(recipe), api_name="/load_recipe")
    assert digest(out[-2]) == digest(shown)


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON|JSON"),
    ("x" * (1 << 21), "limit"),
])
def test_bad_recipes_are_refused_clearly(client, text, message):
    with pytest.raises(AppError, match=message):
        client.predict(text, api_name="/render_recipe")


def test_recipe_for_a_missing_model(client):
    c = new_client(client.src)
    base = c.predict("mnist-vae", 0, api_name="/select_model")[0]
    path = c.predict("mnist-vae", base, "kl_dims", *ZERO_SLIDERS, "", "slerp", 8, 1.0, 1.0, 0, api_name="/save_recipe")
    r = json.loads(Path(path).read_text())
    r["model"] = "mnist-vae-large"
    with pytest.raises(AppError, match="needs model mnist-vae-large, which is not installed"):
        c.predict(json.dumps(r), api_name="/render_recipe")


def test_recipe_for_changed_weights(client):
    c = new_client(client.src)
    base = c.predict("mnist-vae", 0, api_name="/select_model")[0]
    path = c.predict("mnist-vae", base, "kl_dims", *ZERO_SLIDERS, "", "slerp", 8, 1.0, 1.0, 0, api_name="/save_recipe")
    r = json.loads(Path(path).read_text())
    r["model_sha256"] = "0" * 64
    with pytest.raises(AppError, match="different version"):
        c.predict(json.dumps(r), api_name="/render_recipe")
