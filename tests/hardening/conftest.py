"""Fixtures of the hardening tests: the no-unpickling guard, tiny registries, and one running `python app.py`
(package scope: started once for every module that drives it; it stops by itself)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image

from bench.soak import AppProcess, digit_png
from conftest import make_checkpoint
from genlab.checkpoints import (read_manifest, sha256_bytes,
                                write_manifest)
from genlab.configs import ConvVAEConfig
from genlab.views import Explorer
from genlab.registry import Registry
from hardening.helpers import (PICKLE_WATCH, refit, pickled_payloads, blank_png, ARTIFACTS, ANSWERS)


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail loudly if anything unpickles: pickle/torch.load entry points raise, find_class is audited."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    PICKLE_WATCH.events.clear()
    PICKLE_WATCH.active = True
    yield PICKLE_WATCH.events
    PICKLE_WATCH.active = False
    assert PICKLE_WATCH.events == [], f"an unpickler resolved globals: {PICKLE_WATCH.events}"


@pytest.fixture
def good(tmp_path) -> Path:
    return make_checkpoint(tmp_path / "root", "good", "dcgan", snapshots=(1,))


@pytest.fixture(scope="package")
def tiny_root(tmp_path_factory) -> Path:
    """tiny-gan (with discriminator and snapshots), tiny-vae (z=4), tiny-vae-2d, tiny-mlp and a tiny classifier
    under the shipped classifier's id, so label overlays, nearest and label vectors run."""
    root = tmp_path_factory.mktemp("tiny-registry")
    make_checkpoint(root, "tiny-gan", "dcgan")
    make_checkpoint(root, "tiny-vae", "conv_vae", seed=1)
    make_checkpoint(root, "tiny-vae-2d", "conv_vae", ConvVAEConfig(image_size=28, channels=1, z_dim=2, base=4, hidden=16),
                    seed=2)
    make_checkpoint(root, "tiny-mlp", "mlp_vae", seed=3)
    make_checkpoint(root, "mnist-classifier", "classifier", seed=4)
    return root


@pytest.fixture(scope="package")
def explorer(tiny_root) -> Explorer:
    return Explorer(Registry([tiny_root]))


@pytest.fixture(scope="package")
def app_root(tmp_path_factory) -> Path:
    """Tiny models plus hostile entries: a pickle posing as weights, a manifest naming a .pth, a model that
    the fault tests corrupt and delete while the app runs."""
    root = tmp_path_factory.mktemp("app-root")
    make_checkpoint(root, "tiny-gan", "dcgan")
    make_checkpoint(root, "tiny-vae", "conv_vae", seed=1)
    make_checkpoint(root, "victim-gan", "dcgan", seed=2)
    evil = make_checkpoint(root, "evil-pickle", "dcgan", seed=3, snapshots=())
    refit(evil, "model.safetensors", pickled_payloads(root.parent / f"{root.name}-markers")["torch.save zip"])
    pth = make_checkpoint(root, "evil-pth", "dcgan", seed=4, snapshots=())
    payload = pickled_payloads(root.parent / f"{root.name}-markers")["torch.save legacy"]
    (pth / "model.pth").write_bytes(payload)
    m = read_manifest(pth)
    m["files"][0].update(path="model.pth", sha256=sha256_bytes(payload), bytes=len(payload))
    write_manifest(pth, m)
    return root


@pytest.fixture(scope="package")
def app(app_root, tmp_path_factory):
    with AppProcess(tmp_path_factory.mktemp("app-run"), ["--checkpoints", str(app_root)], max_life_s=900) as proc:
        yield proc
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "hardening_answers.json").write_text(json.dumps(ANSWERS, indent=2, ensure_ascii=False) + "\n")


@pytest.fixture(scope="package")
def files(tmp_path_factory) -> dict[str, str]:
    """Upload fixtures, each a real file on disk."""
    d = tmp_path_factory.mktemp("uploads")
    digit = np.asarray(Image.open(digit_png(d / "digit.png")))  # black on white, 120x100
    out = {"digit": str(d / "digit.png")}

    def save(name, im, fmt=None, **kw):
        im.save(d / name, fmt, **kw)
        out[name] = str(d / name)

    (d / "notes.png").write_bytes(b"%PDF-1.4 this is not an image\n" * 10)
    out["not-an-image.png"] = str(d / "notes.png")
    (d / "empty.png").write_bytes(b"")
    out["zero-bytes.png"] = str(d / "empty.png")
    (d / "bomb.png").write_bytes(blank_png(20_000, 20_000))
    out["bomb.png"] = str(d / "bomb.png")
    (d / "long.png").write_bytes(blank_png(30_000, 8))
    out["long-side.png"] = str(d / "long.png")
    good = (d / "digit.png").read_bytes()
    (d / "trunc.png").write_bytes(good[: len(good) // 2])
    out["truncated.png"] = str(d / "trunc.png")
    save("blank.png", Image.new("L", (64, 64), 255))
    (d / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    out["eps-as-png.png"] = str(d / "eps.png")
    (d / "svg.png").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    out["svg-as-png.png"] = str(d / "svg.png")
    save("16bit.png", Image.fromarray(digit.astype(np.uint16) * 257))
    save("cmyk.jpg", Image.fromarray(digit).convert("CMYK"), "JPEG", quality=95)
    rgba = np.zeros((*digit.shape, 4), np.uint8)
    rgba[..., 3] = 255 - digit  # black strokes, transparent paper: like a sketchpad export
    save("rgba.png", Image.fromarray(rgba))
    save("palette.png", Image.fromarray(digit).convert("P", palette=Image.Palette.ADAPTIVE, colors=16))
    frames = [Image.fromarray(digit), Image.fromarray(255 - digit), Image.fromarray(digit)]
    save("animated.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif-rotated.jpg", Image.fromarray(np.ascontiguousarray(np.rot90(digit, 1))), "JPEG", quality=95,
         exif=exif.tobytes())
    return out


@pytest.fixture(scope="package")
def client(app, tmp_path_factory) -> Client:
    return Client(app.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="package")
def vae_session(app, tmp_path_factory):
    """A client whose session has tiny-vae selected (the direction radio's choices follow the model)."""
    c = Client(app.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads-vae")))
    out = c.predict("tiny-vae", 0, api_name="/select_model")
    return c, out[0], out[1]["value"]
