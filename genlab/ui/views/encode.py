"""Encode an image: find the latent that draws a given picture. A VAE (or autoencoder) has an encoder and
answers at once; a GAN has none, so its latent is searched for step by step (inversion), shown as it goes."""
from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np

from genlab import plots
from genlab.explore import ExplorerError
from genlab.ui.common import (GLOSSARY, HEAVY, REFRESH, Shared, dumps_latent, image, intro, note, show,
                              sketch_or_none, upload_or_draw, user_errors)

DIGITS = Path(__file__).resolve().parents[3] / "checkpoints" / "mnist-digits" / "digits.npz"
DEFAULT_STEPS = 80  # the example's inversion when the view opens: ~1-3 s on a small CPU, cached per model
TEXT = ("Give the model a picture and find the latent that draws it. A **VAE** has an encoder that answers at "
        f"once with its guess ({GLOSSARY['posterior']}); a **GAN** has no encoder, so genlab searches for the "
        "latent step by step and shows the picture improving. Draw a digit, upload a picture, or look at the "
        "example: a held-out digit (one the models never saw).")


def pick_source(upload, sketch):
    """What to encode: a drawing when there is one (the view opens with an example in the upload box, and a
    new upload clears the sketchpad), else the uploaded file, else None."""
    drawn = sketch_or_none(sketch)
    return drawn if drawn is not None else upload


def has_encoder(family: str) -> bool:
    return family in ("vae", "ae")


