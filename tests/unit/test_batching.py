"""lab/batching.py: requests that come at once share a pass, each gets its own answer, failures stay its own."""

import threading
import time

import pytest
import torch
import transformers

from lab import batching
from lab.attn_impl import register
from lab.batching import Batcher, pad
from lab.classify import classify
from lab.fill_mask import fill_mask
from lab.ner import tag_entities
from lab.predict import MaskLogits, SequenceLogits, TokenLogits
from lab.qa import answer_question


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queued(batcher: Batcher, key) -> int:
    with batcher._lock:
        return len(batcher._queues.get(key, []))


def run_held(batcher: Batcher, calls: list[tuple], run_batch) -> list:
    """Start every call while the batcher's only slot is held, so they queue; then let them run."""
    results: list = [None] * len(calls)

    def call(i, key, item):
        try:
            results[i] = batcher.run(key, item, run_batch)
        except Exception as exc:  # the outcome is what is checked
            results[i] = exc

    batcher._slots.acquire()
    threads = [threading.Thread(target=call, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for key in {k for k, _ in calls}:
        wait_until(lambda key=key: queued(batcher, key) == sum(k == key for k, _ in calls))
    batcher._slots.release()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    return results


def test_alone_a_request_runs_at_once_in_a_pass_of_its_own():
    batcher = Batcher(slots=1)
    passes = []
    assert batcher.run("k", 3, lambda items: passes.append(items) or [x * 10 for x in items]) == 30
    assert passes == [[3]] and list(batcher.batch_sizes) == [1] and not batcher._queues


def test_requests_that_queue_share_one_pass_and_get_their_own_results():
    batcher = Batcher(slots=1, max_batch=8)
    passes = []
    results = run_held(batcher, [("k", i) for i in range(6)], lambda items: passes.append(sorted(items)) or
                       [x * 10 for x in items])
    assert results == [0, 10, 20, 30, 40, 50]
    assert passes == [[0, 1, 2, 3, 4, 5]] and not batcher._queues


def test_max_batch_splits_the_queue_and_the_next_waiting_request_leads():
    batcher = Batcher(slots=1, max_batch=4)
    results = run_held(batcher, [("k", i) for i in range(10)], lambda items: [x + 1 for x in items])
    assert results == list(range(1, 11))
    assert sorted(batcher.batch_sizes) == [2, 4, 4] and not batcher._queues


def test_keys_never_mix():
    batcher = Batcher(slots=1)
    passes = []
    results = run_held(batcher, [("a", 1), ("b", 2), ("a", 3), ("b", 4)],
                       lambda items: passes.append(sorted(items)) or list(items))
    assert results == [1, 2, 3, 4] and sorted(passes) == [[1, 3], [2, 4]]


def test_a_failing_item_fails_alone():
    batcher = Batcher(slots=1)

    def run_batch(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [x.upper() for x in items]

    results = run_held(batcher, [("k", "a"), ("k", "bad"), ("k", "c")], run_batch)
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], ValueError) and "bad item" in str(results[1])
    assert not batcher._queues
    assert batcher.run("k", "d", run_batch) == "D"  # the batcher still works


def test_slots_bound_the_passes_running_at_once():
    batcher = Batcher(slots=2)
    running, peak, lock = [0], [0], threading.Lock()

    def run_batch(items):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return items

    threads = [threading.Thread(target=batcher.run, args=(f"key{i}", i, run_batch)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 2


def test_pad_masks_the_padding_and_keeps_segments():
    items = [{"input_ids": torch.tensor([[101, 7, 102]]), "token_type_ids": torch.tensor([[0, 0, 1]])},
             {"input_ids": torch.tensor([[101, 102]]), "token_type_ids": torch.tensor([[0, 1]]),
              "attention_mask": torch.tensor([[1, 1]])}]
    out = pad(items, pad_id=0)
    assert out["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert out["token_type_ids"].tolist() == [[0, 0, 1], [0, 1, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]


@pytest.fixture
def held_forwards(monkeypatch):
    batcher = Batcher(slots=1, max_batch=8)
    monkeypatch.setattr(batching, "FORWARDS", batcher)
    return batcher


TEXTS = ["Ada Lovelace met Charles Babbage in London.", "A fine film.",
         "The [MASK] was slow but the [MASK] was good.", "I [MASK] dogs."]


@pytest.mark.parametrize("task", ["classify", "ner", "fill-mask"])
def test_tasks_batched_answer_as_they_do_alone(task, held_forwards, tiny_cls_dir, tiny_ner_dir, tiny_mlm_dir,
                                               bert_tokenizer):
    register()
    directory, auto = {"classify": (tiny_cls_dir, "SequenceClassification"),
                       "ner": (tiny_ner_dir, "TokenClassification"), "fill-mask": (tiny_mlm_dir, "MaskedLM")}[task]
    model = getattr(transformers, f"AutoModelFor{auto}").from_pretrained(directory, attn_implementation="lab_sdpa").eval()
    texts = [t for t in TEXTS if ("[MASK]" in t) == (task == "fill-mask")] * 2  # different lengths, repeated

    def answer(text):
        if task == "classify":
            return classify(model, bert_tokenizer, text, explain=False).probabilities
        if task == "ner":
            return [(p.token, p.tag, p.score) for p in tag_entities(model, bert_tokenizer, text, "simple").pieces]
        return [[(c.token, c.score) for c in m.candidates] for m in fill_mask(model, bert_tokenizer, text, 5).masks]

    alone = [answer(t) for t in texts]
    assert list(held_forwards.batch_sizes) == [1] * len(texts)
    key = {"classify": SequenceLogits, "ner": TokenLogits, "fill-mask": MaskLogits}[task].for_model(model, bert_tokenizer)
    results: list = [None] * len(texts)
    held_forwards._slots.acquire()
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, answer(texts[i]))) for i in range(len(texts))]
    for t in threads:
        t.start()
    wait_until(lambda: queued(held_forwards, key) == len(texts))
    held_forwards._slots.release()
    for t in threads:
        t.join(30)
    assert list(held_forwards.batch_sizes)[len(texts):] == [len(texts)]  # one pass for all of them
    for ours, single in zip(results, alone):
        assert _close(ours, single), (ours, single)


def _close(a, b) -> bool:
    """Equal structure; floats within 1e-5 (padding changes the sums' rounding, nothing else)."""
    if isinstance(a, float):
        return a == pytest.approx(b, abs=1e-5)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def test_qa_windows_of_one_length_from_two_requests_share_a_pass(held_forwards, tiny_qa_dir, bert_tokenizer):
    register()
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(tiny_qa_dir, attn_implementation="lab_sdpa").eval()
    context = "Ada Lovelace met Charles Babbage in London in 1833."
    questions = ["Who met him there?", "Where did they meet?"]  # the same number of tokens

    def answer(question):
        return [(c.text, c.score) for c in answer_question(model, bert_tokenizer, question, context).candidates]

    alone = [answer(q) for q in questions]
    results: list = [None, None]
    held_forwards._slots.acquire()
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, answer(questions[i]))) for i in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: sum(len(q) for q in held_forwards._queues.values()) == 2)
    held_forwards._slots.release()
    for t in threads:
        t.join(30)
    assert list(held_forwards.batch_sizes) == [1, 1, 2]  # alone twice, then one pass for both
    assert all(_close(ours, single) for ours, single in zip(results, alone)), (results, alone)
