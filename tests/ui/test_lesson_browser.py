"""Compare and Lesson in a real browser: two and four models side by side, every lesson step renders,
previous/next, and a step's link reopens the same step. Screenshots in tests/artifacts/lesson/."""
import os
from pathlib import Path

import pytest

from test_browser import CHROMIUM, app, browser, wait_image  # noqa: F401
from test_views_browser import new_page as views_page

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed")]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "lesson"
GALLERY_IMAGES = "(sel) => [...document.querySelectorAll(sel + ' img')].filter(i => i.complete && i.naturalWidth > 0).length"


def new_page(browser, w=1280, h=900):  # noqa: F811
    return views_page(browser, w, h)


@pytest.mark.parametrize("models", [("mnist-vae", "mnist-dcgan"),
                                    ("mnist-vae", "mnist-vae-2d", "mnist-dcgan", "mnist-ae-2d")])
def test_compare_models_side_by_side_from_a_link(app, browser, models):  # noqa: F811
    url, ui = app
    models = [m for m in models if m in ui.ex.model_ids()]
    pg = new_page(browser)
    pg.goto(f"{url}?tab=compare&models={','.join(models)}&action=samples&seed=3", wait_until="load")
    pg.wait_for_function(f"(sel) => ({GALLERY_IMAGES})(sel) >= {len(models)}", arg="#compare-gallery",
                         timeout=180000)
    info = pg.locator("#compare-info").inner_text()
    assert all(m in info for m in models) and "seed 3" in info
    checked = pg.evaluate("() => [...document.querySelectorAll('#compare-models input:checked')].length")
    assert checked == len(models)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"compare-{len(models)}-models.png"), full_page=True)
    assert "models=" in pg.locator("#compare-link").inner_html()
    assert not pg.evaluate("() => document.querySelectorAll('.toast-body.error').length") and not pg.errors
    pg.close()


def test_every_lesson_step_renders_and_its_link_reopens_it(app, browser):  # noqa: F811
    url, _ = app
    pg = new_page(browser)
    pg.goto(f"{url}?lesson=1", wait_until="load")
    titles = []
    for k in range(1, 6):
        pg.wait_for_function("(k) => (document.querySelector('#lesson-header') || {innerText: ''}).innerText.includes('Step ' + k + ' of')",
                             arg=k, timeout=180000)
        pg.wait_for_function(f"(sel) => ({GALLERY_IMAGES})(sel) >= 1", arg="#lesson-gallery", timeout=180000)
        assert "Try this" in pg.locator("#lesson-try").inner_text()
        titles.append(pg.locator("#lesson-header").inner_text())
        pg.wait_for_timeout(300)
        pg.screenshot(path=str(SHOTS / f"lesson-step-{k}.png"), full_page=True)
        if k < 5:
            pg.locator("#lesson-next").click()
    pg.locator("#lesson-prev").click()
    pg.wait_for_function("() => (document.querySelector('#lesson-header') || {innerText: ''}).innerText.includes('Step 4 of')",
                         timeout=60000)
    assert len(set(titles)) == 5
    # the step's own link opens that step in a new page
    fresh = new_page(browser)
    fresh.goto(f"{url}?lesson=3", wait_until="load")
    fresh.wait_for_function("() => (document.querySelector('#lesson-header') || {innerText: ''}).innerText.includes('Step 3 of')",
                            timeout=180000)
    assert fresh.locator("#lesson-header").inner_text() == titles[2]
    assert not pg.errors and not fresh.errors, (pg.errors, fresh.errors)
    fresh.close()
    pg.close()


def test_a_lesson_step_opens_its_view_with_its_model(app, browser):  # noqa: F811
    url, ui = app
    if "mnist-ae-2d" not in ui.ex.model_ids():
        pytest.skip("the lesson's autoencoder is not installed")
    pg = new_page(browser)
    pg.goto(f"{url}?lesson=1", wait_until="load")
    pg.wait_for_function("() => (document.querySelector('#lesson-header') || {innerText: ''}).innerText.includes('Step 1 of')",
                         timeout=180000)
    pg.locator("#lesson-open").click()
    pg.wait_for_function("() => (document.querySelector('#model input') || {value: ''}).value.includes('mnist-ae-2d')",
                         timeout=60000)
    wait_image(pg, "#map-atlas", timeout=180000)  # step 1 opens the autoencoder's map
    pg.screenshot(path=str(SHOTS / "lesson-step-1-opened.png"))
    assert not pg.errors, pg.errors
    pg.close()
