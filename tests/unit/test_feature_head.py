"""Feature extraction: the frozen encoder's vectors, a logistic-regression head folded into a plain
BertForSequenceClassification, and the same files as any run."""

import json

import numpy as np
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from lab.errors import LabInputError
from lab.settings import Settings
from tests.tiny import save_tiny
from training.config import TrainConfig
from training.data.data import TextDataset
from training.data.reader import Prepared
from training.runs import jobs
from training.tasks import registry
from training.transfer.feature_head import fit_head, train_feature_head
from training.transfer.features import predict_labels
from training.transfer.transfer import fit_probe


@pytest.mark.parametrize("classes", [2, 3])
def test_the_folded_head_gives_the_regressions_answers(classes):
    rng = np.random.default_rng(0)
    y = [i % classes for i in range(90)]
    x = rng.normal(size=(90, 6)) * 5 + 3 + np.eye(6)[y] * 4  # scaled and shifted: the folding matters
    weight, bias = fit_head(x, y, classes, class_weights=False, seed=0)
    assert weight.shape == (classes, 6) and bias.shape == (classes,)
    probe = fit_probe(x, y, seed=0)  # the same regression, with its scaler kept apart
    assert ((x @ weight.T + bias).argmax(1) == probe.predict(x)).all()


@pytest.mark.parametrize("class_weights", [False, True])
def test_the_features_head_is_the_transfer_views_probe(class_weights):
    """One probe: the Fine-tune tab's features head is the probe chart's regression, folded, with the
    same class weights and the same answers whether or not it is fitted in checked rounds."""
    rng = np.random.default_rng(2)
    y = [0] * 20 + [1] * 50 + [2] * 20
    x = (rng.normal(size=(90, 5)) * 3 + 1 + np.eye(5)[y] * 2).astype(np.float32)
    rounds = []
    probe = fit_probe(x, y, seed=0, class_weights=class_weights, check=lambda: rounds.append(1))
    assert rounds  # checked before the first round
    weight, bias = fit_head(x, y, 3, class_weights=class_weights, seed=0)
    np.testing.assert_allclose(x @ weight.T + bias, probe.decision_function(x), rtol=1e-4, atol=1e-4)
    one_fit = fit_probe(x, y, seed=0, class_weights=class_weights)
    assert (one_fit.predict(x) == probe.predict(x)).all()


def test_a_class_missing_from_training_never_wins():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    weight, bias = fit_head(x, [0, 2, 0, 2], 3, class_weights=False, seed=0)
    assert bias[1] < -1e3 and not (weight[1] != 0).any()
    assert set((x @ weight.T + bias).argmax(1)) == {0, 2}


def test_class_weights_move_the_boundary_towards_the_common_class():
    rng = np.random.default_rng(1)
    y = [1] * 10 + [0] * 90
    x = rng.normal(size=(100, 3)) + np.array(y)[:, None] * 1.2
    plain = (x @ fit_head(x, y, 2, False, 0)[0].T + fit_head(x, y, 2, False, 0)[1]).argmax(1).sum()
    weight, bias = fit_head(x, y, 2, True, 0)
    weighted = (x @ weight.T + bias).argmax(1).sum()
    assert weighted > plain  # the rare class is predicted more often with balanced weights


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    base = save_tiny(tmp_path_factory.mktemp("features") / "tiny-base", "BertModel")
    return Settings(offline=True, model_overrides={"finetune-base": str(base)},
                    cache_dir=tmp_path_factory.mktemp("cache"))


def _data(n, offset=0):
    texts = [f"a {'good' if i % 2 else 'bad'} film number {i + offset}" for i in range(n)]
    return TextDataset(texts, [i % 2 for i in range(n)], ["negative", "positive"])


def test_a_feature_run_saves_a_model_that_answers_as_its_head(settings, tmp_path):
    config = TrainConfig(strategy="features", max_length=16)
    events = []
    result = train_feature_head(config, _data(40), _data(12, 100), tmp_path / "run-1", _data(6, 200), events.append,
                                settings=settings, hub_online=False)
    assert [e.kind for e in events] == ["eval", "done"]
    assert result.extra["feature_cache"] == {"train": "miss", "validation": "miss"}
    assert result.trainable_params == 2 * 32 + 2 and result.total_params > 100_000  # the head only
    assert 0.0 <= result.best_metrics["accuracy"] <= 1.0 and result.test_report is not None
    saved = json.loads((tmp_path / "run-1" / "metrics.json").read_text())
    assert saved["strategy"] == "features" and saved["config"]["strategy"] == "features"
    model = AutoModelForSequenceClassification.from_pretrained(result.best_dir)
    tokenizer = AutoTokenizer.from_pretrained(result.best_dir)
    val = _data(12, 100)
    predicted = predict_labels(model, tokenizer, val.texts)
    reloaded = np.mean([p == val.label_names[y] for p, y in zip(predicted, val.labels)])
    assert reloaded == pytest.approx(result.best_metrics["accuracy"])  # the saved model is the head
    again = train_feature_head(config, _data(40), _data(12, 100), tmp_path / "run-2", settings=settings,
                               hub_online=False)
    assert again.extra["feature_cache"] == {"train": "hit", "validation": "hit"}  # encoded once, for everyone


