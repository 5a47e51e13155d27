"""A small common-sense cloze set the project wrote, to score fill-mask heads by hand-checked answers.

Each sentence has one ``[MASK]`` and a few answers a reader would accept (single WordPiece tokens
of the uncased BERT vocabulary). A sentence is a top-k hit when any accepted answer is among the
model's k best tokens. Written for this project (not taken from any dataset), so it is free of
the training data and of licence terms.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lab.settings import ASSETS_DIR

# Held out from every fill-mask training: dated, written before a model answered it, never edited.
EVERYDAY = ASSETS_DIR / "eval" / "cloze-everyday.json"

CLOZE: list[tuple[str, tuple[str, ...]]] = [
    ("I [MASK] dogs and cats.", ("love", "like", "have", "hate", "own", "prefer", "keep", "feed", "loved")),
    ("The capital of France is [MASK].", ("paris",)),
    ("Paris is the capital of [MASK].", ("france",)),
    ("He [MASK] a letter to his mother.", ("wrote", "sent", "writes", "sends", "gave", "read", "received")),
    ("She drank a cup of [MASK].", ("tea", "coffee", "water", "milk", "wine", "beer", "cocoa", "juice")),
    ("The sun rises in the [MASK].", ("east", "morning", "sky")),
    ("Fish live in the [MASK].", ("water", "sea", "ocean", "river", "lake", "rivers", "lakes", "sand", "wild")),
    ("I went to the [MASK] to buy some bread.", ("store", "shop", "bakery", "market", "supermarket", "shops", "village",
                                                  "town", "city", "kitchen")),
    ("The [MASK] barked at the mailman.", ("dog", "dogs", "puppy")),
    ("He played the [MASK] in the school band.", ("drums", "guitar", "piano", "trumpet", "bass", "violin", "saxophone",
                                                   "flute", "clarinet", "trombone", "horn", "keyboard", "keyboards")),
    ("The children went to [MASK] in the morning.", ("school", "church", "bed", "class", "work", "sleep", "town")),
    ("The cat sat on the [MASK].", ("mat", "floor", "bed", "couch", "table", "chair", "sofa", "roof", "fence", "ground",
                                    "window", "porch", "bench", "grass", "step", "steps", "stairs")),
    ("It was raining, so I took my [MASK].", ("umbrella", "coat", "jacket", "car", "time", "hat", "boots")),
    ("The movie was so [MASK] that I fell asleep.", ("boring", "bad", "long", "dull", "slow", "good",
                                                      "funny", "terrible", "awful")),
    ("He scored a [MASK] in the final minute of the match.", ("goal", "try", "touchdown", "point", "penalty",
                                                                "basket", "run", "century", "header", "winner")),
    ("There are seven days in a [MASK].", ("week",)),
    ("The doctor works at the [MASK].", ("hospital", "clinic", "university", "office", "surgery")),
    ("Birds can [MASK] high in the sky.", ("fly", "be", "sing", "rise", "climb", "nest")),
    ("She opened the [MASK] and walked into the room.", ("door", "window", "curtains", "gate", "doors", "curtain")),
    ("The president of the United States lives in the White [MASK].", ("house",)),
    ("He drove his [MASK] to work.", ("car", "truck", "bike", "bus", "van", "motorcycle", "cars", "tractor", "taxi")),
    ("The river flows into the [MASK].", ("sea", "ocean", "lake", "river", "bay", "gulf", "valley", "channel")),
    ("I read a good [MASK] last night.", ("book", "novel", "story", "article", "poem", "paper", "letter", "magazine",
                                          "newspaper", "script", "chapter", "review")),
    ("The band released their first [MASK] in 1995.", ("album", "single", "record", "song", "ep", "cd", "demo",
                                                         "recording", "songs", "albums", "records")),
    ("The team won the [MASK] last year.", ("championship", "title", "cup", "game", "league", "final", "tournament",
                                             "match", "award", "series", "trophy", "competition", "race", "premiership",
                                             "pennant", "championships", "titles")),
    ("Snow is [MASK] and cold.", ("white", "wet", "soft", "beautiful", "dark", "deep", "heavy", "thick", "fresh")),
    ("We eat breakfast in the [MASK].", ("morning", "kitchen", "evening", "afternoon", "house", "garden", "dining")),
    ("He was elected [MASK] of the city in 2010.", ("mayor", "president", "governor", "chairman", "leader", "head",
                                                    "member", "councillor", "representative")),
    ("She speaks English and [MASK] fluently.", ("french", "spanish", "german", "italian", "chinese", "arabic",
                                                 "russian", "japanese", "portuguese", "dutch", "hindi", "korean",
                                                 "greek", "latin", "hebrew", "polish", "swedish", "irish", "welsh")),
    ("The church was built in the 12th [MASK].", ("century",)),
    ("My [MASK] is a teacher.", ("mother", "father", "sister", "brother", "wife", "husband", "friend", "son",
                                 "daughter", "mom", "dad", "aunt", "uncle", "girlfriend", "boyfriend", "cousin",
                                 "mum", "grandmother", "grandfather", "teacher", "boss", "partner")),
    ("The film received positive [MASK] from critics.", ("reviews", "reception", "feedback", "response", "comments",
                                                          "attention", "ratings", "notices", "praise", "review")),
    ("The book was [MASK] by a famous author.", ("written", "published", "edited", "authored", "translated", "read",
                                                 "illustrated", "inspired", "reviewed", "adapted")),
]


@torch.no_grad()
def top_k_fills(model, tokenizer, sentence: str, k: int = 5) -> list[str]:
    """The k most likely tokens for the one ``[MASK]`` in ``sentence``, best first."""
    enc = tokenizer(sentence, return_tensors="pt")
    position = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0]
    logits = model(**enc).logits[0, position]  # (vocab,)
    return tokenizer.convert_ids_to_tokens(logits.topk(k).indices.tolist())


def read_cloze_file(path: Path = EVERYDAY) -> list[tuple[str, tuple[str, ...]]]:
    """A cloze file's (sentence, accepted answers), in ``CLOZE``'s shape."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(row["text"], tuple(row["accept"])) for row in data["sentences"]]


def cloze_scores(model, tokenizer, k: int = 5, sentences: list[tuple[str, tuple[str, ...]]] | None = None) -> dict:
    """Top-1 and top-k hit rates over ``sentences`` (default ``CLOZE``), and each sentence's guesses
    (for the model card)."""
    model.eval()
    sentences = CLOZE if sentences is None else sentences
    rows, top1, topk = [], 0, 0
    for sentence, answers in sentences:
        guesses = top_k_fills(model, tokenizer, sentence, k)
        hit1, hitk = guesses[0] in answers, any(g in answers for g in guesses)
        top1 += hit1
        topk += hitk
        rows.append({"sentence": sentence, "guesses": guesses, "top1": hit1, f"top{k}": hitk})
    n = len(sentences)
    return {"sentences": n, "top1": top1 / n, f"top{k}": topk / n, "rows": rows}
