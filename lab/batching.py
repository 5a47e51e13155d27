"""Concurrent requests for one model run as one forward pass: batching across users, with no wait when idle.

A short sentence's forward pass is mostly fixed cost, not arithmetic on its rows: each of MiniLM's
36 matmuls is called for ~16 rows, and the per-call work (the kernel's set-up, Python between
operations) barely grows with them, so several sentences in one pass cost each less than one alone
(bench/load.py). When a class sends requests at once, batching them is what the CPU has to give.

No timer and no batching thread: the first request for a model (its *leader*) runs at once, alone
if nothing else is waiting, so an idle server answers as fast as without batching. Requests for
the same model that arrive meanwhile queue; when the leader's pass ends, the oldest of them leads
the next pass with everything that queued (up to ``max_batch``). ``slots`` passes run at once (one
per core: more would only slow each other), and waiting for a slot is when a batch fills up.

Items are padded to the longest in the batch, with the attention mask hiding the padding, so an
answer differs from the single pass by rounding only (~1e-7 in the logits; tests/unit/test_batching.py).
A pass that fails is retried item by item, so one request's failure is its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported on first use: app.py configures FORWARDS before serving the page
    import torch


class _Request:
    __slots__ = ("item", "result", "error", "done", "lead")

    def __init__(self, item: Any):
        self.item = item
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lead = False  # set (with done) when this request is to lead the next pass


class Batcher:
    """``run(key, item, run_batch)``: ``run_batch(items) -> results`` over every item queued for ``key``."""

    def __init__(self, slots: int = 2, max_batch: int = 8):
        self.configure(slots, max_batch)
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[_Request]] = {}  # a key is present while it has a leader
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # of recent passes, for tests and benchmarks

    def configure(self, slots: int, max_batch: int) -> None:
        if slots < 1 or max_batch < 1:
            raise ValueError("slots and max_batch must be at least 1")
        self._slots = threading.BoundedSemaphore(slots)
        self.max_batch = max_batch

    def run(self, key: Hashable, item: Any, run_batch: Callable[[list], Sequence]) -> Any:
        request = _Request(item)
        with self._lock:
            queue = self._queues.get(key)
            lead = queue is None
            if lead:
                self._queues[key] = [request]
            else:
                queue.append(request)
        if not lead:
            request.done.wait()
            if not request.lead:
                return _outcome(request)
            request.done.clear()
        self._lead(key, run_batch)
        return _outcome(request)

    def _lead(self, key: Hashable, run_batch: Callable[[list], Sequence]) -> None:
        """Run one pass over the oldest queued requests (the leader's own among them), then hand on."""
        batch: list[_Request] = []
        try:
            with self._slots:
                with self._lock:
                    queue = self._queues[key]
                    batch, queue[:] = queue[:self.max_batch], queue[self.max_batch:]
                self.batch_sizes.append(len(batch))
                _run(batch, run_batch)
        finally:
            for request in batch:
                if not request.done.is_set():
                    request.error = request.error or RuntimeError("the batched forward pass was interrupted")
                    request.done.set()
            with self._lock:
                queue = self._queues[key]
                if queue:
                    queue[0].lead = True
                    queue[0].done.set()
                else:
                    del self._queues[key]


def _run(batch: list[_Request], run_batch: Callable[[list], Sequence]) -> None:
    try:
        results = run_batch([r.item for r in batch])
        if len(results) != len(batch):
            raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} items")
    except Exception as exc:
        if len(batch) > 1:  # one item may be to blame: give each its own pass and its own outcome
            for request in batch:
                _run([request], run_batch)
            return
        batch[0].error = exc
        batch[0].done.set()
        return
    for request, result in zip(batch, results):
        request.result = result
        request.done.set()


def _outcome(request: _Request) -> Any:
    if request.error is not None:
        raise request.error
    return request.result


# The process's batcher; app.py sizes it from the settings (Settings.forward_slots, max_batch).
FORWARDS = Batcher()


def right_pad_id(tokenizer) -> int | None:
    """The id that pads a batch of this tokenizer's inputs on the right; None when its requests
    can't share a padded pass (no pad token, or padding on the left)."""
    return tokenizer.pad_token_id if tokenizer.padding_side == "right" else None


def shared_pass(key: Hashable, inputs: dict, pad_id: int | None, forward: Callable[[dict], Any],
                take: Callable[[Any, int, dict], Any]) -> Any:
    """``take(forward(batch), i, inputs)``: this request's part of a pass over its one-row ``inputs``
    padded together with the other requests for ``key`` that come at once (alone without ``pad_id``)."""
    if pad_id is None:
        return take(forward(inputs), 0, inputs)

    def run(items: list[dict]) -> list:
        out = forward(pad(items, pad_id))
        return [take(out, i, item) for i, item in enumerate(items)]

    return FORWARDS.run(key, inputs, run)


def pad(items: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """One-row tokenizer outputs (input_ids, optional token_type_ids/attention_mask of shape (1, n))
    padded on the right to one batch, with the attention mask that hides the padding."""
    import torch
    longest = max(item["input_ids"].shape[-1] for item in items)
    out: dict[str, torch.Tensor] = {}
    names = [k for k in ("input_ids", "token_type_ids") if all(k in item for item in items)]
    for name in names:
        fill = pad_id if name == "input_ids" else 0
        out[name] = torch.stack([torch.nn.functional.pad(item[name][0], (0, longest - item[name].shape[-1]), value=fill)
                                 for item in items])
    out["attention_mask"] = torch.stack([
        torch.nn.functional.pad(item.get("attention_mask", torch.ones_like(item["input_ids"]))[0],
                                (0, longest - item["input_ids"].shape[-1]), value=0)
        for item in items])
    return out