class EncodeView:
    id, title = "encode", "Encode an image"

    def __init__(self, ui):
        self.ui, self.ex = ui, ui.ex
        self._stop: dict[str, threading.Event] = {}
        self._stop_lock = threading.Lock()
        self._defaults: OrderedDict = OrderedDict()  # model id -> the example's outputs (cheap to show again)
        self._example: str | None = None

    # ---- the example -------------------------------------------------------------------------------
    def example(self) -> str | None:
        """A held-out digit as a PNG path (black on white, as a person would draw it), or None."""
        if self._example is None and DIGITS.is_file():
            d = np.load(DIGITS, allow_pickle=False)
            digit = 255 - d["images"][d["test_idx"][3]]
            from genlab.render import png_bytes

            self._example = self.ui.files.put(png_bytes(np.ascontiguousarray(digit)), ".png", stem="example-digit")
        return self._example

    def latent_of(self, model_id: str, source) -> list[float]:
        """The latent of an image: the encoder's mean for a VAE/AE, a short inversion for a GAN."""
        if has_encoder(self.ui.family(model_id)):
            return self.ex.encode_image(model_id, source)[0].tolist()
        return self.ex.invert(model_id, source, 60).data["latent"]

    # ---- VAE / AE -------------------------------------------------------------------------------
    @user_errors
    def reconstruct(self, model_id, upload, sketch, n_samples):
        if not has_encoder(self.ui.family(model_id)):
            raise ExplorerError(f"{model_id} is a GAN: it has no encoder, so use Invert (same view) to find its "
                                "latent for this picture")
        source = pick_source(upload, sketch)
        if source is None:
            raise ExplorerError("upload an image or draw a digit on the sketchpad first")
        res = self.ex.reconstruct(model_id, source, int(n_samples or 0))
        notes = "; ".join(res.data["notes"])
        info = res.info + (f"\n\npreprocessing: {notes}" if notes else "")
        fig = plots.posterior_bars(res.data["mu"], res.data["sigma"])
        return (show(res.data["input"]), show(res.image), info, fig, show(res.data.get("samples")),
                dumps_latent(res.data["latent"]))

    # ---- GAN inversion --------------------------------------------------------------------------
    def _flag(self, request: gr.Request | None) -> threading.Event:
        key = getattr(request, "session_hash", None) or "api"
        with self._stop_lock:
            if len(self._stop) > 10_000:
                self._stop.clear()
            return self._stop.setdefault(key, threading.Event())

    def invert(self, model_id, upload, sketch, steps, request: gr.Request = None):
        """Generator: (picture so far, progress text, latent) while the search runs, then the result."""
        try:
            yield from self._invert(model_id, upload, sketch, steps, request)
        except ExplorerError as exc:
            from genlab.ui.common import public

            raise gr.Error(public(str(exc), self.ex.registry.roots), print_exception=False) from None

    def _invert(self, model_id, upload, sketch, steps, request):
        if self.ui.family(model_id) != "gan":
            raise ExplorerError(f"{model_id} has an encoder: use Reconstruct (same view), it answers at once")
        source = pick_source(upload, sketch)
        if source is None:
            raise ExplorerError("upload an image or draw a digit on the sketchpad first")
        flag = self._flag(request)
        flag.clear()
        events: queue.Queue = queue.Queue()

        def report(i, total, loss, image=None):
            events.put(("progress", (i, total, loss, image)))

        def work():
            try:
                events.put(("done", self.ex.invert(model_id, source, int(steps), progress=report,
                                                   should_stop=flag.is_set)))
            except Exception as exc:  # noqa: BLE001 - handed to the generator, which raises it there
                events.put(("error", exc))

        threading.Thread(target=work, daemon=True, name="genlab-invert").start()
        while True:
            kind, value = events.get()
            if kind == "progress":
                i, total, loss, img = value
                yield (show(img) if img is not None else gr.skip()), f"searching: step {i} of {total}, " \
                    f"error {loss:.4f}", gr.skip()
            elif kind == "error":
                raise value
            else:
                res = value
                yield show(res.image), res.info, dumps_latent(res.data["latent"])
                return

    def stop(self, request: gr.Request):
        self._flag(request).set()
        return "stopping after the current step..."

    # ---- layout --------------------------------------------------------------------------------
    def build(self, s: Shared) -> None:
        with gr.Tab(self.title, id=self.id, elem_id=f"tab-{self.id}") as tab:
            intro(TEXT)
            upload, sketch = upload_or_draw("encode")
            with gr.Row():
                n_post = gr.Slider(0, 16, 6, step=1, label="Samples from the encoder's guess", visible=True,
                                   info="VAE only: other latents the encoder thinks are as likely")
                recon_btn = gr.Button("Reconstruct (VAE)", variant="primary", elem_id="recon-btn")
                steps = gr.Slider(10, 500, 150, step=10, label="Search steps (GAN)")
                invert_btn = gr.Button("Invert (GAN)", variant="primary", elem_id="invert-btn")
                stop = gr.Button("Stop", elem_id="invert-stop", size="sm")
                send = gr.Button("Explore this latent", elem_id="encode-send")
            why = gr.Markdown("", elem_id="encode-why")
            with gr.Group(visible=True) as vae_box:
                with gr.Row():
                    recon_input = image("What the model sees", "recon-input", height=220)
                    recon_cmp = image("Input | reconstruction | where they differ", "recon-compare", height=220)
                recon_info = gr.Markdown("", elem_id="recon-info")
                with gr.Row():
                    recon_plot = gr.Plot(label="The encoder's guess: mu (bar) and sigma (whisker) per latent number")
                    recon_samples = image("Other latents the encoder finds likely", height=140)
            with gr.Group(visible=True) as gan_box:
                result = image("Target | GAN's best match | a VAE's reconstruction", "invert-result", height=240)
                inv_info = gr.Markdown("", elem_id="invert-info")
            with gr.Accordion("The latent as numbers", open=False):
                encoding = gr.Textbox(label="Latent (the encoder's mean, or the GAN's best match)", lines=2,
                                      max_lines=4, elem_id="encoding")
        self.tab = tab
        recon_out = [recon_input, recon_cmp, recon_info, recon_plot, recon_samples, encoding]
        inv_out = [result, inv_info, encoding]
        self.model_control_outputs = [vae_box, gan_box, n_post, recon_btn, steps, invert_btn, stop, why]
        self.refresh_inputs = [upload, sketch, n_post, steps]
        self.refresh_outputs = [upload, *recon_out, result, inv_info, why]
        self.refresh_queue = REFRESH
        recon_btn.click(self.reconstruct, [s.model, upload, sketch, n_post], recon_out, api_name="reconstruct",
                        **HEAVY)
        invert_btn.click(self.invert, [s.model, upload, sketch, steps], inv_out, api_name="invert",
                         concurrency_limit=1, concurrency_id="invert")
        stop.click(self.stop, None, inv_info, api_name="stop_inversion", queue=False)
        upload.upload(lambda: None, None, sketch, api_name=False, queue=False)  # the newest picture wins
        send.click(self.send_to_explore, [s.model, encoding, s.history], s.position_outputs + [s.status],
                   api_name="send_to_explore")
        self.encoding = encoding

    @user_errors
    def send_to_explore(self, model_id, encoding, history):
        if not (encoding or "").strip():
            raise ExplorerError("reconstruct an image first")
        return self.ui.explore.jump(model_id, encoding, history, "encoding sent to Explore")

    def model_controls(self, model_id):
        enc = has_encoder(self.ui.family(model_id))
        why = ("*This model is a VAE: its encoder answers at once.*" if enc else
               "*This model is a GAN: it has no encoder, so genlab searches for the latent (inversion).*")
        return (gr.Group(visible=enc), gr.Group(visible=not enc), gr.Slider(visible=enc), gr.Button(visible=enc),
                gr.Slider(visible=not enc), gr.Button(visible=not enc), gr.Button(visible=not enc), why)

    # ---- refresh: the example digit, encoded ----------------------------------------------------------
    def refresh(self, model_id, seed, current, upload, sketch, n_post, steps):
        example = self.example()
        own_upload = upload is not None and (example is None or Path(str(upload)).name != Path(example).name)
        if own_upload or sketch_or_none(sketch) is not None:
            return [gr.skip()] * len(self.refresh_outputs)  # the user's own picture stays
        if example is None:
            return self.cleared("No example digit is installed; upload or draw one.")
        # the example is shown as "what the model sees", never put in the upload box: that stays ready for yours
        if model_id in self._defaults:
            self._defaults.move_to_end(model_id)
            return [gr.skip(), *self._defaults[model_id]]
        if has_encoder(self.ui.family(model_id)):
            out = [*self.reconstruct(model_id, example, None, n_post), gr.skip(), gr.skip()]
        else:
            res = self.ex.invert(model_id, example, DEFAULT_STEPS)
            out = [gr.skip()] * 5 + [dumps_latent(res.data["latent"]), show(res.image),
                                     res.info + f" (example: {DEFAULT_STEPS} steps)"]
        out.append("*The example: a held-out digit 3. Draw or upload your own to replace it.*")
        self._defaults[model_id] = out
        while len(self._defaults) > 16:
            self._defaults.popitem(last=False)
        return [gr.skip(), *out]

    def cleared(self, message: str = ""):
        return [gr.skip(), None, None, "", None, None, "", None, "", note(message) if message else ""]
