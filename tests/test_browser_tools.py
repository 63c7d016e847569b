"""Real browser on the part-2 views: map selection, the training scrubber and GAN inversion."""
import json

import numpy as np
import pytest
from PIL import Image

from test_browser import (CHROMIUM, DIGITS, app, browser, drag_slider, image_pixels, open_tab, page, shot,  # noqa: F401
                          wait_image)

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM), reason="Debian chromium not installed")]


def test_map_click_decodes_that_point(app, page):  # noqa: F811
    url, handlers = app
    page.goto(url + "?model=mnist-vae-2d&seed=0")
    open_tab(page, "Map")
    page.wait_for_function("() => document.querySelector('#map-method input').value === 'latent'", timeout=30000)
    page.locator("#map-btn").click()
    wait_image(page, "#map-atlas", timeout=120000)  # the first map encodes 1,000 digits
    atlas = page.locator("#map-atlas img").first
    box, natural = atlas.bounding_box(), atlas.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    k = box["width"] / natural[0]
    px, py = natural[0] * 0.3, natural[1] * 0.6
    page.mouse.click(box["x"] + px * k, box["y"] + py * k)
    wait_image(page, "#map-picked", timeout=60000)
    shown = image_pixels(page, "#map-picked")
    z = json.loads(page.locator("#map-latent textarea").input_value())
    assert len(z) == 2 and z[0] < 0  # clicked left of the centre of the latent plane
    expected = handlers.explore.explore("mnist-vae-2d", json.dumps(z), "", *[0] * 12, 0, 0)
    assert np.array_equal(shown, expected), "the image is not the decoded clicked point"
    page.wait_for_selector("#map-scatter .js-plotly-plot", timeout=20000)
    shot(page, "map-clicked")
    assert not page.errors, page.errors


def test_scrubber_moves_through_epochs(app, page):  # noqa: F811
    url, _ = app
    page.goto(url + "?model=mnist-dcgan&seed=4")
    open_tab(page, "Training")
    page.wait_for_function("() => document.querySelector('#epoch-slider').innerText.includes('epochs')",
                           timeout=20000)
    drag_slider(page, "epoch-slider", 0.0)
    first = wait_image(page, "#scrub-image")
    early = image_pixels(page, "#scrub-image")
    drag_slider(page, "epoch-slider", 1.0)
    page.wait_for_timeout(1000)
    wait_image(page, "#scrub-image", not_src=first)
    late = image_pixels(page, "#scrub-image")
    assert not np.array_equal(early, late)
    page.locator("#evolution-btn").click()
    wait_image(page, "#evolution-strip")
    shot(page, "training-scrubber")
    assert not page.errors, page.errors


def test_inversion_from_an_upload(app, page, tmp_path):  # noqa: F811
    url, _ = app
    d = np.load(DIGITS, allow_pickle=False)
    path = tmp_path / "heldout.png"
    Image.fromarray(d["images"][d["test_idx"][21]]).save(path)
    page.goto(url + "?model=mnist-dcgan&seed=0")
    open_tab(page, "Encode an image")
    page.wait_for_function("() => document.querySelector('#invert-info').innerText.includes('example')",
                           timeout=120000)  # the view opens on an example digit, inverted
    page.locator("#encode-upload input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(800)
    page.locator("#invert-btn").click()
    page.wait_for_function("""() => { const t = document.querySelector('#invert-info').innerText;
        return t.includes('GAN inversion MSE') && !t.includes('example'); }""", timeout=120000)
    info = page.locator("#invert-info").inner_text()
    gan = float(info.split("GAN inversion MSE ")[1].split()[0])
    rand = float(info.split("random latent MSE ")[1].split(";")[0].split()[0])
    assert gan < 0.5 * rand, info
    shot(page, "inversion")
    assert not page.errors, page.errors
