"""Drag preview: while a slider is dragged, the browser draws frames the server rendered in one batch.

A round trip through Gradio costs ~100 ms in the browser on a small CPU server whatever the model does, so a
drag that waits for the server shows 4-6 images a second. Instead, when a slider is pressed the page asks
for that slider's *sweep* (every value it can take, the other inputs held, decoded in one batch and sent as
one PNG strip), then draws the frame for each value on a canvas over the image as the thumb moves: a new
image for every input event, with no server traffic during the drag. On release the value goes to the server
as one ordinary ``explore`` event, and the overlay steps aside once the server's image (pixel-equal to the
frame up to one grey level) has loaded, so what stays on screen is always the server's own render.
Until the sweep has arrived (or if it never does) the slider works exactly as without this module.
"""
from __future__ import annotations

import base64

import numpy as np

from genlab import render

SWEEP_LO, SWEEP_STEP, SWEEP_N = -3.0, 0.05, 121  # the grid of every explore slider (-3..3, step 0.05)
SLIDER_GRID = dict(minimum=SWEEP_LO, maximum=SWEEP_LO + SWEEP_STEP * (SWEEP_N - 1), step=SWEEP_STEP)  # gr.Slider kwargs
SWEEP_VALUES = [round(SWEEP_LO + SWEEP_STEP * i, 4) for i in range(SWEEP_N)]


def parse_request(text) -> tuple[int, str]:
    """``"<slider index>:<token>"`` from the page -> (index, token); ValueError otherwise."""
    if not isinstance(text, str) or len(text) > 64 or ":" not in text:
        raise ValueError("sweep request must look like '3:17'")
    k, token = text.split(":", 1)
    if not k.isdigit() or not token.isalnum():
        raise ValueError("sweep request must look like '3:17'")
    return int(k), token


def sweep_html(frames: np.ndarray, slider: int, token: str) -> str:
    """uint8 ``[N, H, W, C]`` frames -> a hidden ``<div>`` holding them as one vertical PNG strip."""
    n, h, w, c = frames.shape
    strip = frames.reshape(n * h, w, c)
    b64 = base64.b64encode(render.png_bytes(strip if c != 1 else strip[..., 0])).decode()
    meta = {"slider": slider, "token": token, "lo": SWEEP_LO, "step": SWEEP_STEP, "n": n, "w": w, "h": h}
    attrs = " ".join(f'data-{k}="{v}"' for k, v in meta.items())
    return f'<div class="genlab-sweep" {attrs}><img alt="" src="data:image/png;base64,{b64}"></div>'


# Element ids of the sweepable sliders, in the order of the explore inputs (directions, raw dims, picker); the
# page script (static/genlab.js) reads them from window.GENLAB_SLIDER_IDS.
def slider_ids(n_dirs: int, n_raw: int) -> list[str]:
    return [f"dir-{i}" for i in range(n_dirs)] + [f"raw-{i}" for i in range(n_raw)] + ["pick-value"]
