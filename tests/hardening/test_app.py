"""The running app (`python app.py` in a subprocess, driven over loopback): bad latents, requests and uploads
answered clearly, server paths never smuggled in or shown, the browser protocol carrying the same message,
hostile registry entries, a model corrupted and restored while serving, disconnects, upload cap, full queue."""
from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from genlab.views import Explorer, ExplorerError, SampleRequest
from genlab.registry import Registry
from hardening.helpers import (REPO, ANSWERS, _markers_of, still_serving, answered, _fn_index, _join, _sse_messages, _server_errors, Z4)


BAD_EXPLORE = [
    ("latent [NaN, ...]", "[NaN, 0, 0, 0]", "NaN or inf"),
    ("latent [Infinity, ...]", "[Infinity, 0, 0, 0]", "NaN or inf"),
    ("latent of length 3", json.dumps(Z4[:3]), "length 4"),
    ("latent of length 5", json.dumps(Z4 + [0]), "length 4"),
    ("latent 1e6", json.dumps([1e6] * 4), "within"),
    ("latent 1e400 (inf in JSON)", "[1e400, 0, 0, 0]", "NaN or inf"),
    ("latent not JSON", "zero point one", "not valid JSON"),
    ("latent empty", "", "no current latent"),
    ("latent is a dict", '{"z": [0, 0, 0, 0]}', "latent"),
    ("latent of strings", '["a", "b", "c", "d"]', "latent"),
    ("latent nested", "[[[0, 0, 0, 0]]]", "length 4"),
    ("latent 300,000 chars", "[" + "0," * 150_000 + "0]", "too long"),
    pytest.param("latent nested 5000 deep", "[" * 5000, "latent"),
    pytest.param("latent with a 5000-digit int", "[" + "1" * 5000 + ", 0, 0, 0]", "latent"),
    pytest.param("latent with a 400-digit int", "[" + "1" * 400 + ", 0, 0, 0]", "latent"),
]


@pytest.mark.server
@pytest.mark.parametrize("label,latent,words", BAD_EXPLORE)
def test_bad_latents_through_the_app(vae_session, label, latent, words):
    c, _, method = vae_session
    msg = answered(c, label, "/explore", "tiny-vae", latent, method, *[0] * 12, 0, 0)
    assert not msg.startswith("Unexpected error"), msg
    assert re.search(words, msg), msg
    still_serving(c)


