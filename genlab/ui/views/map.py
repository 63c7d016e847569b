"""Map: latents laid out on a plane, over an atlas of what the model draws there. Click to decode a point
(it is marked), drag to select a region; a point or region becomes the current latent or a keyframe."""
from __future__ import annotations

from collections import OrderedDict

import gradio as gr
import numpy as np

from genlab import plots
from genlab.explore import ExplorerError, atlas_point
from genlab.ui.common import HEAVY, REFRESH, Shared, dumps_latent, image, intro, note, show, user_errors

TEXT = ("Every dot is a latent placed on a flat map (for a VAE: the code of a held-out digit; for a GAN: a random "
        "latent), coloured by the digit the classifier reads. Behind the dots, each square shows what the model "
        "draws at that spot. **Click** the map to decode a point; **drag** a rectangle to see the digits inside it.")
METHOD_INFO = "pca: the two directions of largest spread; latent: the model's own 2-D plane; tsne/umap: " \
              "neighbours stay close, distances are not kept"
MARK = np.array([255, 0, 0], np.uint8)


def mark(img: np.ndarray, px: float, py: float, r: int = 6) -> np.ndarray:
    """A red cross at atlas pixel (px, py)."""
    out = img.copy()
    h, w = out.shape[:2]
    x, y = int(round(px)), int(round(py))
    out[max(0, y - 1) : y + 2, max(0, x - r) : x + r + 1] = MARK
    out[max(0, y - r) : y + r + 1, max(0, x - 1) : x + 2] = MARK
    return out[:h, :w]


def frame(img: np.ndarray, px0, py0, px1, py1) -> np.ndarray:
    """A red rectangle outline between two atlas pixels."""
    out = img.copy()
    (x0, x1), (y0, y1) = sorted((int(px0), int(px1))), sorted((int(py0), int(py1)))
    h, w = out.shape[:2]
    x0, x1, y0, y1 = max(0, x0), min(w - 1, x1), max(0, y0), min(h - 1, y1)
    out[y0 : y0 + 2, x0:x1] = MARK
    out[max(0, y1 - 1) : y1 + 1, x0:x1] = MARK
    out[y0:y1, x0 : x0 + 2] = MARK
    out[y0:y1, max(0, x1 - 1) : x1 + 1] = MARK
    return out


