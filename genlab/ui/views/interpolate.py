"""Interpolate: pictures along a path between latents (keyframes), as a strip, an animation and a chart."""
from __future__ import annotations

import json

import gradio as gr

from genlab import plots
from genlab.explore import MAX_STEPS, ExploreRequest, ExplorerError
from genlab.explore.paths import parse_keyframe_text
from genlab.ui.common import GLOSSARY, HEAVY, REFRESH, Shared, image, intro, note, show, thumbs, user_errors

TEXT = ("A path from one latent to another, decoded at evenly spaced points: if the pictures change smoothly, "
        "the model has learned a smooth space. By default the path runs from the **current latent** to the next "
        f"seed's latent. *slerp* or *lerp*: {GLOSSARY['slerp']}.")


class InterpolateView:
    id, title = "interpolate", "Interpolate"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    @user_errors
    def interpolate(self, model_id, keyframes, mode, steps, fps, current):
        res = self.ex.interpolate(model_id, keyframes, mode, steps, current=current, fps=fps)
        gif = self.ui.files.put(res.data["gif"], ".gif", stem="interpolation")
        fig = plots.path_probabilities(res.data.get("probs"), res.data.get("realism"))
        return show(res.image), gif, gif, fig, res.info

    def thumbnails(self, model_id, keyframes, current) -> list:
        """One small picture per keyframe (what the path passes through)."""
        if not (keyframes or "").strip():
            return []
        ckpt = self.ex.generative(model_id)
        zs = self.ex.keyframes(ckpt, keyframes, current)
        return [show(self.ex.explore(ExploreRequest(model_id, z.tolist())).image) for z in zs]

    @user_errors
    def show_keys(self, model_id, keyframes, current):
        try:
            return self.thumbnails(model_id, keyframes, current)
        except ExplorerError:
            return []

    @user_errors
    def add_keyframe(self, keyframes: str, current: str) -> str:
        items = parse_keyframe_text(keyframes) if (keyframes or "").strip() else []
        if not (current or "").strip():
            raise ExplorerError("no current latent yet: pick a sample or use Explore first")
        items.append(json.loads(current))
        return json.dumps(items)

    @user_errors
    def add_image_keyframe(self, model_id: str, keyframes: str, upload) -> str:
        if upload is None:
            raise ExplorerError("upload an image first")
        z = self.ui.views["encode"].latent_of(model_id, upload)
        items = parse_keyframe_text(keyframes) if (keyframes or "").strip() else []
        items.append([float(v) for v in z])
        return json.dumps(items)

    def drop_keyframe(self, keyframes: str, evt: gr.SelectData):
        """Click a keyframe thumbnail: remove it from the path."""
        try:
            items = parse_keyframe_text(keyframes) if (keyframes or "").strip() else []
        except ExplorerError:
            return gr.skip()
        if 0 <= int(evt.index) < len(items):
            items.pop(int(evt.index))
        return json.dumps(items) if any(isinstance(i, list) for i in items) else ", ".join(map(str, items))

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            keys_view = thumbs("Keyframes: the path passes through these (click one to remove it)",
                               "interp-keys", columns=8, height=110)
            with gr.Row():
                add_current = gr.Button("Add the current latent", size="sm", elem_id="add-current")
                clear = gr.Button("Start again (current -> next seed)", size="sm")
                key_upload = gr.File(label="Add an image (encoded, or inverted for a GAN)", file_types=["image"],
                                     type="filepath", height=80)
                add_image = gr.Button("Add the uploaded image", size="sm")
            with gr.Row():
                mode = gr.Radio(["slerp", "lerp"], value="slerp", label="Path", info="slerp: along the sphere; "
                                "lerp: straight line")
                steps = gr.Slider(2, MAX_STEPS, 16, step=1, label="Pictures along the path")
                fps = gr.Slider(1, 30, 12, step=1, label="Animation speed (pictures per second)")
                go = gr.Button("Interpolate", variant="primary", elem_id="interp-btn")
            strip = image("Pictures along the path", "interp-strip", height=200)
            with gr.Row():
                gif_view = gr.Image(label="Animation", format="gif", interactive=False, type="filepath",
                                    elem_classes=["pixelated"], height=220, elem_id="interp-gif")
                plot = gr.Plot(label="What the classifier reads along the path", elem_id="interp-plot")
            with gr.Row():
                info = gr.Markdown("", elem_id="interp-info")
                gif_file = gr.File(label="Download the animation", height=60)
            with gr.Accordion("Keyframes as text (seeds, 'current', or latents as JSON)", open=False):
                s.keyframes = gr.Textbox("", label="Keyframes", elem_id="keyframes")
        self.tab = tab
        self.refresh_inputs = [s.keyframes, mode, steps, fps]
        self.refresh_outputs = [s.keyframes, keys_view, strip, gif_view, gif_file, plot, info]
        self.refresh_queue = REFRESH
        outs = [strip, gif_view, gif_file, plot, info]
        go.click(self.interpolate, [s.model, s.keyframes, mode, steps, fps, s.current], outs,
                 api_name="interpolate", **HEAVY)
        add_current.click(self.add_keyframe, [s.keyframes, s.current], s.keyframes, api_name=False)
        clear.click(lambda seed: f"current, {int(seed or 0) + 1}", s.seed, s.keyframes, api_name=False)
        add_image.click(self.add_image_keyframe, [s.model, s.keyframes, key_upload], s.keyframes,
                        api_name="image_keyframe", **HEAVY)
        s.keyframes.change(self.show_keys, [s.model, s.keyframes, s.current], keys_view, api_name=False,
                           trigger_mode="always_last", show_progress="hidden")
        keys_view.select(self.drop_keyframe, s.keyframes, s.keyframes, api_name=False)
        self.keys_view = keys_view

    def wire_shared(self, s: Shared) -> None:
        """Samples' "add to the interpolation" button: the picked tile is the current latent."""
        btn = s.extra.get("tile_to_key")
        if btn is not None:
            btn.click(self.add_keyframe, [s.keyframes, s.current], s.keyframes, api_name=False).then(
                lambda: "Added to the interpolation keyframes (see Interpolate).", None, s.status, api_name=False)

    # ---- refresh ---------------------------------------------------------------------------------
    def refresh(self, model_id, seed, current, keyframes, mode, steps, fps):
        default = f"current, {int(seed or 0) + 1}"
        keyframes = keyframes if (keyframes or "").strip() else default
        try:
            out = self.interpolate(model_id, keyframes, mode, steps, fps, current)
        except gr.Error:  # keyframes of another model (other latent size): start again from the default path
            keyframes = default
            out = self.interpolate(model_id, keyframes, mode, steps, fps, current)
        return [keyframes, self.thumbnails(model_id, keyframes, current), *out]

    def cleared(self, message: str = ""):
        return [gr.skip(), [], None, None, None, None, note(message) if message else ""]
