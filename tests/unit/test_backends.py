"""Training as jobs outside the server: worker processes (start, progress, cancel, a killed worker,
first come first served), the in-process backend, and a real Ray head on loopback."""

import os
import shutil
import socket
import subprocess
import time
import zipfile

import pytest

from lab.settings import Settings
from training.config import TrainConfig
from training.data.data import TextDataset
from training.data.reader import Prepared
from training.runs import backends
from training.runs.jobs import JobSpec

# Trains or loads real models for seconds: left out of the fast tier (-m "not slow").
pytestmark = pytest.mark.slow


def _prepared(n: int = 64) -> Prepared:
    texts = [f"a {'good' if i % 2 else 'bad'} film number {i}" for i in range(n)]
    data = TextDataset(texts, [i % 2 for i in range(n)], ["negative", "positive"])
    return Prepared("classification", data.subset(list(range(8, n))), data.subset(list(range(8))), None,
                              n - 8, 16)


def _spec(tmp_path, settings, name="run-1", epochs=1.0, archive=False) -> JobSpec:
    config = TrainConfig(epochs=epochs, batch_size=8, max_length=16, learning_rate=1e-3, warmup_ratio=0.0,
                         precision="fp32")
    return JobSpec(_prepared(), config, str(tmp_path / name), settings, False,
                   archive=str(tmp_path / name / f"{name}.zip") if archive else None)


@pytest.fixture(scope="module")
def workers():
    pool = backends.LocalWorkers(workers=1, threads_per_worker=1)
    yield pool
    pool.close()


def _drain(job) -> list:
    events = []
    for batch in job.watch(every_s=0.2):
        events += batch
    return events


def test_a_worker_process_trains_and_streams_progress(workers, settings, tmp_path):
    job = workers.submit(_spec(tmp_path, settings, archive=True))
    events = _drain(job)
    assert job.error is None, job.error
    assert [e.kind for e in events].count("step") == 7 and events[-1].kind == "done"  # 56 rows / 8
    assert workers.workers[0].proc.pid != os.getpid()  # trained in its own process
    assert (job.result.best_dir / "model.safetensors").is_file()
    assert (tmp_path / "run-1" / "data" / "validation.csv").is_file()  # the rows the Transfer tab shows
    with zipfile.ZipFile(tmp_path / "run-1" / "run-1.zip") as archive:
        assert "model.safetensors" in archive.namelist() and "config.json" in archive.namelist()


def test_runs_wait_their_turn_and_cancel_keeps_the_best(workers, settings, tmp_path):
    first = workers.submit(_spec(tmp_path, settings, "run-a", epochs=40))
    second = workers.submit(_spec(tmp_path, settings, "run-b"))
    deadline = time.monotonic() + 60
    while first.events.empty() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.position == 0 and second.position == 1  # one worker: the second waits, first in line
    first.cancel()
    assert first.wait(60) and first.result.stopped_early == "cancelled"
    assert second.wait(60) and second.error is None and second.position == 0


def test_a_killed_worker_fails_its_run_and_the_next_run_trains(workers, settings, tmp_path):
    job = workers.submit(_spec(tmp_path, settings, "run-k", epochs=50))
    deadline = time.monotonic() + 60
    while job.events.empty() and time.monotonic() < deadline:
        time.sleep(0.1)
    workers.workers[0].proc.kill()  # what the OOM killer or a stray `kill -9` does
    assert job.wait(60)
    assert isinstance(job.error, backends.WorkerDied) and "stopped before the run ended" in str(job.error)
    again = workers.submit(_spec(tmp_path, settings, "run-after"))
    assert again.wait(120) and again.error is None  # a new worker took it


def test_bad_data_errors_come_back_as_they_are(workers, settings, tmp_path):
    spec = _spec(tmp_path, settings, "run-bad")
    spec.prepared.val.label_names = ["a", "b"]  # validation labels that are not the training ones
    job = workers.submit(spec)
    assert job.wait(60)
    assert type(job.error).__name__ == "LabInputError" and "labels" in str(job.error)


def test_the_thread_backend_runs_the_same_job(settings, tmp_path):
    job = backends.ThreadBackend().submit(_spec(tmp_path, settings))
    events = _drain(job)
    assert job.error is None and events[-1].kind == "done"


def test_settings_choose_the_backend(monkeypatch):
    assert isinstance(backends.from_settings(Settings(train_backend="thread")), backends.ThreadBackend)
    monkeypatch.setenv("LAB_TRAIN_BACKEND", "ray")
    with pytest.raises(ValueError, match="LAB_TRAIN_BACKEND"):
        Settings.from_env()
    monkeypatch.setenv("LAB_TRAIN_BACKEND", "thread")
    monkeypatch.setenv("LAB_RAY_ADDRESS", "127.0.0.1:6379")
    assert Settings.from_env().ray_address == "127.0.0.1:6379"


# --------------------------------------------------------------------------------------- Ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on loopback, as an instructor's `ray start --head` makes one (2 CPUs, no dashboard)."""
    ray_cli = shutil.which("ray")
    assert ray_cli, "ray is installed by tests/run-tests.sh (requirements-optional.txt)"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    subprocess.run([ray_cli, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", "--object-store-memory=200000000"],
                   check=True, capture_output=True, env=env, timeout=180)
    yield f"127.0.0.1:{port}"
    import ray

    ray.shutdown()
    subprocess.run([ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_a_run_on_a_ray_cluster_comes_back_to_the_server(ray_head, settings, tmp_path):
    backend = backends.RayBackend(ray_head)
    job = backend.submit(_spec(tmp_path, settings, "run-ray", archive=True))
    events = _drain(job)
    assert job.error is None, job.error
    assert [e.kind for e in events].count("step") == 7  # progress streamed back through Ray
    # the files came back into this server's folder, paths rewritten to it
    assert job.result.best_dir == tmp_path / "run-ray" / "best"
    assert (job.result.best_dir / "model.safetensors").is_file()
    assert (tmp_path / "run-ray" / "metrics.json").is_file() and (tmp_path / "run-ray" / "run-ray.zip").is_file()
    assert job.result.extra["node"]  # the Ray node that trained it
    cancelled = backend.submit(_spec(tmp_path, settings, "run-ray-cancel", epochs=50))
    deadline = time.monotonic() + 120
    while cancelled.events.empty() and time.monotonic() < deadline:
        time.sleep(0.2)
    cancelled.cancel()
    assert cancelled.wait(120) and cancelled.error is None and cancelled.result.stopped_early == "cancelled"
