"""A generative checkpoint's decoder as ONNX, for decoding in the user's browser.

The exported graph is exactly what the server decodes: ``model.decode(z)``, latent ``z`` float32 ``[B, D]``
(dynamic batch) -> ``image`` float32 ``[B, C, H, W]`` in the manifest's ``output_range``, BatchNorm in eval
mode. The page then converts to uint8 the way ``genlab.render.to_uint8`` does.

Where a decoder lives:
- in the checkpoint folder as ``decoder.onnx``, listed in the manifest's ``files`` with role ``decoder``,
  its sha256/bytes and the sha256 of the weights it was exported from (``weights_sha256``): written by
  ``write_decoder`` (``python -m genlab export-decoder``, ``genlab import``, the training CLI);
- for a checkpoint without one (older or user-made): exported once into the user cache by ``ensure_decoder``,
  ``<cache>/<weights sha256>.onnx`` with a ``.json`` sidecar holding its sha256 and metadata.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genlab import render
from genlab.checkpoints import (
    CheckpointError, Checkpoint, Manifest, load_checkpoint, parse_manifest, read_manifest, read_verified,
    sha256_bytes, write_manifest,
)

DECODER_FILE = "decoder.onnx"
INPUT_NAME, OUTPUT_NAME = "z", "image"
# Bumped when the exported graph changes meaning: cached decoders of another format are exported again.
DECODER_FORMAT = 1
MAX_BATCH = 256  # the largest batch the exported graph is checked for (dynamo needs a bound)
# torch vs onnxruntime on the shipped decoders: max abs diff <= 6e-6 measured; 1e-4 leaves room for other CPUs
PARITY_ATOL = 1e-4
PARITY_SEED, PARITY_N = 1234, 16


def default_cache_dir() -> Path:
    """``GENLAB_DECODER_CACHE`` or ``~/.cache/genlab/decoders``."""
    env = os.environ.get("GENLAB_DECODER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "genlab" / "decoders"


def default_dynamo() -> bool:
    """``GENLAB_EXPORTER``: ``dynamo`` (default) or ``torchscript``. The test suite picks torchscript for speed
    (0.1-0.4 s vs 6-30 s per export); tests that name the exporter and the shipped decoders cover dynamo."""
    value = os.environ.get("GENLAB_EXPORTER", "dynamo")
    if value not in ("dynamo", "torchscript"):
        raise ValueError(f"GENLAB_EXPORTER must be 'dynamo' or 'torchscript', got {value!r}")
    return value == "dynamo"


class _Decode(nn.Module):
    """``model.decode`` as ``forward``: the exporters trace ``forward``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z)


@dataclass(frozen=True)
class Exported:
    """One export: the ONNX bytes and what was measured while making and checking them."""

    data: bytes
    opset: int
    seconds: float
    max_abs_diff: float  # torch vs onnxruntime over PARITY_N seeded latents, batch PARITY_N
    uint8_equal: float  # share of equal uint8 pixels after genlab.render's conversion
    dynamo: bool

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.data)


