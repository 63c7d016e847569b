"""genlab app: ``python app.py [--checkpoints DIR] [--device cuda|cpu] [--host H] [--port P]``.

Builds the explorer from the checkpoint registry and serves the Gradio UI (and its HTTP API). The address is
``--host``/``--port``, else Gradio's own ``GRADIO_SERVER_NAME``/``GRADIO_SERVER_PORT`` (set by Hugging Face
Spaces and containers), else 127.0.0.1:7860 (loopback only).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import threading

if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
    try:  # glibc gives every handler thread its own arena: RSS grew ~0.3 MB/s under load (see bench/soak.py)
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = 2
    except (OSError, AttributeError):
        pass

# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event (for its monitoring
# page): the largest per-event cost once a server has seen a few thousand events. Every 500 events over the
# last 2,000 keeps the summary and drops the cost (bench/results/slider_http.json: HTTP floor 16.4 ms with
# this vs 26.5 ms with Gradio's default). Read when the queue is built, so set before that.
GRADIO_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "500", "GRADIO_ANALYTICS_MAX_EVENTS": "2000"}
for _k, _v in GRADIO_ENV.items():
    os.environ.setdefault(_k, _v)

import torch  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="genlab: explore the latent spaces of pretrained GANs and VAEs")
    p.add_argument("--checkpoints", action="append", default=[], help="extra registry root (repeatable)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"], help="autocast dtype on CUDA")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                   help="interface to bind (default: $GRADIO_SERVER_NAME, else loopback only)")
    p.add_argument("--port", type=int,
                   default=int(os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("GENLAB_PORT") or 7860),
                   help="port (default: $GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--auth", default=None, help="user:pass required to open the app (classroom servers)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: cores - 1)")
    p.add_argument("--share", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def build(args):
    """(demo, ui) for the parsed args; also sets threads and the temp-file janitor."""
    # Gradio reads its cache folder when components are built: choose it before anything else.
    temp = os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "genlab-gradio"))
    from genlab.engine import Engine, default_threads, pick_device
    from genlab.explore import Explorer
    from genlab.registry import Registry, default_roots
    from genlab.ui.app import build_app
    from genlab.ui.files import FileStore, Janitor

    torch.set_num_threads(args.threads or default_threads())
    device = pick_device(args.device)
    registry = Registry(default_roots(args.checkpoints), default_device=str(device))
    explorer = Explorer(registry, Engine(device, args.precision))
    demo, ui = build_app(explorer, FileStore())
    # files Gradio cached while building (initial values every new page refers to) are never removed
    Janitor(temp, interval_s=5, pin_existing=True).start()
    # the caches a first user would otherwise wait seconds for (maps, directions, nearest digits), in the
    # background, the default model first: requests that need one meanwhile build it themselves (one build per
    # key, see Context.cached). GENLAB_WARM=0 skips it (the tests: dozens of short-lived servers on 2 cores).
    if os.environ.get("GENLAB_WARM", "1") != "0":
        ids = explorer.model_ids()
        first = [i for i in ("mnist-dcgan", "mnist-vae") if i in ids]
        threading.Thread(target=explorer.warm, args=(first + [i for i in ids if i not in first],), daemon=True,
                         name="genlab-warm").start()
    # a page decoder for every generative model (shipped ones only check their hashes; a user's checkpoint
    # without one is exported once into the user cache): until it exists, that model decodes on the server
    from genlab import export

    threading.Thread(target=export.ensure_decoders, args=(registry,), daemon=True, name="genlab-decoders").start()
    return demo, ui


def main(argv=None) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    from genlab.ui.app import serve

    demo, ui = build(args)
    serve(demo, args.host, args.port, tuple(args.auth.split(":", 1)) if args.auth else None,
          registry=ui.ex.registry if ui is not None else None)


if __name__ == "__main__":
    main()
