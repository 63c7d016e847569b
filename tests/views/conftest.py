"""Shared fixtures of the view tests: a tiny real registry (seeded, CPU) and the offline digits."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import TINY, make_checkpoint
from genlab import render
from genlab.checkpoints import save_checkpoint
from genlab.configs import ConvVAEConfig
from genlab.data import load_offline_mnist
from genlab.engine import Engine
from genlab.models import get_architecture
from genlab.registry import Registry
from genlab.views import Explorer

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"


def confident_classifier(root: Path) -> None:
    """A tiny classifier under the shipped id, its head scaled so that it is confident (p > 0.9) often."""
    torch.manual_seed(0)
    clf = get_architecture("classifier").build(TINY["classifier"]).eval()
    with torch.no_grad():
        clf.head.weight.mul_(200.0)
    save_checkpoint(root / "mnist-classifier", clf, id="mnist-classifier", architecture="classifier")


@pytest.fixture(scope="package")
def ex(tmp_path_factory) -> Explorer:
    """tiny-gan (snapshots 1, 2), tiny-vae (z=4), tiny-vae2 (z=2), tiny-flat (no snapshots), tiny-epochs
    (snapshot 1 of 3 epochs) and a confident tiny classifier."""
    root = tmp_path_factory.mktemp("tools")
    make_checkpoint(root, "tiny-gan", "dcgan")
    make_checkpoint(root, "tiny-vae", "conv_vae")
    make_checkpoint(root, "tiny-vae2", "conv_vae", ConvVAEConfig(image_size=28, channels=1, z_dim=2, base=4, hidden=16))
    make_checkpoint(root, "tiny-flat", "dcgan", snapshots=())
    gen = get_architecture("dcgan").build(TINY["dcgan"]).eval()
    save_checkpoint(root / "tiny-epochs", gen, id="tiny-epochs", architecture="dcgan", training={"epochs": 3},
                    snapshots={1: {k: v * 0.5 if v.is_floating_point() else v for k, v in gen.state_dict().items()}})
    confident_classifier(root)
    return Explorer(Registry([root]), Engine())


@pytest.fixture(scope="package")
def shipped() -> Explorer:
    """The shipped checkpoints (mnist-dcgan, mnist-vae, mnist-vae-2d, the classifier, the digits)."""
    reg = Registry([SHIPPED])
    need = {"mnist-dcgan", "mnist-vae", "mnist-vae-2d", "mnist-classifier"}
    if not need <= set(reg.ids()):
        pytest.skip(f"shipped checkpoints missing: {sorted(need - set(reg.ids()))}")
    return Explorer(reg, Engine())


@pytest.fixture(scope="package")
def digits():
    return load_offline_mnist()


def pixels(res) -> bytes:
    return render.png_bytes(res.image)


def encodings(ex, model_id: str) -> torch.Tensor:
    """Held-out encoder means, computed here independently of the views' cache."""
    ck = ex.load(model_id)
    return ex.engine.encode(ck, ex.reference_images(ck))[0]