def _export_bytes(model: nn.Module, latent_size: int, dynamo: bool) -> bytes:
    module = _Decode(model).eval()
    z = torch.zeros(2, latent_size)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice; results are checked
        path = Path(tmp) / DECODER_FILE
        if dynamo:
            dims = {"z": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}}
            torch.onnx.export(module, (z,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes=dims, dynamo=True, external_data=False, verbose=False)
        else:
            axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
            torch.onnx.export(module, (z,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes, dynamo=False, do_constant_folding=True, opset_version=17)
        return path.read_bytes()


def run_onnx(data: bytes, z: np.ndarray) -> np.ndarray:
    """Decode float32 ``z [B, D]`` with native onnxruntime (1 thread, CPU) -> ``[B, C, H, W]``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(z, np.float32)})[0]


def parity(data: bytes, model: nn.Module, latent_size: int, value_range, n: int = PARITY_N,
           seed: int = PARITY_SEED) -> tuple[float, float]:
    """(max abs float diff, share of equal uint8 pixels) between onnxruntime and ``model.decode``."""
    z = torch.randn(n, latent_size, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        want = model.decode(z).float()
    got = torch.from_numpy(run_onnx(data, z.numpy()))
    if got.shape != want.shape:
        raise CheckpointError(f"exported decoder gives {list(got.shape)}, torch gives {list(want.shape)}")
    diff = float((got - want).abs().max())
    equal = float((render.to_uint8(got, value_range) == render.to_uint8(want, value_range)).mean())
    return diff, equal


def opset_of(data: bytes) -> int:
    import onnx

    proto = onnx.load_from_string(data)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def export_decoder(model: nn.Module, manifest: Manifest, dynamo: bool | None = None) -> Exported:
    """Export ``model.decode`` (eval mode) and check it against torch; raises CheckpointError when it cannot.

    ``dynamo`` None means ``default_dynamo()``.
    ``dynamo=True`` (torch.export, opset 20, BatchNorm folded into the convolutions) is tried first and the
    TorchScript exporter (opset 17, deprecated in torch 2.9+) when it fails; ``dynamo=False`` uses TorchScript
    only: 0.1-0.4 s instead of 6-30 s per model on a 2-core machine, with the same parity on the shipped models.
    """
    if not manifest.latent_size:
        raise CheckpointError(f"{manifest.id} is a {manifest.family}, not a generative model: nothing to decode")
    if dynamo is None:
        dynamo = default_dynamo()
    model = model.cpu().eval()
    errors = []
    for use_dynamo in ((True, False) if dynamo else (False,)):
        t0 = time.perf_counter()
        try:
            data = _export_bytes(model, manifest.latent_size, use_dynamo)
            seconds = time.perf_counter() - t0
            diff, equal = parity(data, model, manifest.latent_size, manifest.output_range)
            opset = opset_of(data)
        except CheckpointError:
            raise
        except Exception as exc:  # exporters and runtimes raise many types; the caller falls back to the server
            errors.append(f"{'dynamo' if use_dynamo else 'torchscript'}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if not diff <= PARITY_ATOL:  # also catches NaN
            raise CheckpointError(f"{manifest.id}: exported decoder differs from torch by {diff:.3g} (> {PARITY_ATOL})")
        return Exported(data, opset, seconds, diff, equal, use_dynamo)
    raise CheckpointError(f"{manifest.id}: ONNX export failed ({'; '.join(errors)})")


def decoder_entry(manifest: Manifest, exp: Exported, path: str = DECODER_FILE) -> dict:
    """The manifest ``files`` item for a decoder (role ``decoder``)."""
    return {"role": "decoder", "path": path, "sha256": exp.sha256, "bytes": len(exp.data),
            "weights_sha256": manifest.file("model").sha256, "format": DECODER_FORMAT, "opset": exp.opset,
            "exporter": "dynamo" if exp.dynamo else "torchscript", "input": INPUT_NAME, "output": OUTPUT_NAME}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_decoder(folder: str | Path, ckpt: Checkpoint | None = None, dynamo: bool | None = None) -> Exported:
    """Export the folder's decoder into ``folder/decoder.onnx`` and list it in the manifest (replacing an old one).

    The weights are not touched; the manifest keeps every other field as it was.
    """
    folder = Path(folder)
    ckpt = ckpt or load_checkpoint(folder)
    exp = export_decoder(ckpt.model, ckpt.manifest, dynamo)
    _atomic_write(folder / DECODER_FILE, exp.data)
    data = read_manifest(folder)
    data["files"] = [f for f in data["files"] if f.get("role") != "decoder"] + [decoder_entry(ckpt.manifest, exp)]
    parse_manifest(folder, data)  # validate before writing
    write_manifest(folder, data)
    if (folder / "README.md").is_file():  # the card lists the files: it is derived data, rewrite it
        from genlab.cards import model_card

        (folder / "README.md").write_text(model_card(parse_manifest(folder)), encoding="utf-8")
    return exp


def add_decoder(folder: str | Path, ckpt: Checkpoint | None = None, dynamo: bool | None = None) -> str:
    """``write_decoder`` for the training CLI and importers: a one-line report, never raises for export trouble."""
    try:
        exp = write_decoder(folder, ckpt, dynamo)
    except CheckpointError as exc:
        return f"no browser decoder written (the app will decode on the server): {exc}"
    return (f"wrote {Path(folder) / DECODER_FILE} ({len(exp.data):,} bytes, opset {exp.opset}, {exp.seconds:.1f} s, "
            f"max diff vs torch {exp.max_abs_diff:.2g})")


@dataclass(frozen=True)
class Decoder:
    """A verified decoder file: where it is, its sha256, its metadata, and where it came from."""

    path: Path
    sha256: str
    bytes: int
    meta: dict  # the manifest/sidecar entry: weights_sha256, format, opset, input, output
    source: str  # "checkpoint" (listed in the manifest) or "cache" (exported by ensure_decoder)


def shipped_decoder(folder: Path, manifest: Manifest) -> tuple[Decoder | None, str]:
    """The folder's own decoder when its manifest lists one made from the current weights and the file matches."""
    entry = manifest.file("decoder")
    if entry is None:
        return None, "the manifest lists no decoder"
    raw = next(f for f in manifest.raw["files"] if f.get("role") == "decoder")
    if raw.get("weights_sha256") != manifest.file("model").sha256 or raw.get("format") != DECODER_FORMAT:
        return None, "the listed decoder was made from other weights or in an older format"
    read_verified(folder, entry)  # raises CheckpointError when missing, truncated or tampered
    return Decoder(folder / entry.path, entry.sha256, entry.bytes, raw, "checkpoint"), "shipped"


def cached_decoder(manifest: Manifest, cache_dir: Path) -> Decoder | None:
    """A decoder exported earlier into ``cache_dir`` for these weights, when its sidecar and bytes agree."""
    key = manifest.file("model").sha256
    path, side = cache_dir / f"{key}.onnx", cache_dir / f"{key}.json"
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        data = path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != DECODER_FORMAT or meta.get("sha256") != sha256_bytes(data):
        return None
    return Decoder(path, meta["sha256"], len(data), meta, "cache")


def ensure_decoder(folder: str | Path, ckpt: Checkpoint | None = None, cache_dir: Path | None = None,
                   dynamo: bool | None = None) -> tuple[Decoder | None, str]:
    """(decoder, how) for a checkpoint folder, exporting into the cache once if it has none; (None, why) otherwise.

    Order: the folder's own listed decoder, then ``cache_dir/<weights sha256>.onnx``, then a new export there
    (loads the weights unless ``ckpt`` is given). Never raises for a model that cannot be exported.
    """
    folder = Path(folder)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        manifest = ckpt.manifest if ckpt else parse_manifest(folder)
        if not manifest.latent_size or manifest.kind != "model":
            return None, f"{manifest.id} is not a generative model"
        found, why = shipped_decoder(folder, manifest)
        if found:
            return found, why
        hit = cached_decoder(manifest, cache_dir)
        if hit:
            return hit, f"cached ({why})"
        exp = export_decoder((ckpt or load_checkpoint(folder, manifest=manifest)).model, manifest, dynamo)
        meta = {**decoder_entry(manifest, exp, f"{manifest.file('model').sha256}.onnx"), "model_id": manifest.id,
                "seconds": round(exp.seconds, 3), "max_abs_diff": exp.max_abs_diff}
        key = manifest.file("model").sha256
        _atomic_write(cache_dir / f"{key}.onnx", exp.data)
        _atomic_write(cache_dir / f"{key}.json", json.dumps(meta, indent=2).encode())
        return Decoder(cache_dir / f"{key}.onnx", exp.sha256, len(exp.data), meta, "cache"), f"exported ({why})"
    except (CheckpointError, OSError) as exc:
        return None, str(exc)


def ensure_decoders(registry, cache_dir: Path | None = None, log=print,
                    dynamo: bool | None = None) -> dict[str, tuple[Decoder | None, str]]:
    """``ensure_decoder`` for every available generative model of a Registry (at server start; run it in a
    background thread: a model without a decoder costs one export, 6-30 s with dynamo on a 2-core machine)."""
    out = {}
    for e in registry.entries("model"):
        if e.available and e.manifest.latent_size:
            out[e.id] = ensure_decoder(e.folder, cache_dir=cache_dir, dynamo=dynamo)
            if log and out[e.id][0] is None:
                log(f"genlab: {e.id} decodes on the server only: {out[e.id][1]}")
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("export-decoder", help="write decoder.onnx (browser decoding) into checkpoint folders")
    p.add_argument("folders", nargs="+", help="checkpoint folders, e.g. checkpoints/mnist-dcgan")
    p.add_argument("--torchscript", action="store_true", help="use the older TorchScript exporter (dynamo=False)")
    p.add_argument("--dynamo", action="store_true", help="use torch.export (the default unless GENLAB_EXPORTER says)")
    p.set_defaults(func=main)


def main(args) -> int:
    torch.set_num_threads(1)  # the decoders are small: threads only add noise on a shared machine
    failed = 0
    for folder in args.folders:
        try:
            exp = write_decoder(folder, dynamo=False if args.torchscript else True if args.dynamo else None)
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{folder}/{DECODER_FILE}: {len(exp.data):,} bytes, sha256 {exp.sha256}, opset {exp.opset}, "
              f"export {exp.seconds:.2f} s, max |onnx - torch| {exp.max_abs_diff:.3g}, "
              f"uint8 equal {exp.uint8_equal:.6f}")
    return 2 if failed else 0
