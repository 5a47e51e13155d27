"""QA post-processing on hand-made logits, windowing on the real WordPiece tokenizer, and the whole path."""

import itertools
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from lab import lean_bert, render_qa
from lab.errors import LabInputError
from lab.qa import answer_question, best_spans, fit_window, make_windows, select_answer, softmax
from lab.registry import embedded_encoder_dir

# [CLS] who ? [SEP] ctx ctx ctx ctx [SEP] [PAD] [PAD]: positions 4-7 are the context.
MASK = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
OFFSETS = [(0, 0), (0, 3), (3, 4), (0, 0), (0, 5), (6, 8), (9, 11), (12, 18), (0, 0), (0, 0), (0, 0)]

LONG_CONTEXT = " ".join(
    f"Station {i} on the northern line opened in {1900 + i} and serves the village of Wend{i}."
    for i in range(30)
)


def brute_force(start, end, mask, max_answer_len):
    """Every allowed (start, end) pair with its score, best first: the definition, written plainly."""
    pairs = [
        (start[i] + end[j], i, j)
        for i, j in itertools.product(range(len(start)), repeat=2)
        if mask[i] and mask[j] and i <= j < i + max_answer_len
    ]
    return sorted(pairs, key=lambda p: (-p[0], p[1], p[2]))


def test_best_span_is_the_argmax_of_start_plus_end():
    start = np.array([0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0], dtype=float)
    end = np.array([0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0], dtype=float)
    spans = best_spans(start, end, OFFSETS, MASK, max_answer_len=30, top_k=3)
    assert (spans[0].start_token, spans[0].end_token, spans[0].logit) == (5, 6, 9.0)
    assert (spans[0].char_start, spans[0].char_end) == (6, 11)  # offsets of tokens 5 and 6
    assert [s.logit for s in spans] == sorted((s.logit for s in spans), reverse=True)


def test_end_before_start_is_never_chosen():
    # The best start (6) lies after the best end (4): the answer must settle for a valid pair.
    start = np.array([0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0], dtype=float)
    end = np.array([0, 0, 0, 0, 9, 0, 1, 0, 0, 0, 0], dtype=float)
    best = best_spans(start, end, OFFSETS, MASK, 30, 1)[0]
    assert best.end_token >= best.start_token and (best.start_token, best.end_token) == (6, 6)


def test_question_special_tokens_and_padding_are_excluded():
    start = np.array([50, 40, 40, 40, 1, 0, 0, 0, 40, 60, 60], dtype=float)
    end = np.array([50, 40, 40, 40, 0, 0, 2, 0, 40, 60, 60], dtype=float)
    spans = best_spans(start, end, OFFSETS, MASK, 30, top_k=50)
    assert len(spans) == 10  # 4 context tokens: 4 + 3 + 2 + 1 ordered pairs
    assert all(MASK[s.start_token] and MASK[s.end_token] for s in spans)
    assert (spans[0].start_token, spans[0].end_token) == (4, 6)


def test_max_answer_length_limits_the_span():
    start = np.array([0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0], dtype=float)
    end = np.array([0, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0], dtype=float)
    assert best_spans(start, end, OFFSETS, MASK, 4, 1)[0].end_token == 7  # 4 tokens: allowed
    short = best_spans(start, end, OFFSETS, MASK, 3, 5)
    assert short[0].end_token == 6 and all(s.end_token - s.start_token < 3 for s in short)


@pytest.mark.parametrize("seed", range(5))
def test_top_k_matches_brute_force_on_random_logits(seed):
    rng = np.random.default_rng(seed)
    n = 40
    start, end = rng.normal(size=n), rng.normal(size=n)
    mask = np.zeros(n, dtype=bool)
    mask[7:35] = True
    offsets = [(i * 3, i * 3 + 2) for i in range(n)]
    spans = best_spans(start, end, offsets, mask, max_answer_len=6, top_k=8)
    expected = brute_force(start, end, mask, 6)[:8]
    assert [(s.start_token, s.end_token) for s in spans] == [(i, j) for _, i, j in expected]
    assert [s.logit for s in spans] == pytest.approx([score for score, _, _ in expected])


