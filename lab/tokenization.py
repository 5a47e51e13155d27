"""What a tokenizer does to text, as plain data: pieces, ids, kinds, offsets, batches.

Also trains a small WordPiece vocabulary on the spot (``train_wordpiece``), so a student can
see how the vocabulary size changes the split without any download.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lab.errors import LabInputError
from lab.i18n import Message, msg

if TYPE_CHECKING:  # the tabs import this module to lay out the page, before transformers is imported
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast


# Scripts written without spaces between words: each character counts as one word-like unit
# (CJK ideographs, kana, and the CJK compatibility block), as BERT's own tokenizer splits them.
_NO_SPACE_SCRIPTS = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def count_words(text: str) -> int:
    """Words in ``text``: whitespace-separated chunks, with each CJK character counted on its own
    ("貓追狗" is 3, "I love 貓" is 3): never "1 word" for a Chinese sentence."""
    total = 0
    for chunk in text.split():
        cjk = len(_NO_SPACE_SCRIPTS.findall(chunk))
        if not cjk:
            total += 1
            continue
        # "貓追狗。" is 3 words; "BERT模型" is 1 + 2 (the Latin run, then each character)
        rest = _NO_SPACE_SCRIPTS.sub(" ", chunk).split()
        total += cjk + sum(1 for r in rest if any(ch.isalnum() for ch in r))
    return total


@dataclass(frozen=True)
class LanguageRow:
    language: str
    tokenizer: str
    words: int
    pieces: int  # without [CLS]/[SEP]
    unknown: int  # [UNK] pieces

    @property
    def per_word(self) -> float:
        return self.pieces / max(1, self.words)

    @property
    def unknown_rate(self) -> float:
        return self.unknown / max(1, self.pieces)


def compare_languages(tokenizers: dict[str, PreTrainedTokenizerBase],
                      sentences: list[tuple[str, str]]) -> list[LanguageRow]:
    """Each (language, sentence) through each tokenizer: pieces per word and how many are [UNK].
    A vocabulary built for one language splits others into many pieces, or gives up ([UNK]):
    why multilingual models (mBERT, XLM-R) have vocabularies of 100k+ pieces over 100 languages."""
    rows = []
    for language, sentence in sentences:
        for name, tokenizer in tokenizers.items():
            pieces = tokenizer.tokenize(sentence)
            rows.append(LanguageRow(language, name, count_words(sentence), len(pieces),
                                    sum(p == tokenizer.unk_token for p in pieces)))
    return rows


@dataclass(frozen=True)
class Piece:
    index: int
    token: str
    id: int
    kind: str  # "special", "pad", "unk", "continuation" (## piece, or a piece without ▁) or "word"
    start: int | None  # character span in its source text; None for special tokens
    end: int | None
    segment: int | None  # 0 = first text, 1 = second text, None for special tokens
    source: str  # the characters the piece came from ("" for special tokens)


def marks_word_starts(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True for a SentencePiece (Unigram) vocabulary such as XLM-R's: ``▁`` starts a word and a piece
    without it continues one. WordPiece marks the continuation instead (``##``)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.model).__name__ == "Unigram"


def piece_kind(token: str, token_id: int, tokenizer: PreTrainedTokenizerBase,
               word_starts: bool | None = None) -> str:
    """``word_starts``: ``marks_word_starts(tokenizer)``, passed in by a caller that asks for many pieces."""
    if token_id == tokenizer.pad_token_id:
        return "pad"
    if token_id == tokenizer.unk_token_id:
        return "unk"
    if token_id in tokenizer.all_special_ids:
        return "special"
    if marks_word_starts(tokenizer) if word_starts is None else word_starts:
        return "word" if token.startswith("\u2581") else "continuation"
    if token.startswith("##"):
        return "continuation"
    return "word"


def max_input_length(tokenizer: PreTrainedTokenizerBase, config=None) -> int:
    """The longest input a model takes: the smaller of the tokenizer's and the position table's limits.

    Tokenizers with no limit of their own report a huge sentinel (1e30): ignored. With neither
    limit known, BERT's 512.
    """
    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if tokenizer_limit and tokenizer_limit < 100_000:
        limits.append(int(tokenizer_limit))
    positions = getattr(config, "max_position_embeddings", None) if config is not None else None
    if positions:
        limits.append(int(positions))
    return min(limits) if limits else 512


# Control (Cc), format (Cf: zero-width spaces, direction marks), surrogate and private-use characters:
# the tokenizer's normaliser drops them all, so a text made only of them reaches the model empty.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


# The boxes check_text and check_unicode name by their English word, so that a message says the
# box in the student's language; any other ``what`` (a Message, or a word not listed) is said as given.
_WHAT = {
    "text": "msg.lab.tokenization.what.text",
    "second text": "msg.lab.tokenization.what.second_text",
    "batch": "msg.lab.tokenization.what.batch",
    "first sentence": "msg.lab.tokenization.what.first_sentence",
    "second sentence": "msg.lab.tokenization.what.second_sentence",
    "question": "msg.lab.tokenization.what.question",
    "context": "msg.lab.tokenization.what.context",
}


def _what(what: str) -> str:
    return what if isinstance(what, Message) or what not in _WHAT else msg(_WHAT[what])


def check_unicode(value: str, what: str = "text") -> str:
    """Refuse a lone surrogate (e.g. ``\\udcff``, what a broken decode or copy leaves): it is not a
    character, cannot be encoded, and the tokenizer fails on it with a TypeError. Return ``value``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabInputError(msg("msg.lab.tokenization.not_a_character", what=_what(what),
                                char=repr(value[exc.start]), position=f"{exc.start + 1:,}")) from None
    return value


