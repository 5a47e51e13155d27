"""What transfer learning does to an encoder, measured: embeddings before and after fine-tuning,
and a linear probe per layer. Both read the per-layer vectors of training/transfer/features.py.

A *probe* is the lectures' feature-based approach done once per layer: freeze the encoder, take
one layer's sentence vectors, fit a logistic regression on the training split and score it on
validation. Where the accuracy peaks says which layers hold what the task needs; the gap to full
fine-tuning says what updating the encoder itself adds.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lab import atomic
from lab.errors import LabInputError
from lab.i18n import msg
from lab.settings import DataLimits
from training.config import TrainConfig
from training.data import catalog
from training.data import data as tdata
from training.data.data import TextDataset
from training.data.reader import Uploads

# The views answer in seconds on 2 cores: larger datasets are sampled (stratified, fixed seed).
MAX_TRAIN_ROWS = 2000
MAX_VAL_ROWS = 500
RUN_DATA = "data"  # beside a run's best/: the exact train and validation rows it used
PROJECTIONS = ("PCA", "UMAP")


@dataclass
class ViewData:
    """The labelled rows a view works on, split as the Fine-tune tab splits them."""

    name: str
    train: TextDataset
    val: TextDataset
    note: str = ""  # e.g. that the rows were sampled (a lab.i18n Message)

    @property
    def label_names(self) -> list[str]:
        return self.train.label_names


def _cap(ds: TextDataset, limit: int, seed: int) -> TextDataset:
    if len(ds) <= limit:
        return ds
    names = [ds.label_names[i] for i in ds.labels]
    return ds.subset(sorted(catalog.stratified_indices(names, limit, seed)))


def _capped(name: str, train: TextDataset, val: TextDataset, seed: int) -> ViewData:
    note = ""
    if len(train) > MAX_TRAIN_ROWS or len(val) > MAX_VAL_ROWS:
        note = msg("msg.training.transfer.sampled", max_train=f"{MAX_TRAIN_ROWS:,}", max_val=f"{MAX_VAL_ROWS:,}",
                   train=f"{len(train):,}", val=f"{len(val):,}")
    return ViewData(name, _cap(train, MAX_TRAIN_ROWS, seed), _cap(val, MAX_VAL_ROWS, seed), note)


def count_lines(path: str | Path, chunk: int = 1 << 20) -> int:
    """Lines in a file, counted in bytes without parsing it (a CSV's rows, give or take quoted line breaks)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(chunk):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def file_data(path: str | Path, name: str, val_fraction: float = 0.2, seed: int = 42,
              max_rows: int | None = None, limits: DataLimits | None = None,
              uploads: Uploads | None = None) -> ViewData:
    """A classification CSV/TSV (the columns guessed as the Fine-tune tab does), split stratified;
    read once while it is the same file when ``uploads`` keeps what was parsed.

    A file of more than ``max_rows`` lines is refused before it is parsed: the views sample
    MAX_TRAIN_ROWS + MAX_VAL_ROWS rows of it anyway, and reading 200,000 rows would hold the slow
    lane (where QA and saliency answers wait) for tens of seconds."""
    if max_rows is not None:
        lines = count_lines(path)
        if lines - 1 > max_rows:  # the header is no row
            raise LabInputError(msg("msg.training.transfer.too_many_rows", name=name, rows=f"{lines - 1:,}",
                                    max=f"{max_rows:,}", sample=f"{MAX_TRAIN_ROWS + MAX_VAL_ROWS:,}"))
    reader = tdata.ClassificationReader(limits)
    parsed = uploads.read(reader.task, reader, path) if uploads is not None else reader.read(path)
    data = reader.split(parsed, TrainConfig(val_fraction=val_fraction, test_fraction=0.0, seed=seed))
    return _capped(name, data.train, data.val, seed)