class MapView:
    id, title = "map", "Map"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex
        self._atlas: OrderedDict = OrderedDict()  # (model, method) -> (image, data)

    def default_method(self, model_id) -> str:
        methods = self.ex.map_methods(model_id)
        return "latent" if "latent" in methods else "pca"

    def _map(self, model_id, method):
        key = (model_id, method)
        if key not in self._atlas:
            res = self.ex.latent_map(model_id, method)
            self._atlas[key] = (res.image, res.data, res.info)
            while len(self._atlas) > 16:
                self._atlas.popitem(last=False)
        self._atlas.move_to_end(key)
        return self._atlas[key]

    @user_errors
    def map_methods(self, model_id):
        methods = self.ex.map_methods(model_id)
        return gr.Dropdown(choices=methods, value=self.default_method(model_id), interactive=len(methods) > 1)

    @user_errors
    def latent_map(self, model_id, method):
        img, d, info = self._map(model_id, method)
        return show(img), plots.latent_scatter(d["x"], d["y"], d["labels"], d["method"]), info

    @user_errors
    def map_click(self, model_id, method, evt: gr.SelectData):
        px, py = evt.index
        res = self.ex.map_select(model_id, method, px, py)
        img, _, _ = self._map(model_id, method)
        return show(mark(img, px, py)), show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def map_point(self, model_id: str, method: str, px: float, py: float) -> list:
        """API: the latent under atlas pixel (px, py) of a map."""
        return self.ex.map_select(model_id, method, px, py).data["latent"]

    @user_errors
    def map_region(self, model_id, method, x0, y0, x1, y1):
        res = self.ex.map_region(model_id, method, x0, y0, x1, y1)
        return show(res.image), res.info, dumps_latent(res.data["latent"])

    @user_errors
    def drag_region(self, model_id, method, box: str):
        """The page's drag on the atlas ("px0,py0,px1,py1" in atlas pixels) -> the region's digits."""
        try:
            px0, py0, px1, py1 = (float(v) for v in (box or "").split(",")[:4])
        except ValueError:
            raise ExplorerError("drag a rectangle on the map") from None
        img, d, _ = self._map(model_id, method)
        at = d["atlas"]
        clamp = lambda v, hi: min(max(v, 0.0), hi - 1.0)  # noqa: E731
        (x0, y0), (x1, y1) = (atlas_point(at, clamp(px0, at["width"]), clamp(py0, at["height"])),
                              atlas_point(at, clamp(px1, at["width"]), clamp(py1, at["height"])))
        res = self.ex.map_region(model_id, method, x0, y0, x1, y1)
        return (show(frame(img, px0, py0, px1, py1)), show(res.image), res.info, dumps_latent(res.data["latent"]),
                round(x0, 4), round(y0, 4), round(x1, 4), round(y1, 4))

    @user_errors
    def manifold(self, model_id, span, n, current):
        res = self.ex.manifold(model_id, span, int(n), current or None)
        return show(res.image), res.info

    @user_errors
    def use_latent(self, model_id, latent, history):
        if not (latent or "").strip():
            raise ExplorerError("click the map (or drag a region) first")
        return self.ui.explore.jump(model_id, latent, history, "latent sent to Explore")

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT, open=False)
            with gr.Row():
                method = gr.Dropdown(["pca"], value=None, label="How the plane is made", allow_custom_value=True,
                                     elem_id="map-method", info=METHOD_INFO)
                go = gr.Button("Draw the map", elem_id="map-btn", size="sm")
            why = gr.Markdown("", elem_id="map-why")
            with gr.Row(equal_height=False):
                atlas = image("Map (click a point, or drag a rectangle)", "map-atlas", height=680, clickable=True)
                with gr.Column():
                    picked = image("Decoded at the clicked point", "map-picked", height=200)
                    picked_info = gr.Markdown("", elem_id="map-picked-info")
                    with gr.Row():
                        use = gr.Button("Explore this point", size="sm", elem_id="map-use")
                        to_key = gr.Button("Add to the interpolation", size="sm", elem_id="map-to-key")
                    region_img = image("Digits inside the dragged rectangle", "map-region", height=240)
                    region_info = gr.Markdown("", elem_id="map-region-info")
            info = gr.Markdown("")
            scatter = gr.Plot(label="The same dots as a chart", elem_id="map-scatter")
            drag = gr.Textbox(elem_id="map-drag", elem_classes=["genlab-hidden"], show_label=False, container=False)
            picked_latent = gr.Textbox(label="Latent at that point", lines=2, max_lines=4, elem_id="map-latent",
                                       elem_classes=["genlab-hidden"])
            with gr.Accordion("Region by numbers (plane coordinates)", open=False):
                with gr.Row():
                    x0, y0 = gr.Number(-1, label="x0"), gr.Number(-1, label="y0")
                    x1, y1 = gr.Number(1, label="x1"), gr.Number(1, label="y1")
                    region_btn = gr.Button("Show region")
            with gr.Accordion("Manifold of a 2-D model: a grid of decodings (current latent boxed)", open=False):
                with gr.Row():
                    span = gr.Slider(0.5, 5, 3, step=0.1, label="How far out (in typical spreads)")
                    n = gr.Slider(5, 30, 20, step=1, label="Pictures per side")
                    man_btn = gr.Button("Draw manifold", elem_id="manifold-btn")
                man_img, man_info = image("Decoded latent plane", "manifold", height=560), gr.Markdown("")
        self.tab, self.method = tab, method
        self.refresh_inputs = [method]
        self.refresh_outputs = [method, atlas, scatter, info, why, picked, picked_info, region_img, region_info]
        self.refresh_queue = REFRESH
        go.click(self.latent_map, [s.model, method], [atlas, scatter, info], api_name="latent_map", **HEAVY)
        method.input(self.latent_map, [s.model, method], [atlas, scatter, info], api_name=False, **HEAVY)
        atlas.select(self.map_click, [s.model, method], [atlas, picked, picked_info, picked_latent], api_name=False)
        drag.change(self.drag_region, [s.model, method, drag],
                   [atlas, region_img, region_info, picked_latent, x0, y0, x1, y1], api_name=False, **HEAVY)
        region_btn.click(self.map_region, [s.model, method, x0, y0, x1, y1], [region_img, region_info, picked_latent],
                         api_name="map_region", **HEAVY)
        man_btn.click(self.manifold, [s.model, span, n, s.current], [man_img, man_info], api_name="manifold", **HEAVY)
        use.click(self.use_latent, [s.model, picked_latent, s.history], s.position_outputs + [s.status],
                  api_name=False)
        self.picked_latent, self.to_key = picked_latent, to_key

    def apis(self) -> None:
        gr.api(self.map_point, api_name="map_point")

    def wire_shared(self, s: Shared) -> None:
        interp = self.ui.views["interpolate"]
        self.to_key.click(interp.add_keyframe, [s.keyframes, self.picked_latent], s.keyframes, api_name=False).then(
            lambda: "Added to the interpolation keyframes (see Interpolate).", None, s.status, api_name=False)

    # ---- refresh ---------------------------------------------------------------------------------
    def refresh(self, model_id, seed, current, method):
        methods = self.ex.map_methods(model_id)
        method = method if method in methods else self.default_method(model_id)
        atlas, scatter, info = self.latent_map(model_id, method)
        return [gr.Dropdown(choices=methods, value=method, interactive=len(methods) > 1), atlas, scatter, info, "",
                None, "", None, ""]

    def cleared(self, message: str = ""):
        return [gr.skip(), None, None, "", note(message) if message else "", None, "", None, ""]
