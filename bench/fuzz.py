"""Fuzz: every named endpoint of the app, one hostile value at a time, on loopback only.

For each public endpoint (``/gradio_api/info``) and each of its parameters, the value is replaced
by one of ``HOSTILE`` (None, a boolean, a list, a dict, huge and negative numbers, markup, a lone
surrogate, 100,000 characters, a path that was never uploaded...) while the other parameters keep
their defaults, and the call goes through Gradio's own HTTP API (``/gradio_api/call/<name>``),
as any script would send it. The cases are shuffled with a fixed seed and bounded by
``--max-cases`` and ``--max-seconds``.

A case fails when:

- one of the lab's handlers (or its output's postprocessing) raised anything but a message for
  the user: the app runs in this process, and ``Blocks.call_function``/``postprocess_data`` are
  watched, so a generic ``{"error": null}`` from the lab's own code is told apart from Gradio's
  refusals before the handler (a file never uploaded, a value no dropdown offers), which are
  counted and listed, not failed;
- an answer carries a traceback;
- the server stops answering (a cheap ``/tokenize`` after every case).

    python -m bench.fuzz                           # 600 cases at most, 10 minutes at most
    python -m bench.fuzz --max-cases 100 --max-seconds 120

The app is the test suite's: offline, every task's head a tiny random model (tests/tiny.py), so
no model is downloaded and nothing leaves 127.0.0.1. Exits 1 when a case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="1",
                  TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", LAB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

HOST = "127.0.0.1"
HOSTILE = {
    "none": None,
    "true": True,
    "zero": 0,
    "negative": -1,
    "huge number": 1e308,
    "empty text": "",
    "markup": "<a href=https://evil.invalid/login>log in again</a><input placeholder=password>",
    "lone surrogate": "a\ud800b",
    "control characters": "\x00\x1b[2J\x7f",
    "100,000 characters": "a" * 100_000,
    "list": ["a", "b"],
    "list of lists": [["a"], ["b"]],
    "dict": {"a": 1},
    "file never uploaded": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
    "path as text": "/etc/passwd",
}
SKIP = {"/cancel_training", "/cancel_learning_curves"}  # nothing to refuse, nothing to run
# Defaults that would start long work (learning curves train a dozen runs): every case of these
# endpoints is then refused or answered at once, whichever parameter holds the hostile value.
BASE = {"/learning_curves": {"series": []}}


@dataclass
class Outcome:
    cases: int = 0
    answered: int = 0
    messages: int = 0  # refused with a message for the user
    gradio_refusals: list[str] = field(default_factory=list)  # {"error": null} from Gradio, before a handler
    failures: list[str] = field(default_factory=list)


class HandlerWatch:
    """Records what the lab's handlers raise that is not a ``gr.Error`` (a generic error to a caller)."""

    def __init__(self):
        self.raised: list[str] = []

    def install(self) -> None:
        import gradio as gr
        from gradio.blocks import Blocks

        watch, call, post = self, Blocks.call_function, Blocks.postprocess_data

        async def call_function(blocks, block_fn, *args, **kwargs):
            try:
                return await call(blocks, block_fn, *args, **kwargs)
            except (gr.Error, StopAsyncIteration):
                raise
            except Exception as exc:
                watch.raised.append(f"{getattr(block_fn, 'api_name', block_fn)}: {type(exc).__name__}: {exc}"[:300])
                raise

        async def postprocess_data(blocks, block_fn, *args, **kwargs):
            try:
                return await post(blocks, block_fn, *args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                watch.raised.append(f"{getattr(block_fn, 'api_name', block_fn)} (output): {type(exc).__name__}: {exc}"[:300])
                raise

        Blocks.call_function, Blocks.postprocess_data = call_function, postprocess_data


def _call(http, api: str, data: list, timeout: float) -> tuple[str, object]:
    """("complete" | "error", the answer's data) of one call through Gradio's HTTP API."""
    started = http.post(f"/gradio_api/call{api}", content=json.dumps({"data": data}),
                        headers={"content-type": "application/json"}, timeout=timeout)
    if started.status_code != 200:
        return "http", f"{started.status_code} {started.text[:200]}"
    event_id = started.json()["event_id"]
    event, payload = "slow", f"no answer within {timeout:g} s"
    deadline = time.monotonic() + timeout
    with http.stream("GET", f"/gradio_api/call{api}/{event_id}", timeout=timeout) as stream:
        kind = None
        for line in stream.iter_lines():
            if time.monotonic() > deadline:  # Gradio's heartbeats keep the stream open: the clock decides
                break
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                event, payload = kind, json.loads(line.split(":", 1)[1].strip() or "null")
                break
    return event, payload


def _defaults(parameters: list[dict]) -> list:
    values = []
    for p in parameters:
        if p.get("component") in ("File", "UploadButton", "Image", "Audio", "Video"):
            values.append(None)  # no file: the handler says what to upload
        elif p.get("parameter_has_default"):
            values.append(p.get("parameter_default"))
        else:
            kind = (p.get("python_type") or {}).get("type", "")
            values.append(0 if kind in ("int", "float") else False if kind == "bool" else "hello")
    return values


def cases(info: dict, seed: int = 0, only: str = "") -> list[tuple[str, list, str, str]]:
    """(endpoint, data, parameter, hostile value's name) for every parameter of every named endpoint
    (those whose name contains ``only``)."""
    out = []
    for api, spec in info["named_endpoints"].items():
        if api in SKIP or only not in api:
            continue
        parameters = spec["parameters"]
        base = [BASE.get(api, {}).get(p.get("parameter_name"), value)
                for p, value in zip(parameters, _defaults(parameters), strict=True)]
        for i, p in enumerate(parameters):
            for name, value in HOSTILE.items():
                data = list(base)
                data[i] = value
                out.append((api, data, p.get("parameter_name") or f"#{i}", name))
    random.Random(seed).shuffle(out)
    return out


def run(url: str, watch: HandlerWatch, max_cases: int = 600, max_seconds: float = 600.0, timeout: float = 60.0,
        seed: int = 0, only: str = "", log=print) -> Outcome:
    """Send the shuffled cases to the app at ``url`` (loopback only) until either bound is reached."""
    import httpx

    if httpx.URL(url).host not in (HOST, "localhost"):
        raise SystemExit(f"the fuzz only runs against this machine's loopback ({HOST}), not {url}")
    outcome = Outcome()
    deadline = time.monotonic() + max_seconds
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as http:
        info = http.get("/gradio_api/info").json()
        for api, data, parameter, name in cases(info, seed, only)[:max_cases]:
            if time.monotonic() > deadline:
                break
            outcome.cases += 1
            before = len(watch.raised)
            where = f"{api} {parameter}={name}"
            try:
                event, payload = _call(http, api, data, timeout)
            except (httpx.HTTPError, ValueError) as exc:
                outcome.failures.append(f"{where}: no answer ({type(exc).__name__}: {exc})")
                event, payload = "none", None
            raised = watch.raised[before:]
            if raised:
                outcome.failures += [f"{where}: {r}" for r in raised]
            elif "Traceback" in json.dumps(payload, default=str):
                outcome.failures.append(f"{where}: a traceback in the answer")
            elif event == "complete":
                outcome.answered += 1
            elif event == "error" and (payload.get("error") if isinstance(payload, dict) else payload):
                outcome.messages += 1
            elif event == "slow":
                outcome.failures.append(f"{where}: {payload}")
            elif event in ("error", "http"):
                outcome.gradio_refusals.append(f"{where}: {payload}")
            try:
                alive, _ = _call(http, "/tokenize", ["ok", "", None], timeout)
            except httpx.HTTPError as exc:
                alive = f"down ({exc})"
            if alive != "complete":
                outcome.failures.append(f"{where}: the server stopped answering ({alive})")
                break
    log(f"{outcome.cases} cases: {outcome.answered} answered, {outcome.messages} refused with a message, "
        f"{len(outcome.gradio_refusals)} refused by Gradio before the handler, {len(outcome.failures)} failed")
    return outcome


def _serve_tiny(directory: Path) -> tuple[object, str]:
    """The app as the test suite launches it (tests/conftest.py): offline, tiny random heads, loopback."""
    import socket

    import app as lab_app
    from lab.context import Lab
    from lab.settings import Settings
    from tests.tiny import save_tiny

    labels = {"id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
    models = {"fill-mask": save_tiny(directory / "mlm", "BertForMaskedLM"),
              "classification": save_tiny(directory / "cls", "BertForSequenceClassification", **labels),
              "ner": save_tiny(directory / "ner", "BertForTokenClassification", **labels),
              "qa": save_tiny(directory / "qa", "BertForQuestionAnswering")}
    settings = Settings(offline=True, runs_dir=directory / "runs", cache_dir=directory / "cache",
                        model_overrides={k: str(v) for k, v in models.items()})
    demo = lab_app.build_app(Lab(settings))
    demo.queue(default_concurrency_limit=4)
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name=HOST, server_port=port, quiet=True,
                **lab_app.launch_kwargs(demo))
    return demo, f"http://{HOST}:{port}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-cases", type=int, default=600, help="most cases to send (shuffled, fixed seed)")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this many seconds")
    parser.add_argument("--seed", type=int, default=0, help="the order of the cases")
    parser.add_argument("--only", default="", help="only the endpoints whose name contains this")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    watch = HandlerWatch()
    watch.install()
    with tempfile.TemporaryDirectory(prefix="lab-fuzz-") as directory:
        demo, url = _serve_tiny(Path(directory))
        try:
            outcome = run(url, watch, args.max_cases, args.max_seconds, seed=args.seed, only=args.only)
        finally:
            demo.close()
    for line in outcome.failures:
        print("FAILED", line)
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
