"""``python -m genlab train FAMILY``: trains on a dataset and writes a registry folder.

The loops (training/loops.py) yield stats; this module shows them with tqdm, writes sample grids,
keeps resume state and epoch snapshots, and exports the checkpoint with its manifest, card and preview.
What differs per family (model, trainer, recorded options, export step) is in training/families.py.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from genlab import data as gdata
from genlab import latent, render
from genlab.checkpoints import load_checkpoint, parse_manifest, save_checkpoint, write_manifest
from genlab.models import get_architecture
from genlab.training.families import FAMILIES, get_family
from genlab.training.loops import lr_factor


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model and write a registry folder")
    p.add_argument("family", choices=list(FAMILIES))
    p.add_argument("--dataset", default="mnist-offline", help="mnist-offline | mnist | fashionmnist | cifar10 | celeba | folder:PATH")
    p.add_argument("--out", required=True, help="checkpoint folder to write, e.g. checkpoints/my-model")
    p.add_argument("--id", help="registry id (default: the folder name)")
    p.add_argument("--title")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-decay-from", type=int, default=0, metavar="EPOCH",
                   help="after this epoch the learning rate falls linearly towards 0 at the last epoch (0: constant)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: cores - 1, see PERF_NOTES)")
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    p.add_argument("--snapshots", default="1,2,5,10", help="epochs whose generator/decoder weights are kept (plus the final one)")
    p.add_argument("--sample-every", type=int, default=1, help="write a sample grid every N epochs (0: never)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/.train/state.safetensors")
    p.add_argument("--keep-state", action="store_true", help="keep the resume state after finishing")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation at the end")
    g = p.add_argument_group("dcgan, mlp-gan")
    g.add_argument("--nz", type=int, default=100)
    g.add_argument("--ngf", type=int, default=64)
    g.add_argument("--ndf", type=int, default=64)
    g.add_argument("--loss", choices=["ns", "wgan-gp"], default="ns")
    g.add_argument("--augment", default="", help="DiffAugment policy for D's inputs, comma-separated: translation,cutout (default: none)")
    g.add_argument("--ema", type=float, default=0.0, help="EMA decay of the exported generator's weights (e.g. 0.999; 0 = off)")
    g.add_argument("--width", type=int, default=256, help="mlp-gan: G's first hidden width (then x2, x4; D mirrors)")
    g.add_argument("--dropout", type=float, default=0.3, help="mlp-gan: dropout in D's hidden layers")
    v = p.add_argument_group("vae, ae")
    v.add_argument("--arch", choices=["conv", "mlp"], default="conv")
    v.add_argument("--z-dim", type=int, default=16)
    v.add_argument("--base", type=int, default=32)
    v.add_argument("--hidden", type=int, default=256)
    v.add_argument("--beta", type=float, default=1.0)
    v.add_argument("--kl-warmup", type=int, default=0, metavar="EPOCHS",
                   help="vae: the KL weight rises linearly to beta over the first EPOCHS epochs (0: off)")
    v.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    v.add_argument("--binarize", action="store_true", help="dynamic binarization of training pixels")
    p.set_defaults(func=main)


def build_model(args) -> tuple[str, torch.nn.Module, dict]:
    """(architecture name, main module, aux modules) from CLI args."""
    return get_family(args.family).build(args)


def load_training_data(args, value_range) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(images [N, C, H, W] in value_range, labels [N], dataset info for the manifest)."""
    if args.dataset == "mnist-offline":
        digits = gdata.load_offline_mnist()
        imgs, labels = digits.train()
        x = gdata.to_range(imgs, value_range, args.image_size, args.channels)
        info = {"name": "mnist-offline", "source": digits.source, "n_train": len(digits.train_idx),
                "n_test": len(digits.test_idx), "split_seed": digits.split_seed, "license": gdata.MNIST_LICENSE}
        y = torch.as_tensor(labels)
    else:
        ds = gdata.get_dataset(args.dataset, "train", value_range, args.image_size, args.channels)
        loader = torch.utils.data.DataLoader(ds, batch_size=256)
        xs, ys = zip(*loader)
        x, y = torch.cat(xs), torch.cat(ys)
        info = {"name": args.dataset, "n_train": len(x)}
    if args.limit:  # a seeded random subset, so every class appears even in smoke runs
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))[: args.limit]
        x, y = x[keep], y[keep]
        info["n_train"] = len(x)
    return x, y, info


def make_trainer(args, model, aux, device):
    return get_family(args.family).trainer(args, model, aux, device)


def _fmt(stats: dict) -> dict:
    return {k: f"{v:.3f}" for k, v in stats.items()}


def exported(trainer, model):
    """The module that is shipped: a GAN trainer's (EMA, recalibrated) generator, else the model itself."""
    return trainer.export_generator() if hasattr(trainer, "export_generator") else model


