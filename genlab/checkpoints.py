"""The checkpoint format: ``<folder>/manifest.json`` + safetensors weight files.

``load_checkpoint`` is the only reader of weights. It validates the manifest, checks every file's
size and sha256, compares tensor shapes from the safetensors header with the model built from the
config *before* materialising tensors, refuses NaN/inf, loads strictly and puts the model in eval.
Nothing here unpickles.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from genlab.configs import ConfigError
from genlab.models import get_architecture

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
MAX_FILE_BYTES = 1 << 31  # 2 GiB: larger declared sizes are refused before reading
# Roles that are not torch modules: the page's ONNX decoder (genlab/export.py) is never loaded by torch.
NON_MODULE_ROLES = {"decoder": (".onnx",)}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
TOP_FIELDS = {
    "format_version", "kind", "id", "title", "family", "architecture", "config", "output_range",
    "image", "latent", "dataset", "training", "metrics", "num_params", "files", "extra",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class FileEntry:
    role: str  # "model", an architecture's aux role (e.g. "discriminator"), "snapshot" or "decoder" (ONNX)
    path: str  # relative to the checkpoint folder
    sha256: str
    bytes: int
    epoch: int | None = None  # snapshots only


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. ``raw`` keeps the JSON object as read."""

    id: str
    title: str
    kind: str
    architecture: str
    family: str
    config: Any
    output_range: tuple[float, float]
    image_size: int
    channels: int
    latent_size: int
    num_params: int
    files: tuple[FileEntry, ...]
    raw: dict = field(repr=False, compare=False)

    def file(self, role: str) -> FileEntry | None:
        return next((f for f in self.files if f.role == role), None)

    @property
    def snapshots(self) -> list[FileEntry]:
        return sorted((f for f in self.files if f.role == "snapshot"), key=lambda f: f.epoch or 0)

    @property
    def metrics(self) -> dict:
        return self.raw.get("metrics", {})

    @property
    def dataset(self) -> dict:
        return self.raw.get("dataset", {})


@dataclass
class Checkpoint:
    """A loaded checkpoint: the main module (eval mode, on ``device``) and its optional extras."""

    manifest: Manifest
    folder: Path
    model: nn.Module
    aux: dict[str, nn.Module]
    device: torch.device

    @property
    def nbytes(self) -> int:
        mods = [self.model, *self.aux.values()]
        return sum(t.numel() * t.element_size() for m in mods for t in m.state_dict().values())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _need(cond: bool, where: Path, msg: str) -> None:
    if not cond:
        raise CheckpointError(f"{where}: {msg}")


