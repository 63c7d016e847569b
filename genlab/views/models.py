"""The models view: the registry table, model cards and preview images."""
from __future__ import annotations

import numpy as np

from genlab.checkpoints import Manifest
from genlab.views.context import Context


class ModelsView:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def models_table(self) -> list[dict]:
        """One row per registry entry, unavailable ones with their reason."""
        rows = []
        for e in self.ctx.registry.entries(None):
            m = e.manifest
            if e.available and m.kind != "model":
                continue
            row = {"id": e.id, "status": "ok" if e.available else f"unavailable: {e.error}"}
            if e.available:
                row.update(family=m.family, architecture=m.architecture, dataset=m.dataset.get("name", ""),
                           image=f"{m.image_size}x{m.image_size}x{m.channels}", latent=m.latent_size,
                           params=m.num_params, metrics=summarize_metrics(m))
            rows.append(row)
        return rows

    def card(self, model_id: str) -> str:
        """The model card (markdown) without its relative preview link; unavailable models say why."""
        self.ctx.load_id(model_id)
        entry = self.ctx.registry.entry(model_id)
        if not entry.available:
            return f"### {model_id}: unavailable\n\n{entry.error}"
        path = entry.folder / "README.md"
        text = path.read_text(encoding="utf-8") if path.is_file() else f"### {model_id}\n\n(no model card)"
        # the card's relative image link only works on disk; the UI shows preview() beside it instead
        return "\n".join(line for line in text.splitlines() if not line.startswith("![preview]"))

    def preview(self, model_id: str):
        """The checkpoint's preview.png as uint8 [H, W, C], or None."""
        from PIL import Image

        path = self.ctx.registry.entry(self.ctx.load_id(model_id)).folder / "preview.png"
        if not path.is_file():
            return None
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


def summarize_metrics(m: Manifest) -> str:
    """A one-line metric summary for the models table."""
    mt = m.metrics
    parts = []
    for key, label, fmt in (("fid", "FID", "{:.2f}"), ("nelbo_nats", "-ELBO", "{:.1f} nats"),
                            ("heldout_accuracy", "acc", "{:.3f}"), ("mean_confidence", "conf", "{:.2f}")):
        if isinstance(mt.get(key), (int, float)):
            parts.append(f"{label} " + fmt.format(mt[key]))
    if isinstance(mt.get("floor"), dict) and "fid" in mt["floor"]:
        parts.append(f"(floor FID {mt['floor']['fid']:.2f})")
    return ", ".join(parts)