def check_text(text: str, max_chars: int, what: str = "text") -> str:
    """Refuse text a model can't use, with a message that says what to change; return it unchanged.

    Control characters (NUL, escape codes) inside real text are fine: the tokenizer drops them.
    """
    if text is None or not text.strip():
        raise LabInputError(msg("msg.lab.tokenization.empty", what=_what(what)))
    if all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in text[:max_chars + 1]):
        raise LabInputError(msg("msg.lab.tokenization.invisible_only", what=_what(what)))
    if len(text) > max_chars:
        raise LabInputError(msg("msg.lab.tokenization.too_long", what=_what(what),
                                chars=f"{len(text):,}", max_chars=f"{max_chars:,}"))
    return text


def tokenize_pieces(
    tokenizer: PreTrainedTokenizerBase,
    text: str,
    text_pair: str | None = None,
    max_length: int | None = None,
) -> list[Piece]:
    """Tokenize one text (or a pair, as BERT sees it for QA/NSP) into ``Piece``s.

    Offsets link every piece back to the characters of the text it came from, so a UI can
    show that "##ing" is the last three letters of "playing".
    """
    encoding = tokenizer(
        text,
        text_pair or None,
        return_offsets_mapping=True,
        truncation=max_length is not None,
        max_length=max_length,
    )
    ids = encoding["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    sequence_ids = encoding.sequence_ids()
    sources = (text, text_pair or "")
    pieces = []
    word_starts = marks_word_starts(tokenizer)
    for i, (token, token_id, (start, end), seq) in enumerate(
        zip(tokens, ids, encoding["offset_mapping"], sequence_ids)
    ):
        kind = piece_kind(token, token_id, tokenizer, word_starts)
        if seq is None:
            pieces.append(Piece(i, token, token_id, kind, None, None, None, ""))
        else:
            pieces.append(Piece(i, token, token_id, kind, start, end, seq, sources[seq][start:end]))
    return pieces


@dataclass(frozen=True)
class BatchRow:
    line: str
    words: int
    tokens: int  # real tokens (attention_mask == 1), specials included
    truncated: bool
    pieces: list[str]
    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int]


def tokenize_batch(
    tokenizer: PreTrainedTokenizerBase,
    lines: list[str],
    padding: bool = True,
    truncation: bool = True,
    max_length: int = 32,
) -> list[BatchRow]:
    """Tokenize several lines together, as a model's input batch is built.

    With padding, every row is as long as the longest (or ``max_length`` when truncating):
    the [PAD] positions get attention_mask 0 so the model ignores them.
    """
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise LabInputError(msg("msg.lab.tokenization.batch_empty"))
    if max_length < 4:
        raise LabInputError(msg("msg.lab.tokenization.max_length_min"))
    model_max = getattr(tokenizer, "model_max_length", 512) or 512
    if max_length > min(model_max, 4096):
        raise LabInputError(msg("msg.lab.tokenization.max_length_above", max_length=max_length, model_max=model_max))
    full = tokenizer(lines, truncation=False)
    batch = tokenizer(
        lines,
        padding="longest" if padding else False,
        truncation=truncation,
        max_length=max_length if truncation else None,
        return_token_type_ids=True,
    )
    rows = []
    for i, line in enumerate(lines):
        ids = batch["input_ids"][i]
        mask = batch["attention_mask"][i]
        rows.append(
            BatchRow(
                line=line,
                words=count_words(line),
                tokens=sum(mask),
                truncated=len(full["input_ids"][i]) > sum(mask),
                pieces=tokenizer.convert_ids_to_tokens(ids),
                input_ids=list(ids),
                attention_mask=list(mask),
                token_type_ids=list(batch["token_type_ids"][i]),
            )
        )
    return rows


@lru_cache(maxsize=16)
def train_wordpiece(corpus_path: Path, vocab_size: int, lowercase: bool = True) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on a text file, in well under a second.

    A small vocabulary keeps only frequent words whole and splits the rest into ## pieces;
    a large one keeps more words whole. That trade-off is what the Tokenizer tab shows.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if not 40 <= vocab_size <= 30000:
        raise LabInputError(msg("msg.lab.tokenization.vocab_size"))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=1,
                                        show_progress=False)  # its bars are blank lines in a server log
    tok.train([str(corpus_path)], trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=512,
    )