def card_data(card: catalog.DatasetCard, seed: int = 42, cache_dir: Path | None = None) -> ViewData:
    """A catalogue dataset as the views use it: asked for at the size they keep (a stratified sample of
    MAX_TRAIN_ROWS + MAX_VAL_ROWS rows, which file_data's 80/20 split turns into exactly the caps), so a
    large hub dataset is never fetched whole to be cut."""
    rows = MAX_TRAIN_ROWS + MAX_VAL_ROWS
    data = file_data(catalog.materialize(card, rows, seed, cache_dir), card.title, seed=seed)
    if card.size is not None and card.size > rows:
        val = round(card.size * 0.2)
        data.note = msg("msg.training.transfer.sampled", max_train=f"{MAX_TRAIN_ROWS:,}", max_val=f"{MAX_VAL_ROWS:,}",
                        train=f"{card.size - val:,}", val=f"{val:,}")
    return data


def save_run_data(run_dir: Path, train: TextDataset, val: TextDataset) -> None:
    """Keep the rows a classification run trained and was validated on, so the views can show that
    very model on that very validation set (a few hundred KB at most: uploads are capped)."""
    folder = Path(run_dir) / RUN_DATA
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / "labels.json", train.label_names)
    for name, ds in (("train.csv", train), ("validation.csv", val)):
        pd.DataFrame({"text": ds.texts, "label": ds.labels}).to_csv(folder / name, index=False)


def run_data(run_dir: Path, name: str, seed: int = 42) -> ViewData:
    """The train and validation rows of a run saved with save_run_data, read back as they were (the
    upload's checks passed when it trained: a class may have a single training row, and that is fine)."""
    folder = Path(run_dir) / RUN_DATA
    if not (folder / "validation.csv").is_file():
        raise LabInputError(msg("msg.training.transfer.no_run_data", name=name))
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))

    def read(file: str) -> TextDataset:
        frame = pd.read_csv(folder / file, dtype={"text": str}, keep_default_na=False)
        return TextDataset(frame["text"].tolist(), frame["label"].astype(int).tolist(), labels)

    return _capped(name, read("train.csv"), read("validation.csv"), seed)


# ----------------------------------------------------------------------------- projection


def umap_available() -> bool:
    """umap-learn is optional (requirements-optional.txt); PCA is always there."""
    return importlib.util.find_spec("umap") is not None


def project(vectors: np.ndarray, method: str = "PCA", seed: int = 42) -> np.ndarray:
    """(n, hidden) -> (n, 2): PCA (linear, the axes of largest variance) or UMAP (neighbourhoods kept)."""
    from sklearn.decomposition import PCA

    vectors = np.asarray(vectors, dtype=np.float32)
    if method == "UMAP":
        if not umap_available():
            raise LabInputError(msg("msg.training.transfer.no_umap"))
        import umap

        with warnings.catch_warnings():  # "n_jobs overridden by random_state": a fixed seed is the point
            warnings.simplefilter("ignore", UserWarning)
            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(vectors) - 1), random_state=seed)
            return reducer.fit_transform(vectors)
    if method != "PCA":
        raise LabInputError(msg("msg.training.transfer.unknown_projection", method=method,
                                choices=", ".join(PROJECTIONS)))
    return PCA(n_components=2, random_state=seed).fit_transform(vectors)


def separation(vectors: np.ndarray, labels: list[int]) -> float | None:
    """How well the classes separate in the full vectors: the silhouette score (-1..1, cosine
    distance; higher = each example closer to its own class than to the others). None for one class."""
    from sklearn.metrics import silhouette_score

    if len(set(labels)) < 2 or len(labels) < 3:
        return None
    return float(silhouette_score(np.asarray(vectors, dtype=np.float32), labels, metric="cosine"))


def map_frame(points: np.ndarray, data: TextDataset, predictions: list[str] | None, model: str) -> pd.DataFrame:
    """One scatter plot's rows: coordinates, gold label, text (shortened for the tooltip), prediction."""
    return pd.DataFrame({
        "x": points[:, 0].astype(float), "y": points[:, 1].astype(float),
        "label": [data.label_names[i] for i in data.labels],
        "text": [t if len(t) <= 120 else t[:117] + "…" for t in data.texts],
        "prediction": predictions if predictions is not None else ["—"] * len(data),
        "model": model,
    })


