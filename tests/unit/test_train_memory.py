"""training/engine/estimate.py: a run's peak memory, estimated before it starts and checked against the host's budget."""

import pytest
from transformers import AutoConfig

from lab.errors import LabInputError
from lab.registry import embedded_encoder_dir
from lab.settings import Settings
from training.config import TrainConfig
from training.data.reader import Prepared
from training.engine import estimate
from training.engine.models import count_parameters
from training.runs.session_runs import check_memory


@pytest.fixture(scope="module")
def minilm():
    return AutoConfig.from_pretrained(embedded_encoder_dir())


def test_the_estimate_grows_with_batch_and_twice_with_length(minilm):
    # the trainable weights as the loop counts them: the real model's (22.7M weights, a 2-way head)
    full, _ = count_parameters(TrainConfig(), 2, Settings(offline=True))
    assert abs(full - 22_713_986) < 0.001 * 22_713_986
    base = estimate.training_bytes(minilm, 16, 128, full)
    assert estimate.training_bytes(minilm, 32, 128, full) - base > 0
    # the attention scores make a longer text cost more than a bigger batch of the same tokens
    assert estimate.training_bytes(minilm, 16, 256, full) > estimate.training_bytes(minilm, 32, 128, full)
    # measured on all-MiniLM-L6-v2 (bench/train_memory.py): 1,077 MiB added at 16 x 128, 6,085 at 16 x 512
    assert 1077 <= base / 2**20 <= 1.1 * 1077
    assert 6085 <= estimate.training_bytes(minilm, 16, 512, full + 98 * 385) / 2**20 <= 1.1 * 6085
    # a frozen encoder keeps no gradients or optimizer state for it
    frozen, _ = count_parameters(TrainConfig(strategy="frozen_encoder"), 2, Settings(offline=True))
    assert estimate.training_bytes(minilm, 16, 128, frozen) < base


def test_a_run_over_the_budget_is_refused_with_what_to_change():
    data = Prepared("classification", train=type("D", (), {"label_names": ["a", "b"]})(), val=None,
                              test=None, items=100, typical_length=32)
    settings = Settings(offline=True)
    assert check_memory(data, TrainConfig(), settings, hub_online=False) < settings.max_train_memory_mb * 2**20
    with pytest.raises(LabInputError, match=r"about 4\d\.\d GB.*batch size 128 x max length 512.*allows 6\.0 GB.*"
                                            r"Lower the batch size or the max length"):
        check_memory(data, TrainConfig(batch_size=128, max_length=512), settings, hub_online=False)
    roomy = Settings(offline=True, max_train_memory_mb=64_000)
    assert check_memory(data, TrainConfig(batch_size=128, max_length=512), roomy, hub_online=False)
