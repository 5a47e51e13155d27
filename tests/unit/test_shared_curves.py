"""The learning curves a class shares (training/transfer/shared_curves.py): one computation per request, joined by
every session that asks while it runs, then served from memory and disk; Cancel stops it only when
nobody else watches."""

import threading

from training.config import TrainConfig
from training.data.data import TextDataset
from training.transfer.learning_curves import CurvePoint
from training.transfer.shared_curves import SharedCurves, request_key
from training.transfer.transfer import ViewData


def _data(texts=("a good film", "a bad film", "great fun", "dull plot")) -> ViewData:
    ds = TextDataset(list(texts), [1, 0, 1, 0], ["negative", "positive"])
    return ViewData("toy", ds, ds)


class FakeRuns:
    """Stands for the curves' runs: ``total`` points, each released by the test (or all at once)."""

    def __init__(self, total=3, gated=True):
        self.total, self.calls, self.gate = total, 0, threading.Semaphore(0 if gated else 1000)
        self.stopped = threading.Event()

    def __call__(self, on_point, should_stop):
        self.calls += 1
        points = []
        for i in range(self.total):
            while not self.gate.acquire(timeout=0.05):
                if should_stop():
                    self.stopped.set()
                    return points
            point = CurvePoint("pretrained", 16 * 4 ** i, 0.5 + 0.1 * i, 1.0)
            points.append(point)
            on_point(point)
        return points


def test_two_sessions_asking_the_same_curves_share_one_computation_then_the_cache(tmp_path):
    shared, runs = SharedCurves(tmp_path), FakeRuns()
    first = shared.join("key", "alice", 3, runs)
    second = shared.join("key", "bob", 3, runs)
    assert second is first and shared.computed == 1 and not first.cached
    runs.gate.release()
    assert len(second.wait(0, 5)) == 1  # bob sees the point alice's click computed
    runs.gate.release(2)
    first.job.wait(5)
    assert first.complete and runs.calls == 1
    later = shared.join("key", "carol", 3, runs)  # a later student: from the cache, nothing run
    assert later.cached and later.complete and [p.examples for p in later.points] == [16, 64, 256]
    assert runs.calls == 1 and shared.computed == 1
    # the cache is on disk too: a restarted server serves it without computing
    again = SharedCurves(tmp_path).join("key", "dave", 3, runs)
    assert again.cached and again.points == later.points and runs.calls == 1


def test_cancel_stops_the_computation_only_when_nobody_watches_it(tmp_path):
    shared, runs = SharedCurves(tmp_path), FakeRuns()
    computation = shared.join("key", "alice", 3, runs)
    assert shared.join("key", "alice", 3, runs) is computation  # a second click keeps the computation going
    assert shared.computed == 1 and not computation.job.cancelled.is_set()
    shared.join("key", "bob", 3, runs)
    assert shared.leave("alice") and not shared.watching("alice", computation)
    assert not runs.stopped.wait(0.3)  # bob still watches: it goes on
    assert shared.leave("bob") and runs.stopped.wait(5)
    computation.job.wait(5)
    assert computation.finished and not computation.complete
    assert shared.cached("key") is None  # an incomplete set is not cached
    assert not shared.leave("bob")  # nothing left to cancel
    fresh = shared.join("key", "bob", 3, FakeRuns(gated=False))  # asked again: computed again
    fresh.job.wait(5)
    assert fresh.complete and shared.computed == 2


def test_a_failed_computation_is_reported_to_its_watchers_and_not_cached(tmp_path):
    shared = SharedCurves(tmp_path)

    def broken(on_point, should_stop):
        raise RuntimeError("the worker died")

    computation = shared.join("key", "alice", 3, broken)
    computation.job.wait(5)
    assert isinstance(computation.error, RuntimeError) and computation.finished
    assert shared.cached("key") is None


def test_the_key_covers_data_model_and_settings():
    data, config = _data(), TrainConfig(max_length=64)
    key = request_key(data, "model-a", config, ["pretrained", "frozen"])
    assert key == request_key(_data(), "model-a", TrainConfig(max_length=64), ["frozen", "pretrained"])
    assert key == request_key(data, "model-a", TrainConfig(max_length=64, max_train_minutes=3), ["pretrained", "frozen"])
    others = [request_key(_data(("a good film", "a bad film", "great fun", "dull plots")), "model-a", config,
                          ["pretrained", "frozen"]),
              request_key(data, "model-b", config, ["pretrained", "frozen"]),
              request_key(data, "model-a", TrainConfig(max_length=64, seed=1), ["pretrained", "frozen"]),
              request_key(data, "model-a", TrainConfig(max_length=128), ["pretrained", "frozen"]),
              request_key(data, "model-a", config, ["pretrained"])]
    assert len({key, *others}) == 6


def run_async(make):
    """``asyncio.run(make())`` in a thread of its own: in a test run with the browser tests,
    playwright's sync API holds the main thread's event loop."""
    import asyncio

    result = {}
    thread = threading.Thread(target=lambda: result.update(value=asyncio.run(make())))
    thread.start()
    thread.join(30)
    return result["value"]


def test_a_class_awaiting_one_computation_holds_no_thread_per_student(tmp_path):
    """Thirty students' handlers await the points on the event loop: no thread each, and every one
    of them wakes with the point the one computation made."""
    import asyncio

    shared, runs = SharedCurves(tmp_path), FakeRuns()
    computation = shared.join("key", "alice", 3, runs)

    async def class_waits():
        before = threading.active_count()
        waiting = [asyncio.create_task(computation.changed(0, 30)) for _ in range(30)]
        await asyncio.sleep(0.2)  # every student is waiting now
        threads = threading.active_count()
        runs.gate.release()
        return before, threads, await asyncio.gather(*waiting)

    before, threads, seen = run_async(class_waits)
    assert threads == before  # no thread per student
    assert all(len(points) == 1 for points in seen)
    runs.gate.release(2)
    computation.job.wait(5)


def test_an_awaited_wait_ends_at_its_timeout_or_when_the_computation_ends(tmp_path):
    shared, runs = SharedCurves(tmp_path), FakeRuns()
    computation = shared.join("key", "alice", 3, runs)
    assert run_async(lambda: computation.changed(0, 0.05)) == []  # nothing yet: back after the timeout
    shared.leave("alice")  # nobody watches: the computation stops and ends
    assert run_async(lambda: computation.changed(0, 5)) == [] and computation.finished


def test_the_curves_handler_awaits_instead_of_holding_a_thread():
    import inspect

    from tabs.transfer import TransferTab

    assert inspect.isasyncgenfunction(TransferTab.learning_curves)
