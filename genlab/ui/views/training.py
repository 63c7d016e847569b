"""Training: the same latent drawn by the weights saved at each training epoch (a scrubber and a strip)."""
from __future__ import annotations

import gradio as gr

from genlab.explore import ExplorerError
from genlab.ui.common import FAST, HEAVY, REFRESH, Shared, image, intro, note, show, user_errors

TEXT = ("The model was saved at a few moments while it learned. The same latent, drawn by each saved version, "
        "shows what it picked up first (blobs, then strokes, then clean digits). Drag the slider to scrub "
        "through training.")


class TrainingView:
    id, title = "training", "Training"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    def epochs(self, model_id) -> list[int]:
        try:
            return list(self.ex.snapshots(model_id))
        except ExplorerError:
            return []

    def with_snapshots(self) -> list[str]:
        return [i for i in self.ex.model_ids() if self.epochs(i)]

    @user_errors
    def scrub_setup(self, model_id):
        epochs = self.epochs(model_id)
        if not epochs:
            return gr.Slider(minimum=0, maximum=1, value=0, interactive=False, label="Epoch (no snapshots)")
        return gr.Slider(minimum=0, maximum=len(epochs) - 1, value=len(epochs) - 1, step=1, interactive=True,
                         label=f"Saved version (epochs {', '.join(map(str, epochs))})")

    @staticmethod
    def _latent(use_current, current):
        return current if use_current and (current or "").strip() else None

    @user_errors
    def scrub(self, model_id, index, use_current, current, seed, n):
        epochs = self.epochs(model_id)
        if not epochs:
            raise ExplorerError(f"{model_id} has no training snapshots")
        epoch = epochs[max(0, min(int(index or 0), len(epochs) - 1))]
        res = self.ex.scrub(model_id, epoch, self._latent(use_current, current), int(seed or 0), int(n or 1))
        return show(res.image), res.info

    @user_errors
    def evolution(self, model_id, use_current, current, seed, n, fps):
        res = self.ex.evolution(model_id, self._latent(use_current, current), int(seed or 0), int(n or 1), fps)
        gif = self.ui.files.put(res.data["gif"], ".gif", stem="evolution")
        return show(res.image), gif, gif, res.info

    def switch_choices(self, model_id):
        others = [i for i in self.with_snapshots() if i != model_id]
        return gr.Dropdown(choices=others, value=others[0] if others else None, visible=bool(others)), \
            gr.Button(visible=bool(others))

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            why = gr.Markdown("", elem_id="training-why")
            with gr.Row(visible=False) as switch_row:
                other = gr.Dropdown([], label="Models with saved training steps", scale=3)
                switch = gr.Button("Switch to it", scale=1, elem_id="training-switch")
            with gr.Row():
                epoch = gr.Slider(0, 64, 0, step=1, label="Saved version", elem_id="epoch-slider")
                use_current = gr.Checkbox(True, label="Use the current latent (else the seed's)")
                n = gr.Slider(1, 64, 1, step=1, label="Latents (a grid when > 1)")
            with gr.Row():
                frame = image("Drawn by this saved version", "scrub-image", height=260)
                info = gr.Markdown("", elem_id="scrub-info")
            strip = image("The same latent through every saved version", "evolution-strip", height=200)
            with gr.Row():
                fps = gr.Slider(0.5, 10, 3, step=0.5, label="Animation speed")
                evo_btn = gr.Button("Redraw strip and animation", elem_id="evolution-btn")
                gif = gr.Image(label="Animation", format="gif", type="filepath", interactive=False, height=160,
                               elem_classes=["pixelated"])
                gif_file = gr.File(label="Download the animation", height=60)
            evo_info = gr.Markdown("")
        self.tab = tab
        self.refresh_inputs = [use_current, n, fps]
        self.refresh_outputs = [epoch, frame, info, strip, gif, gif_file, evo_info, why, switch_row, other]
        self.refresh_queue = REFRESH
        inputs = [s.model, epoch, use_current, s.current, s.seed, n]
        epoch.input(self.scrub, inputs, [frame, info], api_name="scrub", **FAST)
        epoch.release(self.scrub, inputs, [frame, info], api_name=False, **FAST)
        evo_btn.click(self.evolution, [s.model, use_current, s.current, s.seed, n, fps], [strip, gif, gif_file,
                      evo_info], api_name="evolution", **HEAVY)
        self.switch, self.other = switch, other

    def wire_shared(self, s: Shared) -> None:
        self.ui.after_model_change(self.switch.click(lambda m: m, self.other, s.model, api_name=False))

    # ---- refresh ---------------------------------------------------------------------------------
    def refresh(self, model_id, seed, current, use_current, n, fps):
        epochs = self.epochs(model_id)
        if not epochs:
            others = [i for i in self.with_snapshots() if i != model_id]
            text = (f"**{model_id} was shipped without saved training steps**, so there is nothing to scrub. "
                    + ("Pick a model that has them:" if others else ""))
            return self.cleared(text, others)
        frame, info = self.scrub(model_id, len(epochs) - 1, use_current, current, seed, n)
        strip, gif, gif_file, evo_info = self.evolution(model_id, use_current, current, seed, n, fps)
        return [self.scrub_setup(model_id), frame, info, strip, gif, gif_file, evo_info, "", gr.Row(visible=False),
                gr.Dropdown(choices=[])]

    def cleared(self, message: str = "", others=()):
        others = list(others)
        return [gr.Slider(interactive=False), None, "", None, None, None, "", note(message) if message else "",
                gr.Row(visible=bool(others)), gr.Dropdown(choices=others, value=others[0] if others else None)]
