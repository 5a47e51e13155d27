"""Fine-tune tab: upload a CSV, check it, train with accelerate, watch it learn, use the model.

The handlers stay thin: reading and checking data is training.data, the loop is
training.loop, the background job and run records are training.jobs, and the session's
models are lab.session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path

import gradio as gr
from gradio import utils as gradio_utils

from lab import memory
from lab import session as session_state
from lab.context import Lab
from lab.errors import LabInputError
from lab.lazy import lazy_import
from tabs.common import SLOW, explainer, lane, training_lane, user_errors
from tabs.components import Number, Slider
from training import backends, catalog, classroom, hub_push, workflows
from training.classroom import ClassBoard
from training.config import STRATEGIES, TrainConfig, help_for
from training.jobs import Job, JobSpec, RunRecord, curves_frame, export_runs, runs_frame

# The training stack (torch, accelerate, datasets, peft): imported after the page is served.
before_after = lazy_import("training.before_after")
estimate = lazy_import("training.estimate")
loop = lazy_import("training.loop")

log = logging.getLogger(__name__)
DEFAULTS = TrainConfig()

EXPLAINER = """
**Pre-train, then fine-tune.** The base model already knows English from pre-training. A
new, randomly initialised classification head goes on top of its `[CLS]` vector, and a few
epochs on your labelled sentences teach the pair your task.

**How much to train.** *Everything* updates all weights (best results, slowest). *Freeze
lower layers* keeps the embeddings and the first N layers as they are (the lower layers hold
general language knowledge). *Frozen encoder* trains only the new head (fast, weaker).
*LoRA* adds small low-rank adapters to attention and trains only those and the head.
*Features* is the frozen encoder done the fast way: every text is encoded once (and cached for
the whole class), then only a linear head is fitted on the vectors: seconds instead of minutes,
at the cost of accuracy, since the encoder never adapts to your task.

**Learning rate, batch size, epochs.** Fine-tuning the whole model uses small learning rates
(1e-5 to 1e-4): a large one wipes out what pre-training learned. LoRA adapters and a new head on
a frozen encoder start from scratch and take larger ones (1e-4 to 1e-3). Bigger batches give steadier steps.
Epochs are passes over the data; watch the validation curve to see when more stop helping.

**Imbalanced classes.** If 90% of your rows are one class, a model that always says that class
scores 90% accuracy. Class weights make mistakes on rare classes cost more; per-class
precision (how many predicted X are X) and recall (how many X were found) show what accuracy hides.

