"""Inference: server-side time per call of each task vs a plain-transformers baseline on the same model.

- fill-mask, NER, classification: the lab function and the tab's handler (what the server runs
  per API call, rendering included) vs the transformers pipeline on the same weights and inputs.
  /classify is the prediction alone; the saliency is /explain, chained after it in the UI, and its
  cost is reported separately.
- QA (transformers 5 has no QA pipeline): ``answer_question`` and the tab's handler vs a bare
  forward pass of the same windows (padded as the app pads them, and padded to the longest window).

The baseline is what a user would run: the pipeline on the same weights with transformers' default
(SDPA) attention; QA's baseline is a bare SDPA forward of the same windows padded to the longest.
The app's models use ``lab_sdpa`` (SDPA, eager only inside the attention view, lab/attn_impl.py);
one more row runs the pipeline on the app's own model object. Both sides run on the threads the
app gives a request (``LAB_TORCH_THREADS``, 1 by default; ``--threads 0`` for torch's default).

Offline there are no shipped heads yet for some tasks: those run on the real embedded encoder with
a random head (speed does not depend on the head's training), and the output says so.

    python -m bench.inference
    python -m bench.inference --threads 0          # torch's default threads (the machine's cores)
    python -m bench.inference --rounds 100 --tasks fill-mask,ner
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from bench.common import (
    bench_parser,
    default_out,
    machine,
    median,
    model_overrides,
    percentile,
    print_machine,
    set_offline_env,
    squad_contexts,
    table,
    write_results,
)

FILL_MASK = ["I [MASK] dogs and cats.", "The capital of France is [MASK].",
             "He wrote a [MASK] to his mother after the long war had finally ended.",
             "The [MASK] was delicious, but the [MASK] was slow."]
CLASSIFY = ["This film was an absolute delight from start to finish.",
            "The plot was predictable and the acting was wooden.",
            "Not bad at all, though the ending dragged.",
            "I expected to hate it, but I loved every minute of this strange, sprawling and "
            "often very funny story about two brothers who run a failing hotel by the sea."]
QA_BASELINE = "bare forward, same windows (padded to longest, SDPA)"
PIPE = "pipeline (same weights, SDPA)"
NER = ["Angela Merkel visited Paris with Emmanuel Macron in 2019.",
       "The Eiffel Tower was built by Gustave Eiffel for the 1889 World's Fair.",
       "Satya Nadella told Reuters that Microsoft will open an office in Nairobi.",
       "Jürgen Klopp managed Borussia Dortmund before Liverpool."]


def run_rounds(contestants: dict, inputs: list, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each round takes the next input and calls every contestant on it, in a rotating order."""
    names = list(contestants)
    for i in range(warmup):
        for name in names:
            contestants[name](inputs[i % len(inputs)])
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        item = inputs[r % len(inputs)]
        for name in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter()
            contestants[name](item)
            times[name].append(time.perf_counter() - t)
    return times


