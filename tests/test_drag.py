"""The drag preview's server side: one slider's sweep equals the explore image at each value, and the
helper answers nothing (never an error page) to bad requests. The browser side is in test_browser.py."""
from __future__ import annotations

import base64
import html
import json
import io
import re

import numpy as np
import pytest
from PIL import Image

from conftest import make_checkpoint
from genlab import latent
from genlab.explore import ExploreRequest, Explorer, ExplorerError
from genlab.registry import Registry
from genlab.ui import drag
from genlab.ui.app import UI
from genlab.ui.common import N_DIRS, N_RAW
from genlab.ui.views.explore import ExploreView


@pytest.fixture(scope="module")
def h(tmp_path_factory) -> ExploreView:
    root = tmp_path_factory.mktemp("drag")
    make_checkpoint(root, "g", "dcgan")
    make_checkpoint(root, "v", "conv_vae")
    return UI(Explorer(Registry([root]))).explore


def strip_of(html: str) -> tuple[dict, np.ndarray]:
    meta = dict(re.findall(r'data-(\w+)="([^"]*)"', html))
    b64 = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    return meta, np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


@pytest.mark.parametrize("model,method", [("g", "sefa"), ("v", "kl_dims")])
@pytest.mark.parametrize("slider", [0, 3, N_DIRS, N_DIRS + N_RAW])  # a direction, another, a raw dim, the picker
def test_sweep_frames_equal_explore_at_each_value(h, model, method, slider):
    m = h.ex.generative(model).manifest
    base = [float(v) for v in latent.sample(1, m.latent_size, seed=4)[0]]
    values = [0.0] * (N_DIRS + N_RAW) + [2, 0.0]  # ..., pick_dim 2, pick_value 0
    html = h.sweep(model, base, method, *values, f"{slider}:7")
    meta, strip = strip_of(html)
    assert meta["slider"] == str(slider) and meta["token"] == "7" and int(meta["n"]) == drag.SWEEP_N
    hh, ww = int(meta["h"]), int(meta["w"])
    frames = strip.reshape(drag.SWEEP_N, hh, ww, *strip.shape[2:])
    for i in (0, 17, 60, 120):
        v = drag.SWEEP_VALUES[i]
        vals = list(values)
        vals[slider if slider < N_DIRS + N_RAW else N_DIRS + N_RAW + 1] = v
        one = h.explore(model, base, method, *vals)
        assert one.shape == frames[i].shape
        assert np.abs(one.astype(int) - frames[i].astype(int)).max() <= 1, f"frame {i} (value {v})"
    assert not np.array_equal(frames[0], frames[120]), "the sweep does not move"


def test_sweep_covers_the_sliders_grid():
    assert drag.SWEEP_VALUES[0] == -3.0 and drag.SWEEP_VALUES[-1] == 3.0 and drag.SWEEP_VALUES[60] == 0.0
    assert len(drag.slider_ids(N_DIRS, N_RAW)) == N_DIRS + N_RAW + 1


@pytest.mark.parametrize("request_text", [None, "", "x:1", "1", "-1:2", "1:a b", "1:" + "9" * 80, "99:1", 5])
def test_bad_sweep_requests_answer_nothing(h, request_text):
    base = [0.0] * h.ex.generative("g").manifest.latent_size
    assert h.sweep("g", base, "sefa", *[0.0] * (N_DIRS + N_RAW), 0, 0.0, request_text) == ""


@pytest.mark.parametrize("bad", [{"model": "nope"}, {"base": "[1, 2"}, {"value": float("nan")}])
def test_sweep_with_bad_inputs_answers_nothing(h, bad):
    base = bad.get("base", [0.0] * h.ex.generative("g").manifest.latent_size)
    vals = [0.0] * (N_DIRS + N_RAW) + [0, 0.0]
    vals[1] = bad.get("value", 0.0)
    assert h.sweep(bad.get("model", "g"), base, "sefa", *vals, "0:1") == ""


def test_explorer_sweep_checks_its_arguments(h):
    req = ExploreRequest("g", [0.0] * h.ex.generative("g").manifest.latent_size, "sefa", (0.0,) * 3, (0.0,) * 2)
    assert h.ex.sweep(req, 5, [0.0, 1.0]).shape[0] == 2  # 3 + 2 sliders, then the picker at index 5
    with pytest.raises(ExplorerError, match="slider"):
        h.ex.sweep(req, 6, [0.0])
    with pytest.raises(ExplorerError, match="at most 256"):
        h.ex.sweep(req, 0, [0.0] * 257)
    with pytest.raises(ExplorerError, match="empty"):
        h.ex.sweep(req, 0, [])


def page_json(html_text: str) -> dict:
    return json.loads(html.unescape(re.search(r'data-json="([^"]*)"', html_text).group(1)))


@pytest.mark.parametrize("model,method", [("g", "sefa"), ("g", "ganspace"), ("v", "kl_dims")])
def test_page_data_composes_the_servers_latent(h, model, method):
    """What the page receives (#explore-page-data) lets it compose the latent compose() makes: the base exactly,
    and base + (w * sigmas) @ vectors + raw + pick to float32 rounding (the page's maths, in numpy)."""
    m = h.ex.generative(model).manifest
    base = json.dumps([float(v) for v in latent.sample(1, m.latent_size, seed=2)[0]])
    d = page_json(h.page_data(model, base, method))
    assert d["model"] == model and d["method"] == method and d["d"] == m.latent_size
    assert d["base"] == json.loads(base) and d["k"] <= N_DIRS and len(d["vectors"]) == d["k"] * d["d"]
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = [round(float(rng.integers(-60, 61)) * 0.05, 2) if i < d["k"] else 0.0 for i in range(N_DIRS)]
        raw = [round(float(rng.integers(-60, 61)) * 0.05, 2) for _ in range(N_RAW)]
        pick = (int(rng.integers(0, d["d"])), 0.35)
        server = h.ex.compose(ExploreRequest(model, base, method, tuple(w), tuple(raw), *pick)).numpy()
        ws = np.float32(w[:d["k"]]) * np.float32(d["sigmas"])
        z = np.float32(d["base"]) + (ws.astype(np.float64) @ np.float64(d["vectors"]).reshape(d["k"], -1)).astype(
            np.float32)
        z[:N_RAW] += np.float32(raw)
        z[pick[0]] += np.float32(pick[1])
        assert np.allclose(z, server, rtol=0, atol=1e-5)


@pytest.mark.parametrize("args", [("nope", "[0]", "sefa"), ("g", "[1, 2", "sefa"), ("g", None, "sefa")])
def test_page_data_is_empty_for_bad_positions(h, args):
    assert h.page_data(*args) == ""
