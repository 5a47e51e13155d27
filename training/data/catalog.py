"""Datasets one click away: the project's own samples (always), curated hub datasets (online) and a
host's own files (``LAB_DATA_DIR``), each described by a ``DatasetCard``.

``catalog`` lists the cards; ``materialize`` turns one into a file the existing pipeline reads (a
``text,label`` CSV for classification, a CoNLL file for NER, a SQuAD-style JSON for QA), with an
optional stratified subsample, cached on disk by (name, rows, seed). The Fine-tune tab and the CLI
(``python -m training --dataset NAME``) share both.

Only ``materialize`` on a hub card reaches the network, through ``load_dataset`` below: listing the
catalogue never does, so the offline path stays offline.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from lab import atomic
from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import ASSETS_DIR, Settings
from training.data import ner_data, qa_data
from training.data.data import DataError, DataLimits, guess_columns, read_table
from training.tasks import registry

log = logging.getLogger(__name__)

SOURCES = ("sample", "hub", "host")
# The size control's choices (None = every row); larger ones than a dataset holds are left out.
SIZE_CHOICES: tuple[int | None, ...] = (100, 500, 2000, None)
SAMPLES_DIR = ASSETS_DIR / "samples"
def datasets_dir(settings: Settings) -> Path:
    """Where the host's settings keep the catalogue's subsamples and downloads."""
    return Path(settings.cache_dir) / "datasets"

# The project's samples and a host's own files are listed, not uploaded: no upload caps on them.
HOST_FILES = DataLimits(max_bytes=2**40, max_rows=2**31)


@dataclass(frozen=True)
class DatasetCard:
    """One dataset the catalogue offers, and what the tab shows about it before training."""

    name: str  # unique key: what the CLI's --dataset takes
    title: str
    task: str  # "classification" | "ner" | "qa"
    source: str  # "sample" (written by the project) | "hub" | "host" (LAB_DATA_DIR)
    description: str = ""
    license: str = ""
    size: int | None = None  # rows / sentences / questions (see ``unit``); hub: the split's size on its card
    path: Path | None = None  # sample and host files
    hub_id: str | None = None
    config: str | None = None
    split: str = "train"
    # Script-based hub datasets load from the hub's automatic parquet export instead.
    revision: str | None = None
    # Classification: the text and label columns. NER: the tokens and tags columns. QA: unused (SQuAD's).
    text_column: str = "text"
    label_column: str = "label"
    # Label (or NER tag) names in id order. For hub cards a fallback: the dataset's ClassLabel
    # feature wins when it has one.
    label_names: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()  # dataset label name -> the name shown (neg -> negative)
    # A sample of another corpus (its source in ``license`` and the description), not written by the project.
    sampled_from_corpus: bool = False

    @property
    def unit(self) -> str:
        return registry.TASKS[self.task].unit

    @property
    def url(self) -> str:
        return f"https://huggingface.co/datasets/{self.hub_id}" if self.hub_id else ""


def _hub(name, title, task, hub_id, size, license, description, *, config=None, text="text", label="label",
         labels=(), rename=(), revision=None) -> DatasetCard:
    return DatasetCard(name=name, title=title, task=task, source="hub", hub_id=hub_id, config=config, size=size,
                       license=license, description=description, text_column=text, label_column=label,
                       label_names=tuple(labels), rename=tuple(rename), revision=revision)


_NEG_POS = (("neg", "negative"), ("pos", "positive"))
_CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
_WNUT_TAGS = ("O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
              "B-location", "I-location", "B-person", "I-person", "B-product", "I-product")

# Licences as the datasets' hub cards tag them ("unknown"/"other" included): the card tells users
# to check the dataset page before reusing the data. Titles and descriptions are lab.i18n Messages:
# English where code compares them (the dropdown's values), said in the student's language by the tab.
HUB_CARDS: tuple[DatasetCard, ...] = (
    _hub("sst2", msg("msg.training.catalog.title.sst2"), "classification", "stanfordnlp/sst2", 67_349, "unknown",
         msg("msg.training.catalog.about.sst2"), text="sentence", labels=("negative", "positive")),
    _hub("imdb", msg("msg.training.catalog.title.imdb"), "classification", "stanfordnlp/imdb", 25_000, "other",
         msg("msg.training.catalog.about.imdb"), labels=("neg", "pos"), rename=_NEG_POS),
    _hub("rotten_tomatoes", msg("msg.training.catalog.title.rotten_tomatoes"), "classification",
         "cornell-movie-review-data/rotten_tomatoes", 8_530, "unknown",
         msg("msg.training.catalog.about.rotten_tomatoes"), labels=("neg", "pos"), rename=_NEG_POS),
    _hub("sms_spam", msg("msg.training.catalog.title.sms_spam"), "classification", "ucirvine/sms_spam", 5_574,
         "unknown", msg("msg.training.catalog.about.sms_spam"), text="sms", labels=("ham", "spam")),
    _hub("ag_news", msg("msg.training.catalog.title.ag_news"), "classification", "fancyzhx/ag_news", 120_000, "unknown",
         msg("msg.training.catalog.about.ag_news"), labels=("World", "Sports", "Business", "Sci/Tech")),
    _hub("emotion", msg("msg.training.catalog.title.emotion"), "classification", "dair-ai/emotion", 16_000, "other",
         msg("msg.training.catalog.about.emotion"), config="split",
         labels=("sadness", "joy", "love", "anger", "fear", "surprise")),
    _hub("conll2003", msg("msg.training.catalog.title.conll2003"), "ner", "eriktks/conll2003", 14_041, "other",
         msg("msg.training.catalog.about.conll2003"),
         config="conll2003", text="tokens", label="ner_tags", labels=_CONLL_TAGS, revision="refs/convert/parquet"),
    _hub("wnut_17", msg("msg.training.catalog.title.wnut_17"), "ner", "leondz/wnut_17", 3_394, "cc-by-4.0",
         msg("msg.training.catalog.about.wnut_17"),
         config="wnut_17", text="tokens", label="ner_tags", labels=_WNUT_TAGS, revision="refs/convert/parquet"),
    _hub("squad", msg("msg.training.catalog.title.squad"), "qa", "rajpurkar/squad", 87_599, "cc-by-sa-4.0",
         msg("msg.training.catalog.about.squad")),
)

IMBALANCED_SAMPLE_TITLE = msg("msg.training.catalog.title.sms-sample")
SAMPLE_CARDS: tuple[DatasetCard, ...] = (
    DatasetCard("sentiment-sample", msg("msg.training.catalog.title.sentiment-sample"), "classification", "sample",
                msg("msg.training.catalog.about.sentiment-sample"), "Apache-2.0", path=SAMPLES_DIR / "sentiment.csv"),
    # Rows of IndoNLU's SmSA train split (training/recipes/smsa_sample.py picks them; research and education use).
    DatasetCard("sentiment-id-sample", msg("msg.training.catalog.title.sentiment-id-sample"), "classification",
                "sample", msg("msg.training.catalog.about.sentiment-id-sample"), "IndoNLU SmSA (research and education)",
                path=SAMPLES_DIR / "sentiment-id.csv", sampled_from_corpus=True),
    DatasetCard("sentiment-zh-tw-sample", msg("msg.training.catalog.title.sentiment-zh-tw-sample"), "classification",
                "sample", msg("msg.training.catalog.about.sentiment-zh-tw-sample"), "Apache-2.0",
                path=SAMPLES_DIR / "sentiment-zh-tw.csv"),
    DatasetCard("topics-sample", msg("msg.training.catalog.title.topics-sample"), "classification", "sample",
                msg("msg.training.catalog.about.topics-sample"), "Apache-2.0", path=SAMPLES_DIR / "topics.csv"),
    DatasetCard("sms-sample", IMBALANCED_SAMPLE_TITLE, "classification", "sample",
                msg("msg.training.catalog.about.sms-sample"), "Apache-2.0", path=SAMPLES_DIR / "sms.csv"),
    DatasetCard("ner-sample", msg("msg.training.catalog.title.ner-sample"), "ner", "sample",
                msg("msg.training.catalog.about.ner-sample"), "Apache-2.0", path=SAMPLES_DIR / "ner.conll",
                text_column="tokens", label_column="ner_tags"),
    DatasetCard("qa-sample", msg("msg.training.catalog.title.qa-sample"), "qa", "sample",
                msg("msg.training.catalog.about.qa-sample"), "Apache-2.0", path=SAMPLES_DIR / "qa.json"),
)


def load_dataset(path: str, name: str | None = None, **kwargs):
    """``datasets.load_dataset``, imported on first use: the one place this module reaches the network."""
    from datasets import load_dataset as _load_dataset

    return _load_dataset(path, name, **kwargs)


# --------------------------------------------------------------------------------------------
# The catalogue


def catalog(settings: Settings, hub_online: bool) -> list[DatasetCard]:
    """Every dataset on offer: the samples, the curated hub datasets when ``hub_online``, then the
    host's files in ``settings.data_dir``. Reads only local files; never reaches the network."""
    cards = [_with_file_stats(card) for card in SAMPLE_CARDS]
    if hub_online:
        cards += HUB_CARDS
    if settings.data_dir is not None:
        cards += host_cards(settings.data_dir)
    return cards


