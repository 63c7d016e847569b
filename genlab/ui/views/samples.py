"""Samples: a grid of pictures from random latents; click one to make it the current latent."""
from __future__ import annotations

import gradio as gr

from genlab.explore import MAX_TILES, SampleRequest
from genlab.ui.common import GLOSSARY, HEAVY, REFRESH, Shared, dumps_latent, image, intro, note, show, user_errors

TEXT = ("Each picture comes from a different random latent; the **seed** at the top chooses which ones, so the "
        "same seed always gives the same grid. Click a picture to explore it, or to add it to an interpolation.")


class SamplesView:
    id, title = "samples", "Samples"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    def has_discriminator(self, model_id) -> bool:
        try:
            return "discriminator" in self.ex.generative(model_id).aux
        except Exception:  # noqa: BLE001 - the model's own view reports why it cannot load
            return False

    @user_errors
    def samples(self, model_id, seed, n, psi, temperature, labels, realism, sort, picked=None):
        realism, sort = bool(realism), bool(sort)
        if (realism or sort) and not self.has_discriminator(model_id) and picked is not None:
            realism = sort = False  # the page hides these for models without one; an old tick must not fail
        req = SampleRequest(model_id, seed, n, psi, temperature, bool(labels), realism, sort)
        res = self.ex.samples(req)
        img = res.image
        if picked is not None and picked.get("model") == model_id and picked.get("seed") == seed:
            img = self.ui.highlight(img, res.data, picked.get("index"))
        return show(img), res.info

    def samples_ui(self, model_id, seed, n, psi, temperature, labels, realism, sort, picked):
        return self.samples(model_id, seed, n, psi, temperature, labels, realism, sort, picked or {})

    @user_errors
    def tile_latent(self, model_id: str, seed: int, n: int, psi: float, temperature: float, sort: bool,
                    index: int) -> str:
        """API: the latent of tile ``index`` (display order) of a sample grid, as JSON."""
        req = SampleRequest(model_id, seed, n, psi, temperature, sort_by_realism=bool(sort))
        return dumps_latent(self.ex.tile_by_position(req, index)[0])

    @user_errors
    def pick_tile(self, model_id, seed, n, psi, temperature, labels, realism, sort, history, evt: gr.SelectData):
        """Click on a tile: its latent becomes the current latent (sliders reset, history pushed); the grid
        is redrawn with that tile outlined."""
        x, y = evt.index
        has_d = self.has_discriminator(model_id)
        req = SampleRequest(model_id, seed, n, psi, temperature, bool(labels), bool(realism) and has_d,
                            bool(sort) and has_d)
        z, idx = self.ex.tile_latent(req, x, y)
        res = self.ex.samples(req)
        shown = res.data["order"].index(idx)
        picked = {"model": model_id, "seed": seed, "index": shown}
        out = self.ui.explore.jump(model_id, dumps_latent(z), history,
                                   f"Picked sample {shown + 1}: it is now the current latent (see Explore).")
        return out + [show(self.ui.highlight(res.image, res.data, shown)), picked]

    def model_controls(self, model_id):
        """Realism controls only for models with a discriminator (hidden, with the reason, otherwise)."""
        has_d = self.has_discriminator(model_id)
        why = "" if has_d else "*Realism needs a GAN's discriminator; this model has none, so it is hidden.*"
        try:
            prior = self.ex.registry.manifest(model_id).raw.get("latent", {}).get("prior", "normal")
        except KeyError:
            prior = "normal"
        if prior == "fitted_normal":
            why += (" *This autoencoder has no prior of its own: its samples come from a Gaussian fitted to the "
                    "codes of its training digits.*")
        return gr.Checkbox(visible=has_d, value=False), gr.Checkbox(visible=has_d, value=False), why

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT, open=False)
            with gr.Row():
                n = gr.Slider(1, MAX_TILES, 64, step=1, label="Pictures")
                psi = gr.Slider(0, 1, 1, step=0.01, label="Truncation psi (1 = none)", info=GLOSSARY["psi"])
                temperature = gr.Slider(0, 3, 1, step=0.05, label="Temperature", info=GLOSSARY["temperature"])
            with gr.Row():
                labels = gr.Checkbox(False, label="Show what the classifier reads (digit + confidence)")
                realism = gr.Checkbox(False, label="Realism score (discriminator)", info=GLOSSARY["realism"])
                sort = gr.Checkbox(False, label="Most realistic first")
                draw = gr.Button("Draw samples", variant="primary", elem_id="draw-btn")
            why = gr.Markdown("")
            grid = image("Samples (click a picture to explore it; the picked one is outlined)", "samples-grid",
                         height=640, clickable=True)
            with gr.Row():
                info = gr.Markdown("")
                to_keys = gr.Button("Add the picked picture to the interpolation", size="sm", elem_id="tile-to-key")
                to_a = gr.Button("...to group A", size="sm", elem_id="tile-to-a")
                to_b = gr.Button("...to group B", size="sm", elem_id="tile-to-b")
            picked = gr.State({})
        self.tab, self.grid, self.info, self.picked = tab, grid, info, picked
        self.inputs = [s.model, s.seed, n, psi, temperature, labels, realism, sort]
        self.outputs = [grid, info]
        self.realism, self.sort, self.why = realism, sort, why
        s.extra.update(tile_to_key=to_keys, tile_to_a=to_a, tile_to_b=to_b)
        draw.click(self.samples, self.inputs, self.outputs, api_name="samples", **HEAVY)
        for ctl in (n, psi, temperature, labels, realism, sort):
            ctl.change(self.samples_ui, [*self.inputs, picked], self.outputs, api_name=False, **HEAVY,
                       trigger_mode="always_last")
        grid.select(self.pick_tile, [*self.inputs, s.history], s.position_outputs + [s.status, grid, picked],
                    api_name=False)
        self.model_control_outputs = [realism, sort, why]
        self.refresh_inputs = [n, psi, temperature, labels, realism, sort, picked]
        self.refresh_outputs = [grid, info]
        self.refresh_queue = REFRESH

    def apis(self) -> None:
        gr.api(self.tile_latent, api_name="tile_latent")

    # ---- refresh (tab opened, model or seed changed) --------------------------------------------
    def refresh(self, model_id, seed, current, n, psi, temperature, labels, realism, sort, picked):
        return list(self.samples_ui(model_id, seed, n, psi, temperature, labels, realism, sort, picked))

    def cleared(self, message: str = ""):
        return [None, note(message) if message else ""]