def run_epochs(args, trainer, model, x, y, out: Path, start: int, fixed_z,
               done: dict | None = None) -> tuple[dict, dict, dict]:
    """Train from ``start`` to ``args.epochs``; returns (last stats, snapshots, totals).

    ``done`` is state.json of a resumed run: totals ({"steps", "seconds"}) are running sums over every
    segment, kept in state.json after each epoch, so a run stopped and resumed records the whole run's cost."""
    state_dir = out / ".train"
    snap_epochs = {int(e) for e in args.snapshots.split(",") if e.strip()} if args.snapshots else set()
    done = done or {}
    snapshots, stats, t0 = load_snapshots(state_dir), {}, time.time()
    totals = {"steps": int(done.get("steps", 0)), "seconds": float(done.get("seconds", 0.0))}
    seconds0 = totals["seconds"]
    for epoch in range(start + 1, args.epochs + 1):
        trainer.set_lr_scale(lr_factor(epoch, args.epochs, args.lr_decay_from))
        trainer.start_epoch(epoch)
        bar = tqdm(trainer.epoch(x, y), total=len(x) // args.batch_size, desc=f"epoch {epoch}/{args.epochs}",
                   leave=False, file=sys.stderr, mininterval=1.0)
        for stats in bar:
            totals["steps"] += 1
            bar.set_postfix(_fmt(stats), refresh=False)
        tqdm.write(f"epoch {epoch}: " + " ".join(f"{k}={v}" for k, v in _fmt(stats).items()), file=sys.stderr)
        generative = get_family(args.family).generative
        shipped = exported(trainer, model) if generative else model
        if epoch in snap_epochs and epoch != args.epochs and generative:
            snapshots[epoch] = {k: v.detach().cpu().clone() for k, v in shipped.state_dict().items()}
            save_file({f"{epoch}.{k}": v for k, v in snapshots[epoch].items()}, state_dir / f"snap-{epoch}.safetensors")
        if fixed_z is not None and args.sample_every and epoch % args.sample_every == 0:
            write_samples(shipped, fixed_z, state_dir / "samples" / f"epoch-{epoch:04d}.png", args.value_range)
        save_file(trainer.state(), state_dir / "state.safetensors")
        totals["seconds"] = round(seconds0 + time.time() - t0, 1)
        (state_dir / "state.json").write_text(json.dumps({"epoch": epoch, "argv": sys.argv[1:], **totals}))
    return stats, snapshots, totals


def load_snapshots(state_dir: Path) -> dict:
    snaps = {}
    for f in state_dir.glob("snap-*.safetensors"):
        flat = load_file(f)
        epoch = int(f.stem.split("-")[1])
        snaps[epoch] = {k.split(".", 1)[1]: v for k, v in flat.items()}
    return snaps


def write_samples(model, z, path: Path, rng: tuple[float, float]) -> None:
    """A grid of ``model.decode(z)``; ``rng`` is the decoder's output range (the architecture's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        imgs = model.decode(z.to(next(model.parameters()).device)).cpu()
    path.write_bytes(render.png_bytes(render.upscale(render.grid(render.to_uint8(imgs, rng), 8), 2)))


def argv_for_card(args) -> list[str]:
    """The command that reproduces this run (the CLI words, without --resume/--keep-state)."""
    words = list(getattr(args, "argv", None) or sys.argv[1:])
    return [w for w in words if w not in ("--resume", "--keep-state")]


def main(args) -> int:
    from genlab.engine import default_threads

    lr_factor(1, args.epochs, args.lr_decay_from)  # a decay that could never start is an error, before any work
    torch.set_num_threads(args.threads or default_threads())
    out = Path(args.out)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    family = get_family(args.family)
    arch_name, model, aux = family.build(args)
    arch = get_architecture(arch_name)
    args.value_range = arch.output_range
    x, y, info = load_training_data(args, arch.output_range)
    trainer = family.trainer(args, model, aux, device)
    start, done = 0, {}
    state_file = out / ".train" / "state.safetensors"
    if args.resume and state_file.is_file():
        trainer.load_state(load_file(state_file))
        done = json.loads((out / ".train" / "state.json").read_text())
        start = done["epoch"]
        print(f"resuming {out} after epoch {start}", file=sys.stderr)
    (out / ".train").mkdir(parents=True, exist_ok=True)
    fixed_z = latent.sample(64, model.latent_size, seed=1234) if family.generative else None
    stats, snapshots, totals = run_epochs(args, trainer, model, x, y, out, start, fixed_z, done)
    model, aux = exported(trainer, model).cpu().eval(), {k: m.cpu().eval() for k, m in aux.items()}
    latent_info = family.finish(model, snapshots, x) if family.finish else {}
    training = {"family": args.family, "epochs": args.epochs, "batch_size": args.batch_size,
                "lr": trainer.base_lr(), "lr_decay_from": args.lr_decay_from,
                "seed": args.seed, "device": str(device), **totals,
                "final_stats": stats, "torch": torch.__version__,
                "resumed_from_epoch": start,
                "command": "python -m genlab " + " ".join(shlex.quote(a) for a in argv_for_card(args))}
    training.update(family.record(args))
    mid = args.id or out.name
    save_checkpoint(out, model, id=mid, architecture=arch_name, title=args.title, aux=aux,
                    snapshots=snapshots, dataset=info, training=training)
    if latent_info:  # e.g. the autoencoder's "no prior: Gaussian fitted to training codes"
        data = parse_manifest(out).raw
        data["latent"].update(latent_info)
        write_manifest(out, data)
    from genlab import evaluate  # late import: evaluation pulls in the classifier and data

    evaluate.finish_folder(out, run_metrics=not args.no_eval)
    if family.generative:
        from genlab.export import add_decoder  # decoder.onnx for the page; a failure only means server decoding

        print(add_decoder(out), file=sys.stderr)
    if not args.keep_state:
        shutil.rmtree(out / ".train", ignore_errors=True)
    load_checkpoint(out)  # the folder we wrote must load
    print(f"wrote {out}", file=sys.stderr)
    return 0