def find_card(name: str, settings: Settings, hub_online: bool | Callable[[], bool]) -> DatasetCard:
    """The card called ``name``. ``hub_online`` may be a callable, asked only when ``name`` is a hub
    dataset (so the CLI probes the hub only when it needs to). Raises ``LabInputError`` otherwise."""
    hub = {card.name: card for card in HUB_CARDS}
    local = {card.name: card for card in catalog(settings, hub_online=False)}
    if name in local:
        return local[name]
    if name in hub:
        online = hub_online() if callable(hub_online) else hub_online
        if not online:
            raise LabInputError(msg("msg.training.catalog.hub_unreachable", name=repr(name), local=", ".join(local)))
        return hub[name]
    raise LabInputError(msg("msg.training.catalog.no_dataset", name=repr(name), local=", ".join(local),
                            hub=", ".join(hub)))


def host_cards(folder: Path) -> list[DatasetCard]:
    """A card per readable CSV/TSV, CoNLL (.conll/.iob/.bio) or SQuAD-style JSON file in ``folder``
    (not its subfolders). Files that can't be used are left out with a warning in the log."""
    folder = Path(folder)
    if not folder.is_dir():
        log.warning("LAB_DATA_DIR %s is not a folder; no host datasets listed", folder)
        return []
    cards = []
    for path in sorted(folder.iterdir()):
        spec = registry.for_suffix(path.suffix)
        if spec is None or not path.is_file() or path.name.startswith("."):
            continue
        card = DatasetCard(f"host:{path.name}", path.name, spec.name, "host",
                           msg("msg.training.catalog.about.host", file=path.name),
                           msg("msg.training.catalog.licence.host"), path=path,
                           text_column=spec.columns[0], label_column=spec.columns[1])
        try:
            cards.append(_with_file_stats(card))
        except (DataError, OSError, ValueError) as exc:
            log.warning("leaving %s out of the catalogue: %s", path, exc)
    return cards


