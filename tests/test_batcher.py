"""genlab.batcher.MicroBatcher: same results as unbatched, real batching under concurrency, errors, close."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from genlab.batcher import BatcherClosed, MicroBatcher


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).eval()


class TestCorrectness:
    def test_results_match_unbatched_calls(self):
        net = model()
        xs = torch.randn(50, 8, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            expected = [net(x[None])[0] for x in xs]
            with MicroBatcher(lambda b: net(b), max_batch=16, max_wait_ms=5) as mb:
                futs = [mb.submit(x) for x in xs]
                got = [f.result(5) for f in futs]
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)

    def test_numpy_items_and_blocking_call(self):
        with MicroBatcher(lambda b: b * 2, max_wait_ms=0) as mb:
            np.testing.assert_array_equal(mb(np.arange(3)), np.arange(3) * 2)
            assert torch.equal(mb([1.0, 2.0]), torch.tensor([2.0, 4.0]))

    def test_mixed_shapes_are_batched_separately(self):
        seen = []

        def fn(b):
            seen.append(tuple(b.shape))
            return b.sum(1)

        with MicroBatcher(fn, max_batch=8, max_wait_ms=20) as mb:
            futs = [mb.submit(torch.ones(d)) for d in (2, 3, 2, 3, 2)]
            assert [f.result(5).item() for f in futs] == [2, 3, 2, 3, 2]
        assert all(s[1] in (2, 3) for s in seen) and sum(s[0] for s in seen) == 5


class TestBatching:
    def test_concurrent_submits_share_calls(self):
        calls = []

        def slow(b):
            calls.append(len(b))
            time.sleep(0.01)  # while one batch runs, the others queue up
            return b + 1

        n = 64
        with MicroBatcher(slow, max_batch=16, max_wait_ms=2) as mb, ThreadPoolExecutor(16) as pool:
            out = list(pool.map(lambda i: mb(torch.tensor([float(i)]), timeout=10), range(n)))
        assert [o.item() for o in out] == [i + 1 for i in range(n)]
        assert sum(calls) == n
        assert len(calls) < n / 2, f"no batching happened: {calls}"
        assert max(calls) <= 16
        assert mb.calls == len(calls) and mb.items == n and mb.largest == max(calls)

    def test_waits_for_company_at_most_max_wait(self):
        with MicroBatcher(lambda b: b, max_batch=4, max_wait_ms=30) as mb:
            t0 = time.perf_counter()
            mb(torch.zeros(2), timeout=5)
            single = time.perf_counter() - t0
            futs = [mb.submit(torch.zeros(2)) for _ in range(4)]  # a full batch goes at once
            [f.result(5) for f in futs]
        assert single < 1.0
        assert mb.largest == 4

    def test_max_batch_one_is_unbatched(self):
        with MicroBatcher(lambda b: b, max_batch=1, max_wait_ms=1) as mb:
            futs = [mb.submit(torch.zeros(1)) for _ in range(5)]
            [f.result(5) for f in futs]
        assert mb.calls == 5 and mb.largest == 1


class TestErrors:
    def test_error_reaches_every_future_of_the_batch(self):
        gate = threading.Event()

        def boom(b):
            gate.wait(5)
            raise ValueError(f"bad batch of {len(b)}")

        mb = MicroBatcher(boom, max_batch=8, max_wait_ms=50)
        futs = [mb.submit(torch.zeros(3)) for _ in range(4)]
        gate.set()
        for f in futs:
            with pytest.raises(ValueError, match="bad batch"):
                f.result(5)
        # the worker survives and serves later items
        mb.fn = lambda b: b + 1
        assert mb(torch.zeros(3), timeout=5).tolist() == [1, 1, 1]
        mb.close()

    def test_wrong_result_length_is_an_error(self):
        with MicroBatcher(lambda b: b[:1], max_batch=8, max_wait_ms=20) as mb:
            futs = [mb.submit(torch.zeros(2)) for _ in range(3)]
            errors = 0
            for f in futs:
                try:
                    f.result(5)
                except RuntimeError as exc:
                    assert "returned 1 results" in str(exc)
                    errors += 1
            assert errors >= 1

    def test_bad_arguments(self):
        with pytest.raises(ValueError):
            MicroBatcher(lambda b: b, max_batch=0)
        with pytest.raises(ValueError):
            MicroBatcher(lambda b: b, max_wait_ms=-1)


class TestClose:
    def test_close_serves_pending_then_refuses(self):
        gate = threading.Event()

        def fn(b):
            gate.wait(5)
            return b * 3

        mb = MicroBatcher(fn, max_batch=2, max_wait_ms=0)
        futs = [mb.submit(torch.ones(1)) for _ in range(5)]
        closer = threading.Thread(target=mb.close)
        closer.start()
        gate.set()
        closer.join(10)
        assert [f.result(5).item() for f in futs] == [3.0] * 5
        assert mb.closed and not mb._thread.is_alive()
        with pytest.raises(BatcherClosed):
            mb.submit(torch.ones(1))

    def test_close_is_idempotent_and_cancelled_futures_are_skipped(self):
        gate = threading.Event()
        seen = []

        def fn(b):
            gate.wait(5)
            seen.append(len(b))
            return b

        mb = MicroBatcher(fn, max_batch=1, max_wait_ms=0)
        first = mb.submit(torch.zeros(1))  # occupies the worker
        time.sleep(0.05)
        second = mb.submit(torch.zeros(1))
        assert second.cancel()
        gate.set()
        first.result(5)
        mb.close()
        mb.close()
        assert seen == [1] and second.cancelled()
