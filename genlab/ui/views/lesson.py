"""Lesson: autoencoder -> VAE -> beta-VAE -> GAN -> interpolation and directions, step by step, on the same
digits. Each step shows its picture here, says in plain words what to look at and one thing to try, opens the
right view with the right models, and is a link (``?lesson=N``) a teacher can put on a slide."""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from genlab.ui.common import GLOSSARY, REFRESH, Shared, note, show, user_errors


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    try_: str
    action: str  # the Compare action that illustrates it
    models: tuple  # compared models (those installed are used)
    view: str  # the view "Open" goes to
    model: str  # the model "Open" selects
    extra: dict = field(default_factory=dict)  # e.g. {"mode": "lerp"}, {"realism": True}


STEPS = (
    Step("An autoencoder's codes leave holes",
         "An **autoencoder** squeezes each digit into just two numbers (its *code*) and draws it back from them. "
         "Below, its whole plane of codes is drawn square by square; the dots are where real digits land, one "
         "colour per digit. The codes spread over an uneven area with empty stretches between the clusters, and "
         "nothing in its training says what should live there, nor where to pick a new code from: red squares are "
         "**holes**, pictures the classifier cannot read as a digit or that look like no training digit.",
         "Open the map and click in an empty stretch between two colours: what does the model draw there?",
         "maps", ("mnist-ae-2d",), "map", "mnist-ae-2d"),
    Step("A VAE packs the codes together",
         "A **VAE** encodes each digit as a small cloud, a guess (mu) and an uncertainty (sigma), not a point, "
         "and a second term in its training (KL) pulls all those clouds towards one round blob around 0. Compare "
         "the dots: the VAE's digits sit close together in the middle, so a random point near the centre decodes "
         "to a digit. On this shared square, far outside its blob, the VAE has never been asked to draw: red.",
         f"Open 'Encode an image' with the VAE and draw a digit: the bars are mu, the whiskers sigma ({GLOSSARY['posterior']}).",
         "maps", ("mnist-ae-2d", "mnist-vae-2d"), "encode", "mnist-vae-2d"),
    Step("beta trades sharpness for smoothness",
         "**beta** is how hard the VAE is pulled towards the round blob. beta = 1 is the plain VAE; beta = 4 packs "
         "the digits tighter and smoother, at the price of blurrier pictures. With more latent numbers, a large "
         "beta also tends to make each number mean one thing (thickness, slant...).",
         "Open the 10-number beta-VAE in Explore and move one single latent number at a time.",
         "maps", ("mnist-vae-2d", "mnist-beta-vae-2d"), "explore", "mnist-beta-vae"),
    Step("A GAN has no encoder, and draws sharper",
         "A **GAN** learns by a contest: a generator draws, a discriminator judges real or fake. It never encodes a "
         "digit, so there is no map of codes: its latent space is just the random numbers it starts from. Its "
         "pictures are sharper than a VAE's. Below: the same seed through a VAE and two GANs.",
         f"Open Samples with the realism score on ({GLOSSARY['realism']}); tick 'most realistic first'.",
         "samples", ("mnist-vae", "mnist-dcgan", "mnist-gan-mlp"), "samples", "mnist-dcgan", {"realism": True}),
    Step("Walking through the space: lerp, slerp, directions",
         "Between two latents you can walk in a straight line (**lerp**) or along the sphere where random latents "
         "live (**slerp**). A straight line cuts through the middle, where no typical latent lies, so its middle "
         "pictures often fade. Then: directions, ways to move that change one thing at a time.",
         "Open Interpolate with lerp, then switch to slerp and compare the middle pictures; then try the sliders "
         "in Explore.",
         "interpolation", ("mnist-vae", "mnist-dcgan"), "interpolate", "mnist-dcgan", {"mode": "lerp"}),
)


