"""The first requests after ``python app.py`` served its page: each heavy endpoint, several at once,
while the background import of torch and the training stack (lab/lazy.py) still runs. Each waits
for what it needs and answers; none fails because it came early."""

import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client

from tests.conftest import ROOT, free_port

SENTIMENT = "Sentiment (the lab's own sample)"


def _first_answer(url: str, api_name: str, *args):
    """The endpoint's first output (a streaming one is cancelled after it)."""
    client = Client(url, verbose=False)
    try:
        job = client.submit(*args, api_name=api_name)
        deadline = time.monotonic() + 240
        while not job.outputs() and not job.done() and time.monotonic() < deadline:
            time.sleep(0.1)
        if job.outputs():
            if not job.done():
                client.predict(api_name="/cancel_learning_curves")
            return job.outputs()[0]
        return job.result()  # raises the endpoint's error, if it failed
    finally:
        client.close()


@pytest.fixture
def fresh_server(tmp_path):
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "LAB_RUNS_DIR": str(tmp_path / "runs"), "LAB_CACHE_DIR": str(tmp_path / "cache")}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                if page.status == 200:
                    break
        except OSError:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.05)
    else:
        pytest.fail("the app did not serve its page in 180 s")
    try:
        yield url, Path(tmp_path / "server.log")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_heavy_endpoints_called_first_thing_after_start_all_answer(fresh_server):
    url, log = fresh_server
    calls = {
        "/learning_curves": (SENTIMENT, None, ["pretrained", "frozen"]),
        "/fill_mask": ("The capital of France is [MASK].",),
        "/tokenize": ("Transfer learning needs fewer examples.",),
        "/classify": ("A wonderful film.",),
        "/contextual_vectors": ("bank", "The bank of the river.\nThe bank lends money.", 3),
        "/load_dataset": (SENTIMENT, "100 rows"),
    }
    with ThreadPoolExecutor(len(calls)) as pool:  # all sent at once, as soon as the page is served
        futures = {name: pool.submit(_first_answer, url, name, *args) for name, args in calls.items()}
        answers = {name: future.exception(timeout=300) or future.result() for name, future in futures.items()}
    failed = {name: repr(answer) for name, answer in answers.items() if isinstance(answer, BaseException)}
    server_log = log.read_text()
    assert not failed, f"{failed}\n--- server log ---\n{server_log[-4000:]}"
    assert "cannot import name" not in server_log and "Traceback" not in server_log, server_log[-4000:]
    assert "Expected time" in answers["/learning_curves"][2]
    assert all(answer is not None for answer in answers.values())
