"""A small asyncio HTTP/1.1 client for Gradio's protocol, cheap enough to simulate 30 users on 2 cores.

Gradio 6.31 routes used (gradio/routes.py):
  * queued events, as the browser does: ``POST /gradio_api/queue/join`` {data, fn_index, trigger_id,
    session_hash, event_data} -> {event_id}; then ``GET /gradio_api/queue/data?session_hash=...`` (SSE) until
    ``process_completed`` (the stream closes when the session has no pending event);
  * ``queue=False`` events, as the browser does: ``POST /gradio_api/run/predict`` with ``fn_index`` (one POST);
  * output files: ``GET /gradio_api/file=...`` (the URL in the output's FileData).
Each user keeps two keep-alive connections (one for POSTs, one for the event stream), like a browser tab.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from urllib.parse import urlsplit

API = "/gradio_api"


class HttpError(RuntimeError):
    pass


class Conn:
    """One keep-alive connection to 127.0.0.1:port; reconnects when the server closed it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**22)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (OSError, ConnectionError):
                pass
            self.writer = self.reader = None

    async def _send(self, method: str, path: str, body: bytes | None, headers: dict | None) -> None:
        if self.writer is None or self.writer.is_closing():
            await self._open()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()

    async def _head(self) -> tuple[int, dict]:
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("server closed the connection")
        status = int(line.split()[1])
        headers = {}
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    async def _chunks(self, headers: dict):
        """Yield the body in pieces (chunked or by content-length)."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                data = await self.reader.readexactly(size)
                await self.reader.readexactly(2)
                yield data
        else:
            n = int(headers.get("content-length", "0"))
            if n:
                yield await self.reader.readexactly(n)

    async def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                      retry: bool = True) -> tuple[int, bytes]:
        try:
            await self._send(method, path, body, headers)
            status, hdrs = await self._head()
        except (ConnectionError, asyncio.IncompleteReadError):
            await self.close()
            if not retry:
                raise
            return await self.request(method, path, body, headers, retry=False)
        data = b"".join([c async for c in self._chunks(hdrs)])
        if hdrs.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def sse(self, path: str):
        """Yield parsed ``data:`` JSON messages of an event stream until it ends."""
        try:
            await self._send("GET", path, None, {"Accept": "text/event-stream"})
            status, hdrs = await self._head()
        except (ConnectionError, asyncio.IncompleteReadError):  # an idle keep-alive the server closed: once more
            await self.close()
            await self._send("GET", path, None, {"Accept": "text/event-stream"})
            status, hdrs = await self._head()
        if status != 200:
            body = b"".join([c async for c in self._chunks(hdrs)])
            raise HttpError(f"GET {path}: HTTP {status} {body[:200]!r}")
        buf = b""
        async for chunk in self._chunks(hdrs):
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data:"):
                        yield json.loads(line[5:])


class GradioUser:
    """One simulated browser tab: a session hash, a POST connection and an event-stream connection."""

    def __init__(self, url: str, fn_ids: dict[str, int], session: str | None = None):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.fn_ids = fn_ids
        self.session = session or uuid.uuid4().hex[:11]  # the server keeps a session's state between connections
        self.post = Conn(self.host, self.port)
        self.stream = Conn(self.host, self.port)
        self.files = Conn(self.host, self.port)

    async def select(self, model: str, seed: int = 0) -> tuple[str, str]:
        """What a page load does: /select_model in this session (it sets the session's direction choices,
        which the explore events' Radio input is validated against). Returns (base latent, method)."""
        out, _ = await self.event("select_model", [model, seed], fetch=False)
        return out[0], out[1]["value"]

    async def close(self) -> None:
        for c in (self.post, self.stream, self.files):
            await c.close()

    def _body(self, api_name: str, data: list) -> bytes:
        return json.dumps({"data": data, "fn_index": self.fn_ids[api_name], "trigger_id": None,
                           "session_hash": self.session, "event_data": None}).encode()

    async def queued(self, api_name: str, data: list) -> list:
        """One queued event (join + event stream): the output data list; HttpError on failure."""
        status, body = await self.post.request("POST", f"{API}/queue/join", self._body(api_name, data))
        if status != 200:
            raise HttpError(f"queue/join {api_name}: HTTP {status} {body[:300]!r}")
        event_id = json.loads(body)["event_id"]
        out = None
        async for msg in self.stream.sse(f"{API}/queue/data?session_hash={self.session}"):
            kind = msg.get("msg")
            if kind == "process_completed" and msg.get("event_id") == event_id:
                if not msg.get("success"):
                    raise HttpError(f"{api_name} failed: {msg.get('output', {}).get('error') or msg}")
                out = msg["output"]["data"]
            elif kind == "unexpected_error":
                raise HttpError(f"{api_name}: {msg}")
        if out is None:
            raise HttpError(f"{api_name}: the event stream ended without a result")
        return out

    async def direct(self, api_name: str, data: list) -> list:
        """One ``queue=False``-style call (POST /gradio_api/run/predict with fn_index), as the browser sends it."""
        status, body = await self.post.request("POST", f"{API}/run/predict", self._body(api_name, data))
        if status != 200:
            raise HttpError(f"run {api_name}: HTTP {status} {body[:300]!r}")
        return json.loads(body)["data"]

    async def api(self, api_name: str, data: list) -> list:
        """A named API call that skips the queue (``POST /gradio_api/run/<api_name>``)."""
        status, body = await self.post.request("POST", f"{API}/run/{api_name}", json.dumps({"data": data}).encode())
        if status != 200:
            raise HttpError(f"run/{api_name}: HTTP {status} {body[:300]!r}")
        return json.loads(body)["data"]

    async def fetch(self, file_data) -> bytes:
        """The bytes of an output file (as the browser's <img> fetches them)."""
        url = file_data["url"] if isinstance(file_data, dict) else str(file_data)
        path = urlsplit(url)._replace(scheme="", netloc="").geturl()
        status, body = await self.files.request("GET", path)
        if status != 200:
            raise HttpError(f"GET {path}: HTTP {status}")
        return body

    async def event(self, api_name: str, data: list, queued: bool = True, fetch: bool = True) -> tuple[list, dict]:
        """An event end to end: (outputs, timings in seconds: result, fetch, total)."""
        t0 = time.perf_counter()
        out = await (self.queued(api_name, data) if queued else self.direct(api_name, data))
        t1 = time.perf_counter()
        nbytes = 0
        image = next((o for o in out if isinstance(o, dict) and o.get("url")), None) if fetch else None
        if image is not None:  # the first output file (the image), as the page's <img> loads it
            nbytes = len(await self.fetch(image))
        t2 = time.perf_counter()
        return out, {"result": t1 - t0, "fetch": t2 - t1, "total": t2 - t0, "bytes": nbytes}


async def fn_ids(url: str) -> dict[str, int]:
    """api_name -> fn_index (dependency id) from the app's /config."""
    u = urlsplit(url)
    c = Conn(u.hostname, u.port)
    try:
        status, body = await c.request("GET", "/config")
    finally:
        await c.close()
    if status != 200:
        raise HttpError(f"/config: HTTP {status}")
    cfg = json.loads(body)
    return {d["api_name"]: d["id"] for d in cfg["dependencies"] if d.get("api_name")}
