"""A real browser (Debian chromium, driven by playwright) on the launched app.

Opens every view, drags a slider with the mouse and checks that the image changed and that the
final image is exactly the one for the final slider value, uploads an image for reconstruction,
and saves screenshots under tests/artifacts/.
"""
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server import running_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DIGITS = Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-digits" / "digits.npz"

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as (url, handlers):
        yield url, handlers


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1100})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def image_pixels(page, selector) -> np.ndarray:
    src = page.locator(f"{selector} img").first.get_attribute("src")
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)))


def wait_image(page, selector, not_src=None, timeout=30000):
    page.wait_for_function(
        """([sel, old]) => { const i = document.querySelector(sel + ' img');
             return i && i.complete && i.naturalWidth > 0 && i.src !== old; }""",
        arg=[selector, not_src or ""], timeout=timeout)
    return page.locator(f"{selector} img").first.get_attribute("src")


def open_tab(page, name):
    page.get_by_role("tab", name=name).click()


def drag_slider(page, elem_id, fraction_to):
    """A real mouse drag of a range input's thumb from the middle to ``fraction_to`` of its width."""
    rng = page.locator(f"#{elem_id} input[type=range]")
    box = rng.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for k in range(1, 21):
        x = box["x"] + box["width"] * (0.5 + (fraction_to - 0.5) * k / 20)
        page.mouse.move(x, y)
        page.wait_for_timeout(25)
    page.mouse.up()
    return float(page.locator(f"#{elem_id} input[type=number]").input_value())


def test_url_state_and_every_view(app, page):
    url, _ = app
    page.goto(url + "?model=mnist-vae&seed=7")
    open_tab(page, "Explore")  # images in hidden tabs are not rendered
    wait_image(page, "#explore-image")
    assert "mnist-vae" in page.locator("#model input").input_value()
    for tab in ("Models", "Samples", "Explore", "Interpolate", "Encode an image"):
        open_tab(page, tab)
        page.wait_for_timeout(300)
        shot(page, f"view-{tab.lower()}")
    open_tab(page, "Models")
    page.wait_for_function("() => document.querySelector('#models-table').innerText.includes('mnist-classifier')")
    assert not page.errors, page.errors


def test_drag_updates_image_and_final_frame_matches(app, page):
    url, handlers = app
    page.goto(url + "?model=mnist-dcgan&seed=3")
    open_tab(page, "Explore")
    first = wait_image(page, "#explore-image")
    before = image_pixels(page, "#explore-image")
    value = drag_slider(page, "dir-0", 0.9)
    assert value > 1.0
    page.wait_for_timeout(1500)  # let the last queued render land
    wait_image(page, "#explore-image", not_src=first)
    shown = image_pixels(page, "#explore-image")
    base = handlers.explore.select_model("mnist-dcgan", 3)[0]  # what ?seed=3 opened on
    expected = handlers.explore.explore("mnist-dcgan", base, "ganspace", value, *[0] * 7, *[0] * 4, 0, 0)
    assert not np.array_equal(shown, before), "the image did not change while dragging"
    assert np.array_equal(shown, expected), "the final image does not match the final slider value"
    shot(page, "explore-after-drag")
    assert not page.errors, page.errors