def _with_file_stats(card: DatasetCard) -> DatasetCard:
    stat = card.path.stat()
    size, text_column, label_column, names = _file_stats(str(card.path), card.task, stat.st_mtime_ns, stat.st_size)
    return replace(card, size=size, text_column=text_column or card.text_column,
                   label_column=label_column or card.label_column, label_names=names)


@lru_cache(maxsize=64)
def _file_stats(path: str, task: str, mtime_ns: int, nbytes: int) -> tuple[int, str, str, tuple[str, ...]]:
    """(size, text column, label column, label names) of a local file, as the task's reader describes it (the
    pipeline's own label order; problems such as one class are the tab's pre-flight to show); cached until it
    changes."""
    reader = registry.reader(task, HOST_FILES)
    summary = reader.describe(reader.read(path))
    return summary.size, summary.text_column, summary.label_column, tuple(summary.labels)


# How sizes are said, per unit (one key per variant: the words around the number differ by language).
_SIZE = {"rows": "msg.training.catalog.size.rows", "sentences": "msg.training.catalog.size.sentences",
         "questions": "msg.training.catalog.size.questions"}
_SIZE_ALL = {"rows": "msg.training.catalog.size_all.rows", "sentences": "msg.training.catalog.size_all.sentences",
             "questions": "msg.training.catalog.size_all.questions"}
