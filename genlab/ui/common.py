"""What every view's UI shares: plain-words glossary, error handling, image/upload components, the
explore position helpers and the concurrency groups. No torch here (DESIGN.md: ``ui/`` never imports torch).
"""
from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field

import gradio as gr

from genlab.explore import ExplorerError

log = logging.getLogger("genlab.ui")

N_DIRS = 8  # direction sliders (the API takes all 8; the first SHOWN_DIRS are on screen, the rest folded)
SHOWN_DIRS = 4
N_RAW = 4  # raw-dimension sliders z[0..3]
HISTORY = 100

# Slider path: only the latest value is computed, no progress overlay (it hides the image; GRADIO_NOTES).
FAST = dict(trigger_mode="always_last", show_progress="hidden", concurrency_limit=8, concurrency_id="fast")
# Work of 0.1-10 s: two at a time per server, with a visible progress indicator.
HEAVY = dict(concurrency_limit=2, concurrency_id="heavy")
# The view refreshes that run when a tab opens or the model changes: heavy queue, progress only on its outputs.
REFRESH = dict(concurrency_limit=2, concurrency_id="heavy", show_progress="minimal")

# Terms of art in plain words: captions under controls and the "what am I looking at" texts use these.
GLOSSARY = {
    "latent": "the list of numbers the model turns into a picture; nearby numbers give similar pictures",
    "psi": "truncation psi pulls every latent towards the average one: 1 = no change, lower = safer, "
           "more typical pictures with less variety",
    "temperature": "scales the random numbers before decoding: below 1 gives typical pictures, above 1 odd ones",
    "ganspace": "PCA directions: the ways the model's first layer varies most over many random latents",
    "sefa": "SeFa directions: read straight from the first layer's weights (what that layer is most sensitive to)",
    "kl_dims": "single latent numbers, the ones the VAE uses most first (ranked by KL, the information each carries)",
    "pca_encodings": "PCA directions of real digits' codes: the ways real digits differ most in the latent space",
    "kl": "KL divergence: how far the encoder's guess moves from the prior; a dimension with KL near 0 is unused",
    "elbo": "ELBO: the VAE's training score (reconstruction + KL); -ELBO in nats, lower is better",
    "fid": "FID: distance between features of generated and real digits; lower is better, 0 is identical",
    "slerp": "slerp walks along the sphere where random latents live; lerp takes the straight line, whose middle "
             "is closer to the centre than any typical latent (often greyer, blurrier pictures)",
    "posterior": "the encoder's guess for this image: a mean (mu) and an uncertainty (sigma) per latent number",
    "held-out": "digits the model never saw during training, kept aside to test it honestly",
    "realism": "the GAN's discriminator score: how real it thinks a picture looks (1 = real, 0 = fake)",
}
METHOD_LABELS = {"ganspace": "Main directions (PCA of the first layer)", "sefa": "Weight directions (SeFa)",
                 "kl_dims": "Single latent numbers, most used first (KL)",
                 "pca_encodings": "Main directions of real digits (PCA of codes)"}


def public(text: str, roots) -> str:
    """``text`` with the server's checkpoint roots shown by their folder name only: remote users see
    ``checkpoints/my-model/manifest.json``, never where the server keeps its files."""
    for root in sorted((str(r) for r in roots or ()), key=len, reverse=True):
        parent = os.path.dirname(root.rstrip(os.sep))
        if parent and parent != os.sep:
            text = text.replace(parent + os.sep, "")
    return text


def _roots(args) -> list:
    """The registry roots of the view a wrapped method was called on (none for plain functions)."""
    return getattr(getattr(getattr(args[0], "ex", None), "registry", None), "roots", []) if args else []


