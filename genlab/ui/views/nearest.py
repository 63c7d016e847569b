"""Is it new? The training images closest to the current picture, with a plain-words verdict."""
from __future__ import annotations

import gradio as gr

from genlab.ui.common import HEAVY, REFRESH, Shared, image, intro, note, show, user_errors

TEXT = ("A generative model should draw **new** pictures, not copies of the ones it learned from. Here are the "
        "training digits closest to the current picture, compared by what the classifier sees (features) and "
        "pixel by pixel, with a verdict in plain words.")


def verdict(ratio: float | None) -> str:
    """Plain words for the nearest-distance ratio (nearest training digit / typical held-out distance)."""
    if ratio is None:
        return ""
    if ratio < 0.5:
        return (f"**Close to a training digit**: much closer than real unseen digits get to the training set "
                f"(ratio {ratio:.2f}). This picture may be copied from what the model learned.")
    if ratio < 0.9:
        return (f"**Fairly new**: near a training digit, about as near as some real unseen digits are "
                f"(ratio {ratio:.2f}).")
    return f"**New**: no training digit is closer than real unseen digits usually are (ratio {ratio:.2f})."


class NearestView:
    id, title = "nearest", "New or copied?"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    @user_errors
    def nearest(self, model_id, current, k):
        res = self.ex.nearest(model_id, latent=current, k=int(k))
        return show(res.image), verdict(res.data.get("ratio")) + "\n\n" + res.info

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            with gr.Row():
                k = gr.Slider(1, 16, 5, step=1, label="How many neighbours")
                go = gr.Button("Check the current picture", elem_id="nearest-btn")
            verdict_md = gr.Markdown("", elem_id="nearest-info")
            grid = image("Left: the current picture. Top row: nearest by features; bottom row: nearest by pixels",
                         "nearest", height=260)
        self.tab = tab
        self.refresh_inputs = [k]
        self.refresh_outputs = [grid, verdict_md]
        self.refresh_queue = REFRESH
        go.click(self.nearest, [s.model, s.current, k], [grid, verdict_md], api_name="nearest", **HEAVY)

    def refresh(self, model_id, seed, current, k):
        return list(self.nearest(model_id, current, k))

    def cleared(self, message: str = ""):
        return [None, note(message) if message else ""]