class LessonView:
    id, title = "lesson", "Lesson"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex

    def step(self, k) -> tuple[int, Step]:
        try:
            k = int(k)
        except (TypeError, ValueError):
            k = 1
        k = min(max(k, 1), len(STEPS))
        return k, STEPS[k - 1]

    def installed(self, st: Step) -> list[str]:
        ids = self.ex.model_ids()
        return [m for m in st.models if m in ids]

    @user_errors
    def show_step(self, k, seed):
        k, st = self.step(k)
        header = f"### Step {k} of {len(STEPS)}: {st.title}"
        models = self.installed(st)
        missing = [m for m in st.models if m not in models]
        items, info = [], ""
        if models:
            results = self.ex.compare(st.action, models, seed=int(seed or 0), mode=st.extra.get("mode", "slerp"))
            items = [(show(r.image), r.info.split(":")[0]) for r in results if r.image is not None]
            info = "\n".join(f"- {r.info}" for r in results)
        if missing:
            info += "\n\n" + note(f"Not installed on this server: {', '.join(missing)} (each model card gives the one "
                                  "command that trains it).")
        link = f"Link to this step: [?lesson={k}](?lesson={k}&tab=lesson) (put it on a slide)"
        return (k, header, st.text, f"**Try this:** {st.try_}", items, info, link,
                gr.Button(f"Open {self.ui.views[st.view].title} with {st.model}", interactive=st.model in
                          self.ex.model_ids()))

    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            step = gr.State(1)
            header = gr.Markdown("", elem_id="lesson-header")
            text = gr.Markdown("", elem_id="lesson-text")
            gallery = gr.Gallery(label="What this step shows", elem_id="lesson-gallery", columns=3, height=380,
                                 object_fit="contain", elem_classes=["pixelated"], format="png", interactive=False)
            info = gr.Markdown("", elem_id="lesson-info")
            try_ = gr.Markdown("", elem_id="lesson-try")
            with gr.Row():
                prev = gr.Button("Previous step", elem_id="lesson-prev")
                go = gr.Button("Open", variant="primary", elem_id="lesson-open")
                nxt = gr.Button("Next step", elem_id="lesson-next")
            link = gr.Markdown("", elem_id="lesson-link")
        self.tab, self.step_state, self.go = tab, step, go
        outs = [step, header, text, try_, gallery, info, link, go]
        self.refresh_inputs = [step]
        self.refresh_outputs = outs
        self.refresh_queue = REFRESH
        prev.click(lambda k, seed: self.show_step(int(k) - 1, seed), [step, s.seed], outs, api_name=False, **REFRESH)
        nxt.click(lambda k, seed: self.show_step(int(k) + 1, seed), [step, s.seed], outs, api_name=False, **REFRESH)
        self.from_params_outputs = [step]

    def from_params(self, params):
        """A link's ``?lesson=N`` opens that step."""
        return self.step((params or {}).get("lesson", 1))[0]

    def lesson_step(self, k: int) -> dict:
        """API: a step's texts, models and the view it opens."""
        k, st = self.step(k)
        return {"step": k, "of": len(STEPS), "title": st.title, "text": st.text, "try": st.try_,
                "models": self.installed(st), "view": st.view, "model": st.model, "action": st.action}

    def apis(self) -> None:
        gr.api(self.lesson_step, api_name="lesson_step")

    def wire_shared(self, s: Shared) -> None:
        """Open: the step's model and view (plus its settings), then every view follows the new model."""
        interp, samples = self.ui.views["interpolate"], self.ui.views["samples"]
        tabs = s.extra["tabs"]
        mode = interp.refresh_inputs[1]

        def open_step(k):
            _, st = self.step(k)
            return (st.model, gr.Tabs(selected=st.view), st.view, st.extra.get("mode", gr.skip()),
                    gr.Checkbox(value=True) if st.extra.get("realism") else gr.skip())

        dep = self.go.click(open_step, self.step_state, [s.model, tabs, s.tab, mode, samples.realism],
                            api_name=False)
        self.ui.after_model_change(dep)

    # ---- refresh ---------------------------------------------------------------------------------
    def refresh(self, model_id, seed, current, step):
        return list(self.show_step(step, seed))

    def cleared(self, message: str = ""):
        return [gr.skip(), gr.skip(), gr.skip(), gr.skip(), [], note(message) if message else "", gr.skip(),
                gr.skip()]
