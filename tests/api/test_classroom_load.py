"""A class at once: 20 clients on mixed tabs while 3 students train.

Bounded in count (20 x 3 calls, 3 trainings) and time (pytest-timeout), loopback only. The
trainings queue behind the app's training concurrency limit; every call must succeed and
every student must get their own model back.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client, handle_file

CALLS = [
    (("Unbelievably, I love dogs!",), "/tokenize"),
    (("I [MASK] dogs and cats.", 5), "/fill_mask"),
    (("a wonderful film",), "/classify"),
    (("Angela Merkel visited Paris.",), "/ner"),
    (("Where do the dogs play?", "The dogs play in the park every morning."), "/qa"),
]


def student_reads(url: str, n: int) -> list[str]:
    client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})  # patient, as a browser is
    try:
        done = []
        for k in range(3):
            args, endpoint = CALLS[(n + k) % len(CALLS)]
            out = client.predict(*args, api_name=endpoint)
            assert out is not None
            done.append(endpoint)
        return done
    finally:
        client.close()


def student_trains(url: str, csv) -> tuple[dict, str]:
    client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})  # patient, as a browser is
    try:
        final = client.predict(handle_file(str(csv)), epochs=1, batch_size=8, max_length=32, api_name="/finetune")
        _, info, _ = client.predict("a wonderful film", api_name="/classify")
        return final[0], info
    finally:
        client.close()


@pytest.mark.timeout(600)
def test_twenty_clients_and_three_trainings_at_once(app_url, tmp_path):
    csv = tmp_path / "class.csv"
    rows = [("a wonderful film", "pos"), ("I loved it", "pos"), ("great fun", "pos"), ("a moving story", "pos"),
            ("a boring film", "neg"), ("I hated it", "neg"), ("dull and slow", "neg"), ("a bad plot", "neg")] * 2
    csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    with ThreadPoolExecutor(max_workers=23) as pool:
        trainings = [pool.submit(student_trains, app_url, csv) for _ in range(3)]
        readers = [pool.submit(student_reads, app_url, n) for n in range(20)]
        reads = [f.result() for f in readers]  # re-raises any error
        trained = [f.result() for f in trainings]
    assert sum(len(r) for r in reads) == 60
    for metrics, info in trained:
        assert metrics["status"] == "done" and metrics["run"] == "run-1"
        assert "run-1" in info  # each student's own model answered them