BAD_REQUESTS = [
    ("grid of 257 tiles", "/samples", ("tiny-gan", 0, 257, 1.0, 1.0, False, False, False), "maximum value 256|between 1 and 256"),
    ("grid of 0 tiles", "/samples", ("tiny-gan", 0, 0, 1.0, 1.0, False, False, False), "minimum value 1|between 1 and 256"),
    ("grid of 3.5 tiles", "/samples", ("tiny-gan", 0, 3.5, 1.0, 1.0, False, False, False), "whole number"),
    ("seed -1", "/samples", ("tiny-gan", -1, 4, 1.0, 1.0, False, False, False), "minimum value 0|seed"),
    ("seed 2**31", "/samples", ("tiny-gan", 2**31, 4, 1.0, 1.0, False, False, False), "maximum value|seed"),
    ("psi 1.5", "/samples", ("tiny-gan", 0, 4, 1.5, 1.0, False, False, False), "maximum value 1|psi"),
    ("temperature -1", "/samples", ("tiny-gan", 0, 4, 1.0, -1.0, False, False, False), "minimum value 0|temperature"),
    ("realism on a VAE", "/samples", ("tiny-vae", 0, 4, 1.0, 1.0, False, True, False), "no discriminator"),
    ("unknown model id", "/samples", ("no-such-model", 0, 4, 1.0, 1.0, False, False, False), "not in the list of choices"),
    ("model id with path", "/samples", ("../tiny-gan", 0, 4, 1.0, 1.0, False, False, False), "not in the list of choices"),
    ("65 interpolation steps", "/interpolate", ("tiny-gan", "1, 2", "slerp", 65, 12, ""), "maximum value 64|between 2 and 64"),
    ("1 interpolation step", "/interpolate", ("tiny-gan", "1, 2", "slerp", 1, 12, ""), "minimum value 2|between 2 and 64"),
    ("1 keyframe", "/interpolate", ("tiny-gan", "1", "lerp", 8, 12, ""), "between 2 and 16 keyframes"),
    ("17 keyframes", "/interpolate", ("tiny-gan", ", ".join(map(str, range(17))), "lerp", 8, 12, ""),
     "between 2 and 16 keyframes"),
    ("keyframe 'current' with no latent", "/interpolate", ("tiny-gan", "1, current", "lerp", 8, 12, ""), "no current latent"),
    ("keyframe latent with NaN", "/interpolate", ("tiny-gan", "[1, [NaN, 0, 0, 0, 0, 0, 0, 0]]", "lerp", 8, 12, ""),
     "NaN or inf"),
    ("keyframe latent of wrong length", "/interpolate", ("tiny-gan", "[1, [0, 0]]", "lerp", 8, 12, ""), "length 8"),
    ("keyframe seed -5", "/interpolate", ("tiny-gan", "1, -5", "lerp", 8, 12, ""), "keyframe seed"),
    ("keyframes 600,000 chars", "/interpolate", ("tiny-gan", "1," * 300_000, "lerp", 8, 12, ""), "too long"),
    ("interpolation mode 'cubic'", "/interpolate", ("tiny-gan", "1, 2", "cubic", 8, 12, ""), "not in the list of choices|mode"),
    ("17 posterior samples", "/reconstruct", ("tiny-vae", None, None, 17), "maximum value 16|between 0 and 16"),
    ("reconstruct with a GAN", "/reconstruct", ("tiny-gan", None, None, 2), "no encoder|needs a VAE|upload an image"),
    ("reconstruct with nothing", "/reconstruct", ("tiny-vae", None, None, 2), "upload an image or draw"),
    ("traversal direction 99", "/traversal", ("tiny-gan", json.dumps([0.0] * 8), "sefa", 99), "direction must be between"),
    ("traversal without a latent", "/traversal", ("tiny-gan", "", "sefa", 0), "no current latent"),
    ("tile index 16 of 16", "/tile_latent", ("tiny-gan", 0, 16, 1.0, 1.0, False, 16), "tile index must be between 0 and 15"),
    ("tile index NaN-like string", "/tile_latent", ("tiny-gan", 0, 16, 1.0, 1.0, False, "nan"), "whole number"),
    pytest.param("tile index with 400 digits", "/tile_latent", ("tiny-gan", 0, 16, 1.0, 1.0, False, 10**400),
                 "tile index"),
    pytest.param("keyframes nested 5000 deep", "/interpolate", ("tiny-gan", "[" * 5000, "lerp", 8, 12, ""), "keyframe"),
    ("undo with no history", "/undo", ("tiny-gan",), "nothing to undo"),
    ("send empty encoding", "/send_to_explore", ("tiny-vae", ""), "reconstruct an image first"),
]


@pytest.mark.server
@pytest.mark.parametrize("label,api,args,words", BAD_REQUESTS)
def test_bad_requests_through_the_app(app, tmp_path, label, api, args, words):
    c = Client(app.url, verbose=False, download_files=str(tmp_path))  # a fresh session: no history, no latent
    if api == "/traversal":
        c.predict("tiny-gan", 0, api_name="/select_model")  # the direction radio's choices follow the model
    msg = answered(c, label, api, *args)
    assert not msg.startswith("Unexpected error"), msg
    assert re.search(words, msg), msg
    still_serving(c)


BAD_UPLOADS = [
    ("not-an-image.png", "not an image"),
    ("zero-bytes.png", r"empty \(0 bytes\)"),
    ("bomb.png", "400 MP; the limit is 40 MP"),
    ("long-side.png", "longest side may be at most 20000 px"),
    ("truncated.png", "damaged or truncated"),
    ("blank.png", "looks blank"),
    ("eps-as-png.png", "not an image"),
    ("svg-as-png.png", "not an image"),
]


