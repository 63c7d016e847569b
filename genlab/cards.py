"""Model cards: a manifest -> Markdown. The card is derived data; ``python -m genlab eval`` rewrites it."""
from __future__ import annotations

from genlab.checkpoints import Manifest

_FAMILY = {"gan": "generative adversarial network", "vae": "variational autoencoder", "ae": "autoencoder",
           "classifier": "classifier"}


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _prior(m: Manifest) -> str:
    """The latent clause of the card's first line."""
    if not m.latent_size:
        return ""
    if m.raw.get("latent", {}).get("prior") == "fitted_normal":
        return (f", latent size {m.latent_size}. It has no prior: samples come from a Gaussian fitted to the "
                "training codes (mean and covariance stored with the weights)")
    return f", latent size {m.latent_size} with a standard normal prior"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and v and (len(v) > 4 or all(isinstance(x, float) for x in v)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def metrics_table(metrics: dict) -> str:
    """Markdown table of model metrics beside the real-data floor (``metrics['floor']``)."""
    floor = metrics.get("floor", {})
    rows = ["| metric | model | real-data floor |", "|---|---|---|"]
    for k, v in metrics.items():
        if k in ("floor", "bars") or isinstance(v, dict):
            continue
        rows.append(f"| {k} | {_fmt(v)} | {_fmt(floor.get(k, ''))} |")
    bars = metrics.get("bars", {})
    if bars:
        rows += ["", "| quality bar | passed |", "|---|---|"]
        rows += [f"| {k} | {'yes' if ok else 'NO'} |" for k, ok in bars.items()]
    base = metrics.get("baseline", {})
    if base.get("id"):
        nums = ", ".join(f"{k} {_fmt(v)}" for k, v in base.items() if k != "id")
        rows += ["", f"Bars compare with `{base['id']}` ({nums}, from its manifest)."]
    return "\n".join(rows)


def model_card(m: Manifest) -> str:
    """The README.md of a checkpoint folder."""
    ds, tr = m.dataset, m.raw.get("training", {})
    lines = [
        f"# {m.title}", "",
        f"`{m.id}`: {_article(_FAMILY.get(m.family, m.family))} (`{m.architecture}`), "
        f"{m.image_size}x{m.image_size} px, {m.channels} channel(s)"
        + _prior(m) + ".",
        "", "![preview](preview.png)", "",
        "## Model", "",
        f"- Parameters: {m.num_params:,}",
        f"- Output range: {list(m.output_range)}",
        f"- Config: `{m.raw.get('config')}`",
        "- Files: " + ", ".join(f"`{f.path}`" for f in m.files if f.role != "snapshot"),
    ]
    if m.snapshots:
        lines.append(f"- Training snapshots (fp16) at epochs {[f.epoch for f in m.snapshots]}")
    lines += ["", "## Data", "",
              f"- Dataset: {ds.get('name', 'unknown')} ({ds.get('source', '')})",
              f"- Split: {ds.get('n_train', '?')} training / {ds.get('n_test', '?')} held-out images, seed {ds.get('split_seed', '?')}",
              f"- Data license: {ds.get('license', 'see the dataset')}",
              "", "## Training", ""]
    for key in ("loss", "ema", "augment", "likelihood", "beta", "kl_warmup", "epochs", "batch_size", "lr", "lr_decay_from",
                "seed", "device", "seconds", "steps"):
        if key in tr:
            lines.append(f"- {key}: {_fmt(tr[key])}")
    if tr.get("command"):
        lines += ["", "Reproduce with one command:", "", "```", tr["command"], "```"]
    lines += ["", "## Metrics", "", "Measured by `python -m genlab eval " + m.id + "` (see genlab/evaluate.py).", "",
              metrics_table(m.metrics) if m.metrics else "Not evaluated yet.", "",
              "## License", "", "Weights: MIT, like genlab. Data: see above.", ""]
    return "\n".join(lines)
