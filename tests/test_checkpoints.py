"""The checkpoint format: save -> load round trips, and a clear error for every broken file."""
import json
import shutil
import struct

import pytest
import torch
from safetensors.torch import save as st_save

from conftest import TINY, make_checkpoint
from genlab.checkpoints import (CheckpointError, load_checkpoint, load_snapshot, parse_manifest, read_manifest,
                                sha256_bytes, write_manifest)


@pytest.mark.parametrize("arch", list(TINY))
def test_save_load_gives_identical_outputs(tmp_path, arch):
    folder = make_checkpoint(tmp_path, "m", arch)
    a, b = load_checkpoint(folder), load_checkpoint(folder)
    assert not a.model.training and all(not p.requires_grad for p in a.model.parameters())
    g = torch.Generator().manual_seed(0)
    if arch == "classifier":
        x = torch.rand(4, 1, 28, 28, generator=g)
        assert torch.equal(a.model(x), b.model(x))
    else:
        z = torch.randn(4, a.manifest.latent_size, generator=g)
        assert torch.equal(a.model.decode(z), b.model.decode(z))
    if arch == "dcgan":
        assert set(a.aux) == {"discriminator"}


def test_round_trip_equals_the_saved_module(tmp_path):
    folder = make_checkpoint(tmp_path, "m", "dcgan", seed=5)
    torch.manual_seed(5)
    from genlab.models.dcgan import Generator

    original = Generator(TINY["dcgan"]).eval()
    from conftest import _randomize_bn

    _randomize_bn(original, 5)
    z = torch.randn(3, 8)
    assert torch.equal(original.decode(z), load_checkpoint(folder).model.decode(z))


def test_manifest_describes_the_model(tmp_path):
    m = parse_manifest(make_checkpoint(tmp_path, "m", "conv_vae"))
    raw = m.raw
    for key in ("format_version", "id", "title", "family", "architecture", "config", "output_range", "image",
                "latent", "dataset", "training", "metrics", "num_params", "files"):
        assert key in raw
    assert raw["latent"] == {"size": 4, "prior": "normal"} and raw["output_range"] == [0.0, 1.0]
    assert [f.epoch for f in m.snapshots] == [1, 2]


def test_snapshots_load_in_float32(tmp_path):
    folder = make_checkpoint(tmp_path, "m", "dcgan")
    m = parse_manifest(folder)
    snap = load_snapshot(m, folder, 2)
    assert all(t.dtype == torch.float32 for t in snap.state_dict().values() if t.is_floating_point())
    with pytest.raises(CheckpointError, match="no snapshot for epoch 7"):
        load_snapshot(m, folder, 7)


def _edit(folder, fn):
    data = read_manifest(folder)
    fn(data)
    write_manifest(folder, data)


def _rewrite_weights(folder, state):
    data = st_save(state)
    (folder / "model.safetensors").write_bytes(data)
    _edit(folder, lambda d: d["files"][0].update(sha256=sha256_bytes(data), bytes=len(data)))


@pytest.fixture
def good(tmp_path):
    return make_checkpoint(tmp_path, "good", "dcgan")


def _state(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


BROKEN = {
    "unknown architecture": (lambda f: _edit(f, lambda d: d.update(architecture="stylegan9")), "unknown architecture 'stylegan9'"),
    "family mismatch": (lambda f: _edit(f, lambda d: d.update(family="vae")), "does not match architecture"),
    "bad json": (lambda f: (f / "manifest.json").write_text("{not json"), "bad JSON"),
    "missing manifest": (lambda f: (f / "manifest.json").unlink(), "missing manifest.json"),
    "missing weights": (lambda f: (f / "model.safetensors").unlink(), "missing weight file"),
    "sha mismatch": (lambda f: _edit(f, lambda d: d["files"][0].update(sha256="0" * 64)), "sha256 does not match"),
    "tampered bytes": (lambda f: (f / "model.safetensors").write_bytes(
        bytearray((f / "model.safetensors").read_bytes())[:-1] + b"\x01"), "sha256 does not match"),
    "truncated": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:100]), "truncated"),
    "path traversal": (lambda f: _edit(f, lambda d: d["files"][0].update(path="../../etc/passwd.safetensors")), "inside the checkpoint folder"),
    "absolute path": (lambda f: _edit(f, lambda d: d["files"][0].update(path="/tmp/x.safetensors")), "inside the checkpoint folder"),
    "not safetensors": (lambda f: _edit(f, lambda d: d["files"][0].update(path="model.pth")), "not a .safetensors"),
    "unknown field": (lambda f: _edit(f, lambda d: d.update(evil=1)), "unknown field"),
    "bad id": (lambda f: _edit(f, lambda d: d.update(id="../Evil")), "must match"),
    "huge declared size": (lambda f: _edit(f, lambda d: d["files"][0].update(bytes=10**15)), "declared size"),
    "newer format": (lambda f: _edit(f, lambda d: d.update(format_version=99)), "newer than this genlab"),
    "config mismatch": (lambda f: _edit(f, lambda d: d["latent"].update(size=99)), "latent size"),
    "bad config": (lambda f: _edit(f, lambda d: d["config"].update(image_size=48)), "image_size"),
    "wrong num_params": (lambda f: _edit(f, lambda d: d.update(num_params=1)), "num_params"),
    "wrong shapes": (lambda f: _rewrite_weights(f, {**_state(f), "main.0.weight": torch.zeros(8, 16, 5, 5)}), "main.0.weight has shape"),
    "missing tensor": (lambda f: _rewrite_weights(f, {k: v for k, v in _state(f).items() if k != "main.1.bias"}), "missing tensors: main.1.bias"),
    "extra tensor": (lambda f: _rewrite_weights(f, {**_state(f), "evil": torch.zeros(1)}), "unexpected tensors: evil"),
    "nan weights": (lambda f: _rewrite_weights(f, {**_state(f), "main.0.weight": torch.full_like(_state(f)["main.0.weight"], float("nan"))}), "NaN or inf"),
    "inf weights": (lambda f: _rewrite_weights(f, {**_state(f), "main.1.weight": torch.full_like(_state(f)["main.1.weight"], float("inf"))}), "NaN or inf"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_checkpoints_give_clear_errors(good, case):
    breaker, message = BROKEN[case]
    breaker(good)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(good)
    assert str(good) in str(info.value)  # the error names the folder or file


def test_huge_header_claim_is_refused(good):
    bogus = struct.pack("<Q", 10**12) + b"{}"
    _rewrite_weights(good, {})
    (good / "model.safetensors").write_bytes(bogus)
    _edit(good, lambda d: d["files"][0].update(sha256=sha256_bytes(bogus), bytes=len(bogus)))
    with pytest.raises(CheckpointError, match="header runs past the end"):
        load_checkpoint(good)


def test_symlink_escape_is_refused(good, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shutil.copy(good / "model.safetensors", outside)
    (good / "model.safetensors").unlink()
    (good / "model.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="outside its folder"):
        parse_manifest(good)


def test_manifest_is_plain_json(good):
    json.loads((good / "manifest.json").read_text())  # no NaN tokens, no custom types