_ALL = {"rows": "msg.training.catalog.all.rows", "sentences": "msg.training.catalog.all.sentences",
        "questions": "msg.training.catalog.all.questions"}
_SIZE_UNKNOWN = {"rows": "msg.training.catalog.size_unknown.rows",
                 "sentences": "msg.training.catalog.size_unknown.sentences",
                 "questions": "msg.training.catalog.size_unknown.questions"}


def size_choices(card: DatasetCard) -> list[tuple[str, int | None]]:
    """(label, rows) pairs for the size control: the SIZE_CHOICES smaller than the dataset, then all.
    Labels are lab.i18n Messages (English, as code and the API compare them)."""
    unit = card.unit
    choices = [(msg(_SIZE[unit], n=f"{n:,}"), n) for n in SIZE_CHOICES
               if n is not None and (card.size is None or n < card.size)]
    everything = msg(_SIZE_ALL[unit], n=f"{card.size:,}") if card.size is not None else msg(_ALL[unit])
    return choices + [(everything, None)]


def describe(card: DatasetCard) -> str:
    """The card as Markdown: title, task and size, classes, source and licence, description; one lab.i18n
    Message (English, said in the student's language by the tab)."""
    size = msg(_SIZE[card.unit], n=f"{card.size:,}") if card.size is not None else msg(_SIZE_UNKNOWN[card.unit])
    if card.source == "hub":
        size = msg("msg.training.catalog.hub_size", size=size, split=card.split)
    lines = [msg("msg.training.catalog.heading", title=card.title, task=msg(registry.TASKS[card.task].catalog_name), size=size)]
    names = [dict(card.rename).get(n, n) for n in card.label_names]
    if names:
        lines.append(msg(registry.TASKS[card.task].names_key, n=len(names), names=", ".join(names)))
    if card.source == "hub":
        lines.append(msg("msg.training.catalog.source.hub_config", hub_id=card.hub_id, url=card.url, config=card.config,
                         license=card.license) if card.config else
                     msg("msg.training.catalog.source.hub", hub_id=card.hub_id, url=card.url, license=card.license))
    elif card.source == "sample":
        key = "msg.training.catalog.source.corpus_sample" if card.sampled_from_corpus else "msg.training.catalog.source.sample"
        lines.append(msg(key, file=card.path.name, license=card.license))
    else:
        lines.append(msg("msg.training.catalog.source.host", file=card.path.name, license=card.license))
    if card.description:
        lines.append(card.description)
    text = lines[-1]
    for line in reversed(lines[:-1]):  # Markdown's line break ("  \n") between lines, one message in all
        text = msg("msg.training.catalog.lines", first=line, rest=text)
    return text


# --------------------------------------------------------------------------------------------
# Making a file the pipeline reads


