"""Launch the real genlab app on 127.0.0.1:<free port> for a test module; it stops by itself."""
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
    """Yield (url, handlers) for a launched app; its Gradio cache lives in ``tmp_dir``."""
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_dir / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    sys.path.insert(0, str(REPO))
    import app
    from genlab.ui.layout import LAUNCH

    demo, handlers = app.build(app.parse_args(extra_args or []))
    port = free_port()
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **LAUNCH, quiet=True,
                show_error=True, max_file_size="20mb")
    try:
        yield f"http://127.0.0.1:{port}/", handlers
    finally:
        demo.close()


def client(url: str, **kwargs):
    """A gradio_client Client with a generous HTTP timeout (CI machines can be slow and busy)."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 180}, **kwargs)
