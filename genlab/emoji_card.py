"""The emoji data checkpoint (``checkpoints/emoji-data``) and the attributions every emoji card carries."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genlab import emoji as gemoji
from genlab import render
from genlab.data import file_sha256

LICENSE_DIR = Path(__file__).resolve().parent / "licenses"
CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"
MIT_FLUENT = """MIT License

Copyright (c) Microsoft Corporation.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""


def attribution_md(with_texts: bool = True) -> str:
    """Markdown section with the attribution EMOJI_DATA.md requires (licence texts appended when asked)."""
    pk = gemoji.PACKAGES
    lines = [
        "## Data attribution", "",
        "The images come from three open emoji sets (npm packages, sha256-checked):", "",
        f"- **Twemoji**: \"Twemoji graphics (c) Twitter, Inc. and other contributors, licensed CC BY 4.0\" "
        f"({CC_BY_URL}); from npm `{pk[0].spec}`. Changes: alpha composited on a white background, "
        "resized/downscaled (64 px, 32 px), flags and skin-tone components dropped, duplicates removed.",
        f"- **Noto**: \"Noto Emoji images (c) Google, Apache License 2.0\"; from npm `{pk[1].spec}`. "
        "Same changes as above. The licence text follows below.",
        f"- **Fluent 3D**: \"Fluent Emoji (c) Microsoft Corporation, MIT License\"; from npm `{pk[2].spec}` "
        "(256-px WebP, resized to 64 px with Lanczos, composited on white). The MIT text follows below.",
        "- Not used: Apple, Facebook, JoyPixels and EmojiOne 4 images (not open); OpenMoji (CC BY-SA 4.0: "
        "share-alike would extend to models trained on it).", "",
    ]
    if with_texts:
        apache = (LICENSE_DIR / "Apache-2.0.txt").read_text(encoding="utf-8").rstrip()
        lines += ["### Apache License 2.0 (Noto Emoji images)", "", "```", apache, "```", "",
                  "### MIT License (Fluent Emoji)", "", "```", MIT_FLUENT, "```", ""]
    return "\n".join(lines)


def _table(rows: dict[str, tuple[int, int]]) -> str:
    out = ["| name | total | held-out |", "|---|---:|---:|"]
    out += [f"| {k} | {a:,} | {b:,} |" for k, (a, b) in rows.items()]
    return "\n".join(out)


def data_card(e: gemoji.EmojiSet) -> str:
    def both(field):
        total, test = e.counts(field, "all"), e.counts(field, "test")
        return {k: (total[k], test[k]) for k in total}

    return f"""# Emoji reference set (offline, 64x64 RGB)

{len(e):,} distinct emoji images ({', '.join(f'{k} {v:,}' for k, v in e.counts('style').items())}), uint8 on
white, with category (8), subcategory ({len(e.subcategory_names)}), style (3) and name labels: genlab's colour
domain for training (`--dataset emoji-offline`), classifier features, maps and nearest neighbours.

- **Source**: npm packages {', '.join(f'`{p.spec}` (sha256 `{p.sha256}`)' for p in gemoji.PACKAGES)}.
- **Cleaning** (`genlab.emoji.build_emoji`): flags and the "Component" category dropped; exact-duplicate images
  within a style dropped; skin-tone variants left out; RGBA composited on white; Fluent's 256 px resized to 64 px
  (Lanczos). 32 px (`genlab.emoji.to_range(..., image_size=32)`): Lanczos downscale of these 64-px images.
- **Split**: {len(e.train_idx):,} train / {len(e.test_idx):,} held-out. {int(round(100 * 0.1))}% of each
  category's emoji (by codepoints), `numpy.random.default_rng({e.split_seed})`, are held out *in every style*,
  so no drawing of a held-out emoji is trained on; category x style shares of the held-out set follow the data's.
- **File**: `emoji-64.npz` (read with `genlab.emoji.load_npz`, never unpickles): `images` uint8 [N, 64, 64, 3],
  `category`, `subcategory`, `style` int64 [N], `name`, `key` str [N], `category_names`, `subcategory_names`,
  `style_names`, `train_idx`, `test_idx`, `split_seed`, `source`, `skin_tones`.
- **Preview**: `preview.png`, 32 random emoji per style (rows: Twemoji, Noto, Fluent 3D).
- **Rebuild** (needs npm, ~150 MB download): `python -m genlab data build-emoji`; the npz bytes are reproducible.

## Data

### Categories
{_table(both('category'))}

### Styles
{_table(both('style'))}

## License

The images keep their licences (below); genlab's code is MIT.

{attribution_md()}"""


def contact_sheet(e: gemoji.EmojiSet, per_style: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 grid of ``per_style`` random emoji of each style (one style per band of rows)."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(e.style == s), per_style, replace=False)
                          for s in range(len(e.style_names))])
    return render.grid(e.images[idx], 16)


def export_reference(out_dir, e: gemoji.EmojiSet) -> Path:
    """Write ``emoji-64.npz``, ``manifest.json`` (kind "dataset") and ``README.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    npz = gemoji.save_npz(out_dir / gemoji.SHIPPED_NAME, e.arrays())
    manifest = {
        "format_version": 1, "kind": "dataset", "id": "emoji-data",
        "title": f"Emoji: {len(e):,} images in three open styles (64x64 RGB)",
        "files": [{"role": "emoji", "path": npz.name, "sha256": file_sha256(npz), "bytes": npz.stat().st_size}],
        "dataset": {"name": "emoji-offline", "source": e.source,
                    "source_sha256": {p.spec: p.sha256 for p in gemoji.PACKAGES},
                    "n": len(e), "n_train": len(e.train_idx), "n_test": len(e.test_idx),
                    "split_seed": e.split_seed, "license": gemoji.LICENSE, "image_size": gemoji.SIZE,
                    "skin_tones": e.skin_tones,
                    "category_counts": e.counts("category"), "test_category_counts": e.counts("category", "test"),
                    "style_counts": e.counts("style"), "test_style_counts": e.counts("style", "test"),
                    "n_subcategories": len(e.subcategory_names),
                    "white_pixel_share": round(float((e.images == 255).all(-1).mean()), 4)},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "preview.png").write_bytes(render.png_bytes(contact_sheet(e), compress_level=9))
    (out_dir / "README.md").write_text(data_card(e), encoding="utf-8")
    return out_dir


def main(args) -> int:
    """``python -m genlab data build-emoji [--out checkpoints/emoji-data]``."""
    e = gemoji.load_offline_emoji(allow_fetch=True, shipped_dir=Path("/nonexistent"))  # never the shipped copy
    export_reference(args.out, e)
    print(f"wrote {args.out}: {len(e)} images, {np.bincount(e.style).tolist()} per style")
    return 0
