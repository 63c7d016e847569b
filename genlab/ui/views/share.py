"""Share: the current state as a link (open it anywhere to see the same picture and sliders) and as a
recipe file (model + weights' sha256, latent, sliders, keyframes, sampling settings) that reproduces it."""
from __future__ import annotations

import base64
import json
from urllib.parse import urlencode, urlsplit

import gradio as gr
import numpy as np

from genlab.explore import ExplorerError
from genlab.explore.paths import parse_keyframe_text
from genlab.ui.common import (N_DIRS, N_RAW, REFRESH, Shared, dumps_latent, intro, note, position, push,
                              split_values, user_errors)

TEXT = ("Everything on screen can be reopened later or by someone else. The **link** opens genlab on the same "
        "model, latent and sliders (put it on a slide, or send it to the class). The **recipe** file also records "
        "the exact weights (their sha256), so the same picture comes back byte for byte, or you are told why not.")
MAX_LINK_DIMS = 512


def encode_latent(latent) -> str:
    """A latent (list / JSON) -> URL-safe base64 of its float32 bytes (exact round trip)."""
    z = np.asarray(json.loads(latent) if isinstance(latent, str) else latent, dtype="<f4").ravel()
    return base64.urlsafe_b64encode(z.tobytes()).decode().rstrip("=")


def decode_latent(text: str) -> list[float] | None:
    """The inverse of ``encode_latent``; None for anything malformed (the page then opens on the seed)."""
    if not isinstance(text, str) or len(text) > 4 * MAX_LINK_DIMS * 4 // 3 + 4:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    if not raw or len(raw) % 4:
        return None
    z = np.frombuffer(raw, dtype="<f4")
    return [float(v) for v in z] if np.isfinite(z).all() else None


def state_query(model_id, base, method, weights, raw, pick, seed, tab="explore") -> dict:
    q = {"model": model_id, "seed": int(seed or 0), "tab": tab}
    if (base or "").strip():
        q["z"] = encode_latent(base)
    if method:
        q["method"] = method
    if any(float(w or 0) for w in weights):
        q["w"] = ",".join(f"{float(w or 0):g}" for w in weights)
    if any(float(r or 0) for r in raw):
        q["raw"] = ",".join(f"{float(r or 0):g}" for r in raw)
    if pick and float(pick[1] or 0):
        q["pick"] = f"{int(pick[0] or 0)},{float(pick[1]):g}"
    return q


def url_position(params: dict) -> dict | None:
    """A position from link parameters (see ``state_query``), or None when the link carries none."""
    z = decode_latent(params.get("z", ""))
    if z is None:
        return None

    def floats(key, n):
        try:
            vals = [float(v) for v in params.get(key, "").split(",") if v.strip()][:n]
        except ValueError:
            vals = []
        return vals + [0.0] * (n - len(vals))

    pick = floats("pick", 2)
    return position(dumps_latent(z), params.get("method", "")[:100], floats("w", N_DIRS), floats("raw", N_RAW),
                    int(pick[0]) if np.isfinite(pick[0]) else 0, pick[1])


class ShareView:
    id, title = "share", "Share"
    wants_request = True  # the link is built from the page's own address

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    @user_errors
    def link(self, model_id, base, method, *rest, request: gr.Request = None):
        *values, seed = rest
        w, raw, pick = split_values(values)
        query = urlencode(state_query(model_id, base, method, w, raw, pick, seed))
        page = ""
        referer = (request.headers.get("referer") if request is not None else None) or ""
        if referer:
            parts = urlsplit(referer)
            page = f"{parts.scheme}://{parts.netloc}{parts.path}"
        url = f"{page}?{query}"
        return url, f"[Open this state]({url}) · copy the link from the box above"

    @user_errors
    def save_recipe(self, model_id, base, method, *values):
        *sliders, keyframes, mode, steps, psi, temperature, seed = values
        w, raw, pick = split_values(sliders)
        keys = parse_keyframe_text(keyframes) if (keyframes or "").strip() else None
        text = self.ex.recipe_json(model_id, base, method, list(w), list(raw), list(pick), keyframes=keys,
                                   mode=mode, steps=int(steps), psi=psi, temperature=temperature, seed=int(seed or 0))
        return self.ui.files.put(text.encode(), ".json", stem=f"recipe-{model_id}")

    @user_errors
    def load_recipe(self, upload, history):
        from genlab.explore import MAX_RECIPE_BYTES

        if upload is None:
            raise ExplorerError("upload a recipe JSON file first")
        path = upload if isinstance(upload, str) else getattr(upload, "name", upload)
        with open(path, "rb") as f:
            data = f.read(MAX_RECIPE_BYTES + 1)
        res = self.ex.render_recipe(data)
        r = res.data["recipe"]
        w = list(r["weights"]) + [0.0] * (N_DIRS - len(r["weights"]))
        raw = list(r["raw"]) + [0.0] * (N_RAW - len(r["raw"]))
        pos = position(dumps_latent(r["latent"]), r["method"], w[:N_DIRS], raw[:N_RAW], *r["pick"])
        model_id = r["model"]
        return [gr.Dropdown(value=model_id)] + self.ui.explore.render_position(model_id, pos, push(history, pos)) \
            + [res.info]

    @user_errors
    def render_recipe_api(self, recipe: str) -> tuple[str, str]:
        """API: recipe JSON text -> (PNG path of the image, info)."""
        from genlab.render import png_bytes

        res = self.ex.render_recipe(recipe.encode() if isinstance(recipe, str) else recipe)
        return self.ui.files.put(png_bytes(res.image), ".png", stem="recipe"), res.info

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            url = gr.Textbox(label="Link to this state", elem_id="share-link", buttons=["copy"], interactive=False)
            link_md = gr.Markdown("", elem_id="share-link-md")
            with gr.Row():
                save = gr.Button("Make a recipe file of the current state", elem_id="recipe-save")
                recipe_file = gr.File(label="Recipe (download)", elem_id="recipe-file", height=80)
            with gr.Row():
                recipe_up = gr.File(label="Open a recipe", file_types=[".json"], type="filepath",
                                    elem_id="recipe-upload", height=80)
                load = gr.Button("Open recipe", elem_id="recipe-load")
            recipe_info = gr.Markdown("", elem_id="recipe-info")
        self.tab = tab
        # s.slider_inputs is [model, base, method, *sliders]
        self.refresh_inputs = [*s.slider_inputs[1:]]
        self.refresh_outputs = [url, link_md, recipe_file]
        self.refresh_queue = REFRESH
        self.save, self.load_btn, self.recipe_up, self.recipe_info = save, load, recipe_up, recipe_info
        self.recipe_file = recipe_file

    def apis(self) -> None:
        gr.api(self.render_recipe_api, api_name="render_recipe")

    def wire_shared(self, s: Shared) -> None:
        samples = self.ui.views["samples"]
        n, psi, temperature = samples.inputs[2:5]
        interp = self.ui.views["interpolate"]
        mode, steps = interp.refresh_inputs[1:3]
        self.save.click(self.save_recipe, [*s.slider_inputs, s.keyframes, mode, steps, psi, temperature, s.seed],
                        self.recipe_file, api_name="save_recipe")
        self.load_btn.click(self.load_recipe, [self.recipe_up, s.history],
                            [s.model] + s.position_outputs + [self.recipe_info], api_name="load_recipe")

    def refresh(self, model_id, seed, current, base, method, *values, request: gr.Request = None):
        url, md = self.link(model_id, base, method, *values, seed, request=request)
        return [url, md, None]

    def cleared(self, message: str = ""):
        return ["", note(message) if message else "", None]