def materialize(card: DatasetCard, rows: int | None = None, seed: int = 42, cache_dir: Path | None = None) -> Path:
    """A file of ``card``'s data that ``training.data.data`` (classification) or the NER/QA readers load.

    ``rows`` caps the size (classification: stratified by label, every class kept; NER/QA: a random
    subset of sentences/questions); None takes everything. Sample and host files are returned as
    they are when no subsample is needed. Results are cached in ``cache_dir`` (the caller's
    ``datasets_dir(settings)``; the default settings' folder without one) by (name, rows, seed)
    (and the source file's version), so a second click is instant.
    """
    if rows is not None and (not isinstance(rows, int) or rows < 2):
        raise LabInputError(msg("msg.training.catalog.bad_size", rows=repr(rows)))
    if card.source != "hub" and (rows is None or (card.size is not None and rows >= card.size)):
        return card.path
    cache_dir = Path(cache_dir) if cache_dir is not None else datasets_dir(Settings())
    target = cache_dir / _cache_name(card, rows, seed)
    if target.is_file():
        return target
    writer = {"classification": _write_classification, "ner": _write_ner, "qa": _write_qa}[card.task]
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(target) as tmp:  # two sessions asking at once both see a whole file
        writer(card, rows, seed, tmp)
    return target


def _cache_name(card: DatasetCard, rows: int | None, seed: int) -> str:
    version = card.revision or ""
    if card.path is not None:
        stat = card.path.stat()
        version = f"{card.path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"
    digest = hashlib.sha1(f"{card.hub_id}|{card.config}|{card.split}|{version}".encode()).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", card.name)
    return f"{safe}-{rows if rows is not None else 'all'}-{seed}-{digest}{registry.TASKS[card.task].suffix}"


def _load_hub(card: DatasetCard):
    try:
        return load_dataset(card.hub_id, card.config, split=card.split, revision=card.revision)
    except Exception as exc:  # network, gated, moved, renamed: all mean "this dataset can't be had now"
        reason = str(exc).splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise LabInputError(msg("msg.training.catalog.hub_failed", hub_id=card.hub_id, reason=reason)) from exc


def _feature_names(feature, fallback: Sequence[str]) -> list[str]:
    """Label names from a ClassLabel feature (or a list of them, for NER tags), else the card's."""
    inner = getattr(feature, "feature", feature)  # List(ClassLabel) -> ClassLabel
    names = getattr(inner, "names", None)
    return list(names) if names else list(fallback)