**Best checkpoint.** The model is scored on the validation split during training, and the best
version is kept (not the last one), saved with `save_pretrained` and usable at once.
"""


class FinetuneTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self._jobs: dict[str, Job] = {}  # session hash -> running job (for Cancel)
        # A session's uploads in Gradio's cache, and when its files go (lab/session.py).
        self.uploads = session_state.SessionFiles()
        self.reaper = session_state.Reaper(self.remove_session, lab.settings.session_grace_minutes * 60)
        self._lock = threading.Lock()
        # The runs students share with the class (the instructor's Class tab reads it).
        self.board = ClassBoard(lab.settings.instructor_token)

    @property
    def backend(self):
        """Where runs train (training/backends.py): worker processes unless the host chose otherwise."""
        return backends.shared(self.lab.settings)

    # ----------------------------------------------------------------------------- data
    def _tokenizer(self, base_model: str | None):
        return self.lab.model("finetune-base", base_model).tokenizer

    @user_errors
    def inspect_data(self, file: str | None, text_column: str = "", label_column: str = "",
                     base_model: str = "default", task: str = "classification", request: gr.Request = None):
        """Read the upload as the task's data and show what training would see."""
        self._hold_uploads(request, file)
        if not file:
            raise LabInputError(f"Upload a file first ({workflows.FILE_HINT.get(task, 'CSV')}).")
        summary = workflows.summarize_file(task, file, text_column, label_column, self._tokenizer(base_model))
        top = max(summary.counts["count"].tolist() or [1])
        columns = gr.update(choices=summary.columns, value=summary.text_column), gr.update(
            choices=summary.columns, value=summary.label_column)
        return (
            "\n\n".join(summary.lines),
            *columns,
            gr.update(value=summary.counts, y_lim=[0, top * 1.15]),  # from zero: equal classes still show bars
            summary.lengths,
            summary.preview,
            gr.update(value=summary.suggested_max_length),
        )

    # ------------------------------------------------------------------ ready-made data
    def dataset_cards(self, task: str = "classification") -> dict[str, catalog.DatasetCard]:
        """The catalogue for a task, by the title the dropdown shows (samples offline, hub sets online)."""
        return {c.title: c for c in catalog.catalog(self.lab.settings, self.lab.hub.online) if c.task == task}

    @user_errors
    def describe_dataset(self, title: str, task: str = "classification"):
        card = self.dataset_cards(task).get(title)
        if card is None:
            raise LabInputError("Pick a dataset from the list.")
        sizes = [label for label, _ in catalog.size_choices(card)]
        return catalog.describe(card), gr.update(choices=sizes, value=sizes[min(1, len(sizes) - 1)])

    @user_errors
    def use_dataset(self, title: str, size: str = "", base_model: str = "default", task: str = "classification",
                    request: gr.Request = None):
        """Fetch (online) or take (offline) a dataset, and load it as if it had been uploaded."""
        card = self.dataset_cards(task).get(title)
        if card is None:
            raise LabInputError("Pick a dataset from the list.")
        rows = dict(catalog.size_choices(card)).get(size)
        source = catalog.materialize(card, rows, seed=DEFAULTS.seed)
        # A copy in the session's folder: Gradio serves files from there, and it goes when the tab closes.
        target = self._session_dir(request) / "data" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return (str(target), *self.inspect_data(str(target), "", "", base_model, task))

    @user_errors
    def use_imbalanced_sample(self, base_model: str = "default", request: gr.Request = None):
        """The class-imbalance lesson in one click: the SMS sample loaded, with what class weights do said
        where the switch is."""
        card = self.dataset_cards("classification")[catalog.IMBALANCED_SAMPLE_TITLE]
        everything = catalog.size_choices(card)[-1][0]
        loaded = self.use_dataset(card.title, everything, base_model, "classification", request)
        weights = gr.update(info=help_for("class_weights") + " Here: 64 spam among 480 messages, so a model that "
                            "never says spam still scores 87% accuracy. Train with the defaults without and then with "
                            "weights, then with more epochs, and compare the spam row's recall each time.")
        return (card.title, gr.update(choices=[label for label, _ in catalog.size_choices(card)],
                                                       value=everything), catalog.describe(card), *loaded, weights)

    def switch_task(self, task: str):
        """A new task: its datasets, its file types, and the column pickers only where they mean something."""
        cards = self.dataset_cards(task)
        first = next(iter(cards.values()), None)
        sizes = [label for label, _ in catalog.size_choices(first)] if first else []
        table = task == "classification"
        return (gr.update(choices=list(cards), value=first.title if first else None),
                gr.update(choices=sizes, value=sizes[-1] if sizes else None),
                catalog.describe(first) if first else "",
                gr.update(label=f"Training data ({workflows.FILE_HINT[task]})", value=None),
                gr.update(visible=table), gr.update(visible=table), gr.update(visible=table),
                f"Validation score: **{workflows.HEADLINE[task]}**" + (" (entity-level)" if task == "ner" else ""))

    @user_errors
    def count_parameters(self, strategy: str = "full", freeze_layers: int = 4, lora_r: int = 8,
                         base_model: str = "default"):
        config = TrainConfig(base_model=base_model or "default", strategy=strategy,
                             freeze_layers=int(freeze_layers), lora_r=int(lora_r))
        trainable, total = loop.count_parameters(config, 2, self.lab.settings, hub_online=self.lab.hub.online)
        return (f"**{trainable:,}** trainable of {total:,} parameters (**{trainable / total:.1%}**) "
                f"with *{strategy}*: {STRATEGIES[strategy]}")

    # ------------------------------------------------------------------------- training
    def _session_dir(self, request: gr.Request | None) -> Path:
        return session_state.session_dir(self.lab.settings.runs_dir, getattr(request, "session_hash", None))

    def _hold_uploads(self, request: gr.Request | None, *files: str | None) -> None:
        key = getattr(request, "session_hash", None)
        if key:
            for file in files:
                if file and Path(file).resolve().is_relative_to(Path(gradio_utils.get_upload_folder()).resolve()):
                    self.uploads.add(key, file)

    def end_session(self, request: gr.Request) -> None:
        """Gradio says the tab closed: stop its training (freeing the slot); its models stay for the
        grace period (a dropped heartbeat looks the same), then go with remove_session."""
        key = getattr(request, "session_hash", None)
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            job.cancel()
        if key:
            self.reaper.closed(key)

    def remove_session(self, session_hash: str) -> None:
        """The session is over: its training stops, and everything it made goes: its runs and models
        (from memory too), the copies of its zips in Gradio's cache, and uploads no other session holds."""
        with self._lock:
            job = self._jobs.pop(session_hash, None)
        if job is not None:
            job.cancel()
        runs = Path(self.lab.settings.runs_dir) / session_hash
        self.lab.forget_models_under(runs)
        gone = [*session_state.cached_zips(gradio_utils.get_upload_folder(), session_hash),
                *self.uploads.release(session_hash)]
        try:
            for path in gone:
                Path(path).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    Path(path).parent.rmdir()  # Gradio's per-file folder, when nothing else is in it
        finally:
            # The session's folder last: once it is gone, so is everything else the session made.
            session_state.remove_session_dir(self.lab.settings.runs_dir, session_hash)
        log.info("session %s ended: its runs and %d cached file(s) deleted", session_hash, len(gone))

    @user_errors
    def finetune(self, file: str | None, text_column: str = "", label_column: str = "",
                 validation_file: str | None = None, base_model: str = "default", strategy: str = "full",
                 freeze_layers: int = DEFAULTS.freeze_layers, lora_r: int = DEFAULTS.lora_r,
                 learning_rate: float = DEFAULTS.learning_rate, batch_size: int = DEFAULTS.batch_size,
                 epochs: float = DEFAULTS.epochs, max_length: int = DEFAULTS.max_length,
                 warmup_ratio: float = DEFAULTS.warmup_ratio, weight_decay: float = DEFAULTS.weight_decay,
                 seed: int = DEFAULTS.seed, class_weights: bool = False, compare_scratch: bool = False,
                 test_fraction: float = DEFAULTS.test_fraction, task: str = "classification",
                 label_all_pieces: bool = False, share_with_class: bool = False, student_name: str = "",
                 session_models: dict | None = None,
                 runs: list | None = None, request: gr.Request = None, progress=gr.Progress()):
        """Train on the upload; stream progress; end with the metrics and the model in this session."""
        self._hold_uploads(request, file, validation_file)
        config = TrainConfig(
            base_model=base_model or "default", strategy=strategy, freeze_layers=int(freeze_layers),
            lora_r=int(lora_r), learning_rate=float(learning_rate), batch_size=int(batch_size),
            epochs=float(epochs), max_length=int(max_length), warmup_ratio=float(warmup_ratio),
            weight_decay=float(weight_decay), seed=int(seed), class_weights=bool(class_weights),
            test_fraction=float(test_fraction), max_train_minutes=self.lab.settings.max_train_minutes,
        )
        model_limit = self.lab.tokenizer("finetune-base", config.base_model).model_max_length
        if config.max_length > model_limit:
            raise LabInputError(f"Max length {config.max_length} is above the base model's limit of {model_limit}.")
        if task not in workflows.TASKS:
            raise LabInputError(f"Unknown task '{task}': pick one of {', '.join(workflows.TASKS)}.")
        if not file:
            raise LabInputError(f"Upload a file first ({workflows.FILE_HINT[task]}).")
        if share_with_class and self.board.enabled:
            student_name = classroom.student_name(student_name)  # refused before training, not after
        data = workflows.prepare(task, file, config, text_column, label_column, validation_file)
        workflows.check_memory(data, config, self.lab.settings, self.lab.hub.online)  # before the estimate's own step
        runs = list(runs or [])
        session_dir = self._session_dir(request)
        key = getattr(request, "session_hash", None) or "cli"
        plans = [config] + ([dataclasses.replace(config, from_scratch=True)] if compare_scratch else [])
        if config.strategy == "features":  # nothing to measure: one forward pass per text, then a regression
            expected = ("Encoding each text once with the frozen encoder (cached: the next run on this data skips "
                        "it), then fitting the head: seconds.")
            if compare_scratch:
                raise LabInputError("Feature extraction keeps the pretrained encoder as it is: a from-scratch "
                                    "comparison needs a way of training that trains the encoder (e.g. full).")
        else:
            per_step = estimate.seconds_per_step(self.lab, config, data.typical_length)
            memory.release()  # the estimate's model and optimizer: freed before training allocates its own
            steps = estimate.total_steps(data.items, config) * len(plans)
            expected = (f"Expected time ≈ **{estimate.human(per_step * steps)}** ({steps:,} steps × {per_step:.2f} s, "
                        "measured here).")
        yield ({"status": "starting", "task": task, "train": len(data.train), "validation": len(data.val)},
               f"Training on {len(data.train):,} examples, validating on {len(data.val):,}. {expected}",
               *[gr.skip()] * 10)

        results = []
        metric = workflows.HEADLINE[task]
        for cfg in plans:
            name = f"run-{len(runs) + 1}" + ("-scratch" if cfg.from_scratch else "")
            record = RunRecord(name, {"task": task, **dataclasses.asdict(cfg)})
            runs.append(record)
            out_dir = session_dir / name

            archive = self._download_path(session_dir.name, name) if cfg is plans[0] else None
            job = self.backend.submit(JobSpec(data, cfg, str(out_dir), self.lab.settings, self.lab.hub.online,
                                              bool(label_all_pieces), str(archive) if archive else None))
            with self._lock:
                self._jobs[key] = job
            started = time.monotonic()
            try:
                for events in job.watch(every_s=1.0):
                    if not events:
                        if job.position > 0:  # every worker busy: say where this run stands
                            yield (gr.skip(), f"**{name}** waits for a training worker: {job.position - 1} run(s) "
                                   "ahead of it.", *[gr.skip()] * 10)
                        continue
                    record.history += [e if isinstance(e, dict) else dataclasses.asdict(e) for e in events]
                    last = record.history[-1]
                    total = last.get("total_steps") or 1
                    progress((last.get("step", 0), total), desc=f"{name}: step", unit="steps")
                    record.seconds = time.monotonic() - started
                    shown = runs[-len(plans):]
                    yield (self._live(record, task), self._status(record, task), curves_frame(shown, "loss"),
                           curves_frame(shown, metric), *[gr.skip()] * 5, runs, runs_frame(runs), gr.skip())
            finally:
                with self._lock:
                    self._jobs.pop(key, None)
                if isinstance(self.backend, backends.ThreadBackend):
                    memory.release()  # the run's model, gradients and optimizer state: back to the OS
            if job.error is not None:
                record.status = "failed"
                if isinstance(job.error, LabInputError):
                    raise job.error
                log.exception("training failed", exc_info=job.error)
                raise gr.Error(f"Training failed: {job.error}") from job.error
            result = job.result
            results.append(result)
            record.status = result.stopped_early or "done"
            record.seconds, record.best_metrics = result.seconds, result.best_metrics
            record.history, record.best_dir = result.history, str(result.best_dir)
            record.trainable_params, record.total_params = result.trainable_params, result.total_params
            record.examples_per_second, record.precision = result.examples_per_second, result.precision
            if not cfg.from_scratch or len(plans) == 1:
                session_models = session_state.add_model(session_models, task, name, result.best_dir)
            if share_with_class and self.board.enabled:
                self.board.share(student_name, name, task, Path(file).name, record.config,
                                 result.best_metrics.get(metric), metric, result.seconds)
            if result.stopped_early == "cancelled":
                break

        main, main_result = runs[-len(plans)], results[0]  # the pretrained run; a scratch one follows it
        per, confusion, mistakes = workflows.result_tables(task, main_result)
        where = {"classification": "the Classification tab, and below: type a sentence to try it",
                 "ner": "the NER tab: type a sentence there", "qa": "the Question answering tab"}[task]
        yield (
            self._final(main, main_result, task),
            self._status(main, task) + f"\n\nThe model **{main.name}** is now in {where} (this session only).",
            curves_frame(runs[-len(plans):], "loss"),
            curves_frame(runs[-len(plans):], metric),
            per,
            confusion,
            mistakes,
            str(self._download_path(session_dir.name, main.name)),
            session_models,
            runs,
            runs_frame(runs),
            gr.update(choices=[r.name for r in runs], value=[r.name for r in runs[-len(plans):]]),
        )

    @staticmethod
    def _download_path(session: str, run: str) -> Path:
        """Where the worker writes a run's zip: in Gradio's own cache, which Gradio serves as it is (a
        file outside it would be hashed and copied in, 90 MB in the server's process for every run).
        ``run-N-<session>.zip``, so the session's end finds and deletes it (lab/session.py cached_zips)."""
        return Path(gradio_utils.get_upload_folder()) / f"lab-{session}" / f"{run}-{session}.zip"

    @staticmethod
    def _live(record: RunRecord, task: str) -> dict:
        last = record.history[-1]
        evals = [h for h in record.history if h.get("kind") == "eval"]
        return {"status": "training", "task": task, "run": record.name, "step": last.get("step"),
                "total_steps": last.get("total_steps"), "epoch": round(last.get("epoch") or 0, 3),
                "loss": last.get("loss"), "eta_s": last.get("eta_s"),
                "validation": evals[-1].get("metrics") if evals else None}

    @staticmethod
    def _status(record: RunRecord, task: str) -> str:
        last = record.history[-1] if record.history else {}
        eta = last.get("eta_s")
        evals = [h for h in record.history if h.get("kind") == "eval" and h.get("metrics")]
        text = (f"**{record.name}** · step {last.get('step', 0)}/{last.get('total_steps', '?')} · "
                f"epoch {last.get('epoch') or 0:.2f} · {record.seconds:.0f} s"
                + (f" · about {estimate.human(eta)} left" if eta else ""))
        if evals:
            m = evals[-1]["metrics"]
            text += " · validation " + ", ".join(
                f"{k.replace('_', ' ')} {m[k]:.3f}" for k in ("accuracy", "macro_f1", "precision", "recall", "f1",
                                                              "exact_match") if isinstance(m.get(k), float))
        if record.status not in ("running", "done"):
            text += f" · stopped: {record.status}"
        return text

    @staticmethod
    def _final(record: RunRecord, result, task: str) -> dict:
        test = result.test_report and {k: v for k, v in result.test_report.items() if isinstance(v, float)}
        return {"status": result.stopped_early or "done", "task": task, "run": record.name, "model": record.name,
                **workflows.headline(task, result), "best_metrics": result.best_metrics, "test": test,
                "seconds": round(result.seconds, 1), "examples_per_second": round(result.examples_per_second, 1),
                "number_format": result.precision, "trainable_params": result.trainable_params,
                "total_params": result.total_params, "class_weights": result.class_weights,
                "trained_on": result.extra.get("node") or result.extra.get("worker") or "the server's process"}

    def cancel(self, request: gr.Request = None) -> str:
        key = getattr(request, "session_hash", None) or "cli"
        with self._lock:
            job = self._jobs.get(key)
        if job is None:
            return "Nothing is training in this session."
        job.cancel()
        return "Stopping after the current step; the best checkpoint so far is kept."

    # ------------------------------------------------------------------ using the model
    @user_errors
    def predict(self, text: str, session_models: dict | None = None):
        """The session's newest fine-tuned model next to its base before fine-tuning, on the same text."""
        if not (text or "").strip():
            raise LabInputError("Type a sentence to classify.")
        name = session_state.active(session_models, "classification")
        if not name:
            raise LabInputError("No model fine-tuned in this session yet: train one above first.")
        model_dir = Path(session_state.models_for(session_models, "classification")[name])
        loaded = self.lab.model("classification", name, session_models)
        after = before_after.probabilities(loaded.model, loaded.tokenizer, text)
        before = before_after.untrained_prediction(self.lab, model_dir, text)
        return after, before, f"After: **{name}** (fine-tuned here) · Before: the same base, untrained head."

    @user_errors
    def push(self, repo_id: str, token: str, private: bool = True, runs: list | None = None) -> str:
        """Upload this session's newest model to the user's own hub repository (opt-in, their token)."""
        done = [r for r in runs or [] if r.best_dir]
        if not done:
            raise LabInputError("Train a model first: there is nothing to push yet.")
        url = hub_push.push_to_hub(done[-1].best_dir, repo_id, token, bool(private))
        return f"Pushed **{done[-1].name}** to [{repo_id}]({url})."

    def compare_runs(self, selected: list[str] | None, runs: list | None):
        chosen = [r for r in runs or [] if r.name in (selected or [])]
        return curves_frame(chosen, "loss"), curves_frame(chosen, "accuracy")

    def export(self, fmt: str, runs: list | None, request: gr.Request = None) -> str:
        if not runs:
            raise gr.Error("No runs yet in this session.")
        return str(export_runs(runs, self._session_dir(request) / "export", "json" if fmt == "JSON" else "csv"))

    # ------------------------------------------------------------------------ layout
    def build(self, session_models: gr.State | None = None) -> None:
        self.session_models = session_models
        runs = gr.State([])
        gr.Markdown("Upload labelled data, fine-tune a pretrained model on it, and use it right away.")
        task = gr.Radio([(title, key) for key, title in workflows.TASKS.items()], value="classification",
                        label="Task", elem_id="ft-task",
                        info="Classification: one label per text. NER: a tag per word. QA: an answer span in a context.")
        cards = self.dataset_cards()
        with gr.Accordion("No file at hand? Start from a dataset", open=True):
            with gr.Row():
                dataset = gr.Dropdown(list(cards), value=next(iter(cards), None), label="Dataset",
                                      info="The project's own samples work offline; public hub datasets when online.",
                                      elem_id="ft-dataset")
                first = next(iter(cards.values()), None)
                sizes = [label for label, _ in catalog.size_choices(first)] if first else []
                size = gr.Dropdown(sizes, value=sizes[-1] if sizes else None, label="Size (stratified)")
                with gr.Column(min_width=160):
                    use = gr.Button("Use this dataset", elem_id="ft-use-dataset")
                    imbalanced = gr.Button("Imbalanced data lesson: SMS spam", size="sm", elem_id="ft-use-sms")
            card_info = gr.Markdown(catalog.describe(first) if first else "", elem_id="ft-dataset-card")
        with gr.Row():
            upload = gr.File(label=f"Training data ({workflows.FILE_HINT['classification']})",
                             file_types=[".csv", ".tsv", ".txt", ".conll", ".iob", ".bio", ".json"],
                             type="filepath", elem_id="ft-file")
            validation = gr.File(label="Validation file (optional; otherwise a held-out split)",
                                 file_types=[".csv", ".tsv", ".txt", ".conll", ".iob", ".bio", ".json"],
                                 type="filepath")
        with gr.Row():
            text_col = gr.Dropdown([], value="", label="Text column", allow_custom_value=True)
            label_col = gr.Dropdown([], value="", label="Label column", allow_custom_value=True)
            base = gr.Dropdown(self.lab.choices("finetune-base"), value=self.lab.default_choice("finetune-base"),
                               label="Base model", info=help_for("base_model"),
                               allow_custom_value=self.lab.hub.online)
        data_info = gr.Markdown(elem_id="ft-data-info")
        with gr.Row():
            classes = gr.BarPlot(x="name", y="count", title="Examples per class / entities per type / answer length",
                                 height=220)
            lengths = gr.BarPlot(x="length", y="texts", title="Text length (tokens)", height=220)
        with gr.Accordion("Preview", open=False):
            preview = gr.Dataframe(interactive=False, wrap=True)

        with gr.Accordion("Settings", open=True):
            with gr.Row():
                strategy = gr.Radio(list(STRATEGIES), value=DEFAULTS.strategy, label="What to train",
                                    info="; ".join(f"{k}: {v}" for k, v in STRATEGIES.items()))
                with gr.Column():
                    freeze = Slider(0, 12, value=DEFAULTS.freeze_layers, step=1, label="Frozen lower layers",
                                       info=help_for("freeze_layers"))
                    lora_r = Slider(1, 64, value=DEFAULTS.lora_r, step=1, label="LoRA rank",
                                       info=help_for("lora_r"))
            params_info = gr.Markdown(elem_id="ft-params")
            with gr.Row():
                lr = Number(DEFAULTS.learning_rate, label="Learning rate", info=help_for("learning_rate"))
                batch = Slider(1, 128, value=DEFAULTS.batch_size, step=1, label="Batch size",
                                  info=help_for("batch_size"))
                epochs = Number(DEFAULTS.epochs, label="Epochs", info=help_for("epochs"))
                max_len = Slider(8, 512, value=DEFAULTS.max_length, step=8, label="Max length",
                                    info=help_for("max_length"))
            with gr.Row():
                warmup = Slider(0, 0.5, value=DEFAULTS.warmup_ratio, step=0.01, label="Warmup",
                                   info=help_for("warmup_ratio"))
                decay = Slider(0, 0.3, value=DEFAULTS.weight_decay, step=0.01, label="Weight decay",
                                  info=help_for("weight_decay"))
                seed = Number(DEFAULTS.seed, label="Seed", precision=0, info=help_for("seed"))
                test_frac = Slider(0, 0.4, value=DEFAULTS.test_fraction, step=0.05, label="Test share",
                                      info=help_for("test_fraction"))
            with gr.Row():
                weights = gr.Checkbox(False, label="Class weights", info=help_for("class_weights"))
                all_pieces = gr.Checkbox(False, label="NER: label every sub-word piece", visible=False,
                                         info="Off (standard): only a word's first piece carries its tag, the others "
                                              "get -100 and are ignored by the loss. On: every piece learns the "
                                              "word's tag (B- becomes I- after the first piece).")
                scratch = gr.Checkbox(False, label="Also train from scratch (random init, same budget)",
                                      info="Plots both learning curves: what pre-training buys.")
        with gr.Row(visible=self.board.enabled):
            share = gr.Checkbox(False, label="Share this run with the class", elem_id="ft-share",
                                info="Your instructor sees its settings and score under the name you type; "
                                     "nobody else sees your runs or models.")
            student = gr.Textbox("", label="Your name, as the class list shows it", max_length=classroom.MAX_NAME,
                                 elem_id="ft-student")
        with gr.Row():
            train_btn = gr.Button("Train", variant="primary", elem_id="ft-train")
            cancel_btn = gr.Button("Cancel", variant="stop", elem_id="ft-cancel")
        metric_note = gr.Markdown("Validation score: **accuracy**")
        status = gr.Markdown(elem_id="ft-status")
        with gr.Row():
            curves = gr.LinePlot(x="epoch", y="value", color="series", title="Loss (train per step, validation)",
                                 height=300, elem_id="ft-curves")
            acc_curves = gr.LinePlot(x="epoch", y="value", color="series", title="Validation score",
                                     height=300, y_lim=[0, 1])
        with gr.Accordion("Results (validation set)", open=True):
            results = gr.JSON(label="Metrics", elem_id="ft-results")
            per_class = gr.Dataframe(label="Per class: precision, recall, F1", interactive=False,
                                     elem_id="ft-per-class")
            confusion = gr.Dataframe(label="Confusion matrix (rows: true class, columns: predicted)",
                                     interactive=False, elem_id="ft-confusion")
            wrong = gr.Dataframe(label="Misclassified validation rows", interactive=False, wrap=True)
            download = gr.File(label="Download the model (zip; from_pretrained loads the unpacked folder)",
                               interactive=False, elem_id="ft-download")

        gr.Markdown("### Try your model")
        with gr.Row():
            try_text = gr.Textbox(label="A new sentence", value="", elem_id="ft-try-text", scale=3)
            try_btn = gr.Button("Predict", elem_id="ft-try")
        with gr.Row():
            after = gr.Label(label="After fine-tuning", elem_id="ft-after")
            before = gr.Label(label="Before fine-tuning (untrained head)")
        try_info = gr.Markdown()

        with gr.Accordion("Share on the Hugging Face hub (optional)", open=False):
            gr.Markdown("Off unless you ask: pushes the newest model of this session to your own repository. "
                        "The token is used for this push only and never stored.")
            with gr.Row():
                repo = gr.Textbox(label="Repository", placeholder="your-user-name/my-sentiment-model", value="")
                token = gr.Textbox(label="Access token (write)", type="password", value="")
                private = gr.Checkbox(True, label="Private")
                push_btn = gr.Button("Push")
            push_info = gr.Markdown()

        gr.Markdown("### Runs in this session")
        runs_table = gr.Dataframe(interactive=False, elem_id="ft-runs")
        with gr.Row():
            pick = gr.CheckboxGroup([], label="Runs to compare")
            fmt = gr.Radio(["CSV", "JSON"], value="CSV", label="Export format")
            export_btn = gr.Button("Export runs")
        with gr.Row():
            compare_loss = gr.LinePlot(x="epoch", y="value", color="series", title="Runs compared: loss", height=300)
            compare_acc = gr.LinePlot(x="epoch", y="value", color="series", title="Runs compared: validation accuracy",
                                      height=300, y_lim=[0, 1])
        export_file = gr.File(label="Runs export", interactive=False)
        explainer(EXPLAINER)

        inspect_inputs = [upload, text_col, label_col, base, task]
        inspect_outputs = [data_info, text_col, label_col, classes, lengths, preview, max_len]
        slow = lane(self.lab, SLOW)  # reading data, building models: seconds, never before quick answers
        upload.upload(self.inspect_data, inspect_inputs, inspect_outputs, api_name="inspect_data", **slow)
        dataset.input(self.describe_dataset, [dataset, task], [card_info, size], api_visibility="private")
        use.click(self.use_dataset, [dataset, size, base, task], [upload, *inspect_outputs], api_name="load_dataset",
                  **slow)
        task.change(self.switch_task, task, [dataset, size, card_info, upload, text_col, label_col, weights,
                                              metric_note], api_visibility="private")
        task.change(lambda t: (gr.update(visible=t == "ner"), gr.update(visible=t == "classification")), task,
                    [all_pieces, imbalanced], api_visibility="private")
        imbalanced.click(self.use_imbalanced_sample, base,
                         [dataset, size, card_info, upload, *inspect_outputs, weights], api_name="load_imbalanced_sample",
                         **slow)
        for column in (text_col, label_col):
            column.input(self.inspect_data, inspect_inputs, inspect_outputs, api_visibility="private", **slow)
        params_inputs = [strategy, freeze, lora_r, base]
        for control in params_inputs:
            control.change(self.count_parameters, params_inputs, params_info, api_visibility="private", **slow)
        cancel_btn.click(self.cancel, None, status, api_name="cancel_training")
        self.train_event = train_btn.click(
            self.finetune,
            [upload, text_col, label_col, validation, base, strategy, freeze, lora_r, lr, batch, epochs, max_len,
             warmup, decay, seed, weights, scratch, test_frac, task, all_pieces, share, student, session_models, runs],
            [results, status, curves, acc_curves, per_class, confusion, wrong, download, session_models, runs,
             runs_table, pick],
            api_name="finetune",
            **training_lane(self.lab),
        )
        try_btn.click(self.predict, [try_text, session_models], [after, before, try_info],
                      api_name="predict_finetuned", **slow)
        pick.change(self.compare_runs, [pick, runs], [compare_loss, compare_acc], api_visibility="private")
        export_btn.click(self.export, [fmt, runs], export_file, api_name="export_runs")
        push_btn.click(self.push, [repo, token, private, runs], push_info, api_name="push_to_hub")

    def link(self, dropdowns: dict[str, gr.Dropdown]) -> None:
        """After training, list the new model in other tabs' dropdowns; a pick there makes it active."""
        if not dropdowns:
            return

        def refresh(state):
            updates = [gr.update(choices=self.lab.choices(task, state),
                                 value=session_state.active(state, task) or self.lab.default_choice(task))
                       for task in dropdowns]
            return updates[0] if len(updates) == 1 else tuple(updates)  # one output takes a bare value

        self.train_event.then(refresh, self.session_models, list(dropdowns.values()), api_visibility="private")
        for task, dropdown in dropdowns.items():
            dropdown.input(lambda choice, state, task=task: session_state.set_active(state, task, choice),
                           [dropdown, self.session_models], self.session_models, api_visibility="private")
