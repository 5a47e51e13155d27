"""The Transfer tab's measurements: per-layer vectors and their cache, probes, projections, learning
curves on the real training loop, and contextual vs static vectors on the embedded MiniLM."""

import math
import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from lab.contextual import contextual_vectors, find_word
from lab.errors import LabInputError
from lab.registry import embedded_encoder_dir
from lab.render_transfer import grid_html, log_curves_svg
from lab.settings import Settings
from tests.tiny import save_tiny
from training.config import TrainConfig
from training.data.data import TextDataset
from training.runs import backends
from training.tasks.tasks import train_classifier
from training.transfer import features, learning_curves, transfer

TEXTS = ["a short one", "a somewhat longer sentence about cats and dogs", "hi", "the river bank was muddy",
         "transfer learning needs few labels"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = save_tiny(tmp_path_factory.mktemp("transfer") / "tiny-cls", "BertForSequenceClassification",
                          id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    return AutoModelForSequenceClassification.from_pretrained(directory), AutoTokenizer.from_pretrained(directory), \
        directory


@pytest.fixture(scope="module")
def minilm():
    return AutoModel.from_pretrained(embedded_encoder_dir()), AutoTokenizer.from_pretrained(embedded_encoder_dir())


# ------------------------------------------------------------------------------- features


def test_encode_gives_every_layer_in_the_texts_order(tiny):
    model, tokenizer, _ = tiny
    out = features.encode(model, tokenizer, TEXTS, pooling="mean", batch_size=2)
    assert out.shape == (3, len(TEXTS), 32) and out.dtype == np.float16  # embeddings + 2 layers
    # batched by length, yet each row is its own text's vector: the same as encoding it alone
    alone = features.encode(model, tokenizer, [TEXTS[1]], pooling="mean")
    np.testing.assert_allclose(out[:, 1], alone[:, 0], atol=2e-3)
    cls = features.encode(model, tokenizer, TEXTS, pooling="cls")
    assert not np.allclose(cls, out)
    with pytest.raises(ValueError):
        features.encode(model, tokenizer, TEXTS, pooling="max")


def test_mean_pooling_ignores_padding(tiny):
    model, tokenizer, _ = tiny
    padded = features.encode(model, tokenizer, ["hi", TEXTS[1]], pooling="mean", batch_size=2)[:, 0]
    alone = features.encode(model, tokenizer, ["hi"], pooling="mean")[:, 0]
    np.testing.assert_allclose(padded, alone, atol=2e-3)


def test_the_cache_computes_once_and_survives_a_restart(tiny, tmp_path):
    model, tokenizer, directory = tiny
    calls = []
    cache = features.FeatureCache(tmp_path)

    def count(done, total):
        calls.append(done)

    first, hit = features.vectors(cache, model, tokenizer, "tiny", directory, TEXTS, on_batch=count)
    assert not hit and calls
    calls.clear()
    again, hit = features.vectors(cache, model, tokenizer, "tiny", directory, TEXTS, on_batch=count)
    assert hit and not calls and again is first
    fresh, hit = features.vectors(features.FeatureCache(tmp_path), model, tokenizer, "tiny", directory, TEXTS)
    assert hit and np.array_equal(fresh, first)  # from disk, in a new process's cache
    other, hit = features.vectors(cache, model, tokenizer, "tiny", directory, TEXTS, pooling="cls")
    assert not hit and not np.array_equal(other, first)


def test_a_damaged_cache_entry_is_computed_again(tiny, tmp_path):
    model, tokenizer, directory = tiny
    features.vectors(features.FeatureCache(tmp_path), model, tokenizer, "tiny", directory, TEXTS)
    [entry] = tmp_path.glob("*.npy")
    entry.write_bytes(b"not numpy")
    vectors, hit = features.vectors(features.FeatureCache(tmp_path), model, tokenizer, "tiny", directory, TEXTS)
    assert not hit and vectors.shape == (3, len(TEXTS), 32)


def test_a_model_saved_again_is_another_cache_entry(tiny, tmp_path):
    _, _, directory = tiny
    before = features.model_key("run-1", directory)
    assert features.model_key("run-1", directory) == before
    weights = directory / "model.safetensors"
    weights.touch()
    stat = weights.stat()
    import os

    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert features.model_key("run-1", directory) != before
    assert features.model_key("run-1") != features.model_key("run-2")


def test_predict_labels_uses_the_model_labels(tiny):
    model, tokenizer, _ = tiny
    labels = features.predict_labels(model, tokenizer, TEXTS, batch_size=2)
    assert len(labels) == len(TEXTS) and set(labels) <= {"neg", "pos"}
    assert labels[1] == features.predict_labels(model, tokenizer, [TEXTS[1]])[0]


# ---------------------------------------------------------------------------- probes, maps


def _separable(n=60, layers=3, hidden=8, seed=0):
    """Vectors where layer 0 is noise and later layers carry the label in one coordinate."""
    rng = np.random.default_rng(seed)
    y = [i % 2 for i in range(n)]
    x = rng.normal(size=(layers, n, hidden))
    for layer in range(1, layers):
        x[layer, :, 0] += np.array(y) * 4 * layer
    return x, y


def test_probes_find_the_layers_that_hold_the_label():
    train_x, train_y = _separable(seed=0)
    val_x, val_y = _separable(seed=1)
    accuracies = transfer.probe_layers(train_x, train_y, val_x, val_y)
    assert len(accuracies) == 3
    assert accuracies[0] < 0.75 and accuracies[2] == 1.0
    assert transfer.majority_accuracy([0, 0, 1], [0, 1, 1, 1]) == 0.25
    with pytest.raises(LabInputError, match="one class"):
        transfer.probe_accuracy(train_x[1], [0] * 60, val_x[1], val_y)


def test_probe_frame_puts_the_references_after_the_layers():
    frame = transfer.probe_frame([0.5, 0.7, 0.9], finetuned=0.95, majority=0.5)
    assert list(frame["layer"]) == ["embeddings", "layer 1", "layer 2", "fine-tuned model", "most common class"]
    assert list(frame["accuracy"]) == [0.5, 0.7, 0.9, 0.95, 0.5]
    assert len(set(frame["kind"])) == 3
    assert list(transfer.probe_frame([0.5, 0.6])["layer"]) == ["embeddings", "layer 1"]


# UMAP compiles its numba kernels on first use: tens of seconds, so it is in the slow tier
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if m == "UMAP" else m
                                    for m in transfer.PROJECTIONS])