# ---------------------------------------------------------------------------------- probes


PROBE_MAX_ITER = 2000
# A checked fit's iterations between two looks at Cancel and the clock: each round goes on from the
# last one's weights (warm start), so a fit on small data converges in the first round as one fit would.
PROBE_ROUND_ITER = 100


def fit_probe(train_x: np.ndarray, train_y: list[int], seed: int = 42, class_weights: bool = False,
              check: Callable[[], None] | None = None):
    """A logistic regression on standardised vectors (an sklearn Pipeline: scaler, regression): the
    frozen encoder's new linear head, for the probe chart and the Fine-tune tab's features strategy.

    ``class_weights`` balances the classes. With ``check`` the solver runs in rounds (warm-started)
    and ``check()`` is called before each; it raises to stop the fit."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(train_x, dtype=np.float32)
    weight = "balanced" if class_weights else None
    if check is None:
        regression = LogisticRegression(max_iter=PROBE_MAX_ITER, random_state=seed, class_weight=weight)
        return make_pipeline(StandardScaler(), regression).fit(x, train_y)
    regression = LogisticRegression(max_iter=PROBE_ROUND_ITER, random_state=seed, warm_start=True, class_weight=weight)
    probe = make_pipeline(StandardScaler(), regression)
    for done in range(0, PROBE_MAX_ITER, PROBE_ROUND_ITER):
        check()
        with warnings.catch_warnings():
            if done + PROBE_ROUND_ITER < PROBE_MAX_ITER:  # a round that ends unconverged is followed by the next one
                warnings.simplefilter("ignore", ConvergenceWarning)
            probe.fit(x, train_y)
        if int(np.max(regression.n_iter_)) < PROBE_ROUND_ITER:  # converged within the round
            break
    return probe


def probe_accuracy(train_x: np.ndarray, train_y: list[int], val_x: np.ndarray, val_y: list[int],
                   seed: int = 42) -> float:
    """Validation accuracy of a probe fitted on the training vectors."""
    if len(set(train_y)) < 2:
        raise LabInputError(msg("msg.training.transfer.one_class"))
    probe = fit_probe(train_x, train_y, seed)
    return float((probe.predict(np.asarray(val_x, dtype=np.float32)) == np.asarray(val_y)).mean())


def probe_layers(train_vectors: np.ndarray, train_y: list[int], val_vectors: np.ndarray, val_y: list[int],
                 seed: int = 42) -> list[float]:
    """Validation accuracy of one probe per layer; vectors are (layers + 1, n, hidden), layer 0 the embeddings."""
    return [probe_accuracy(train_vectors[layer], train_y, val_vectors[layer], val_y, seed)
            for layer in range(train_vectors.shape[0])]


def majority_accuracy(train_y: list[int], val_y: list[int]) -> float:
    """Always answering the training set's most common class: the floor every probe must beat."""
    common = max(set(train_y), key=train_y.count)
    return float(np.mean(np.asarray(val_y) == common))


def probe_frame(accuracies: list[float], finetuned: float | None = None, majority: float | None = None) -> pd.DataFrame:
    """The probe chart's bars, layer by layer, then the fine-tuned model and the majority floor to compare
    (names and kinds are lab.i18n Messages: English, said in the student's language by the tab)."""
    probe = msg("msg.training.transfer.kind.probe")
    rows = [(msg("msg.training.transfer.bar.embeddings") if i == 0 else msg("msg.training.transfer.bar.layer", n=i),
             a, probe) for i, a in enumerate(accuracies)]
    if finetuned is not None:
        rows.append((msg("msg.training.transfer.bar.finetuned"), finetuned,
                     msg("msg.training.transfer.kind.finetuned")))
    if majority is not None:
        rows.append((msg("msg.training.transfer.bar.majority"), majority, msg("msg.training.transfer.kind.majority")))
    return pd.DataFrame({"layer": [r[0] for r in rows], "accuracy": [round(r[1], 4) for r in rows],
                         "kind": [r[2] for r in rows]})


