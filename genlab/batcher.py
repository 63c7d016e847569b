"""Micro-batching: share one forward pass between concurrent single-item requests.

``MicroBatcher(fn)`` owns one worker thread. ``submit(x)`` queues a ``[D]`` item and returns a
``concurrent.futures.Future``; the worker takes the oldest pending item, waits at most ``max_wait_ms``
for more (up to ``max_batch``), calls ``fn(stacked [B, D])`` once and hands row ``i`` of the result to
the ``i``-th future. Items of a different shape or dtype than the first wait for the next batch, so
one batcher may serve any mix of shapes. If ``fn`` raises, every future of that batch gets the error.

On a GPU this is what lets concurrent users share kernel launches; on a small CPU the per-request
framework overhead dominates, so measure before wiring it in (``bench/``).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable

import numpy as np
import torch


class BatcherClosed(RuntimeError):
    """``submit`` after ``close``."""


def _key(x) -> tuple:
    return (type(x), tuple(x.shape), str(x.dtype), str(getattr(x, "device", "cpu")))


def _stack(items: list):
    if isinstance(items[0], torch.Tensor):
        return torch.stack(items)
    return np.stack(items)


class MicroBatcher:
    """Thread-safe batching front for ``fn: [B, D] -> [B, ...]`` (a tensor, an array or a sequence).

    ``max_batch`` caps one call; ``max_wait_ms`` is how long the first pending item may wait for company
    (0: take only what is already pending). ``calls`` and ``items`` count ``fn`` calls and served items.
    """

    def __init__(self, fn: Callable[[Any], Any], max_batch: int = 64, max_wait_ms: float = 2.0,
                 name: str = "genlab-batcher"):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.fn = fn
        self.max_batch = int(max_batch)
        self.max_wait_s = float(max_wait_ms) / 1000.0
        self.calls = 0
        self.items = 0
        self.largest = 0
        self._pending: deque[tuple[Any, Future]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # ---- public --------------------------------------------------------------------------------
    def submit(self, x) -> Future:
        """Queue one item ``[D]`` (torch tensor or numpy array); the future resolves to its result row."""
        if not isinstance(x, (torch.Tensor, np.ndarray)):
            x = torch.as_tensor(x)
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._pending.append((x, fut))
            self._cond.notify()
        return fut

    def __call__(self, x, timeout: float | None = None):
        """``submit(x).result(timeout)``: the blocking form for request handlers."""
        return self.submit(x).result(timeout)

    def close(self, wait: bool = True, timeout: float | None = 10.0) -> None:
        """Refuse new items; items already submitted are still served. ``wait`` joins the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "MicroBatcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- worker --------------------------------------------------------------------------------
    def _take(self) -> list[tuple[Any, Future]] | None:
        """The next batch (same shape/dtype as the oldest item), or None when closed and drained."""
        with self._cond:
            while not self._pending:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            key = _key(self._pending[0][0])
            batch, rest = [], deque()
            while self._pending and len(batch) < self.max_batch:
                item = self._pending.popleft()
                (batch if _key(item[0]) == key else rest).append(item)
            rest.extend(self._pending)
            self._pending = rest
            return batch

    def _serve(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            live = [(x, f) for x, f in batch if f.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                out = self.fn(_stack([x for x, _ in live]))
                if len(out) != len(live):
                    raise RuntimeError(f"batched fn returned {len(out)} results for {len(live)} inputs")
            except BaseException as exc:  # every waiter learns why
                for _, f in live:
                    f.set_exception(exc)
                continue
            finally:
                self.calls += 1
                self.items += len(live)
                self.largest = max(self.largest, len(live))
            for i, (_, f) in enumerate(live):
                f.set_result(out[i])