def test_projections_give_two_coordinates_per_row(method):
    x, _ = _separable(n=40)
    points = transfer.project(x[2], method)
    assert points.shape == (40, 2) and np.isfinite(points).all()


def test_umap_is_installed_for_the_suite():
    # requirements-optional.txt is installed by tests/run-tests.sh: the UMAP branch runs for real
    assert transfer.umap_available()


def test_an_unknown_projection_is_refused():
    with pytest.raises(LabInputError, match="PCA"):
        transfer.project(np.zeros((5, 3)), "t-SNE")


def test_separation_is_high_for_clusters_and_none_for_one_class():
    x, y = _separable(n=40, layers=3)
    assert transfer.separation(x[2], y) > transfer.separation(x[0], y)
    assert transfer.separation(x[2], [0] * 40) is None


def test_map_frame_rows_carry_text_label_and_prediction():
    data = TextDataset(["one " * 50, "two"], [0, 1], ["ham", "spam"])
    frame = transfer.map_frame(np.array([[0.0, 1.0], [2.0, 3.0]]), data, ["spam", "spam"], "after")
    assert list(frame.columns) == ["x", "y", "label", "text", "prediction", "model"]
    assert frame["label"].tolist() == ["ham", "spam"] and frame["text"][0].endswith("…")
    assert len(frame["text"][0]) == 118


# ------------------------------------------------------------------------------------ data


def test_run_data_round_trips_the_rows_a_run_used(tmp_path):
    # one negative training row: what a two-row class leaves after the split, read back as it is
    train = TextDataset(["good, really", "bad", "fine \"quoted\"", "NA"], [1, 0, 1, 1], ["negative", "positive"])
    val = TextDataset(["awful", "lovely"], [0, 1], ["negative", "positive"])
    transfer.save_run_data(tmp_path / "run-1", train, val)
    data = transfer.run_data(tmp_path / "run-1", "run-1")
    assert data.train.texts == train.texts and data.val.texts == val.texts
    assert [data.label_names[i] for i in data.val.labels] == ["negative", "positive"]
    with pytest.raises(LabInputError, match="kept no data"):
        transfer.run_data(tmp_path / "run-2", "run-2")