@pytest.mark.server
@pytest.mark.parametrize("name,words", BAD_UPLOADS)
def test_bad_uploads_through_the_app(client, files, name, words):
    t = time.perf_counter()
    msg = answered(client, f"upload {name}", "/reconstruct", "tiny-vae", handle_file(files[name]), None, 2)
    assert re.search(words, msg), msg
    assert time.perf_counter() - t < 20  # refused from headers, not after decoding 400 MP
    still_serving(client)


ODD_UPLOADS = [
    ("16bit.png", "16-bit image converted to 8-bit"),
    ("cmyk.jpg", "CMYK converted to RGB"),
    ("rgba.png", "transparency composited onto white"),
    ("palette.png", "palette image converted"),
    ("animated.gif", "animated image: used the first of 3 frames"),
    ("exif-rotated.jpg", "rotated per EXIF orientation"),
]


@pytest.mark.server
@pytest.mark.parametrize("name,note", ODD_UPLOADS)
def test_unusual_images_succeed_with_a_note(client, files, name, note):
    seen, _, info, _, _, encoding = client.predict("tiny-vae", handle_file(files[name]), None, 0,
                                                     api_name="/reconstruct")
    ANSWERS.append({"input": f"upload {name}", "endpoint": "/reconstruct", "answer": "OK: " + info.split("preprocessing: ")[-1]})
    assert note in info, info
    x = np.asarray(Image.open(seen))
    assert x.shape == (28, 28) and x.max() > 100  # a digit reached the model, light on dark
    assert len(json.loads(encoding)) == 4


@pytest.mark.server
def test_reference_digit_survives_every_encoding(client, files):
    """The same digit as PNG, 16-bit PNG, CMYK JPEG, palette, GIF and EXIF-rotated JPEG: the model sees
    (nearly) the same 28x28 input each time."""
    seen = {n: np.asarray(Image.open(client.predict("tiny-vae", handle_file(files[n]), None, 0,
                                                     api_name="/reconstruct")[0])).astype(int)
            for n in ("digit", "16bit.png", "palette.png", "animated.gif", "rgba.png")}
    for name, x in seen.items():
        assert np.abs(x - seen["digit"]).mean() < 8, name
    for name in ("cmyk.jpg", "exif-rotated.jpg"):  # lossy JPEG: looser
        x = np.asarray(Image.open(client.predict("tiny-vae", handle_file(files[name]), None, 0,
                                                 api_name="/reconstruct")[0])).astype(int)
        assert np.abs(x - seen["digit"]).mean() < 20, name


@pytest.mark.server
def test_server_file_paths_cannot_be_smuggled_in(client, app_root):
    for path in ("/etc/passwd", str(app_root / "tiny-gan" / "model.safetensors"), str(REPO / "app.py")):
        msg = answered(client, f"FileData path {path}", "/reconstruct", "tiny-vae",
                       {"path": path, "meta": {"_type": "gradio.FileData"}}, None, 2)
        assert "Invalid file type" in msg or "not allowed" in msg or "cannot" in msg, msg
    still_serving(client)


@pytest.mark.server
@pytest.mark.parametrize("api,args,call", [
    ("/samples", ("tiny-gan", 0, 3.5, 1.0, 1.0, False, False, False),
     lambda ex: ex.samples(SampleRequest("tiny-gan", 0, 3.5))),
    ("/samples", ("tiny-vae", 0, 4, 1.0, 1.0, False, True, False),
     lambda ex: ex.samples(SampleRequest("tiny-vae", 0, 4, realism=True))),
    ("/interpolate", ("tiny-gan", "1", "lerp", 8, 12, ""), lambda ex: ex.interpolate("tiny-gan", "1", "lerp", 8)),
    ("/interpolate", ("tiny-gan", "[1, [0, 0]]", "lerp", 8, 12, ""),
     lambda ex: ex.interpolate("tiny-gan", "[1, [0, 0]]", "lerp", 8)),
])
def test_api_message_is_the_explorer_message(client, app_root, api, args, call):
    """The API client gets exactly the ExplorerError text (the UI shows the same gr.Error)."""
    ex = Explorer(Registry([app_root]))
    with pytest.raises(ExplorerError) as direct:
        call(ex)
    with pytest.raises(AppError) as via_api:
        client.predict(*args, api_name=api)
    assert str(via_api.value) == str(direct.value)