def test_windows_are_the_tokenizers_overflow_and_cover_every_context_token(bert_tokenizer):
    question = "Which village does station 17 serve?"
    windows = make_windows(bert_tokenizer, question, LONG_CONTEXT, max_length=64, stride=16)
    reference = bert_tokenizer(question, LONG_CONTEXT, truncation="only_second", max_length=64, stride=16,
                               return_overflowing_tokens=True, return_offsets_mapping=True)
    assert [w.input_ids for w in windows] == reference["input_ids"]
    assert len(windows) > 3 and all(len(w.input_ids) <= 64 for w in windows)
    assert all(w.tokens[w.cls_index] == "[CLS]" for w in windows)
    # Question tokens are never context: the question text sits before the first [SEP].
    first, _ = windows[0].context_tokens
    assert windows[0].tokens[first - 1] == "[SEP]" and not any(windows[0].context_mask[:first])
    # Every context token appears in some window, with the offsets the tokenizer gives alone.
    alone = bert_tokenizer(LONG_CONTEXT, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    seen = {tuple(o) for w in windows for o, m in zip(w.offsets, w.context_mask) if m}
    assert seen == {tuple(o) for o in alone}
    # Neighbours share exactly `stride` tokens.
    for a, b in zip(windows, windows[1:]):
        a_ctx = [o for o, m in zip(a.offsets, a.context_mask) if m]
        b_ctx = [o for o, m in zip(b.offsets, b.context_mask) if m]
        assert a_ctx[-16:] == b_ctx[:16]


def test_answer_across_a_window_edge_is_found_whole_in_the_next_window(bert_tokenizer):
    windows = make_windows(bert_tokenizer, "When did it open?", LONG_CONTEXT, max_length=48, stride=12)
    w0, w1 = windows[0], windows[1]
    _, last = w0.context_tokens
    # A 4-token answer whose first two tokens are the last two of window 0.
    char_start = w0.offsets[last - 1][0]
    tokens_alone = bert_tokenizer(LONG_CONTEXT, add_special_tokens=False, return_offsets_mapping=True)
    char_end = [e for s, e in tokens_alone["offset_mapping"] if s >= char_start][3]
    assert w0.token_span(char_start, char_end) is None
    s, e = w1.token_span(char_start, char_end)
    assert (w1.offsets[s][0], w1.offsets[e][1]) == (char_start, char_end) and e - s == 3

    # Hand-made logits: window 0 can only propose the cut-off half; window 1 sees it whole.
    n = max(len(w.input_ids) for w in windows)
    start_logits = np.zeros((len(windows), n))
    end_logits = np.zeros((len(windows), n))
    start_logits[0, last - 1], end_logits[0, last] = 6.0, 3.0
    start_logits[1, s], end_logits[1, e] = 6.0, 6.0
    result = select_answer(windows, start_logits, end_logits, LONG_CONTEXT, max_answer_len=10, top_k=5)
    assert result.answer == LONG_CONTEXT[char_start:char_end]
    assert (result.char_start, result.char_end, result.best.window) == (char_start, char_end, 1)
    assert result.window is w1 and not result.no_answer
    half = w0.offsets[last][1]
    assert any((c.char_start, c.char_end, c.window) == (char_start, half, 0) for c in result.candidates)


def test_candidates_are_deduplicated_across_windows(bert_tokenizer):
    windows = make_windows(bert_tokenizer, "When did it open?", LONG_CONTEXT, max_length=48, stride=12)
    w0, w1 = windows[0], windows[1]
    _, last = w0.context_tokens
    char_start, char_end = w0.offsets[last - 2][0], w0.offsets[last - 1][1]  # in the overlap
    s1, e1 = w1.token_span(char_start, char_end)
    n = max(len(w.input_ids) for w in windows)
    start_logits, end_logits = np.zeros((len(windows), n)), np.zeros((len(windows), n))
    start_logits[0, last - 2], end_logits[0, last - 1] = 4.0, 4.0
    start_logits[1, s1], end_logits[1, e1] = 5.0, 5.0
    result = select_answer(windows, start_logits, end_logits, LONG_CONTEXT, max_answer_len=10, top_k=20)
    spans = [(c.char_start, c.char_end) for c in result.candidates]
    assert len(spans) == len(set(spans)) == 20
    assert spans.count((char_start, char_end)) == 1
    assert result.best.window == 1 and result.best.logit == pytest.approx(10.0)
    assert [c.logit for c in result.candidates] == sorted((c.logit for c in result.candidates), reverse=True)


def test_scores_are_start_times_end_probabilities_in_the_window(bert_tokenizer):
    windows = make_windows(bert_tokenizer, "Who?", "Ada Lovelace wrote the first program.", 32, 4)
    rng = np.random.default_rng(1)
    n = len(windows[0].input_ids)
    start, end = rng.normal(size=(1, n)), rng.normal(size=(1, n))
    result = select_answer(windows, start, end, "Ada Lovelace wrote the first program.", 30, 3)
    best = result.best
    assert best.score == pytest.approx(softmax(start[0])[best.start_token] * softmax(end[0])[best.end_token])
    assert sum(result.start_probs) == pytest.approx(1.0) and len(result.end_probs) == n
    assert result.answer == "Ada Lovelace wrote the first program."[best.char_start:best.char_end]


def test_no_answer_compares_cls_with_the_best_span_and_the_threshold(bert_tokenizer):
    context = "Ada Lovelace wrote the first program."
    windows = make_windows(bert_tokenizer, "Who?", context, 32, 4)
    n = len(windows[0].input_ids)
    start, end = np.zeros((1, n)), np.zeros((1, n))
    first, last = windows[0].token_span(0, len("Ada Lovelace"))  # ada love ##lace
    start[0, first], end[0, last] = 3.0, 3.0  # best span: 6.0
    start[0, 0], end[0, 0] = 4.0, 4.0  # [CLS]: 8.0
    said_nothing = select_answer(windows, start, end, context, no_answer_threshold=0.0)
    assert said_nothing.no_answer and said_nothing.answer == "" and said_nothing.char_start is None
    assert said_nothing.null_score == pytest.approx(8.0) and said_nothing.best.text == "Ada Lovelace"
    assert "qa-rejected" in render_qa.context_html(context, said_nothing)
    answered = select_answer(windows, start, end, context, no_answer_threshold=2.5)
    assert not answered.no_answer and answered.answer == "Ada Lovelace"


def test_null_score_is_the_lowest_over_windows(bert_tokenizer):
    windows = make_windows(bert_tokenizer, "When?", LONG_CONTEXT, max_length=48, stride=12)
    n = max(len(w.input_ids) for w in windows)
    start, end = np.zeros((len(windows), n)), np.zeros((len(windows), n))
    start[:, 0] = end[:, 0] = 5.0
    start[2, 0] = end[2, 0] = -1.0  # one window is sure the answer is in it
    result = select_answer(windows, start, end, LONG_CONTEXT)
    assert result.null_score == pytest.approx(-2.0) and not result.no_answer


@pytest.mark.parametrize("question,max_length,stride,match", [
    ("What? " * 40, 64, 8, "Shorten the question"),
    ("Which one?", 64, 60, "stride .* must be smaller"),
    ("Which one?", 16, 4, "at least 32"),
    ("Which one?", 64, -1, "can't be negative"),
])
def test_bad_window_settings_are_explained(bert_tokenizer, question, max_length, stride, match):
    with pytest.raises(LabInputError, match=match):
        make_windows(bert_tokenizer, question, LONG_CONTEXT, max_length, stride)


def test_left_padding_tokenizers_read_the_context_first():
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_dir(), padding_side="left")
    windows = make_windows(tokenizer, "Who?", "Ada Lovelace wrote it.", 32, 4)
    w = windows[0]
    first, last = w.context_tokens
    assert first == 1 and w.tokens[last + 1] == "[SEP]" and w.tokens[-2] == "?"
    assert w.token_span(0, 12) == (1, 3)  # ada love ##lace