def user_errors(fn):
    """Explorer errors become gr.Error (a visible message in the UI, an error for API clients)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ExplorerError as exc:
            raise gr.Error(public(str(exc), _roots(args)), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as exc:  # keep serving; say what happened
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(public(f"Unexpected error ({type(exc).__name__}): {exc}", _roots(args)),
                           print_exception=False) from None

    return wrapper


def show(img):
    """uint8 [H, W, C] -> what gr.Image takes: [H, W] for gray, as is for RGB (None passes)."""
    return img[..., 0] if img is not None and img.ndim == 3 and img.shape[-1] == 1 else img


def dumps_latent(z) -> str:
    return json.dumps([float(v) for v in z])


def note(text: str) -> str:
    """A plain-words notice shown in a view instead of an error (Markdown)."""
    return f"<div class='genlab-note'>{text}</div>"


# ---- components --------------------------------------------------------------------------------
def image(label, elem_id=None, height=260, clickable=False, **kwargs):
    """A PNG output. Clickable images are drawn large enough server-side: Gradio maps clicks correctly
    only on images the browser does not scale up, so only the others fill their box via CSS."""
    return gr.Image(label=label, format="png", interactive=False, elem_id=elem_id, height=height,
                    elem_classes=["crisp" if clickable else "pixelated"], buttons=["download"], **kwargs)


def thumbs(label, elem_id, columns=8, height=120):
    """A row of small clickable thumbnails (keyframes, groups, sample strips)."""
    return gr.Gallery(label=label, elem_id=elem_id, columns=columns, rows=1, height=height, object_fit="contain",
                      allow_preview=False, elem_classes=["pixelated", "genlab-thumbs"], format="png",
                      interactive=False, buttons=[])


def upload_or_draw(prefix: str) -> tuple[gr.File, gr.Sketchpad]:
    """An image upload and a sketchpad whose brush is selected and sized for digits from the first stroke
    (the page script picks the brush tool: Gradio opens the editor with no tool active)."""
    with gr.Row():
        upload = gr.File(label="Upload an image", file_types=["image"], type="filepath", elem_id=f"{prefix}-upload")
        sketch = gr.Sketchpad(label="...or draw a digit here (white background, dark pen)", type="numpy",
                              canvas_size=(280, 280), elem_id=f"{prefix}-sketch", elem_classes=["genlab-sketch"],
                              brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed"),
                              layers=False, transforms=())
    return upload, sketch


def intro(text: str, open: bool = True) -> None:
    """A view's opening sentences, collapsible."""
    with gr.Accordion("What am I looking at?", open=open, elem_classes=["genlab-intro"]):
        gr.Markdown(text)


# ---- explore positions ---------------------------------------------------------------------------
def empty_history() -> dict:
    return {"past": [], "future": []}


def position(base, method, weights, raw, pick_dim, pick_value) -> dict:
    """The explore sliders' state as plain data (it travels through gr.State)."""
    return {"base": base, "method": method or "", "w": [float(w or 0) for w in weights],
            "raw": [float(r or 0) for r in raw], "pick": [int(pick_dim or 0), float(pick_value or 0)]}


def split_values(values) -> tuple[list, list, list]:
    """The flat slider inputs (directions, raw dims, picker dim + offset) -> (weights, raw, pick)."""
    values = list(values)
    return values[:N_DIRS], values[N_DIRS : N_DIRS + N_RAW], values[N_DIRS + N_RAW : N_DIRS + N_RAW + 2]


def push(history: dict, pos: dict) -> dict:
    past = list((history or {}).get("past", []))
    if past and past[-1] == pos:
        return {"past": past, "future": []}
    return {"past": (past + [pos])[-HISTORY:], "future": []}


def sketch_or_none(sketch):
    """A Sketchpad value with something drawn, or None."""
    if not isinstance(sketch, dict):
        return sketch
    if sketch.get("composite") is None and not sketch.get("layers"):
        return None
    comp = sketch.get("composite")
    try:
        import numpy as np

        if comp is not None and np.asarray(comp).size and np.ptp(np.asarray(comp)) == 0:
            return None  # an untouched canvas
    except (TypeError, ValueError):
        pass
    return sketch


@dataclass
class Shared:
    """Components every view may read or write, made by the app before the views."""

    demo: gr.Blocks
    model: gr.Dropdown
    seed: gr.Number
    status: gr.Markdown
    base: gr.Textbox
    current: gr.Textbox
    history: gr.State
    tab: gr.State
    keyframes: gr.Textbox | None = None
    position_outputs: list = field(default_factory=list)
    slider_inputs: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # components a view publishes for others (by name)
