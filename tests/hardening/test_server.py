"""Server defaults of ``python app.py``: loopback bind, launch settings, ``--auth``."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from bench.soak import AppProcess
from hardening.helpers import (ANSWERS, _join)


@pytest.mark.server
def test_server_listens_on_loopback_only(app):
    import app as app_module

    assert app_module.parse_args([]).host == "127.0.0.1"
    listening = [c for c in app.server_process().net_connections(kind="inet") if c.status == "LISTEN"]
    assert listening and all(c.laddr.ip in ("127.0.0.1", "::1") for c in listening), listening
    import psutil

    others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
              if a.family == socket.AF_INET and not a.address.startswith("127.")]
    for ip in others:  # reachable interfaces of this machine: the port is closed there
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((ip, app.port)) != 0, f"app reachable on {ip}"


def test_launch_settings_of_app_main(monkeypatch, tmp_path):
    """What `python app.py` passes to Gradio: loopback, a bounded queue, a 20 MB upload cap, auth when asked."""
    import gradio as gr

    import app as app_module

    seen = {}
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    calls = []
    monkeypatch.setattr(gr.Blocks, "queue", lambda self, *a, **kw: calls.append(kw) or self)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.setdefault("launch", kw))
    monkeypatch.setattr(app_module, "build", lambda args: (gr.Blocks(), None))
    app_module.main(["--auth", "teacher:s3cret:with-colon"])
    assert seen["launch"]["server_name"] == "127.0.0.1"
    assert seen["launch"]["max_file_size"] in ("20mb", 20 * 2**20)
    assert seen["launch"]["auth"] == ("teacher", "s3cret:with-colon")
    queue = calls[-1]  # gradio itself may call queue() with no arguments while building
    assert isinstance(queue.get("max_size"), int) and 0 < queue["max_size"] <= 1024, calls
    assert not seen["launch"].get("share")


@pytest.mark.server
def test_auth_is_required_when_set(tmp_path, app_root):
    with AppProcess(tmp_path / "auth-app", ["--checkpoints", str(app_root), "--auth", "user:pa:ss"], max_life_s=300) as a:
        with pytest.raises(AuthenticationError) as info:  # no credentials: the client cannot even read the API
            Client(a.url, verbose=False, download_files=str(tmp_path)).predict(
                "tiny-gan", 0, 4, 1.0, 1.0, False, False, False, api_name="/samples")
        ANSWERS.append({"input": "no credentials (--auth set)", "endpoint": "/samples",
                        "answer": f"{type(info.value).__name__}: {str(info.value)[:200]}"})
        with pytest.raises(ValueError, match="Could not login|credentials"):  # a wrong password
            Client(a.url, auth=("user", "wrong"), verbose=False, download_files=str(tmp_path))
        for path in ("gradio_api/info", "config", "gradio_api/queue/status"):
            try:
                with urllib.request.urlopen(a.url + path, timeout=10) as r:
                    body = r.read()
                    assert r.status != 200 or b"tiny-gan" not in body, path
            except urllib.error.HTTPError as exc:
                assert exc.code in (401, 403), (path, exc.code)
        status, _ = _join(a.url, 0, ["tiny-gan", 0, 4, 1, 1, False, False, False], uuid.uuid4().hex)
        assert status in (401, 403), status
        c = Client(a.url, auth=("user", "pa:ss"), verbose=False, download_files=str(tmp_path))
        grid, info = c.predict("tiny-gan", 0, 4, 1.0, 1.0, False, False, False, api_name="/samples")
        assert Path(grid).is_file() and info.startswith("4 samples")