def read_manifest(folder: str | Path) -> dict:
    """Read ``folder/manifest.json`` as a dict (size-capped, JSON only)."""
    path = Path(folder) / MANIFEST
    _need(path.is_file(), path, "missing manifest.json")
    size = path.stat().st_size
    _need(size <= MAX_MANIFEST_BYTES, path, f"manifest is {size} bytes (limit {MAX_MANIFEST_BYTES})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise CheckpointError(f"{path}: bad JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integers of > 4,300 digits
        raise CheckpointError(f"{path}: bad JSON: {str(exc)[:200]}") from None
    _need(isinstance(data, dict), path, "manifest must be a JSON object")
    return data


def _parse_file(folder: Path, where: Path, entry: Any, exts: tuple[str, ...] = (".safetensors",)) -> FileEntry:
    _need(isinstance(entry, dict), where, f"each files[] item must be an object, got {entry!r}")
    role, rel = entry.get("role"), entry.get("path")
    _need(isinstance(role, str) and bool(role), where, f"file entry without a role: {entry!r}")
    _need(isinstance(rel, str) and bool(rel), where, f"file entry {role!r} has no path")
    _need("\x00" not in rel and len(rel) <= 255, where, f"file path {rel[:80]!r} is not a valid file name")
    _need(not Path(rel).is_absolute() and ".." not in Path(rel).parts, where,
          f"file path {rel!r} must stay inside the checkpoint folder")
    target = (folder / rel).resolve()
    _need(target.is_relative_to(folder.resolve()), where, f"file path {rel!r} points outside its folder")
    exts = NON_MODULE_ROLES.get(role, exts)
    _need(rel.endswith(exts), where, f"file {rel!r} is not a {' or '.join(exts)} file")
    sha, size = entry.get("sha256"), entry.get("bytes")
    _need(isinstance(sha, str) and bool(SHA_RE.match(sha)), where, f"file {rel!r}: sha256 must be 64 hex digits")
    _need(isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAX_FILE_BYTES, where,
          f"file {rel!r}: declared size {size!r} is not in (0, {MAX_FILE_BYTES}]")
    epoch = entry.get("epoch")
    if role == "snapshot":
        _need(isinstance(epoch, int) and not isinstance(epoch, bool) and 0 <= epoch < 10**6, where,
              f"snapshot {rel!r} needs an integer epoch")
    return FileEntry(role, rel, sha, size, epoch)


def _parse_model_fields(data: dict, where: Path) -> dict:
    arch_name = data.get("architecture")
    _need(isinstance(arch_name, str), where, "missing 'architecture'")
    try:
        arch = get_architecture(arch_name)
    except KeyError as exc:
        raise CheckpointError(f"{where}: {exc.args[0]}") from None
    _need(data.get("family") == arch.family, where,
          f"family {data.get('family')!r} does not match architecture {arch_name!r} ({arch.family})")
    try:
        config = arch.config_cls.from_dict(data.get("config"))
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    rng = data.get("output_range")
    _need(isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng)
          and rng[0] < rng[1], where, f"output_range must be [lo, hi] with lo < hi, got {rng!r}")
    image, latent = data.get("image") or {}, data.get("latent") or {}
    _need(image.get("size") == config.image_size and image.get("channels") == config.channels, where,
          f"image {image!r} does not match config ({config.image_size} px, {config.channels} ch)")
    _need(latent.get("size") == config.latent_size, where,
          f"latent size {latent.get('size')!r} does not match config ({config.latent_size})")
    n = data.get("num_params")
    _need(isinstance(n, int) and not isinstance(n, bool) and n >= 0, where, "num_params must be an integer")
    return dict(architecture=arch_name, family=arch.family, config=config,
                output_range=(float(rng[0]), float(rng[1])), image_size=config.image_size,
                channels=config.channels, latent_size=config.latent_size, num_params=n)


def parse_manifest(folder: str | Path, data: dict | None = None) -> Manifest:
    """Validate a manifest dict (read from ``folder`` when not given). Never touches weights."""
    folder = Path(folder)
    where = folder / MANIFEST
    data = read_manifest(folder) if data is None else data
    unknown = sorted(set(data) - TOP_FIELDS)
    _need(not unknown, where, f"unknown field(s): {', '.join(unknown)} (put free-form data under 'extra')")
    version = data.get("format_version")
    _need(isinstance(version, int), where, "missing integer format_version")
    _need(version <= FORMAT_VERSION, where, f"format_version {version} is newer than this genlab ({FORMAT_VERSION})")
    mid = data.get("id")
    _need(isinstance(mid, str) and bool(ID_RE.fullmatch(mid)), where,
          f"id {str(mid)[:80]!r} must match {ID_RE.pattern}")
    title = data.get("title", mid)
    _need(isinstance(title, str) and len(title) <= 200, where, "title must be a string of <= 200 chars")
    kind = data.get("kind", "model")
    _need(kind in ("model", "dataset"), where, f"kind must be 'model' or 'dataset', got {kind!r}")
    for key in ("dataset", "training", "metrics", "extra"):
        _need(isinstance(data.get(key, {}), dict), where, f"{key!r} must be an object")
    files_raw = data.get("files")
    _need(isinstance(files_raw, list) and len(files_raw) <= 1000, where, "'files' must be a list")
    exts = (".safetensors", ".npz") if kind == "dataset" else (".safetensors",)  # npz: read with allow_pickle=False
    files = tuple(_parse_file(folder, where, e, exts) for e in files_raw)
    roles = [f.role for f in files if f.role != "snapshot"]
    _need(len(roles) == len(set(roles)), where, f"duplicate file roles in {roles}")
    if kind == "dataset":
        fields = dict(architecture="", family="dataset", config=None, output_range=(0.0, 1.0),
                      image_size=0, channels=0, latent_size=0, num_params=0)
    else:
        fields = _parse_model_fields(data, where)
        _need(any(f.role == "model" for f in files), where, "no file with role 'model'")
        allowed = {"model", "snapshot", *get_architecture(fields["architecture"]).aux}
        if fields["latent_size"]:
            allowed |= set(NON_MODULE_ROLES)  # a generative model may list its browser decoder
        bad = sorted({f.role for f in files} - allowed)
        _need(not bad, where, f"unknown file role(s) {bad} for {fields['architecture']}")
    return Manifest(id=mid, title=title, kind=kind, files=files, raw=data, **fields)