@pytest.mark.server
def test_browser_protocol_carries_the_same_message(app):
    """What the browser receives over the queue's SSE stream is the same text API clients get."""
    session = uuid.uuid4().hex
    status, body = _join(app.url, _fn_index(app.url, "samples"), ["tiny-gan", 0, 3.5, 1, 1, False, False, False], session)
    assert status == 200, body
    done = [m for m in _sse_messages(app.url, session) if m.get("msg") == "process_completed"]
    assert done and not done[0]["success"]
    assert done[0]["output"]["error"] == "number of tiles must be a whole number, got 3.5"


@pytest.mark.server
def test_malicious_pickles_in_the_registry_through_the_app(client, app_root):
    msg = answered(client, "model whose weights are a pickle", "/samples", "evil-pickle", 0, 4, 1.0, 1.0, False, False,
                   False)
    assert "cannot be loaded" in msg and "not a safetensors file" in msg, msg
    msg = answered(client, "model whose manifest names a .pth", "/samples", "evil-pth", 0, 4, 1.0, 1.0, False, False,
                   False)
    assert "not in the list of choices" in msg  # unavailable models are not offered at all
    table = client.predict(api_name="/models_table")
    status = {row[0]: row[-1] for row in table["data"]}
    assert status["evil-pth"].startswith("unavailable") and "not a .safetensors file" in status["evil-pth"]
    assert status["evil-pickle"] == "ok"  # its manifest is valid: only loading refuses it
    assert _markers_of(app_root) == []
    still_serving(client)


@pytest.mark.server
def test_model_corrupted_then_deleted_then_restored_while_serving(client, app_root):
    path = app_root / "victim-gan" / "model.safetensors"
    good = path.read_bytes()
    args = ("victim-gan", 0, 4, 1.0, 1.0, False, False, False)
    first = client.predict(*args, api_name="/samples")[0]
    try:
        path.write_bytes(good[:-16] + b"\x00" * 16)  # same size, different bytes
        time.sleep(1.2)  # the registry re-stats cached models at most every RECHECK_S = 1 s
        msg = answered(client, "model file corrupted while serving", "/samples", *args)
        assert "victim-gan" in msg and "sha256 does not match" in msg, msg
        still_serving(client)  # the other models are fine
        path.unlink()
        time.sleep(1.2)
        msg = answered(client, "model file deleted while serving", "/samples", *args)
        assert "missing weight file" in msg, msg
        still_serving(client)
    finally:
        path.write_bytes(good)
    time.sleep(1.2)
    again = client.predict(*args, api_name="/samples")[0]
    assert Path(again).read_bytes() == Path(first).read_bytes()  # recovered, same pixels


