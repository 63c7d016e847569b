"""The app as a Space or a container starts it: ``python app.py`` with Gradio's own address variables."""
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from genlab.testing import REPO, free_port

pytestmark = pytest.mark.server


def test_app_binds_where_gradio_server_port_says(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_SERVER_NAME", "GENLAB_PORT")}
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline, body = time.time() + 240, b""
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(1)
        assert b"genlab" in body, proc.stdout.read1(4000) if proc.poll() is not None else "no answer"
    finally:
        proc.terminate()
        proc.wait(30)


def test_host_and_port_defaults_follow_gradio_variables(monkeypatch):
    import app

    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    args = app.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 7999)
    assert app.parse_args(["--host", "127.0.0.1", "--port", "7000"]).port == 7000  # flags still win
    monkeypatch.delenv("GRADIO_SERVER_NAME")
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    monkeypatch.delenv("GENLAB_PORT", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)  # loopback unless told otherwise


def test_readme_is_a_space_and_the_dockerfile_serves_everyone():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    front = readme.split("---")[1]
    assert readme.startswith("---\n") and "sdk: gradio" in front and "app_file: app.py" in front
    import gradio

    assert f"sdk_version: {gradio.__version__}" in front  # the pinned Gradio, not whatever Spaces has
    docker = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "GRADIO_SERVER_NAME=0.0.0.0" in docker and "COPY checkpoints" in docker
