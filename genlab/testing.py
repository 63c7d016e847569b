"""Helpers shared by the tests and the bench: a free loopback port and the real app, launched with the
production queue and launch settings (genlab.ui.app.serve), stopping by itself."""
from __future__ import annotations

import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp_dir: Path, extra_args: list[str] | None = None):
    """Yield (url, ui) for the app launched on 127.0.0.1:<free port>; its Gradio cache lives in ``tmp_dir``."""
    os.environ["GRADIO_TEMP_DIR"] = str(Path(tmp_dir) / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import app
    from genlab.ui.app import serve

    demo, ui = app.build(app.parse_args(extra_args or []))
    port = free_port()
    serve(demo, "127.0.0.1", port, block=False, quiet=True, registry=ui.ex.registry)
    try:
        yield f"http://127.0.0.1:{port}/", ui
    finally:
        demo.close()


def client(url: str, **kwargs):
    """A gradio_client Client with a generous HTTP timeout (CI machines can be slow and busy)."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 180}, **kwargs)