def test_feature_extraction_is_for_classification(tmp_path):
    with pytest.raises(LabInputError, match="for classification"):
        registry.check_strategy("ner", TrainConfig(strategy="features").strategy)


def test_the_cli_trains_the_features_way(settings, tmp_path, monkeypatch, capsys):
    from training.__main__ import main

    monkeypatch.setenv("LAB_MODEL_FINETUNE_BASE", settings.model_overrides["finetune-base"])
    monkeypatch.setenv("LAB_CACHE_DIR", str(tmp_path / "cache"))
    data = _data(40)
    csv = tmp_path / "films.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{data.label_names[y]}\n" for t, y in zip(data.texts, data.labels)))
    assert main(["--train", str(csv), "--output", str(tmp_path / "out"), "--strategy", "features",
                 "--test-fraction", "0.2", "--max-length", "16"]) == 0
    out = capsys.readouterr().out
    assert "trainable parameters 66 of" in out and "test: accuracy" in out
    assert (tmp_path / "out" / "best" / "model.safetensors").is_file()
    assert main(["--task", "ner", "--train", str(csv), "--output", str(tmp_path / "ner"), "--strategy",
                 "features"]) == 2


def _stops_after(calls: int):
    """A Cancel pressed once ``calls`` checks have passed."""
    seen = []

    def should_stop() -> bool:
        seen.append(1)
        return len(seen) > calls

    return should_stop


def test_cancel_while_encoding_stops_the_run_and_keeps_nothing(settings, tmp_path):
    from training.transfer.feature_head import RunStopped

    config = TrainConfig(strategy="features", max_length=16)
    with pytest.raises(RunStopped, match=r"Cancelled while encoding the texts \(32 of 100\)") as caught:
        train_feature_head(config, _data(100, 5000), _data(12, 6000), tmp_path / "run-1",
                           should_stop=_stops_after(0), settings=settings, hub_online=False)
    assert caught.value.reason == "cancelled"
    assert not (tmp_path / "run-1" / "best").exists() and not (tmp_path / "run-1" / "metrics.json").exists()
    features_dir = settings.cache_dir / "features"
    before = set(features_dir.glob("*.npy")) if features_dir.is_dir() else set()
    # the half-encoded texts were not cached: a later run encodes them in full
    done = train_feature_head(config, _data(100, 5000), _data(12, 6000), tmp_path / "run-2", settings=settings,
                              hub_online=False)
    assert done.extra["feature_cache"]["train"] == "miss" and len(set(features_dir.glob("*.npy")) - before) == 2


def test_cancel_while_fitting_stops_the_run(settings, tmp_path, monkeypatch):
    from training.transfer import feature_head, transfer

    monkeypatch.setattr(transfer, "PROBE_ROUND_ITER", 1)  # a round per solver iteration: Cancel is seen in the fit
    config = TrainConfig(strategy="features", max_length=16)
    train_feature_head(config, _data(40, 7000), _data(12, 7100), tmp_path / "warm", settings=settings,
                       hub_online=False)  # the vectors are cached: no encoding batch checks Cancel below
    with pytest.raises(feature_head.RunStopped, match="while fitting the head") as caught:
        train_feature_head(config, _data(40, 7000), _data(12, 7100), tmp_path / "run-1",
                           should_stop=_stops_after(1), settings=settings, hub_online=False)
    assert caught.value.reason == "cancelled" and not (tmp_path / "run-1" / "best").exists()


def test_a_features_run_stops_at_its_time_limit(settings, tmp_path, monkeypatch):
    from training.transfer import feature_head

    class Clock:  # every look at the clock is a minute later
        now = 0.0

        @classmethod
        def perf_counter(cls) -> float:
            cls.now += 60.0
            return cls.now

    monkeypatch.setattr(feature_head, "time", Clock)
    config = TrainConfig(strategy="features", max_length=16, max_train_minutes=2)
    with pytest.raises(feature_head.RunStopped, match="time limit of 2 min while encoding") as caught:
        train_feature_head(config, _data(100, 8000), _data(12, 8200), tmp_path / "run-1", settings=settings,
                           hub_online=False)
    assert caught.value.reason == "time limit" and not (tmp_path / "run-1" / "best").exists()


def test_a_stopped_features_run_leaves_no_folder_and_crosses_a_pipe(settings, tmp_path):
    import pickle

    from training.transfer.feature_head import RunStopped

    config = TrainConfig(strategy="features", max_length=16)
    prepared = Prepared("classification", _data(60, 9000), _data(12, 9100), None, 60, 16)
    with pytest.raises(RunStopped) as caught:
        jobs.train(prepared, config, tmp_path / "run-1", should_stop=lambda: True, settings=settings,
                        hub_online=False)
    assert not (tmp_path / "run-1").exists()
    again = pickle.loads(pickle.dumps(caught.value))  # from a training worker to the server
    assert again.reason == "cancelled" and again.args[0].say("id").startswith("Dibatalkan")
