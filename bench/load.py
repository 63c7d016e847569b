"""Concurrent simulated users: each sends slider events at ``rate_hz`` like a browser tab dragging a slider.

A user ticks every 1/rate_hz s (random phase). The explore sliders use ``trigger_mode="always_last"``, so like
the browser a user never has two events of the slider in flight: a tick during a pending event only replaces
the value to send next (counted as ``coalesced``), sent as soon as the pending one completes. Latency is from
sending an event to having its image bytes (result + file fetch). Throughput is completed events per second.
"""
from __future__ import annotations

import asyncio
import random
import time

from bench.common import summary_ms
from bench.http import GradioUser, HttpError


def explore_data(model: str, base: str, method: str, slider: int, w: float) -> list:
    """The /explore inputs: model, base, method, 8 direction weights, 4 raw offsets, pick dim and value."""
    weights = [0.0] * 12
    weights[slider % 12] = w
    return [model, base, method, *weights, 0, 0.0]


def value(k: int) -> tuple[int, float]:
    """The k-th distinct slider position: (slider index, value on the 0.05 grid in [-3, 3])."""
    return (k // 121) % 12, round(-3.0 + 0.05 * (k % 121), 2)


async def _user(user: GradioUser, uid: int, url: str, ids: dict, api_name: str, queued: bool, model: str,
                base: str, method: str, rate_hz: float, stop_at: float, rec: dict, timeout_s: float) -> None:
    rng = random.Random(uid)
    period = 1.0 / rate_hz
    k = uid * 997
    pending = asyncio.Event()
    try:
        await asyncio.sleep(rng.random() * period)
        next_tick = time.perf_counter()

        async def ticker():
            nonlocal next_tick
            while time.perf_counter() < stop_at:
                pending.set()
                rec["ticks"] += 1
                next_tick += period
                await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
            pending.set()

        tick_task = asyncio.create_task(ticker())
        while True:
            await pending.wait()
            if time.perf_counter() >= stop_at:
                break
            pending.clear()
            k += 1
            slider, w = value(k)
            t0 = time.perf_counter()
            try:
                _, t = await asyncio.wait_for(
                    user.event(api_name, explore_data(model, base, method, slider, w), queued=queued), timeout_s)
                rec["lat"].append(t["total"])
                rec["done_at"].append(time.perf_counter())
            except (HttpError, asyncio.TimeoutError, OSError, ValueError, KeyError) as exc:
                rec["errors"] += 1
                rec["error_samples"].append(f"{type(exc).__name__}: {str(exc)[:200]}")
                await user.close()  # a timed-out stream leaves its connection mid-response: reconnect
            rec["sent"] += 1
            rec["sent_at"].append(t0)
        tick_task.cancel()
    finally:
        await user.close()


async def make_sessions(url: str, ids: dict, model: str, n: int) -> list[str]:
    """``n`` tabs that loaded the page (select_model in their session); their session hashes, for reuse."""
    out = []
    for _ in range(n):
        u = GradioUser(url, ids)
        try:
            await u.select(model)
        finally:
            await u.close()
        out.append(u.session)
    return out


async def run_users(url: str, ids: dict, n_users: int, seconds: float, model: str, base: str, method: str,
                    api_name: str = "explore", queued: bool = True, rate_hz: float = 10.0,
                    timeout_s: float = 30.0, sessions: list[str] | None = None) -> dict:
    """N users for ``seconds``; latency summary, errors, throughput (events/s) and ticks coalesced.

    ``sessions``: session hashes from ``make_sessions`` (else each user loads the page first, untimed)."""
    rec = {"lat": [], "errors": 0, "error_samples": [], "ticks": 0, "sent": 0, "sent_at": [], "done_at": []}
    if sessions is None:
        sessions = await make_sessions(url, ids, model, n_users)
    users = [GradioUser(url, ids, session=s) for s in sessions[:n_users]]
    t_start = time.perf_counter()
    stop_at = t_start + seconds
    tasks = [asyncio.create_task(_user(u, i, url, ids, api_name, queued, model, base, method, rate_hz, stop_at, rec,
                                       timeout_s)) for i, u in enumerate(users)]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    done_in_window = sum(1 for t in rec["done_at"] if t <= stop_at)
    return {"users": n_users, "seconds": round(seconds, 1), "rate_hz_per_user": rate_hz, "api_name": api_name,
            "queued": queued, "latency_ms": summary_ms(rec["lat"]), "errors": rec["errors"],
            "error_samples": rec["error_samples"][:5], "ticks": rec["ticks"], "sent": rec["sent"],
            "coalesced": max(0, rec["ticks"] - rec["sent"]),
            "throughput_per_s": round(done_in_window / seconds, 2),
            "offered_per_s": round(n_users * rate_hz, 1), "elapsed_s": round(elapsed, 2),
            "_raw": {"lat": rec["lat"], "done": done_in_window}}


def merge(runs: list[dict]) -> dict:
    """One result from several rounds of the same variant (latencies pooled, counts summed)."""
    lat = [x for r in runs for x in r["_raw"]["lat"]]
    seconds = sum(r["seconds"] for r in runs)
    out = {k: runs[0][k] for k in ("users", "rate_hz_per_user", "api_name", "queued", "offered_per_s")}
    out.update(seconds=round(seconds, 1), rounds=len(runs), latency_ms=summary_ms(lat),
               errors=sum(r["errors"] for r in runs), error_samples=[e for r in runs for e in r["error_samples"]][:5],
               ticks=sum(r["ticks"] for r in runs), sent=sum(r["sent"] for r in runs),
               coalesced=sum(r["coalesced"] for r in runs),
               throughput_per_s=round(sum(r["_raw"]["done"] for r in runs) / seconds, 2))
    return out


def sessions(url: str, ids: dict, model: str, n: int) -> list[str]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make_sessions(url, ids, model, n)).result()


def run(url: str, ids: dict, n_users: int, seconds: float, model: str, base: str, method: str, **kw) -> dict:
    """``run_users`` in a helper thread (the caller's thread may hold playwright's event loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_users(url, ids, n_users, seconds, model, base, method, **kw)).result()