def sdpa_copy(model):
    """The same weights with SDPA attention (what from_pretrained picks by default), as a user loads
    them: every tensor row-major, as from_pretrained leaves it (the app's model has its linear weights
    stored input-major, lab/weight_layout.py, which the baseline must not inherit)."""
    import torch

    clone = copy.deepcopy(model)
    clone.set_attn_implementation("sdpa")
    with torch.no_grad():
        for param in clone.parameters():
            param.data = param.data.contiguous()
    return clone.eval()


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=40,
                        help="Timed calls of each contestant per task (inputs cycle); medians are reported.")
    parser.add_argument("--qa-rounds", type=int, default=12,
                        help="Timed calls per QA contestant (a long context is several 384-token windows).")
    parser.add_argument("--saliency-rounds", type=int, default=12,
                        help="Timed calls of the (slower) full classification with saliency.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls of each contestant first.")
    parser.add_argument("--tasks", default="fill-mask,classification,ner,qa", help="Comma-separated tasks to run.")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: the app's, LAB_TORCH_THREADS, 1 unless set: the "
                             "server runs every request on that many; 0: torch's default, the machine's cores).")
    parser.add_argument("--out", type=Path, default=default_out("inference"), help="Where to write the JSON.")
    args = parser.parse_args(argv)

    set_offline_env()
    import torch
    import transformers
    from transformers import pipeline

    from lab.classify import classify
    from lab.context import Lab
    from lab.fill_mask import fill_mask
    from lab.ner import tag_entities
    from lab.qa import answer_question, make_windows
    from lab.saliency import GRADIENT_X_INPUT, INTEGRATED_GRADIENTS
    from lab.settings import Settings
    from tabs.classification import ClassificationTab
    from tabs.fill_mask import FillMaskTab
    from tabs.ner import NerTab
    from tabs.qa import LIGHTHOUSE, QaTab

    transformers.logging.set_verbosity_error()
    threads = Settings.from_env().torch_threads if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    info = machine()
    print_machine(info)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    overrides, notes = model_overrides(tasks)
    for note in notes:
        print("model:", note)
    # The threads this process runs at, as the app's setting: the models are prepared for it
    # (lab.weight_layout), as the app prepares them for LAB_TORCH_THREADS.
    lab = Lab(Settings(offline=True, model_overrides=overrides, torch_threads=torch.get_num_threads()))

    rows, results = [], {}

    def report(task: str, times: dict[str, list[float]], baseline: str, input_note: str) -> None:
        base = median(times[baseline])
        results.setdefault(task, {})
        for name, values in times.items():
            med = median(values)
            results[task][name] = {"median_ms": 1000 * med, "p90_ms": 1000 * percentile(values, 90),
                                   "calls": len(values), "vs_baseline": med / base, "baseline": baseline,
                                   "inputs": input_note}
            rows.append([task, name, 1000 * med, 1000 * percentile(values, 90), len(values),
                         "baseline" if name == baseline else f"{med / base:.2f}x"])

    if "fill-mask" in tasks:
        print("fill-mask ...", flush=True)
        loaded = lab.model("fill-mask")
        m, tok = loaded.model, loaded.tokenizer
        tab = FillMaskTab(lab)
        pipe = pipeline("fill-mask", model=m, tokenizer=tok, top_k=5, device=-1)
        pipe_sdpa = pipeline("fill-mask", model=sdpa_copy(m), tokenizer=tok, top_k=5, device=-1)
        times = run_rounds({
            "lab fill_mask()": lambda text: fill_mask(m, tok, text, 5),
            "tab handler /fill_mask": lambda text: tab.fill(text, 5, "", None),
            PIPE: lambda text: pipe_sdpa(text),
            "pipeline (the app's model object)": lambda text: pipe(text),
        }, FILL_MASK, args.rounds, args.warmup)
        report("fill-mask", times, PIPE, f"{len(FILL_MASK)} sentences, top_k 5")

    if "classification" in tasks:
        print("classification ...", flush=True)
        loaded = lab.model("classification")
        m, tok = loaded.model, loaded.tokenizer
        tab = ClassificationTab(lab)
        pipe = pipeline("text-classification", model=m, tokenizer=tok, top_k=None, device=-1)
        pipe_sdpa = pipeline("text-classification", model=sdpa_copy(m), tokenizer=tok, top_k=None, device=-1)

        def predict_only(text):
            return classify(m, tok, text, explain=False)

        times = run_rounds({
            "lab classify(), prediction only": predict_only,
            "tab handler /classify": lambda text: tab.classify(text, None, None),
            PIPE: lambda text: pipe_sdpa(text),
            "pipeline (the app's model object)": lambda text: pipe(text),
        }, CLASSIFY, args.rounds, args.warmup)
        report("classification", times, PIPE, f"{len(CLASSIFY)} texts, all labels")
        print("classification saliency ...", flush=True)
        times = run_rounds({
            "lab classify(), prediction only": predict_only,
            "lab classify() + integrated gradients (16 steps)": lambda text: classify(m, tok, text, INTEGRATED_GRADIENTS),
            "lab classify() + gradient x input": lambda text: classify(m, tok, text, GRADIENT_X_INPUT),
            "tab handler /explain (integrated gradients)": lambda text: tab.explain(text, None, None,
                                                                                    INTEGRATED_GRADIENTS, True),
        }, CLASSIFY, args.saliency_rounds, 1)
        report("classification+saliency", times, "lab classify(), prediction only", f"{len(CLASSIFY)} texts")

    if "ner" in tasks:
        print("ner ...", flush=True)
        loaded = lab.model("ner")
        m, tok = loaded.model, loaded.tokenizer
        tab = NerTab(lab)
        pipe = pipeline("token-classification", model=m, tokenizer=tok, aggregation_strategy="simple", device=-1)
        pipe_sdpa = pipeline("token-classification", model=sdpa_copy(m), tokenizer=tok,
                             aggregation_strategy="simple", device=-1)
        times = run_rounds({
            "lab tag_entities()": lambda text: tag_entities(m, tok, text, "simple"),
            "tab handler /ner": lambda text: tab.ner(text, "simple", None, None),
            PIPE: lambda text: pipe_sdpa(text),
            "pipeline (the app's model object)": lambda text: pipe(text),
        }, NER, args.rounds, args.warmup)
        report("ner", times, PIPE, f"{len(NER)} sentences, aggregation simple")

    if "qa" in tasks:
        loaded = lab.model("qa")
        m, tok = loaded.model, loaded.tokenizer
        m_sdpa = sdpa_copy(m)
        tab = QaTab(lab)
        question, first = squad_contexts(1)[0]
        long_context = " ".join([first] + [c for _, c in squad_contexts(3, seed=1)])
        long_context = long_context[:lab.settings.max_text_chars - 200].rsplit(". ", 1)[0] + "."  # the app's cap
        def qa_contestants(q: str, context: str) -> tuple[dict, str]:
            max_length, stride = 384, 128  # the tab's defaults (MiniLM reads up to 512)
            windows = make_windows(tok, q, context, max_length, stride)
            features = {"input_ids": [w.input_ids for w in windows],
                        "token_type_ids": [w.token_type_ids for w in windows]}
            padded_app = tok.pad(features, padding="max_length", max_length=max_length, return_tensors="pt")
            padded_longest = tok.pad(features, padding="longest", return_tensors="pt")

            def forward(model, batch):
                with torch.inference_mode():
                    return model(**batch)

            contestants = {
                "lab answer_question()": lambda _: answer_question(m, tok, q, context, max_length, stride),
                "tab handler /qa": lambda _: tab.qa(q, context, 5, max_length, stride, 30, 0.0, None, None),
                QA_BASELINE: lambda _: forward(m_sdpa, padded_longest),
                "bare forward, same windows (padded to max_length, SDPA)": lambda _: forward(m_sdpa, padded_app),
            }
            return contestants, f"{len(windows)} window(s) of <= {max_length} tokens, {len(context)} chars"

        for kind, q, context in (("qa (short context)", "When was the lighthouse built?", LIGHTHOUSE),
                                 ("qa (long context)", question, long_context)):
            print(f"{kind} ...", flush=True)
            contestants, note = qa_contestants(q, context)
            report(kind, run_rounds(contestants, [None], args.qa_rounds, 1), QA_BASELINE, note)

    print("\ntime per call, server side (medians):")
    print(table(rows, ["task", "contestant", "median ms", "p90 ms", "calls", "vs baseline"]))
    print("\nratios (ours / baseline; target <= 1.0, i.e. not slower than the pipeline):")
    headline = {}
    for task, ours in (("fill-mask", "tab handler /fill_mask"), ("fill-mask", "lab fill_mask()"),
                       ("classification", "lab classify(), prediction only"), ("ner", "tab handler /ner"),
                       ("ner", "lab tag_entities()"), ("qa (short context)", "lab answer_question()"),
                       ("qa (long context)", "lab answer_question()")):
        if task in results:
            ratio = results[task][ours]["vs_baseline"]
            headline[f"{task}: {ours}"] = ratio
            print(f"  {task:20s} {ours:34s} {ratio:.2f}x  {'ok' if ratio <= 1.0 else 'SLOWER'}")
    if "classification+saliency" in results:
        s = results["classification+saliency"]
        base = s["lab classify(), prediction only"]["median_ms"]
        ig = s["lab classify() + integrated gradients (16 steps)"]["median_ms"] - base
        gx = s["lab classify() + gradient x input"]["median_ms"] - base
        headline["saliency_ms"] = {"integrated_gradients": ig, "gradient_x_input": gx}
        print(f"  saliency cost per call: integrated gradients {ig:.0f} ms, gradient x input {gx:.0f} ms "
              f"(on top of {base:.0f} ms for the prediction)")
    out = {"benchmark": "inference", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
           "models": notes, "results": results, "headline_ratios": headline}
    write_results(args.out, out)
    return out


if __name__ == "__main__":
    main()
