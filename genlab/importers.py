"""Foreign checkpoints -> registry folders: ``python -m genlab import PATH --name ID``.

Reads a generator saved by the PyTorch DCGAN example (``netG_epoch_N.pth``: plain keys, DataParallel
``module.`` keys, or a dict wrapping netG/netD) with its discriminator when given, or a ``state_dict()``
of the PyTorch VAE example. Sizes come from tensor shapes. Files load with
``torch.load(weights_only=True)`` only: nothing in them can run code.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch

from genlab.checkpoints import CheckpointError, check_shapes, save_checkpoint, sha256_bytes
from genlab.configs import DCGANConfig, MLPVAEConfig
from genlab.export import add_decoder
from genlab.models import get_architecture

WRAPPER_KEYS = ("netG", "generator", "G", "state_dict", "model", "model_state_dict")
RESAVE_HELP = (
    "genlab loads foreign files with torch.load(weights_only=True), which never runs code, and this file "
    "needs code execution to load (it pickles Python objects, e.g. a whole model saved with torch.save(model)). "
    "If you trust it, re-save just the weights where it was made:\n"
    "    model = torch.load(PATH, weights_only=False)   # only for files you trust\n"
    "    torch.save(model.state_dict(), 'weights.pth')\n"
    "then run `python -m genlab import weights.pth --name ID`."
)


class ImportError_(CheckpointError):
    """A foreign file that cannot be imported; the message says why and what to do."""


def load_foreign(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with a clear refusal for files that need code to load."""
    path = Path(path)
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ImportError_(f"{path}: refused. {RESAVE_HELP}\n(torch said: {str(exc).splitlines()[0]})") from None
    except Exception as exc:  # zip/format errors from torch
        raise ImportError_(f"{path}: not a PyTorch weights file ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise ImportError_(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
    return obj


def split_wrapper(obj: dict) -> tuple[dict, dict | None]:
    """(generator-or-model state, discriminator state or None) from a possibly wrapping dict."""
    disc = next((obj[k] for k in ("netD", "discriminator", "D") if isinstance(obj.get(k), dict)), None)
    for key in WRAPPER_KEYS:
        if isinstance(obj.get(key), dict):
            return obj[key], disc
    return obj, disc


def strip_prefix(state: dict) -> dict[str, torch.Tensor]:
    """Drop DataParallel's ``module.`` prefix; keep only tensors."""
    out = {}
    for k, v in state.items():
        if torch.is_tensor(v):
            out[k[7:] if k.startswith("module.") else k] = v
    return out


def _convs(state: dict) -> list[torch.Tensor]:
    """4-D ``main.N.weight`` tensors in layer order."""
    keys = [k for k, v in state.items() if k.startswith("main.") and k.endswith(".weight") and v.dim() == 4]
    return [state[k] for k in sorted(keys, key=lambda k: int(k.split(".")[1]))]


def dcgan_config(g: dict, d: dict | None) -> DCGANConfig:
    """Infer nz, ngf, nc (and ndf) from DCGAN example tensors."""
    convs = _convs(g)
    if len(convs) not in (4, 5):
        raise ImportError_(f"expected 4 or 5 ConvTranspose2d layers under main.N, found {len(convs)}")
    nz, width = convs[0].shape[0], convs[0].shape[1]
    size = 64 if len(convs) == 5 else (28 if convs[1].shape[-1] == 3 else 32)
    ngf = width // 2 ** (len(convs) - 2)
    nc = convs[-1].shape[1]
    ndf, norm = 64, "batch"
    if d is not None:
        ndf = _convs(d)[0].shape[0]
        norm = "batch" if any(k.endswith("running_mean") for k in d) else "none"
    return DCGANConfig(image_size=size, channels=nc, nz=nz, ngf=ngf, ndf=ndf, d_norm=norm)


def detect(state: dict) -> str:
    if "main.0.weight" in state:
        return "dcgan"
    if {"fc1.weight", "fc21.weight", "fc22.weight", "fc3.weight", "fc4.weight"} <= set(state):
        return "mlp_vae"
    raise ImportError_("unrecognised state_dict: expected DCGAN example keys (main.0.weight ...) or "
                       f"VAE example keys (fc1, fc21, fc22, fc3, fc4); found {sorted(state)[:6]} ...")


def mlp_vae_config(state: dict) -> MLPVAEConfig:
    hidden, d = state["fc1.weight"].shape
    z = state["fc21.weight"].shape[0]
    for c in (1, 3):
        s = round((d / c) ** 0.5)
        if s * s * c == d and s in (28, 32, 64):
            return MLPVAEConfig(image_size=s, channels=c, hidden=hidden, z_dim=z)
    raise ImportError_(f"fc1 input size {d} is not C*S*S for C in (1, 3) and S in (28, 32, 64)")


def report(name: str, module: torch.nn.Module, state: dict) -> list[str]:
    """Key-by-key lines: ok / missing / unexpected / shape mismatch."""
    want = module.state_dict()
    lines = [f"{name}: {len(state)} tensors in file, {len(want)} in genlab's {type(module).__name__}"]
    for k in sorted(set(want) | set(state)):
        if k not in state:
            lines.append(f"  MISSING     {k} {list(want[k].shape)}")
        elif k not in want:
            lines.append(f"  UNEXPECTED  {k} {list(state[k].shape)}")
        elif want[k].shape != state[k].shape:
            lines.append(f"  SHAPE       {k} file {list(state[k].shape)} vs {list(want[k].shape)}")
        else:
            lines.append(f"  ok          {k} {list(state[k].shape)}")
    return lines


def _build_loaded(arch_name: str, role: str, config, state: dict, lines: list[str]) -> torch.nn.Module:
    arch = get_architecture(arch_name)
    module = (arch.build if role == "model" else arch.aux[role])(config)
    lines += report(role, module, state)
    header = {k: {"shape": list(v.shape)} for k, v in state.items()}
    check_shapes(module, header, Path(role))
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return module.eval()


def import_checkpoint(path, name: str, out_root="checkpoints", discriminator=None, title=None) -> tuple[Path, list[str]]:
    """Write ``out_root/name`` from a foreign file; returns (folder, report lines)."""
    src = Path(path)
    g_state, d_state = split_wrapper(load_foreign(src))
    if discriminator is not None:
        d_state = split_wrapper(load_foreign(discriminator))[0]
    g_state = strip_prefix(g_state)
    d_state = strip_prefix(d_state) if d_state is not None else None
    arch_name = detect(g_state)
    lines: list[str] = [f"source: {src} ({arch_name})"]
    if arch_name == "dcgan":
        config = dcgan_config(g_state, d_state)
        aux = {"discriminator": _build_loaded("dcgan", "discriminator", config, d_state, lines)} if d_state else {}
    else:
        config, aux = mlp_vae_config(g_state), {}
    model = _build_loaded(arch_name, "model", config, g_state, lines)
    lines.append(f"config: {config.to_dict()}")
    folder = Path(out_root) / name
    training = {"imported_from": src.name, "source_sha256": sha256_bytes(src.read_bytes()),
                "command": f"python -m genlab import {src.name} --name {name}"}
    save_checkpoint(folder, model, id=name, architecture=arch_name, title=title or f"{name} (imported)", aux=aux,
                    dataset={"name": "unknown (imported)"}, training=training)
    lines.append(add_decoder(folder))  # the browser decoder; a failed export only means server-side decoding
    return folder, lines


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="import a PyTorch DCGAN/VAE example checkpoint into the registry")
    p.add_argument("path", help="netG_epoch_N.pth, a dict holding netG/netD, or a VAE example state_dict")
    p.add_argument("--name", required=True, help="registry id for the new folder ([a-z0-9._-])")
    p.add_argument("--discriminator", help="the matching netD_epoch_N.pth (DCGAN only)")
    p.add_argument("--out", default="checkpoints", help="registry root to write into")
    p.add_argument("--title")
    p.add_argument("--eval", action="store_true", help="also run `genlab eval` (MNIST-like 28-px models)")
    p.set_defaults(func=main)


def main(args) -> int:
    from genlab import evaluate

    try:
        folder, lines = import_checkpoint(args.path, args.name, args.out, args.discriminator, args.title)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    evaluate.finish_folder(folder, run_metrics=args.eval)
    print(f"wrote {folder}")
    return 0