def test_large_data_is_sampled_stratified_and_says_so(tmp_path):
    rows = ["text,label"] + [f"sentence number {i},{'spam' if i % 10 == 0 else 'ham'}" for i in range(3000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    data = transfer.file_data(path, "big")
    assert len(data.train) == transfer.MAX_TRAIN_ROWS and len(data.val) == transfer.MAX_VAL_ROWS
    assert "Sampled" in data.note
    share = sum(data.val.labels) / len(data.val)
    assert data.label_names == ["ham", "spam"] and abs(share - 0.1) < 0.01  # the rare class keeps its share


def test_a_catalogue_dataset_is_asked_for_at_the_size_the_views_keep(tmp_path, monkeypatch):
    """A hub dataset of 120,000 rows is fetched as a stratified 2,500, not whole and then cut."""
    rows = ["text,label"] + [f"sentence number {i},{'spam' if i % 10 == 0 else 'ham'}" for i in range(3000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    asked = []

    def materialize(card, rows=None, seed=42, cache_dir=None):
        asked.append(rows)
        return path

    monkeypatch.setattr(transfer.catalog, "materialize", materialize)
    card = transfer.catalog.DatasetCard("ag", "AG News", "classification", "hub", size=120_000, hub_id="ag_news")
    data = transfer.card_data(card)
    assert asked == [transfer.MAX_TRAIN_ROWS + transfer.MAX_VAL_ROWS]
    assert len(data.train) == transfer.MAX_TRAIN_ROWS and len(data.val) == transfer.MAX_VAL_ROWS
    assert "of 96,000 and 24,000" in str(data.note)


# ------------------------------------------------------------------------- learning curves


def test_sizes_and_repeats():
    assert learning_curves.sizes_for(240) == [16, 64, 240]
    assert learning_curves.sizes_for(5000) == [16, 64, 256, 1024]
    assert learning_curves.sizes_for(64) == [16, 64]
    with pytest.raises(LabInputError, match="too few"):
        learning_curves.sizes_for(10)
    # every run sees about the same number of examples: the same number of optimizer steps
    assert {size * learning_curves.repeats_for(size) for size in (16, 32, 96, 240)} == {480}
    assert learning_curves.repeats_for(1024) == 1
    assert learning_curves.planned_examples([16, 32], ["pretrained", "frozen"]) == 960


def _toy_data(n_train=40, n_val=12) -> transfer.ViewData:
    words = {0: ["awful", "bad", "boring", "dull"], 1: ["great", "good", "lovely", "fun"]}

    def rows(n, offset):
        texts = [f"a {words[i % 2][(i + offset) % 4]} film number {i}" for i in range(n)]
        return TextDataset(texts, [i % 2 for i in range(n)], ["negative", "positive"])

    return transfer.ViewData("toy", rows(n_train, 0), rows(n_val, 1))


@pytest.mark.slow
def test_learning_curves_train_each_way_at_each_size(tmp_path, monkeypatch):
    base_dir = save_tiny(tmp_path / "base", "BertModel")
    settings = Settings(offline=True, model_overrides={"finetune-base": str(base_dir)})
    monkeypatch.setattr(learning_curves, "EXAMPLES_PER_RUN", 32)  # two steps a run: plumbing, not learning
    data = _toy_data()
    seen = []

    def train_run(config, train, val, out_dir):
        seen.append((config.from_scratch, len(train), config.epochs, config.learning_rate))
        return train_classifier(config, train, val, out_dir, settings=settings, cache_dir=tmp_path / "tok",
                                hub_online=False)

    model = AutoModel.from_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)

    def last_layer():
        return tuple(features.encode(model, tokenizer, part.texts)[-1] for part in (data.train, data.val))

    points = []
    result = learning_curves.learning_curves(data, TrainConfig(batch_size=16, precision="fp32"), tmp_path / "work",
                                             ["pretrained", "scratch", "frozen"], train_run, last_layer,
                                             points.append)
    assert result == points
    assert [(p.series, p.examples) for p in points] == [
        ("pretrained", 16), ("scratch", 16), ("frozen", 16), ("pretrained", 40), ("scratch", 40), ("frozen", 40)]
    assert all(0.0 <= p.accuracy <= 1.0 and math.isfinite(p.seconds) for p in points)
    # 16 rows repeated twice, 40 once; pretrained then scratch; one epoch at the curves' rate
    assert seen == [(False, 32, 1, 1e-4), (True, 32, 1, 1e-4), (False, 40, 1, 1e-4), (True, 40, 1, 1e-4)]
    assert not list((tmp_path / "work").glob("*"))  # each run's folder went once scored
    frame = learning_curves.curves_frame(points)
    assert frame["series"].tolist()[:3] == list(learning_curves.SERIES.values())


@pytest.mark.slow
def test_the_tab_trains_its_curves_on_two_worker_processes_at_once(tmp_path, monkeypatch):
    """What the Transfer tab's first request runs: the neural runs as jobs on the curves' own worker
    processes, two at once, the points in order, each run's folder gone once scored."""
    from lab.context import Lab
    from tabs.transfer import TransferTab

    base_dir = save_tiny(tmp_path / "base", "BertModel")
    settings = Settings(offline=True, model_overrides={"finetune-base": str(base_dir)}, runs_dir=tmp_path / "runs",
                        cache_dir=tmp_path / "cache", worker_threads=2, curves_workers=2)
    monkeypatch.setattr(learning_curves, "EXAMPLES_PER_RUN", 32)  # two steps a run: plumbing, not learning
    monkeypatch.setattr(backends, "_CURVES", {})
    lab = Lab(settings)
    tab = TransferTab(lab)
    data = _toy_data()
    work = tab._curves_work(data, learning_curves.base_config(precision="fp32"), ["pretrained", "scratch", "frozen"],
                            lab.model("finetune-base"), tab.cache, settings)
    backend = backends.for_curves(settings)
    jobs = []
    submit = backend.submit
    monkeypatch.setattr(backend, "submit", lambda spec: jobs.append(submit(spec)) or jobs[-1])
    try:
        points = work(lambda point: None, lambda: False)
    finally:
        backend.close()
    assert len(jobs) == 4 and len({job.result.extra["worker"] for job in jobs}) == 2  # both workers trained
    assert [(p.series, p.examples) for p in points] == [
        ("pretrained", 16), ("scratch", 16), ("frozen", 16), ("pretrained", 40), ("scratch", 40), ("frozen", 40)]
    assert all(0.0 <= p.accuracy <= 1.0 for p in points)
    assert not list((tmp_path / "runs" / "curves").glob("*/*"))  # each run's folder went once scored


def test_learning_curves_stop_when_asked(tmp_path):
    calls = []

    def train_run(*args):
        calls.append(args)
        raise AssertionError("no run should start")

    points = learning_curves.learning_curves(_toy_data(), TrainConfig(), tmp_path, ["pretrained"], train_run,
                                             should_stop=lambda: True)
    assert points == [] and calls == []
    with pytest.raises(LabInputError, match="Pick one or more"):
        learning_curves.learning_curves(_toy_data(), TrainConfig(), tmp_path, ["bigger"], train_run)


def test_parallel_curve_runs_train_side_by_side_and_arrive_in_order(tmp_path):
    """Two runs at once (the curves' two single-threaded workers): the pretrained and scratch runs of a
    size train together, yet the points come in the order of sizes and series."""
    both_running = threading.Barrier(2, timeout=10)
    started = []

    def train_run(config, train, val, out_dir):
        started.append((config.from_scratch, len(train)))
        both_running.wait()  # a run that waits for the other one alone would time out here
        return SimpleNamespace(stopped_early=None, best_metrics={"accuracy": 0.25 if config.from_scratch else 0.75})

    points = learning_curves.learning_curves(_toy_data(), TrainConfig(), tmp_path, ["pretrained", "scratch"],
                                             train_run, parallel=2)
    assert [(p.series, p.examples, p.accuracy) for p in points] == [
        ("pretrained", 16, 0.75), ("scratch", 16, 0.25), ("pretrained", 40, 0.75), ("scratch", 40, 0.25)]
    assert sorted(started) == [(False, 480), (False, 480), (True, 480), (True, 480)]  # each size repeated to 480


def test_a_cancelled_curve_run_starts_no_other(tmp_path):
    calls = []

    def train_run(config, train, val, out_dir):
        calls.append(len(train))
        return SimpleNamespace(stopped_early="cancelled", best_metrics={})

    points = learning_curves.learning_curves(_toy_data(), TrainConfig(), tmp_path, ["pretrained"], train_run)
    assert points == [] and calls == [480]


def test_the_curves_backend_shares_the_cores_between_its_workers(monkeypatch):
    monkeypatch.setattr(backends, "_CURVES", {})
    monkeypatch.setattr(backends, "LocalWorkers", lambda workers, threads: SimpleNamespace(parallel=workers,
                                                                                            threads=threads))
    assert vars(backends.for_curves(Settings(worker_threads=2, curves_workers=2))) == {"parallel": 2, "threads": 1}
    assert vars(backends.for_curves(Settings(worker_threads=8, curves_workers=2))) == {"parallel": 2, "threads": 4}
    assert backends.for_curves(Settings(train_backend="thread", curves_workers=2)).parallel == 1


# --------------------------------------------------------------------- contextual vectors

BANK = ["We sat on the bank of the river and watched the boats.", "The river bank was muddy after the rain.",
        "I deposited my salary at the bank this morning.", "The bank raised its interest rates again."]


def test_a_word_drifts_from_its_static_vector_and_splits_by_sense(minilm):
    model, tokenizer = minilm
    result = contextual_vectors(model, tokenizer, "bank", BANK)
    assert result.pieces == ["bank"] and result.layer == result.num_layers == 6
    assert result.to_static.shape == (4, 7) and result.between.shape == (4, 4)
    # the embedding layer's output is the static vector plus position: near 1; context pulls it away
    assert (result.to_static[:, 0] > 0.9).all() and (result.to_static[:, -1] < result.to_static[:, 0] - 0.3).all()
    np.testing.assert_allclose(np.diag(result.between), 1.0, atol=1e-5)
    river, money = result.between[0, 1], result.between[2, 3]
    across = result.between[:2, 2:].max()
    assert river > across and money > across  # each sense is closer to itself than to the other


def test_a_word_of_several_pieces_and_any_case(minilm):
    model, tokenizer = minilm
    result = contextual_vectors(model, tokenizer, "Snowboarding", ["snowboarding is fun.", "I hate SNOWBOARDING."], 0)
    assert len(result.pieces) > 1 and result.layer == 0
    assert find_word("The Bank, banks and bank.", "bank") == (4, 8)
    assert find_word("embankment", "bank") is None


@pytest.mark.parametrize("word, sentences, message", [
    ("", BANK, "one word"),
    ("river bank", BANK, "one word"),
    ("bank", BANK[:1], "at least two"),
    ("bank", BANK + ["No such word here."], "Sentence\\(s\\) 5"),
    ("bank", ["bank"] * 13, "At most 12"),
])
def test_contextual_input_mistakes_are_explained(minilm, word, sentences, message):
    model, tokenizer = minilm
    with pytest.raises(LabInputError, match=message):
        contextual_vectors(model, tokenizer, word, sentences)
    with pytest.raises(LabInputError, match="layers 0 \\(embeddings\\) to 6"):
        contextual_vectors(model, tokenizer, "bank", BANK, layer=7)


# ------------------------------------------------------------------------------ rendering


def test_grid_html_escapes_and_shades():
    html = grid_html(["<b>1</b>", "2"], ["a", "b"], np.array([[0.0, 1.0], [0.5, 0.25]]))
    assert "<b>1</b>" not in html and "&lt;b&gt;" in html
    assert re.findall(r'data-v="([\d.]+)"', html) == ["0.0000", "1.0000", "0.5000", "0.2500"]
    assert "rgba(74,127,212,1.00)" in html and "rgba(74,127,212,0.00)" in html
    with pytest.raises(ValueError):
        grid_html(["1"], ["a", "b"], np.zeros((2, 2)))


def test_curves_svg_spaces_sizes_on_a_log_axis():
    svg = log_curves_svg([("pretrained", 16, 0.9), ("pretrained", 64, 0.95), ("pretrained", 256, 1.0),
                          ("scratch", 16, 0.3)], "title <x>")
    xs = {int(n): float(x) for x, n in re.findall(r'cx="([\d.]+)"[^>]*data-series="pretrained" data-examples="(\d+)"', svg)}
    assert xs[64] - xs[16] == pytest.approx(xs[256] - xs[64], abs=0.2)  # 4x more examples: the same step
    assert svg.count("<polyline") == 2 and "title &lt;x&gt;" in svg
    assert 'data-accuracy="0.3000"' in svg
