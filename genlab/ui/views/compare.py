"""Compare: the same action on two to four models side by side (maps with holes, samples with one seed,
one interpolation between the same two digits, the same picture reconstructed). The state is in the link."""
from __future__ import annotations

from urllib.parse import urlencode

import gradio as gr

from genlab.ui.common import HEAVY, REFRESH, Shared, intro, note, show, upload_or_draw, user_errors
from genlab.ui.views.encode import pick_source

ACTIONS = [("Maps and holes (2-D models)", "maps"), ("Samples with the same seed", "samples"),
           ("Interpolation between the same two digits", "interpolation"),
           ("Reconstruction of the same picture", "reconstruction")]
LESSON_MODELS = ("mnist-ae-2d", "mnist-vae-2d", "mnist-beta-vae-2d")
TEXT = ("Pick two to four models and one thing to do; each model does it on the same input, side by side. "
        "**Maps**: each 2-D model draws its whole plane over the same square; red squares are **holes**, places "
        "that decode to something that is not a digit. **Samples** use the same seed in every model.")


class CompareView:
    id, title = "compare", "Compare"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    def defaults(self, model_id) -> list[str]:
        ids = self.ex.model_ids()
        lesson = [i for i in LESSON_MODELS if i in ids]
        if len(lesson) >= 2:
            return lesson
        others = [i for i in ids if i != model_id and self.ui.same_shape(i, model_id)]
        return [model_id] + others[:1]

    @user_errors
    def compare(self, models, action, seed, a, b, mode, upload, sketch):
        results = self.ex.compare(action, list(models or []), seed=int(seed or 0), a=int(a or 0), b=int(b or 0),
                                  mode=mode, source=pick_source(upload, sketch))
        items = [(show(r.image), r.info.split(":")[0]) for r in results if r.image is not None]
        info = "\n".join(f"- {r.info}" for r in results)
        return items, info

    def link(self, models, action, seed, a, b, mode) -> str:
        q = {"tab": self.id, "models": ",".join(models or []), "action": action, "seed": int(seed or 0),
             "a": int(a or 0), "b": int(b or 0), "mode": mode}
        return f"[Link to this comparison](?{urlencode(q)})"

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            with gr.Row():
                models = gr.CheckboxGroup(self.ex.model_ids(), label="Models (two to four)", elem_id="compare-models",
                                          scale=3)
                action = gr.Radio(ACTIONS, value="maps", label="Do this on each", elem_id="compare-action", scale=2)
            with gr.Row():
                a = gr.Number(3, label="Held-out digit A (index)", precision=0, minimum=0, maximum=999)
                b = gr.Number(21, label="Held-out digit B (index)", precision=0, minimum=0, maximum=999)
                mode = gr.Radio(["slerp", "lerp"], value="slerp", label="Path")
                go = gr.Button("Compare", variant="primary", elem_id="compare-btn")
            with gr.Accordion("The picture to reconstruct (upload or draw)", open=False):
                upload, sketch = upload_or_draw("compare")
            gallery = gr.Gallery(label="Side by side", elem_id="compare-gallery", columns=4, height=420,
                                 object_fit="contain", allow_preview=True, elem_classes=["pixelated"], format="png",
                                 interactive=False)
            info = gr.Markdown("", elem_id="compare-info")
            link = gr.Markdown("", elem_id="compare-link")
        self.tab, self.models_box, self.action = tab, models, action
        self.inputs = [models, action, s.seed, a, b, mode, upload, sketch]
        self.refresh_inputs = [models, action, a, b, mode, upload, sketch]
        self.refresh_outputs = [models, action, gallery, info, link]
        self.refresh_queue = REFRESH
        go.click(self.compare, self.inputs, [gallery, info], api_name="compare", **HEAVY).then(
            self.link, [models, action, s.seed, a, b, mode], link, api_name=False)
        action.input(self.compare, self.inputs, [gallery, info], api_name=False, **HEAVY)
        self.from_params_outputs = [models, action, a, b, mode]

    def from_params(self, params):
        """A link's ``models=a,b&action=maps&a=3&b=21&mode=lerp``; missing parts stay as they are."""
        params, ids = params or {}, self.ex.model_ids()
        models = [i for i in params.get("models", "").split(",") if i in ids][:4]
        action = params.get("action")

        def number(key):
            try:
                return max(0, min(int(params[key]), 999))
            except (KeyError, ValueError):
                return gr.skip()

        return (gr.CheckboxGroup(choices=ids, value=models) if models else gr.skip(), action if action in dict(ACTIONS).values() else gr.skip(),
                number("a"), number("b"), params.get("mode") if params.get("mode") in ("lerp", "slerp") else gr.skip())

    # ---- refresh: the chosen models (or the link's, or the lesson's three) --------------------------------
    def refresh(self, model_id, seed, current, models, action, a, b, mode, upload, sketch):
        ids = self.ex.model_ids()
        models = [m for m in (models or []) if m in ids] or self.defaults(model_id)
        items, info = self.compare(models, action, seed, a, b, mode, upload, sketch)
        return [gr.CheckboxGroup(choices=ids, value=models), action, items, info,
                self.link(models, action, seed, a, b, mode)]

    def cleared(self, message: str = ""):
        return [gr.CheckboxGroup(choices=self.ex.model_ids()), gr.skip(), [], note(message) if message else "", ""]