def test_drag_preview_draws_every_step_then_hands_over_to_the_server(app, page):
    """With the sweep loaded, every drag step draws its frame at once with no server round trip; on release
    the server renders the final value once, and the overlay steps aside for that exact image."""
    url, handlers = app
    # the sweep is the fallback when the page cannot decode (tests/ui/test_page_decode.py covers page drawing)
    page.add_init_script("localStorage.setItem('genlab.drawInBrowser', 'off')")
    page.goto(url + "?model=mnist-vae&seed=5")
    open_tab(page, "Explore")
    wait_image(page, "#explore-image")
    page.get_by_text("The latent as numbers (copy it").click()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    for _ in range(60):  # the views' refreshes after the page opened are not part of the drag: let them end
        n = len(posts)
        page.wait_for_timeout(1500)
        if len(posts) == n:
            break
    rng = page.locator("#dir-1 input[type=range]")
    box = rng.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.wait_for_function("() => window.__genlabDrag.sweep && window.__genlabDrag.sweep.slider === 1", timeout=30000)
    frames0 = page.evaluate("() => window.__genlabDrag.frames")
    posts.clear()
    base, method = handlers.explore.select_model("mnist-vae", 5)[0], handlers.explore.methods("mnist-vae")[0][1]
    for k in range(1, 31):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * k / 30), y)
        page.wait_for_timeout(10)
    value = float(page.locator("#dir-1 input[type=range]").input_value())
    canvas = np.array(page.evaluate("""() => { const c = document.querySelector('#explore-drag-preview');
        return [c.style.display, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }""")[1],
        dtype=np.uint8).reshape(28, 28, 4)[..., 0]
    drawn = page.evaluate("() => window.__genlabDrag.frames") - frames0
    during = list(posts)
    page.mouse.up()
    page.wait_for_function("() => document.querySelector('#explore-drag-preview').style.display === 'none'",
                           timeout=30000)
    page.wait_for_timeout(500)
    expected = handlers.explore.explore("mnist-vae", base, method, 0, value, *[0] * 6, *[0] * 4, 0, 0)
    assert drawn >= 20, f"only {drawn} frames drawn for 30 distinct drag steps"
    assert not during, f"the server was called during the drag: {during}"
    assert np.abs(canvas.astype(int) - expected.astype(int)).max() <= 1, "the frame shown is not the value's image"
    assert np.array_equal(image_pixels(page, "#explore-image"), expected), "the final image is not the server's"
    assert float(page.locator("#dir-1 input[type=number]").input_value()) == value
    shown_latent = json.loads(page.locator("#current-latent textarea").input_value())
    committed = json.loads(handlers.explore.commit("mnist-vae", base, method, 0, value, *[0] * 6, *[0] * 4, 0, 0,
                                           {"past": [], "future": []})[0])
    assert np.allclose(shown_latent, committed), "release recorded another value than the one shown"
    shot(page, "explore-after-preview-drag")
    assert not page.errors, page.errors


def test_tile_click_sets_current_latent(app, page):
    url, _ = app
    page.goto(url + "?model=mnist-dcgan&seed=11")
    open_tab(page, "Samples")
    wait_image(page, "#samples-grid")
    grid = page.locator("#samples-grid img").first
    box, natural = grid.bounding_box(), grid.evaluate("i => i.naturalWidth")
    k = box["width"] / natural
    step, tile = 58, 56  # 28-px digits drawn at 2x with 2-px padding, 8 per row for 64 tiles
    cx, cy = 2 + 3 * step + tile / 2, 2 + 1 * step + tile / 2  # row 1, column 3: tile 11
    page.mouse.click(box["x"] + cx * k, box["y"] + cy * k)
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Picked sample 12:')",
                           timeout=20000)
    shot(page, "samples-picked")
    assert not page.errors, page.errors


def test_interpolation_view(app, page):
    url, _ = app
    page.goto(url + "?model=mnist-dcgan&seed=1")
    open_tab(page, "Interpolate")
    page.locator("#interp-btn").click()
    wait_image(page, "#interp-strip")
    page.wait_for_selector("#interp-plot .plotly, #interp-plot .js-plotly-plot", timeout=20000)
    shot(page, "interpolate")
    assert not page.errors, page.errors


def test_upload_for_reconstruction(app, page, tmp_path):
    url, _ = app
    d = np.load(DIGITS, allow_pickle=False)
    digit = 255 - d["images"][d["test_idx"][0]]  # dark ink on white paper
    path = tmp_path / "digit.png"
    Image.fromarray(np.pad(digit, 30, constant_values=255)).save(path)
    page.goto(url + "?model=mnist-vae&seed=0")
    open_tab(page, "Encode an image")
    example = wait_image(page, "#recon-compare", timeout=60000)  # the view opens on an example digit
    page.locator("#encode-upload input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(800)
    page.locator("#recon-btn").click()
    wait_image(page, "#recon-compare", not_src=example, timeout=60000)
    seen = image_pixels(page, "#recon-input")
    assert seen.shape[:2] == (28, 28) and seen[0, 0] == 0  # shown as the model sees it
    page.get_by_text("MSE").first.wait_for()
    shot(page, "reconstruct")
    assert not page.errors, page.errors
