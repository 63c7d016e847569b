"""Every api_name of the launched app, through gradio_client, on the shipped trained checkpoints."""
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


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as (url, handlers):
        yield url, handlers


@pytest.fixture(scope="module")
def client(app_url):
    return new_client(app_url[0])


def img(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory) -> str:
    """A real held-out digit, black on white and off-centre, as a user might upload it."""
    d = np.load(DIGITS, allow_pickle=False)
    canvas = np.full((120, 100), 255, np.uint8)
    canvas[20:48, 50:78] = 255 - d["images"][d["test_idx"][3]]
    path = tmp_path_factory.mktemp("up") / "digit.png"
    Image.fromarray(canvas).save(path)
    return str(path)


def test_every_view_has_an_api_name(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for name in ("/models_table", "/model_card", "/select_model", "/samples", "/tile_latent", "/explore", "/commit",
                 "/change_method", "/randomize", "/reset", "/undo", "/redo", "/traversal", "/interpolate",
                 "/reconstruct", "/send_to_explore", "/image_keyframe", "/set_latent"):
        assert name in names


def test_models_table_and_cards(client):
    table = client.predict(api_name="/models_table")
    ids = [row[0] for row in table["data"]]
    for mid in ("mnist-dcgan", "mnist-vae", "mnist-vae-2d", "mnist-classifier"):
        assert mid in ids
    card, preview = client.predict("mnist-vae", api_name="/model_card")
    assert "# " in card and "nelbo" in card.lower() and "![preview]" not in card
    assert img(preview).shape[-1] == 3


@pytest.mark.parametrize("model,size", [("mnist-dcgan", 28), ("mnist-vae", 28), ("mnist-vae-2d", 28)])
def test_samples_shapes_and_determinism(client, model, size):
    a, info = client.predict(model, 5, 16, 1.0, 1.0, False, False, False, api_name="/samples")
    b, _ = client.predict(model, 5, 16, 1.0, 1.0, False, False, False, api_name="/samples")
    tile = 2 * size  # grids are drawn at 2x: they are clickable
    assert img(a).shape[:2] == (4 * (tile + 2) + 2, 4 * (tile + 2) + 2) and "16 samples" in info
    assert digest(a) == digest(b)
    c, _ = client.predict(model, 6, 16, 1.0, 1.0, False, False, False, api_name="/samples")
    assert digest(a) != digest(c)


def test_sample_overlays_and_realism_sort(client):
    grid, _ = client.predict("mnist-dcgan", 0, 9, 1.0, 1.0, True, True, True, api_name="/samples")
    assert img(grid).shape == (3 * 58 + 2, 3 * 58 + 2, 3)  # labelled tiles are drawn at 2x in RGB
    with pytest.raises(AppError, match="no discriminator"):
        client.predict("mnist-vae", 0, 9, 1.0, 1.0, False, True, False, api_name="/samples")


@pytest.mark.parametrize("args,message", [
    ((0, 300, 1.0, 1.0), "maximum value 256"),  # Gradio's own range check answers first
    ((0, 16, 1.5, 1.0), "maximum value 1"),
    ((-1, 16, 1.0, 1.0), "minimum value 0"),
    ((0, 16, 1.0, "warm"), "Expected a `float`"),
])
def test_samples_bad_input_is_a_clear_error(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict("mnist-dcgan", *args, False, False, False, api_name="/samples")


def test_tile_latent_matches_the_grid(client, app_url):
    z = json.loads(client.predict("mnist-dcgan", 3, 16, 1.0, 1.0, False, 5, api_name="/tile_latent"))
    assert len(z) == 100
    # the tile's latent, decoded alone, is the same picture as tile 5 of the grid
    grid = img(client.predict("mnist-dcgan", 3, 16, 1.0, 1.0, False, False, False, api_name="/samples")[0])
    tile = grid[2 + 58 : 2 + 58 + 56 : 2, 2 + 58 : 2 + 58 + 56 : 2]  # tile 5 of a 4x4 grid, drawn at 2x
    single = img(client.predict("mnist-dcgan", json.dumps(z), "", *[0] * 12, 0, 0, api_name="/explore"))
    assert np.array_equal(single, tile)


def test_explore_path_deterministic_and_moves(client):
    base = client.predict("mnist-vae", 0, api_name="/select_model")[0]
    still = client.predict("mnist-vae", base, "kl_dims", *[0] * 12, 0, 0, api_name="/explore")
    again = client.predict("mnist-vae", base, "kl_dims", *[0] * 12, 0, 0, api_name="/explore")
    moved = client.predict("mnist-vae", base, "kl_dims", 2.5, *[0] * 11, 0, 0, api_name="/explore")
    assert digest(still) == digest(again) and digest(still) != digest(moved)
    assert img(still).shape == (28, 28)
    gan_base = client.predict("mnist-dcgan", 0, api_name="/select_model")[0]
    for method in ("ganspace", "sefa"):
        a = client.predict("mnist-dcgan", gan_base, method, 0, 0, 0, *[0] * 9, 0, 0, api_name="/explore")
        b = client.predict("mnist-dcgan", gan_base, method, 0, 0, 3.0, *[0] * 9, 0, 0, api_name="/explore")
        assert digest(a) != digest(b)


@pytest.mark.parametrize("latent,message", [
    ("[NaN]", "NaN|length"), (json.dumps([float("inf")] * 16), "NaN or inf"), (json.dumps([0.0] * 3), "length 16"),
    (json.dumps([1e6] * 16), "within"), ("not json", "not valid JSON"), ("", "no current latent"),
])
def test_explore_bad_latents(client, latent, message):
    with pytest.raises(AppError, match=message):
        client.predict("mnist-vae", latent, "kl_dims", *[0] * 12, 0, 0, api_name="/explore")


def test_history_undo_redo_and_commit(client):
    c = new_client(client.src)  # a fresh session: history is per session
    base = c.predict("mnist-vae", 0, api_name="/select_model")[0]
    current = c.predict("mnist-vae", base, "kl_dims", 1.0, *[0] * 11, 0, 0, api_name="/commit")
    assert json.loads(current) != json.loads(base)
    rand = c.predict("mnist-vae", "kl_dims", api_name="/randomize")
    assert rand[0] != base
    back = c.predict("mnist-vae", api_name="/undo")
    assert back[0] == base and back[2]["value"] == 1.0  # slider 1 restored with the base
    fwd = c.predict("mnist-vae", api_name="/redo")
    assert fwd[0] == rand[0]
    with pytest.raises(AppError, match="nothing to redo"):
        c.predict("mnist-vae", api_name="/redo")


def test_traversal_sheet(client):
    base = client.predict("mnist-dcgan", 0, api_name="/select_model")[0]
    sheet, info = client.predict("mnist-dcgan", base, "ganspace", 0, api_name="/traversal")
    assert img(sheet).shape == (4 * 30 + 2, 7 * 30 + 2) and "-3 to +3" in info


@pytest.mark.parametrize("model", ["mnist-dcgan", "mnist-vae"])
def test_interpolation(client, model):
    strip, gif_a, gif_file, plot, info = client.predict(model, "1, 2, 3", "slerp", 9, 12, "", api_name="/interpolate")
    assert img(strip).shape[1] == 9 * 30 + 2 and "through 3 keyframes" in info
    frames = Image.open(gif_a)
    assert frames.n_frames == 9 + 7  # boomerang: forward, then back without repeating the ends
    again = client.predict(model, "1, 2, 3", "slerp", 9, 12, "", api_name="/interpolate")
    assert digest(again[0]) == digest(strip)
    assert plot is not None
    with pytest.raises(AppError, match="maximum value 64"):
        client.predict(model, "1, 2", "slerp", 65, 12, "", api_name="/interpolate")
    with pytest.raises(AppError, match="between 2 and 16 keyframes"):
        client.predict(model, "1", "lerp", 8, 12, "", api_name="/interpolate")


def test_reconstruction_of_an_uploaded_digit(client, digit_png):
    seen, cmp, info, plot, samples, encoding = client.predict(
        "mnist-vae", handle_file(digit_png), None, 4, api_name="/reconstruct")
    x = img(seen)
    assert x.shape == (28, 28) and x[0, 0] == 0 and x.max() > 200  # inverted to light-on-dark, like MNIST
    assert img(cmp).shape == (28, 3 * 28 + 4, 3)
    assert "MSE" in info and "inverted" in info
    mse = float(info.split("MSE ")[1].split(",")[0])
    assert mse < 0.03  # a real digit reconstructs well
    assert len(json.loads(encoding)) == 16 and img(samples).shape == (32, 4 * 30 + 2)
    again = client.predict("mnist-vae", handle_file(digit_png), None, 4, api_name="/reconstruct")
    assert digest(again[1]) == digest(cmp)


def test_reconstruction_errors(client, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(AppError, match="Invalid file type"):  # Gradio checks the extension first
        client.predict("mnist-vae", handle_file(str(text)), None, 2, api_name="/reconstruct")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"these bytes are not a PNG")
    with pytest.raises(AppError, match="not an image"):
        client.predict("mnist-vae", handle_file(str(fake)), None, 2, api_name="/reconstruct")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match="empty"):
        client.predict("mnist-vae", handle_file(str(empty)), None, 2, api_name="/reconstruct")
    with pytest.raises(AppError, match="GAN: it has no encoder, so use Invert"):  # plain words, and where to go
        client.predict("mnist-dcgan", None, None, 2, api_name="/reconstruct")
    with pytest.raises(AppError, match="upload an image or draw"):
        client.predict("mnist-vae", None, None, 2, api_name="/reconstruct")


def test_send_encoding_to_explore(client, digit_png):
    c = new_client(client.src)
    c.predict("mnist-vae", 0, api_name="/select_model")
    encoding = c.predict("mnist-vae", handle_file(digit_png), None, 0, api_name="/reconstruct")[-1]
    out = c.predict("mnist-vae", encoding, api_name="/send_to_explore")
    assert out[0] == encoding and out[-1] == "encoding sent to Explore"


def test_image_keyframe(client, digit_png):
    keys = client.predict("mnist-vae", "3", handle_file(digit_png), api_name="/image_keyframe")
    items = json.loads(keys)
    assert len(items) == 2 and len(items[1]) == 16


def test_unknown_model(client):
    with pytest.raises(AppError):
        client.predict("nope", 0, 16, 1.0, 1.0, False, False, False, api_name="/samples")


def test_gradio_rebuilds_its_analytics_summary_rarely(app_url):
    """app.py's setting reaches Gradio's queue: its pandas summary of recent events is rebuilt every 500 events
    over the last 2,000, not after every event over 10,000 (the largest per-event cost of a long-running server)."""
    import gradio as gr

    import app

    with gr.Blocks() as demo:
        gr.Markdown("x")
    q = demo._queue
    assert (q.ANAYLTICS_CACHE_FREQUENCY, q.ANALYTICS_MAX_EVENTS) == (500, 2000)
    assert app.GRADIO_ENV == {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500", "GRADIO_ANALYTICS_MAX_EVENTS": "2000"}