@pytest.mark.server
def test_clients_disconnecting_mid_event(app, client, tmp_path):
    """Heavy requests abandoned mid-way (SSE stream closed, sockets dropped, jobs cancelled, clients closed):
    the server keeps serving others, logs no exception storm and drains its queue."""
    before = _server_errors(app.log_text())
    fn = _fn_index(app.url, "samples")
    heavy = ["tiny-gan", 7, 256, 1.0, 1.0, True, True, True]
    # 1. queue protocol: join, open the SSE stream, read a little, hang up
    for _ in range(6):
        session = uuid.uuid4().hex
        assert _join(app.url, fn, heavy, session)[0] == 200
        with socket.create_connection(("127.0.0.1", app.port), timeout=10) as s:
            s.sendall(f"GET /gradio_api/queue/data?session_hash={session} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Accept: text/event-stream\r\n\r\n".encode())
            s.recv(256)
    # 2. joined, never listened to
    for _ in range(4):
        assert _join(app.url, fn, heavy, uuid.uuid4().hex)[0] == 200
    # 3. REST call API: POST, then drop the result stream half-read
    for _ in range(4):
        req = urllib.request.Request(app.url + "gradio_api/call/samples", method="POST",
                                     data=json.dumps({"data": heavy}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            event = json.load(r)["event_id"]
        with urllib.request.urlopen(f"{app.url}gradio_api/call/samples/{event}", timeout=30) as r:
            r.read(1)
    # 4. gradio_client jobs cancelled, and whole clients closed mid-job
    for _ in range(3):
        c = Client(app.url, verbose=False, download_files=str(tmp_path))
        job = c.submit(*heavy, api_name="/samples")
        time.sleep(0.1)
        job.cancel()
        c.submit(*heavy, api_name="/samples")
        c.close()
    t = time.perf_counter()
    still_serving(client)
    others_wait = time.perf_counter() - t
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(app.url + "gradio_api/queue/status", timeout=10) as r:
            if json.load(r)["queue_size"] == 0:
                break
        time.sleep(0.5)
    else:
        pytest.fail("the queue did not drain within 120 s")
    still_serving(client)
    after = _server_errors(app.log_text())
    assert after - before <= 2, f"{after - before} server errors logged:\n{app.log_text()[-3000:]}"
    ANSWERS.append({"input": "20 heavy requests abandoned mid-event", "endpoint": "/samples",
                    "answer": f"others served after {others_wait:.1f} s; queue drained; {after - before} server errors"})


@pytest.mark.server
def test_upload_over_20_mb_is_refused_clearly(app, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(20 * 2**20 + 1024))
    import httpx

    with open(big, "rb") as f:
        r = httpx.post(app.url + "gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=60)
    ANSWERS.append({"input": "upload of 20 MB + 1 KB (raw HTTP)", "endpoint": "/gradio_api/upload",
                    "answer": f"HTTP {r.status_code}: {r.text[:200]}"})
    assert r.status_code == 413 and "maximum allowed size of 20971520 bytes" in r.text
    c = Client(app.url, verbose=False, download_files=str(tmp_path))
    with pytest.raises(ValueError, match="exceeds the maximum file size of 20971520 bytes"):  # the client checks too
        c.predict("tiny-vae", handle_file(str(big)), None, 2, api_name="/reconstruct")
    still_serving(c)


@pytest.mark.server
def test_full_queue_answers_busy_and_recovers(app, client):
    """Over max_size (256) pending events: joins are refused with a clear 503, and the server recovers."""
    fn = _fn_index(app.url, "samples")
    heavy = ["tiny-gan", 3, 256, 1.0, 1.0, True, True, True]
    session = uuid.uuid4().hex
    results: list = []
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.monotonic() + 120
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: _join(app.url, fn, heavy, session) if time.monotonic() < deadline
                                else (0, {}), range(340)))
    refused = [body for status, body in results if status == 503]
    ANSWERS.append({"input": "340 heavy joins at once (queue max_size 256)", "endpoint": "/gradio_api/queue/join",
                    "answer": f"{len(refused)} refused: HTTP 503 {refused[0] if refused else ''}"})
    assert refused, "the queue never filled: no 503"
    assert all("Queue is full. Max size is 256" in b.get("detail", "") for b in refused)
    accepted = [body["event_id"] for status, body in results if status == 200]
    for event in accepted:  # clean up: cancel what is still pending
        req = urllib.request.Request(app.url + "gradio_api/cancel", method="POST",
                                     data=json.dumps({"session_hash": session, "fn_index": fn, "event_id": event}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).close()
    t = time.perf_counter()
    still_serving(client)
    assert time.perf_counter() - t < 60