def _name_of(value, names: Sequence[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    if value < 0:  # -1: unlabelled (GLUE test splits, IMDB's unsupervised part)
        return None
    return names[value] if value < len(names) else str(value)


def _write_classification(card: DatasetCard, rows: int | None, seed: int, target: Path) -> None:
    if card.source != "hub":  # a subsample of a local CSV/TSV: keep its columns, take stratified rows
        df = read_table(card.path, HOST_FILES)
        _, label_column = guess_columns(df)
        labels = [str(v).strip() for v in df[label_column].tolist()]
        df.iloc[stratified_indices(labels, rows, seed)].to_csv(target, index=False)
        return
    data = _load_hub(card)
    names = _feature_names(data.features.get(card.label_column), card.label_names)
    rename = dict(card.rename)
    texts = list(data[card.text_column])
    labels = [_name_of(v, names) for v in data[card.label_column]]
    # Whitespace (newlines in SMS, double spaces) is normalised: one example per CSV line reads best.
    texts = [" ".join(str(t).split()) if t is not None else "" for t in texts]
    keep = [i for i, (t, v) in enumerate(zip(texts, labels)) if t and v is not None]
    chosen = stratified_indices([labels[i] for i in keep], rows, seed)
    with target.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["text", "label"])
        for j in chosen:
            i = keep[j]
            out.writerow([texts[i], rename.get(labels[i], labels[i])])


def _write_ner(card: DatasetCard, rows: int | None, seed: int, target: Path) -> None:
    if card.source != "hub":
        read = ner_data.read_conll(card.path, limits=HOST_FILES)
        sentences = list(zip(read.sentences, read.tags))
    else:
        data = _load_hub(card)
        names = _feature_names(data.features.get(card.label_column), card.label_names)
        sentences = []
        for tokens, tags in zip(data[card.text_column], data[card.label_column]):
            pairs = [(str(t), _name_of(g, names) or "O") for t, g in zip(tokens, tags) if str(t).strip()]
            if pairs and pairs[0][0] != "-DOCSTART-":
                sentences.append(([t.replace(" ", "_") for t, _ in pairs], [g for _, g in pairs]))
    chosen = _random_indices(len(sentences), rows, seed)
    write_conll([sentences[i] for i in chosen], target)


def _write_qa(card: DatasetCard, rows: int | None, seed: int, target: Path) -> None:
    if card.source != "hub":
        records = [{"id": e.id, "title": e.title, "context": e.context, "question": e.question, "answers": e.answers}
                   for e in qa_data.read_squad(card.path, HOST_FILES)]
    else:
        records = []
        for row in _load_hub(card):
            answers = row["answers"]
            if isinstance(answers, dict):  # Sequence({...}) features: a dict of lists
                answers = [{"text": t, "answer_start": int(s)} for t, s in zip(answers["text"], answers["answer_start"])]
            records.append({"id": str(row["id"]), "title": row.get("title") or "", "context": row["context"],
                            "question": row["question"], "answers": list(answers)})
    chosen = sorted(_random_indices(len(records), rows, seed))  # sorted: paragraphs stay together
    write_squad([records[i] for i in chosen], target)


def stratified_indices(labels: Sequence[str], rows: int | None, seed: int) -> list[int]:
    """Indices of a stratified sample of ``rows`` (all when None or more than there are), shuffled.

    Each class gets its share (largest remainders round), and at least 2 examples when it has them
    and ``rows`` allows, so every class can reach both the training and the validation split.
    """
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    total = len(labels)
    if rows is None or rows >= total:
        chosen = list(range(total))
    else:
        floor = 2 if rows >= 2 * len(by_class) else 1 if rows >= len(by_class) else 0
        quota = {c: min(len(m), max(floor, rows * len(m) // total)) for c, m in by_class.items()}
        # Hand out what is left by largest remainder (then largest class), never past a class's size.
        remainders = sorted(by_class, key=lambda c: (-(rows * len(by_class[c]) % total), -len(by_class[c]), c))
        while sum(quota.values()) < rows:
            grown = False
            for c in remainders:
                if sum(quota.values()) < rows and quota[c] < len(by_class[c]):
                    quota[c] += 1
                    grown = True
            if not grown:
                break
        while sum(quota.values()) > rows:  # the floors overshot: trim the biggest classes
            c = max(quota, key=lambda k: (quota[k], k))
            quota[c] -= 1
        chosen = []
        for c in sorted(by_class):
            members = by_class[c][:]
            rng.shuffle(members)
            chosen += members[:quota[c]]
    rng.shuffle(chosen)  # mixed classes: a file's first rows (the tab's preview) show several
    return chosen


def _random_indices(total: int, rows: int | None, seed: int) -> list[int]:
    if rows is None or rows >= total:
        return list(range(total))
    return random.Random(seed).sample(range(total), rows)


# --------------------------------------------------------------------------------------------
# CoNLL and SQuAD files: read by the training readers (training.data.ner_data, training.data.qa_data), which
# check tags and offsets, convert IOB1/BIOES tags and strip a WikiANN language prefix; written here.


def write_conll(sentences: Sequence[tuple[list[str], list[str]]], target: Path) -> None:
    with Path(target).open("w", encoding="utf-8") as f:
        for tokens, tags in sentences:
            f.write("".join(f"{t}\t{g}\n" for t, g in zip(tokens, tags)) + "\n")


def write_squad(records: Sequence[dict], target: Path) -> None:
    """Flat question records back into SQuAD v1.1 layout, grouped by title and context."""
    articles: dict[str, dict[str, list[dict]]] = {}
    for r in records:
        paragraphs = articles.setdefault(r["title"], {})
        paragraphs.setdefault(r["context"], []).append(
            {"id": r["id"], "question": r["question"], "answers": r["answers"]})
    data = [{"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
            for title, paragraphs in articles.items()]
    Path(target).write_text(json.dumps({"version": "1.1", "data": data}, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