def test_fit_window_lowers_to_the_model_limit():
    assert fit_window(256, 64, 512) == (256, 64, None)
    max_length, stride, warning = fit_window(384, 128, 128)
    assert (max_length, stride) == (128, 42) and "at most 128 tokens" in warning


@pytest.fixture(scope="module")
def tiny_qa(tiny_qa_dir):
    return AutoModelForQuestionAnswering.from_pretrained(tiny_qa_dir).eval(), AutoTokenizer.from_pretrained(tiny_qa_dir)


def test_long_context_through_the_whole_path(tiny_qa):
    model, tok = tiny_qa
    question = "Which village does station 17 serve?"
    result = answer_question(model, tok, question, LONG_CONTEXT, max_length=96, stride=24,
                             max_answer_len=12, top_k=5, no_answer_threshold=10.0)
    assert len(result.windows) > 4 and (result.max_length, result.stride) == (96, 24)
    assert result.answer and result.answer == LONG_CONTEXT[result.char_start:result.char_end]
    assert result.answer in LONG_CONTEXT and len(result.candidates) == 5
    assert all(c.text == LONG_CONTEXT[c.char_start:c.char_end] for c in result.candidates)
    # The same answer, computed plainly: every window through the model, every allowed pair scored.
    windows = make_windows(tok, question, LONG_CONTEXT, 96, 24)
    best = None
    with torch.inference_mode():
        for w in windows:
            out = model(input_ids=torch.tensor([w.input_ids]), token_type_ids=torch.tensor([w.token_type_ids]))
            pairs = brute_force(out.start_logits[0].numpy(), out.end_logits[0].numpy(), w.context_mask, 12)
            score, i, j = pairs[0]
            if best is None or score > best[0]:
                best = (score, w.offsets[i][0], w.offsets[j][1], w.index)
    assert (result.char_start, result.char_end, result.best.window) == best[1:]
    assert result.best_logit == pytest.approx(best[0], abs=1e-4)
    assert result.window.index == result.best.window and len(result.start_probs) == len(result.window.tokens)