def read_verified(folder: Path, entry: FileEntry) -> bytes:
    """The bytes of one weight file after checking its size and sha256."""
    path = folder / entry.path
    _need(path.is_file(), path, "missing weight file")
    size = path.stat().st_size
    _need(size == entry.bytes, path, f"size {size} differs from the manifest's {entry.bytes} (truncated or replaced?)")
    data = path.read_bytes()
    _need(sha256_bytes(data) == entry.sha256, path, "sha256 does not match the manifest (file corrupted or tampered)")
    return data


def safetensors_header(data: bytes, where: Path) -> dict[str, dict]:
    """Tensor name -> {dtype, shape} from a safetensors header, without reading tensors."""
    _need(len(data) >= 8, where, "not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    _need(8 + n <= len(data), where, "not a safetensors file (header runs past the end)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting or numbers
        raise CheckpointError(f"{where}: not a safetensors file (bad header)") from None
    _need(isinstance(header, dict), where, "not a safetensors file (bad header)")
    header.pop("__metadata__", None)
    return header


def check_shapes(module: nn.Module, header: dict[str, dict], where: Path) -> None:
    """Compare a safetensors header with ``module.state_dict()``: every key, every shape."""
    expected = {k: list(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(expected) - set(header))
    extra = sorted(set(header) - set(expected))
    _need(not missing, where, f"missing tensors: {', '.join(missing[:8])}")
    _need(not extra, where, f"unexpected tensors: {', '.join(extra[:8])}")
    for key, shape in expected.items():
        got = header[key].get("shape") if isinstance(header[key], dict) else None
        _need(got == shape, where, f"tensor {key} has shape {got}, the config needs {shape}")


def load_state(folder: Path, entry: FileEntry, module: nn.Module) -> dict[str, torch.Tensor]:
    """Verified, shape-checked, finite float32 state dict for ``module`` from one file."""
    where = folder / entry.path
    data = read_verified(folder, entry)
    check_shapes(module, safetensors_header(data, where), where)
    try:
        state = st_load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{where}: unreadable safetensors: {exc}") from None
    for key, t in state.items():
        if t.is_floating_point():
            _need(bool(torch.isfinite(t).all()), where, f"tensor {key} holds NaN or inf values")
            state[key] = t.float()
    return state


def build(manifest: Manifest, role: str = "model") -> nn.Module:
    """An untrained module for ``role`` from the manifest's config (eval mode, CPU)."""
    arch = get_architecture(manifest.architecture)
    ctor = arch.build if role in ("model", "snapshot") else arch.aux[role]
    return ctor(manifest.config).eval()


def load_module(manifest: Manifest, folder: Path, entry: FileEntry, device="cpu") -> nn.Module:
    module = build(manifest, entry.role)
    module.load_state_dict(load_state(folder, entry, module), strict=True)
    for p in module.parameters():
        p.requires_grad_(False)
    return module.to(device).eval()


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu", manifest: Manifest | None = None) -> Checkpoint:
    """Load a model checkpoint folder (model + aux weights; snapshots stay on disk)."""
    folder = Path(folder)
    manifest = manifest or parse_manifest(folder)
    _need(manifest.kind == "model", folder / MANIFEST, f"{manifest.id} is a {manifest.kind}, not a model")
    model = load_module(manifest, folder, manifest.file("model"), device)
    n = sum(p.numel() for p in model.parameters())
    _need(n == manifest.num_params, folder / MANIFEST, f"num_params says {manifest.num_params}, the model has {n}")
    skip = {"model", "snapshot", *NON_MODULE_ROLES}
    aux = {f.role: load_module(manifest, folder, f, device) for f in manifest.files if f.role not in skip}
    return Checkpoint(manifest, folder, model, aux, torch.device(device))


def _write_weights(folder: Path, rel: str, state: dict, role: str, **extra) -> dict:
    data = st_save({k: v.detach().cpu().contiguous() for k, v in state.items()})
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"role": role, "path": rel, "sha256": sha256_bytes(data), "bytes": len(data), **extra}


def save_checkpoint(
    folder: str | Path,
    model: nn.Module,
    *,
    id: str,
    architecture: str,
    title: str | None = None,
    aux: dict[str, nn.Module] | None = None,
    snapshots: dict[int, dict[str, torch.Tensor]] | None = None,
    snapshot_dtype: torch.dtype = torch.float16,
    dataset: dict | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> Manifest:
    """Write weights and ``manifest.json`` into ``folder``; returns the validated manifest.

    ``model.config`` supplies the constructor config. Snapshots (epoch -> generator state dict) are
    stored in ``snapshot_dtype`` to keep the folder small.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arch = get_architecture(architecture)
    cfg = model.config
    files = [_write_weights(folder, "model.safetensors", model.state_dict(), "model")]
    for role, mod in (aux or {}).items():
        files.append(_write_weights(folder, f"{role}.safetensors", mod.state_dict(), role))
    for epoch, state in sorted((snapshots or {}).items()):
        cast = {k: v.to(snapshot_dtype) if v.is_floating_point() else v for k, v in state.items()}
        files.append(_write_weights(folder, f"snapshots/epoch-{epoch:04d}.safetensors", cast, "snapshot", epoch=epoch))
    data = {
        "format_version": FORMAT_VERSION, "kind": "model", "id": id, "title": title or id,
        "family": arch.family, "architecture": architecture, "config": cfg.to_dict(),
        "output_range": list(arch.output_range),
        "image": {"size": cfg.image_size, "channels": cfg.channels},
        "latent": {"size": cfg.latent_size, "prior": "normal" if cfg.latent_size else "none"},
        "dataset": dataset or {}, "training": training or {}, "metrics": metrics or {},
        "num_params": sum(p.numel() for p in model.parameters()), "files": files, "extra": extra or {},
    }
    write_manifest(folder, data)
    return parse_manifest(folder, data)


def write_manifest(folder: str | Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False)
    (Path(folder) / MANIFEST).write_text(text + "\n", encoding="utf-8")


def load_snapshot(manifest: Manifest, folder: str | Path, epoch: int, device="cpu") -> nn.Module:
    """The main module with one epoch snapshot's weights (stored fp16, returned fp32)."""
    entry = next((f for f in manifest.snapshots if f.epoch == epoch), None)
    if entry is None:
        have = [f.epoch for f in manifest.snapshots]
        raise CheckpointError(f"{manifest.id}: no snapshot for epoch {epoch} (have {have})")
    return load_module(manifest, Path(folder), entry, device)


def is_finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
