"""Shared fixtures: tiny real checkpoints written with genlab's own save_checkpoint, seeded, CPU."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
# ONNX decoders (genlab/export.py) export with TorchScript in tests: 0.1-0.4 s instead of 6-30 s with dynamo;
# tests that name the exporter, and the shipped decoders' round trip, cover dynamo.
os.environ.setdefault("GENLAB_EXPORTER", "torchscript")
# servers launched by tests skip the start-up warm-up (minutes of CPU for every model): a test that measures a
# first call warms explicitly (tests/views/test_warm.py covers warm() itself)
os.environ.setdefault("GENLAB_WARM", "0")
torch.set_num_threads(1)

from genlab.checkpoints import save_checkpoint  # noqa: E402
from genlab.configs import ClassifierConfig, ConvVAEConfig, DCGANConfig, MLPVAEConfig  # noqa: E402
from genlab.models import get_architecture  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"

TINY = {
    "dcgan": DCGANConfig(image_size=28, channels=1, nz=8, ngf=4, ndf=4),
    "conv_vae": ConvVAEConfig(image_size=28, channels=1, z_dim=4, base=4, hidden=16),
    "mlp_vae": MLPVAEConfig(image_size=28, channels=1, hidden=16, z_dim=3),
    "classifier": ClassifierConfig(width=4, features=8),
}


def _randomize_bn(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial BatchNorm statistics, so save/load tests would notice lost buffers."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def make_checkpoint(root: Path, mid: str, arch: str = "dcgan", config=None, *, seed: int = 0,
                    with_aux: bool = True, snapshots=(1, 2)) -> Path:
    """Write a tiny checkpoint folder ``root/mid`` and return it."""
    torch.manual_seed(seed)
    spec = get_architecture(arch)
    config = config or TINY[arch]
    model = spec.build(config).eval()
    _randomize_bn(model, seed)
    aux = {role: ctor(config).eval() for role, ctor in spec.aux.items()} if with_aux else {}
    for a in aux.values():
        _randomize_bn(a, seed + 1)
    snaps = {e: {k: v * (0.5 + 0.1 * e) if v.is_floating_point() else v for k, v in model.state_dict().items()}
             for e in (snapshots if spec.family != "classifier" else ())}
    save_checkpoint(root / mid, model, id=mid, architecture=arch, aux=aux, snapshots=snaps,
                    dataset={"name": "test"}, training={"seed": seed})
    return root / mid


@pytest.fixture
def ckpt_root(tmp_path) -> Path:
    """A registry root with one tiny checkpoint of each architecture."""
    for arch in TINY:
        make_checkpoint(tmp_path, f"tiny-{arch.replace('_', '-')}", arch)
    return tmp_path