def test_windows_run_unpadded_in_same_length_batches_with_the_padded_answer(tiny_qa, monkeypatch):
    model, tok = tiny_qa
    question = "Which village does station 17 serve?"
    windows = make_windows(tok, question, LONG_CONTEXT, 96, 24)
    lengths = [len(w.input_ids) for w in windows]
    assert set(lengths[:-1]) == {96} and lengths[-1] < 96  # the last window is the short one
    # The plain way: every window in one batch, padded to the longest.
    padded = tok.pad({"input_ids": [w.input_ids for w in windows],
                      "token_type_ids": [w.token_type_ids for w in windows]}, return_tensors="pt")
    with torch.inference_mode():
        out = model(**padded)
    expected = select_answer(windows, out.start_logits.numpy(), out.end_logits.numpy(), LONG_CONTEXT, 12, 5, 10.0)

    seen = []
    forward = lean_bert.forward

    def spy(model, batch):
        seen.append((*batch["input_ids"].shape, batch.get("attention_mask")))
        return forward(model, batch)

    monkeypatch.setattr(lean_bert, "forward", spy)
    result = answer_question(model, tok, question, LONG_CONTEXT, 96, 24, 12, 5, 10.0)
    assert seen == [(len(windows) - 1, 96, None), (1, lengths[-1], None)]  # no padding, so no mask
    assert [(c.char_start, c.char_end, c.window) for c in result.candidates] == \
           [(c.char_start, c.char_end, c.window) for c in expected.candidates]
    for ours, theirs in zip(result.candidates, expected.candidates):
        assert ours.logit == pytest.approx(theirs.logit, abs=1e-4)
        assert ours.score == pytest.approx(theirs.score, abs=1e-5)


def test_model_limit_is_respected_with_a_warning(tiny_qa):
    model, tok = tiny_qa  # 128 position embeddings
    result = answer_question(model, tok, "Which station opened in 1917?", LONG_CONTEXT)
    assert result.max_length == 128 and len(result.window.input_ids) <= 128
    assert any("at most 128 tokens" in w for w in result.warnings)


@pytest.mark.parametrize("question,context,match", [("", "Some text.", "question is empty"),
                                                    ("Who?", "   ", "context is empty")])
def test_empty_inputs_are_explained(tiny_qa, question, context, match):
    with pytest.raises(LabInputError, match=match):
        answer_question(*tiny_qa, question, context)


def test_renderers_escape_and_mark(tiny_qa):
    model, tok = tiny_qa
    context = "<script>alert(1)</script> The lamp burned oil & gas. " * 12
    result = answer_question(model, tok, "What did the lamp burn?", context, 64, 16, no_answer_threshold=10.0)
    html = render_qa.context_html(context, result)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('class="qa-mark"') == 1 and "qa-window" in html
    svg = ElementTree.fromstring(render_qa.probability_svg(result))  # well-formed, everything escaped
    ns = {"svg": "http://www.w3.org/2000/svg"}
    for name, chosen, probs in (("start", result.best.start_token, result.start_probs),
                                ("end", result.best.end_token, result.end_probs)):
        bars = svg.findall(f".//svg:rect[@class='qa-bar-{name}']", ns)  # one bar per token of the window
        assert len(bars) == len(result.window.tokens)
        assert [i for i, bar in enumerate(bars) if bar.get("fill") == render_qa.CHOSEN_COLOR] == [chosen]
        heights = [float(bar.get("height")) for bar in bars]
        assert heights.index(max(heights)) == int(np.argmax(probs))  # bar heights follow the probabilities
        tip = bars[chosen].find("svg:title", ns).text
        assert tip.startswith(result.window.tokens[chosen]) and render_qa.percent(probs[chosen]) in tip
    assert bars[result.window.cls_index].get("fill") == render_qa.CLS_COLOR
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text") if "rotate" in (t.get("transform") or "")]
    assert labels == [render_qa._short(t) for t in result.window.tokens]  # every token labelled, in order
    raw = render_qa.raw_output(result)
    assert raw["answer"] == result.answer and raw["window"] == result.best.window + 1
    assert len(raw["tokens"]) == len(result.window.tokens) and len(raw["candidates"]) == 5