# ------------------------------------------------------------------------- the two views


@dataclass
class Encoders:
    """The model a view shows ("after") and the pretrained encoder it started from ("before")."""

    after: object  # lab.loading.LoadedModel of a sequence classifier
    before: object  # lab.loading.LoadedModel of the bare base encoder


def encoders(lab, choice: str | None, session: dict | None) -> Encoders:
    """The chosen classifier, and its base: the one its run was trained from (a session's run says so
    in its metrics.json), else the lab's default base, which the shipped heads were trained from."""
    from training.transfer.before_after import run_config

    after = lab.model("classification", choice, session)
    base = None
    if after.ref.kind == "local" and (Path(after.ref.id).parent / "metrics.json").is_file():
        base = run_config(Path(after.ref.id)).base_model
    return Encoders(after, lab.model("finetune-base", base))


def _directory(loaded) -> str | None:
    return loaded.ref.id if loaded.ref.kind == "local" else None


def layer_vectors(cache, loaded, texts: list[str], pooling: str, max_length: int = 128, on_batch=None) -> np.ndarray:
    from training.transfer import features

    return features.vectors(cache, loaded.model, loaded.tokenizer, ":".join(loaded.ref.key),
                            _directory(loaded), texts, max_length, pooling, on_batch)[0]


def model_accuracy(loaded, data: TextDataset) -> tuple[list[str], float | None]:
    """The classifier's labels for ``data``'s texts, and its accuracy when its labels are the data's."""
    from training.transfer.features import predict_labels

    predicted = predict_labels(loaded.model, loaded.tokenizer, data.texts)
    if set(loaded.model.config.id2label.values()) != set(data.label_names):
        return predicted, None
    gold = [data.label_names[i] for i in data.labels]
    return predicted, float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))


@dataclass
class MapResult:
    before: pd.DataFrame
    after: pd.DataFrame
    before_separation: float | None
    after_separation: float | None
    accuracy: float | None  # the fine-tuned model's on these rows (None: its labels are not the data's)
    pair: Encoders


def embedding_map(lab, cache, data: ViewData, choice: str | None, session: dict | None, pooling: str = "cls",
                  projection: str = "PCA", on_batch=None) -> MapResult:
    """Every validation row's vector from the base encoder and from the fine-tuned one, each projected to 2-D."""
    if len(data.val) < 3:
        raise LabInputError(msg("msg.training.transfer.map_rows"))
    pair = encoders(lab, choice, session)
    last = {}
    for side in ("before", "after"):
        last[side] = layer_vectors(cache, getattr(pair, side), data.val.texts, pooling, on_batch=on_batch)[-1]
    predicted, accuracy = model_accuracy(pair.after, data.val)
    frames = {side: map_frame(project(last[side], projection), data.val, predicted if side == "after" else None,
                              side) for side in last}
    return MapResult(frames["before"], frames["after"], separation(last["before"], data.val.labels),
                     separation(last["after"], data.val.labels), accuracy, pair)


@dataclass
class ProbeResult:
    accuracies: list[float]  # layer 0 (embeddings) .. N
    majority: float
    finetuned: float | None  # the chosen fine-tuned model's accuracy on the same validation rows
    pair: Encoders


def layer_probe(lab, cache, data: ViewData, choice: str | None, session: dict | None, pooling: str = "mean",
                on_batch=None) -> ProbeResult:
    """A probe per layer of the base encoder, next to the fine-tuned model on the same validation rows."""
    pair = encoders(lab, choice, session)
    train_vectors = layer_vectors(cache, pair.before, data.train.texts, pooling, on_batch=on_batch)
    val_vectors = layer_vectors(cache, pair.before, data.val.texts, pooling, on_batch=on_batch)
    accuracies = probe_layers(train_vectors, data.train.labels, val_vectors, data.val.labels)
    _, finetuned = model_accuracy(pair.after, data.val)
    return ProbeResult(accuracies, majority_accuracy(data.train.labels, data.val.labels), finetuned, pair)
