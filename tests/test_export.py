"""ONNX decoders: export round trip against torch, manifest listing, the user cache, import hook, CLI.

The dynamo exporter (the default) costs 6-30 s per model here, so tests use the TorchScript one (0.1-0.4 s;
conftest sets GENLAB_EXPORTER=torchscript); the import test and the shipped decoders cover the dynamo path.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO, make_checkpoint
from genlab import export, render
from genlab.checkpoints import (
    CheckpointError, load_checkpoint, parse_manifest, read_manifest, read_verified, sha256_bytes,
)

SHIPPED = ["mnist-dcgan", "mnist-vae", "mnist-vae-2d"]


def _parity(data: bytes, ckpt, z: torch.Tensor) -> tuple[float, np.ndarray]:
    got = torch.from_numpy(export.run_onnx(data, z.numpy()))
    with torch.inference_mode():
        want = ckpt.model.decode(z)
    rng = ckpt.manifest.output_range
    levels = np.abs(render.to_uint8(got, rng).astype(int) - render.to_uint8(want, rng).astype(int))
    return float((got - want).abs().max()), levels


@pytest.mark.parametrize("model_id", SHIPPED)
def test_shipped_decoder_matches_torch(model_id):
    """The committed decoder.onnx is listed with the right sha256 and decodes like torch (20 latents, 3 batch sizes)."""
    folder = REPO / "checkpoints" / model_id
    ckpt = load_checkpoint(folder)
    entry = ckpt.manifest.file("decoder")
    assert entry is not None and entry.path == export.DECODER_FILE
    data = read_verified(folder, entry)
    assert entry.bytes < 20 << 20
    raw = next(f for f in ckpt.manifest.raw["files"] if f["role"] == "decoder")
    assert raw["weights_sha256"] == ckpt.manifest.file("model").sha256
    z = torch.randn(20, ckpt.manifest.latent_size, generator=torch.Generator().manual_seed(7))
    diff, levels = _parity(data, ckpt, z)
    assert diff < export.PARITY_ATOL and levels.max() <= 1 and (levels == 0).mean() > 0.999
    for b in (1, 3):  # the batch dimension is dynamic
        assert export.run_onnx(data, z[:b].numpy()).shape == (b, ckpt.manifest.channels, 28, 28)


@pytest.mark.parametrize("arch", ["dcgan", "conv_vae", "mlp_vae"])
def test_write_decoder_lists_it_and_the_checkpoint_still_loads(tmp_path, arch):
    folder = make_checkpoint(tmp_path, "m", arch, seed=3)
    weights = (folder / "model.safetensors").read_bytes()
    exp = export.write_decoder(folder, dynamo=False)
    m = parse_manifest(folder)
    entry = m.file("decoder")
    assert (entry.path, entry.sha256, entry.bytes) == ("decoder.onnx", exp.sha256, len(exp.data))
    assert (folder / "model.safetensors").read_bytes() == weights
    ckpt = load_checkpoint(folder)  # the decoder is not a torch module: it is not loaded as one
    assert "decoder" not in ckpt.aux
    assert exp.max_abs_diff < export.PARITY_ATOL and exp.opset == 17 and not exp.dynamo
    z = torch.randn(5, m.latent_size, generator=torch.Generator().manual_seed(1))
    diff, levels = _parity(exp.data, ckpt, z)
    assert diff < export.PARITY_ATOL and levels.max() <= 1
    export.write_decoder(folder, dynamo=False)  # again: replaces the entry, never duplicates it
    assert [f["role"] for f in read_manifest(folder)["files"]].count("decoder") == 1


def test_manifests_without_a_decoder_still_load_and_bad_decoder_entries_are_refused(tmp_path):
    folder = make_checkpoint(tmp_path, "old", "conv_vae")
    assert parse_manifest(folder).file("decoder") is None
    load_checkpoint(folder)
    export.write_decoder(folder, dynamo=False)
    data = read_manifest(folder)
    bad = json.loads(json.dumps(data))
    next(f for f in bad["files"] if f["role"] == "decoder")["path"] = "decoder.pth"
    with pytest.raises(CheckpointError, match="not a .onnx file"):
        parse_manifest(folder, bad)
    bad = json.loads(json.dumps(data))
    next(f for f in bad["files"] if f["role"] == "decoder")["path"] = "../decoder.onnx"
    with pytest.raises(CheckpointError, match="inside the checkpoint folder"):
        parse_manifest(folder, bad)
    clf = make_checkpoint(tmp_path, "clf", "classifier")
    bad = read_manifest(clf)
    bad["files"].append({"role": "decoder", "path": "decoder.onnx", "sha256": "0" * 64, "bytes": 1})
    with pytest.raises(CheckpointError, match="unknown file role"):
        parse_manifest(clf, bad)


def test_ensure_decoder_exports_once_into_the_cache_keyed_by_weights_sha256(tmp_path):
    cache = tmp_path / "cache"
    folder = make_checkpoint(tmp_path / "a", "user-made", "dcgan", seed=5)
    key = parse_manifest(folder).file("model").sha256
    dec, how = export.ensure_decoder(folder, cache_dir=cache, dynamo=False)
    assert how.startswith("exported") and dec.source == "cache" and dec.path == cache / f"{key}.onnx"
    assert sha256_bytes(dec.path.read_bytes()) == dec.sha256
    stamp = dec.path.stat().st_mtime_ns
    again, how = export.ensure_decoder(folder, cache_dir=cache)
    assert how.startswith("cached") and again.sha256 == dec.sha256 and dec.path.stat().st_mtime_ns == stamp
    twin = tmp_path / "b" / "twin"  # the same weights under another id share the cached file
    shutil.copytree(folder, twin)
    assert export.ensure_decoder(twin, cache_dir=cache)[1].startswith("cached")
    assert sorted(p.name for p in cache.iterdir()) == [f"{key}.json", f"{key}.onnx"]
    dec.path.write_bytes(dec.path.read_bytes()[:-1] + b"\0")  # a damaged cache entry is exported again
    fixed, how = export.ensure_decoder(folder, cache_dir=cache, dynamo=False)
    assert how.startswith("exported") and fixed.sha256 == dec.sha256


def test_ensure_decoder_prefers_the_listed_decoder_and_ignores_a_stale_one(tmp_path):
    cache = tmp_path / "cache"
    folder = make_checkpoint(tmp_path, "m", "conv_vae", seed=2)
    export.write_decoder(folder, dynamo=False)
    dec, how = export.ensure_decoder(folder, cache_dir=cache)
    assert (dec.source, how, dec.path) == ("checkpoint", "shipped", folder / "decoder.onnx")
    assert not cache.exists()
    other = make_checkpoint(tmp_path / "x", "m", "conv_vae", seed=9)  # new weights, the old decoder stays listed
    data = read_manifest(folder)
    data["files"][0] = read_manifest(other)["files"][0]
    shutil.copy(other / "model.safetensors", folder / "model.safetensors")
    (folder / "manifest.json").write_text(json.dumps(data))
    dec, how = export.ensure_decoder(folder, cache_dir=cache, dynamo=False)
    assert dec.source == "cache" and "other weights" in how


def test_ensure_decoder_never_raises(tmp_path):
    clf = make_checkpoint(tmp_path, "clf", "classifier")
    assert export.ensure_decoder(clf, cache_dir=tmp_path / "c") == (None, "clf is not a generative model")
    bad = make_checkpoint(tmp_path, "bad", "dcgan")
    (bad / "model.safetensors").write_bytes(b"\0" * 64)
    dec, why = export.ensure_decoder(bad, cache_dir=tmp_path / "c", dynamo=False)
    assert dec is None and "model.safetensors" in why


def test_registry_wide_ensure(tmp_path, ckpt_root):
    from genlab.registry import Registry

    found = export.ensure_decoders(Registry([ckpt_root]), cache_dir=tmp_path / "c", log=None, dynamo=False)
    assert sorted(found) == ["tiny-conv-vae", "tiny-dcgan", "tiny-mlp-vae"]
    assert all(d is not None for d, _ in found.values())


def test_import_writes_the_decoder(tmp_path, monkeypatch):
    from genlab.importers import import_checkpoint
    from genlab.models import get_architecture

    from conftest import TINY

    monkeypatch.setenv("GENLAB_EXPORTER", "dynamo")  # what a user's `genlab import` does
    torch.manual_seed(0)
    netg = get_architecture("dcgan").build(TINY["dcgan"])
    torch.save({f"module.{k}": v for k, v in netg.state_dict().items()}, tmp_path / "netG.pth")
    folder, lines = import_checkpoint(tmp_path / "netG.pth", "imported", tmp_path / "reg")
    m = parse_manifest(folder)
    assert m.file("decoder") is not None and "wrote" in lines[-1]
    read_verified(folder, m.file("decoder"))
    raw = next(f for f in m.raw["files"] if f["role"] == "decoder")
    assert (raw["exporter"], raw["opset"]) == ("dynamo", 20)  # the default exporter, BatchNorm and all


def test_cli_export_decoder(tmp_path, capsys):
    from genlab.cli import main

    folder = make_checkpoint(tmp_path, "m", "mlp_vae")
    assert main(["export-decoder", str(folder)]) == 0
    assert "decoder.onnx" in capsys.readouterr().out and parse_manifest(folder).file("decoder")
    assert next(f for f in read_manifest(folder)["files"] if f["role"] == "decoder")["exporter"] == "torchscript"
    clf = make_checkpoint(tmp_path, "clf", "classifier")
    assert main(["export-decoder", str(clf)]) == 2
    assert "not a generative model" in capsys.readouterr().err


def test_a_tampered_decoder_never_stops_server_decoding(tmp_path):
    """The page refuses it (tests/test_decoders.py); torch never reads it, so the model loads and decodes as before."""
    from genlab.engine import Engine
    from genlab.registry import Registry

    folder = make_checkpoint(tmp_path, "m", "dcgan", seed=4)
    export.write_decoder(folder)
    (folder / "decoder.onnx").write_bytes(b"garbage")
    ckpt = Registry([tmp_path]).get("m")
    assert Engine().decode_uint8(ckpt, torch.zeros(2, ckpt.manifest.latent_size)).shape == (2, 28, 28, 1)
    with pytest.raises(CheckpointError, match="size 7 differs"):
        export.shipped_decoder(folder, ckpt.manifest)
