"""Cold start: ``python app.py`` from process start to the first page, the first answers, and the
peak memory once every tab has been used.

Each repeat starts a fresh app (offline, loopback, a free port) and measures, from just before the
process is spawned:

- first page: the first HTTP 200 on ``/``;
- first tokenize / fill-mask answer: a ``gradio_client`` connects and calls /tokenize, then
  /fill_mask (the fill-mask model loads on that first call);
- then every tab once (tokenizer batch and comparison, attention, classification, NER, QA, models,
  fine-tune on 40 SST-2 sentences for one epoch) and the app's peak RSS (VmHWM) after all that.

    python -m bench.cold_start
    python -m bench.cold_start --repeats 5 --skip-finetune
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    begin,
    bench_parser,
    default_out,
    median,
    model_overrides,
    peak_rss_bytes,
    served_app,
    sst2_sample,
    table,
    write_results,
)

TARGET_PAGE_S = 8.0
TARGET_RSS = 1.5e9


def tab_calls(csv_path: Path | None) -> list[tuple[str, tuple, dict]]:
    """(api_name, args, kwargs) that use every tab once after tokenize and fill-mask."""
    from gradio_client import handle_file

    calls = [
        ("/tokenize_batch", ("I love dogs.\nUnbelievably, gardeners water tomatoes!", True, True, 16), {}),
        ("/compare_tokenizers", ("Unbelievably, gardeners water tomatoes.",), {}),
        ("/attention_tokenizer", ("The dog chased the ball.", "", 6, "average"), {}),
        ("/classify", ("I expected to hate it, but I loved every minute.",), {}),
        ("/ner", ("Angela Merkel visited Paris with Emmanuel Macron in 2019.", "simple"), {}),
        ("/qa", ("Who was the last keeper?",), {}),
        ("/model_cards", ("Transfer learning is useful.",), {}),
    ]
    if csv_path is not None:
        calls.append(("/finetune", (handle_file(str(csv_path)),), {"epochs": 1}))
    return calls


def one_start(overrides: dict[str, str], csv_path: Path | None, timeout: float) -> dict:
    from gradio_client import Client

    out: dict = {"calls": {}, "errors": {}}
    t0 = time.perf_counter()
    with served_app("cold", overrides, timeout) as (url, proc, first_page_s):
        out["first_page_s"] = first_page_s
        client = Client(url, verbose=False)
        out["client_connected_s"] = time.perf_counter() - t0
        client.predict("Unbelievably, I love dogs!", api_name="/tokenize")
        out["first_tokenize_s"] = time.perf_counter() - t0
        client.predict("I [MASK] dogs and cats.", 5, api_name="/fill_mask")
        out["first_fill_mask_s"] = time.perf_counter() - t0
        out["rss_after_first_answers_bytes"] = peak_rss_bytes(proc.pid)
        for api_name, args, kwargs in tab_calls(csv_path):
            t = time.perf_counter()
            try:
                if api_name == "/finetune":
                    client.submit(*args, api_name=api_name, **kwargs).result()
                else:
                    client.predict(*args, api_name=api_name, **kwargs)
            except Exception as exc:  # a failing tab is reported, the others still run
                out["errors"][api_name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            out["calls"][api_name] = time.perf_counter() - t
        out["all_tabs_used_s"] = time.perf_counter() - t0
        out["peak_rss_bytes"] = peak_rss_bytes(proc.pid)
        client.close()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="Fresh app starts; medians are reported.")
    parser.add_argument("--skip-finetune", action="store_true",
                        help="Leave out the fine-tune call (the slowest and most memory-hungry tab).")
    parser.add_argument("--finetune-rows", type=int, default=40, help="SST-2 sentences in the fine-tune upload.")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="Seconds to wait for the first page.")
    parser.add_argument("--out", type=Path, default=default_out("cold_start"), help="Where to write the JSON.")
    args, info = begin(parser, argv)

    overrides, notes = model_overrides()
    for note in notes:
        print("model:", note)
    csv_path = None
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        if not args.skip_finetune:
            train, _ = sst2_sample(args.finetune_rows, 0, seed=1, min_words=3)
            csv_path = Path(tmp) / "sst2-sample.csv"
            label = dict(enumerate(train.label_names))
            csv_path.write_text("text,label\n" + "".join(
                '"{}",{}\n'.format(t.replace('"', '""'), label[y]) for t, y in zip(train.texts, train.labels)))
        runs = []
        for r in range(args.repeats):
            print(f"start {r + 1}/{args.repeats} ...", flush=True)
            runs.append(one_start(overrides, csv_path, args.startup_timeout))

    keys = ["first_page_s", "client_connected_s", "first_tokenize_s", "first_fill_mask_s", "all_tabs_used_s"]
    summary = {k: median([run[k] for run in runs]) for k in keys}
    summary["peak_rss_bytes"] = median([run["peak_rss_bytes"] for run in runs])
    summary["rss_after_first_answers_bytes"] = median([run["rss_after_first_answers_bytes"] for run in runs])
    rows = [[k.removesuffix("_s").replace("_", " "), summary[k], *(run[k] for run in runs)] for k in keys]
    rows.append(["peak RSS after first answers (MiB)", summary["rss_after_first_answers_bytes"] / 2**20,
                 *(run["rss_after_first_answers_bytes"] / 2**20 for run in runs)])
    rows.append(["peak RSS, every tab used (MiB)", summary["peak_rss_bytes"] / 2**20,
                 *(run["peak_rss_bytes"] / 2**20 for run in runs)])
    print("\nseconds from process start (median, then each start):")
    print(table(rows, ["milestone", "median", *(f"run {i + 1}" for i in range(len(runs)))]))
    call_names = list(runs[0]["calls"])
    print("\nfirst call of each tab, seconds (model loading included):")
    print(table([[name, median([run["calls"][name] for run in runs])] for name in call_names],
                ["endpoint", "median s"]))
    errors = {name: err for run in runs for name, err in run["errors"].items()}
    for name, err in errors.items():
        print(f"  error {name}: {err}")
    ratios = {"first_page_vs_target": summary["first_page_s"] / TARGET_PAGE_S,
              "peak_rss_vs_target": summary["peak_rss_bytes"] / TARGET_RSS}
    print(f"\nfirst page {summary['first_page_s']:.1f} s (target < {TARGET_PAGE_S:g} s: "
          f"{'ok' if summary['first_page_s'] < TARGET_PAGE_S else 'missed'}); peak RSS "
          f"{summary['peak_rss_bytes'] / 1e9:.2f} GB with every tab used "
          f"({'without' if args.skip_finetune else 'with'} fine-tuning; target < 1.5 GB: "
          f"{'ok' if summary['peak_rss_bytes'] < TARGET_RSS else 'missed'})")
    results = {"benchmark": "cold_start", "machine": info, "args": {k: str(v) for k, v in vars(args).items()},
               "models": notes, "summary": summary, "ratios": ratios, "runs": runs, "errors": errors}
    write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
