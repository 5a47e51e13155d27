"""Fine-tune tab: upload a CSV, check it, train with accelerate, watch it learn, use the model.

The handlers stay thin: a request's checks, plan, time estimate, jobs, run records and the
session's models are training.runs.session_runs; the loop is training.engine.loop; data checks are
training.data.data. This module lays out, streams what a run yields, and says it in the student's
language.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import gradio as gr
from gradio import utils as gradio_utils

from lab import i18n, memory
from lab import session as session_state
from lab.context import Lab
from lab.errors import LabInputError
from lab.i18n import msg
from lab.lazy import lazy_import
from tabs.attention import layer_slider_update
from tabs.common import QUICK, SLOW, explainer, lane, named_outputs, training_lane, user_errors
from tabs.components import Number, Slider
from tabs.i18n import request_language, t
from training.config import STRATEGIES, TrainConfig, help_for
from training.data import catalog
from training.runs import classroom, hub_push, session_runs
from training.runs.classroom import ClassBoard
from training.runs.jobs import RunRecord, curves_frame, export_runs, runs_frame
from training.tasks import registry, results

# The training stack (torch, accelerate, datasets, peft): imported after the page is served.
before_after = lazy_import("training.transfer.before_after")
estimate = lazy_import("training.engine.estimate")
models = lazy_import("training.engine.models")

log = logging.getLogger(__name__)
DEFAULTS = TrainConfig()

# Words the tab shows for names training/ defines (tasks, file kinds, headline metrics, ways of
# training). Each catalog's English is the name as training/ spells it (tests/unit/test_explainers.py
# checks), so the English page and the API read as before. A task's words: training/tasks/registry.py.
STRATEGY_LABELS = {"full": t("ft.strategy.full"), "freeze_lower": t("ft.strategy.freeze_lower"),
                   "frozen_encoder": t("ft.strategy.frozen_encoder"), "lora": t("ft.strategy.lora"),
                   "features": t("ft.strategy.features")}
# A run's status line names the validation metrics and why a run stopped in the student's language.
METRIC_KEYS = {"accuracy": "ft.metric.accuracy", "macro_f1": "ft.metric.macro_f1", "precision": "ft.metric.precision",
               "recall": "ft.metric.recall", "f1": "ft.metric.f1", "exact_match": "ft.metric.exact_match"}
STOPPED_KEYS = {"cancelled": "ft.stopped.cancelled", "time limit": "ft.stopped.time_limit", "failed": "ft.stopped.failed"}

# What the events answer, by name, in the order an API caller receives them (build() wires each
# class to its components; an answer leaves out what it does not change).
_INSPECTION = "info text_column label_column classes lengths preview max_length"
Inspection = named_outputs("Inspection", _INSPECTION)
Loaded = named_outputs("Loaded", f"file {_INSPECTION}")
Imbalanced = named_outputs("Imbalanced", f"dataset size card file {_INSPECTION} class_weights")
TaskSwitch = named_outputs("TaskSwitch", "dataset size card file text_column label_column class_weights metric_note")
Training = named_outputs("Training", "results status loss_chart score_chart per_class confusion mistakes download "
                                     "session_models runs runs_table pick")


def task_words(task: str, kind: str):
    """The task's ``kind`` of words (task, training_data, metric_note), translated in the browser."""
    return t(registry.TASKS[task].tab_key(kind))


def file_hint(task: str):
    """What a task's file looks like, as a message value (said in the student's language)."""
    return msg(registry.TASKS[task].tab_key("file_hint")) if task in registry.TASKS else "CSV"


def shown(text):
    """A text training/ defines, as a component's label or info: a message without values is
    translated by its key in the browser; anything else shows as it is."""
    if isinstance(text, i18n.Message) and not text.values:
        return t(text.key)
    return text


def dataset_choices(cards: dict) -> list[tuple]:
    """(shown name, title) pairs for the dataset dropdown: the English title stays the value the API
    takes; the name is translated in the browser (a host's file keeps its own name)."""
    return [(shown(card.title), str(title)) for title, card in cards.items()]


def size_choices(card: catalog.DatasetCard, language: str) -> list[tuple[str, str]]:
    """(shown, value) pairs for the size dropdown: said in ``language``, the English label the value."""
    return [(i18n.say(label, language), str(label)) for label, _ in catalog.size_choices(card)]


def chart(frame) -> dict:
    """A line chart's value that redraws the chart whenever its series change. Gradio's plot takes its
    colours' domain from the first data it gets and keeps it: a series that comes later (the validation
    loss, the first evaluation's score) would not be drawn. Its legend's list is part of what makes it
    draw the chart anew."""
    return gr.update(value=frame, colors_in_legend=list(dict.fromkeys(frame["series"])))


def card_text(card: catalog.DatasetCard | None, language: str) -> str:
    """The dataset's card as Markdown in ``language``."""
    return i18n.say(catalog.describe(card), language) if card is not None else ""


class FinetuneTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        # When a session's files go (lab/session.py).
        self.reaper = session_state.Reaper(self.remove_session, lab.settings.session_grace_minutes * 60,
                                           holds=self.holds, settle=memory.release)
        # The runs students share with the class (the instructor's Class tab reads it).
        self.board = ClassBoard(lab.settings.instructor_token)
        self.runs = session_runs.FinetuneRuns(lab, self.board)  # plans, jobs, records: training/runs/session_runs.py

    # ----------------------------------------------------------------------------- data
    def _tokenizer(self, base_model: str | None):
        return self.lab.model("finetune-base", base_model).tokenizer

    @user_errors
    def inspect_data(self, file: str | None, text_column: str = "", label_column: str = "",
                     base_model: str = "default", task: str = "classification", request: gr.Request = None):
        """Read the upload as the task's data and show what training would see."""
        if not file:
            raise LabInputError(msg("ft.upload_first", hint=file_hint(task)))
        file = self._own(request, file)
        summary = self.runs.inspect(task, file, text_column, label_column, self._tokenizer(base_model))
        language = request_language(request)
        top = max(summary.counts["count"].tolist() or [1])
        return Inspection(
            info="\n\n".join(i18n.say(line, language) for line in summary.lines),
            text_column=gr.update(choices=summary.columns, value=summary.text_column),
            label_column=gr.update(choices=summary.columns, value=summary.label_column),
            # from zero: equal classes still show bars; in the summary's order (QA's answer lengths are ranges)
            classes=gr.update(value=summary.counts, y_lim=[0, top * 1.15], sort=list(summary.counts["name"])),
            # 5–9 before 10–14, not as text
            lengths=gr.update(value=summary.lengths, sort=list(summary.lengths["length"])),
            preview=summary.preview,
            max_length=gr.update(value=summary.suggested_max_length),
        )

    # ------------------------------------------------------------------ ready-made data
    def dataset_cards(self, task: str = "classification") -> dict[str, catalog.DatasetCard]:
        """The catalogue for a task, by title, the dropdown's value (samples offline, hub sets online)."""
        return {c.title: c for c in catalog.catalog(self.lab.settings, self.lab.hub.online) if c.task == task}

    @user_errors
    def describe_dataset(self, title: str, task: str = "classification"):
        card = self.dataset_cards(task).get(title)
        if card is None:
            raise LabInputError(msg("ft.pick_dataset"))
        language = request_language()
        sizes = size_choices(card, language)
        return card_text(card, language), gr.update(choices=sizes, value=sizes[min(1, len(sizes) - 1)][1])

    @user_errors
    def use_dataset(self, title: str, size: str = "", base_model: str = "default", task: str = "classification",
                    request: gr.Request = None):
        """Fetch (online) or take (offline) a dataset, and load it as if it had been uploaded."""
        card = self.dataset_cards(task).get(title)
        if card is None:
            raise LabInputError(msg("ft.pick_dataset"))
        rows = dict(catalog.size_choices(card)).get(size)
        source = catalog.materialize(card, rows, seed=DEFAULTS.seed,
                                     cache_dir=catalog.datasets_dir(self.lab.settings))
        # A copy in the session's folder in Gradio's cache: served from there, and it goes when the session ends.
        target = self._served_dir(request) / "data" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return Loaded(file=str(target), **self.inspect_data(str(target), "", "", base_model, task)._asdict())

    @user_errors
    def use_imbalanced_sample(self, base_model: str = "default", request: gr.Request = None):
        """The class-imbalance lesson in one click: the SMS sample loaded, with what class weights do said
        where the switch is."""
        card = self.dataset_cards("classification")[catalog.IMBALANCED_SAMPLE_TITLE]
        language = request_language(request)
        sizes = size_choices(card, language)
        everything = sizes[-1][1]
        loaded = self.use_dataset(str(card.title), everything, base_model, "classification", request)
        # help_for("class_weights") with the sample's numbers after it, as one text (tests/unit/test_explainers.py)
        weights = gr.update(info=t("ft.class_weights_sms"))
        return Imbalanced(dataset=str(card.title), size=gr.update(choices=sizes, value=everything),
                          card=card_text(card, language), **loaded._asdict(), class_weights=weights)

    def localize(self, language: str) -> list:
        """The page's language, into ``self.language``: its change re-says the dataset's card and sizes."""
        return [language]

    def relocalize(self, language: str, title: str, size: str, task: str = "classification"):
        """The chosen dataset's card and sizes in ``language``, the size picked kept."""
        card = self.dataset_cards(task).get(title)
        if card is None:
            return gr.skip(), gr.skip()
        return card_text(card, language), gr.update(choices=size_choices(card, language), value=size)

    def switch_task(self, task: str):
        """A new task: its datasets, its file types, and the column pickers only where they mean something."""
        cards = self.dataset_cards(task)
        first = next(iter(cards.values()), None)
        language = request_language()
        sizes = size_choices(first, language) if first else []
        table = task in registry.TASKS and registry.TASKS[task].per_text  # text and label columns, classes to weigh
        return TaskSwitch(dataset=gr.update(choices=dataset_choices(cards), value=str(first.title) if first else None),
                          size=gr.update(choices=sizes, value=sizes[-1][1] if sizes else None),
                          card=card_text(first, language),
                          file=gr.update(label=task_words(task, "training_data"), value=None),
                          text_column=gr.update(visible=table), label_column=gr.update(visible=table),
                          class_weights=gr.update(visible=table), metric_note=task_words(task, "metric_note"))

    @user_errors
    def count_parameters(self, strategy: str = "full", freeze_layers: int = 4, lora_r: int = 8,
                         base_model: str = "default"):
        config = TrainConfig(base_model=base_model or "default", strategy=strategy,
                             freeze_layers=int(freeze_layers), lora_r=int(lora_r))
        trainable, total = models.count_parameters(config, 2, self.lab.settings, hub_online=self.lab.hub.online)
        return i18n.text("ft.params", request_language(), trainable=f"{trainable:,}", total=f"{total:,}",
                         share=f"{trainable / total:.1%}", strategy=strategy, about=STRATEGIES[strategy])

    # ------------------------------------------------------------------------- training
    def _session_dir(self, request: gr.Request | None) -> Path:
        return session_state.session_dir(self.lab.settings.runs_dir, getattr(request, "session_hash", None))

    def _served_dir(self, request: gr.Request | None) -> Path:
        return session_state.served_dir(self.lab.settings.runs_dir, gradio_utils.get_upload_folder(),
                                        getattr(request, "session_hash", None))

    def _own(self, request: gr.Request | None, file: str | None) -> str | None:
        """The session's own copy of an upload (lab/session.py own_upload); a call without a session as it is."""
        key = getattr(request, "session_hash", None)
        if not file or not key:
            return file
        return str(session_state.own_upload(self.lab.settings.runs_dir, gradio_utils.get_upload_folder(), key, file))

    def end_session(self, request: gr.Request) -> None:
        """Gradio says the tab closed: stop its training (freeing the slot); its models stay for the
        grace period (a dropped heartbeat looks the same), then go with remove_session."""
        key = getattr(request, "session_hash", None)
        if key:
            self.runs.cancel(key)
            self.reaper.closed(key)

    def holds(self, session_hash: str) -> bool:
        """Whether the session has anything to delete at its end: its folder (runs, uploads, the note of its
        files in Gradio's cache) or a running job."""
        return session_state.valid_id(session_hash) and (
            (Path(self.lab.settings.runs_dir) / session_hash).exists() or self.runs.running(session_hash))

    def remove_session(self, session_hash: str) -> None:
        """The session is over: its training stops, and everything it made goes: its runs, models (from
        memory too) and uploads, and its downloads in Gradio's cache."""
        self.runs.forget(session_hash)
        runs = Path(self.lab.settings.runs_dir) / session_hash
        self.lab.forget_models_under(runs)
        session_state.remove_session_dir(self.lab.settings.runs_dir, session_hash, gradio_utils.get_upload_folder())
        log.info("session %s ended: its files deleted", session_hash)

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
        file, validation_file = self._own(request, file), self._own(request, validation_file)
        language = request_language(request)
        config = TrainConfig(
            base_model=base_model or "default", strategy=strategy, freeze_layers=int(freeze_layers),
            lora_r=int(lora_r), learning_rate=float(learning_rate), batch_size=int(batch_size),
            epochs=float(epochs), max_length=int(max_length), warmup_ratio=float(warmup_ratio),
            weight_decay=float(weight_decay), seed=int(seed), class_weights=bool(class_weights),
            test_fraction=float(test_fraction), max_train_minutes=self.lab.settings.max_train_minutes,
        )
        plan = self.runs.plan(session_runs.FinetuneRequest(
            task, file, config, text_column, label_column, validation_file, bool(label_all_pieces),
            bool(compare_scratch), bool(share_with_class), student_name))
        data = plan.data
        yield Training(results={"status": "starting", "task": task, "train": len(data.train),
                                "validation": len(data.val)},
                       status=i18n.text("ft.starting", language, train=f"{len(data.train):,}",
                                        validation=f"{len(data.val):,}", expected=plan.expected))

        runs, session_dir, served = list(runs or []), self._session_dir(request), self._served_dir(request)
        key = getattr(request, "session_hash", None) or "cli"
        metric, finished = registry.headline(task), []
        for event in self.runs.run(plan, runs, session_dir, key, session_models,
                                   lambda name: served / f"{name}.zip"):
            if isinstance(event, session_runs.Waiting):
                yield Training(status=i18n.text("ft.waiting", language, name=event.name, ahead=event.ahead))
            elif isinstance(event, session_runs.Progress):
                progress((event.step, event.total_steps), desc=i18n.text("ft.progress", language, name=event.record.name),
                         unit=i18n.text("ft.progress_unit", language))
                shown = runs[-len(plan.configs):]
                yield Training(results=self._live(event.record, task), status=self._status(event.record, language),
                               loss_chart=chart(curves_frame(shown, "loss")),
                               score_chart=chart(curves_frame(shown, metric)), runs=runs, runs_table=runs_frame(runs))
            else:
                finished.append(event)
                session_models = event.session_models

        main, main_result = finished[0].record, finished[0].result  # the pretrained run; a scratch one follows it
        per, confusion, mistakes = results.result_tables(task, main_result)
        shown = runs[-len(plan.configs):]
        yield Training(
            results=self._final(main, main_result, task),
            status="\n\n".join(filter(None, [
                self._status(main, language), self._kept(main_result.best_metrics, language),
                i18n.text("ft.now_in", language, name=main.name, where=msg(registry.TASKS[task].tab_key("where")))])),
            loss_chart=chart(curves_frame(shown, "loss")),
            score_chart=chart(curves_frame(shown, metric)),
            per_class=per,
            confusion=confusion,
            mistakes=mistakes,
            download=str(served / f"{main.name}.zip"),
            session_models=session_models,
            runs=runs,
            runs_table=runs_frame(runs),
            pick=gr.update(choices=[r.name for r in runs], value=[r.name for r in shown]),
        )

    @staticmethod
    def _live(record: RunRecord, task: str) -> dict:
        last = record.history[-1]
        evals = [h for h in record.history if h.get("kind") == "eval"]
        return {"status": "training", "task": task, "run": record.name, "step": last.get("step"),
                "total_steps": last.get("total_steps"), "epoch": round(last.get("epoch") or 0, 3),
                "loss": last.get("loss"), "eta_s": last.get("eta_s"),
                "validation": evals[-1].get("metrics") if evals else None}

    @staticmethod
    def _status(record: RunRecord, language: str = i18n.DEFAULT) -> str:
        """The run's progress in one line, in the student's language."""
        last = record.history[-1] if record.history else {}
        eta = last.get("eta_s")
        evals = [h for h in record.history if h.get("kind") == "eval" and h.get("metrics")]
        parts = [i18n.text("ft.status.progress", language, name=record.name, step=last.get("step", 0),
                           total=last.get("total_steps", "?"), epoch=f"{last.get('epoch') or 0:.2f}",
                           seconds=f"{record.seconds:.0f}")]
        if eta:
            parts.append(i18n.text("ft.status.eta", language, eta=estimate.human(eta)))
        if evals:
            m = evals[-1]["metrics"]
            parts.append(i18n.text("ft.status.validation", language, metrics=", ".join(
                f"{i18n.text(key, language)} {m[k]:.3f}" for k, key in METRIC_KEYS.items()
                if isinstance(m.get(k), float))))
        if record.status not in ("running", "done"):
            status = record.status
            if status in STOPPED_KEYS:
                status = i18n.text(STOPPED_KEYS[status], language)
            parts.append(i18n.text("ft.status.stopped", language, status=status))
        return " · ".join(parts)

    @staticmethod
    def _kept(best: dict, language: str = i18n.DEFAULT) -> str:
        """Which checkpoint the run kept and its scores ("" when it had no validation data to choose on)."""
        if "val_loss" not in best:
            return ""
        metrics = ", ".join(f"{i18n.text(key, language)} {best[k]:.3f}" for k, key in METRIC_KEYS.items()
                            if isinstance(best.get(k), float))
        return i18n.text("ft.kept", language, epoch=f"{best.get('epoch') or 0:.2f}", step=best.get("step", 0),
                         metrics=metrics, loss=f"{best['val_loss']:.3f}")

    @staticmethod
    def _final(record: RunRecord, result, task: str) -> dict:
        test = result.test_report and {k: v for k, v in result.test_report.items() if isinstance(v, float)}
        return {"status": result.stopped_early or "done", "task": task, "run": record.name, "model": record.name,
                **registry.first_metrics(task, result.best_metrics), "best_metrics": result.best_metrics, "test": test,
                "seconds": round(result.seconds, 1), "examples_per_second": round(result.examples_per_second, 1),
                "number_format": result.precision, "trainable_params": result.trainable_params,
                "total_params": result.total_params, "class_weights": result.class_weights,
                "trained_on": result.extra.get("node") or result.extra.get("worker") or "the server's process"}

    def cancel(self, request: gr.Request = None) -> str:
        if not self.runs.cancel(getattr(request, "session_hash", None) or "cli"):
            return i18n.text("ft.cancel.nothing", request_language(request))
        return i18n.text("ft.cancel.stopping", request_language(request))

    # ------------------------------------------------------------------ using the model
    @user_errors
    def predict(self, text: str, session_models: dict | None = None):
        """The session's newest fine-tuned model next to its base before fine-tuning, on the same text."""
        if not (text or "").strip():
            raise LabInputError(msg("ft.predict.empty"))
        name = session_state.active(session_models, "classification")
        if not name:
            raise LabInputError(msg("ft.predict.no_model"))
        model_dir = Path(session_state.models_for(session_models, "classification")[name])
        loaded = self.lab.model("classification", name, session_models)
        after = before_after.probabilities(loaded.model, loaded.tokenizer, text)
        before = before_after.untrained_prediction(self.lab, model_dir, text)
        return after, before, i18n.text("ft.predict.note", request_language(), name=name)

    @user_errors
    def push(self, repo_id: str, token: str, private: bool = True, runs: list | None = None) -> str:
        """Upload this session's newest model to the user's own hub repository (opt-in, their token)."""
        done = [r for r in runs or [] if r.best_dir]
        if not done:
            raise LabInputError(msg("ft.push.nothing"))
        url = hub_push.push_to_hub(done[-1].best_dir, repo_id, token, bool(private))
        return i18n.text("ft.push.done", request_language(), name=done[-1].name, repo=repo_id, url=url)

    def compare_runs(self, selected: list[str] | None, runs: list | None):
        chosen = [r for r in runs or [] if r.name in (selected or [])]
        return chart(curves_frame(chosen, "loss")), chart(curves_frame(chosen, None))  # each run's headline

    def export(self, fmt: str, runs: list | None, request: gr.Request = None) -> str:
        if not runs:
            raise gr.Error(i18n.text("ft.export.none", request_language(request)))
        return str(export_runs(runs, self._served_dir(request) / "export", "json" if fmt == "JSON" else "csv"))

    # ------------------------------------------------------------------------ layout
    def build(self, session_models: gr.State | None = None) -> None:
        self.session_models = session_models
        runs = gr.State([])
        gr.Markdown(t("ft.intro"))
        task = gr.Radio([(task_words(key, "task"), key) for key in registry.NAMES], value="classification",
                        label=t("ft.task"), elem_id="ft-task", info=t("ft.task_info"))
        cards = self.dataset_cards()
        with gr.Accordion(t("ft.start_from_dataset"), open=True):
            with gr.Row():
                first = next(iter(cards.values()), None)
                dataset = gr.Dropdown(dataset_choices(cards), value=str(first.title) if first else None,
                                      label=t("ft.dataset"), info=t("ft.dataset_info"), elem_id="ft-dataset")
                sizes = size_choices(first, i18n.DEFAULT) if first else []
                size = gr.Dropdown(sizes, value=sizes[-1][1] if sizes else None, label=t("ft.size"))
                with gr.Column(min_width=160):
                    use = gr.Button(t("ft.use_dataset"), elem_id="ft-use-dataset")
                    imbalanced = gr.Button(t("ft.use_sms"), size="sm", elem_id="ft-use-sms")
            card_info = gr.Markdown(card_text(first, i18n.DEFAULT), elem_id="ft-dataset-card")
        with gr.Row():
            upload = gr.File(label=task_words("classification", "training_data"),
                             file_types=[".csv", ".tsv", ".txt", ".conll", ".iob", ".bio", ".json"],
                             type="filepath", elem_id="ft-file")
            validation = gr.File(label=t("ft.validation_file"),
                                 file_types=[".csv", ".tsv", ".txt", ".conll", ".iob", ".bio", ".json"],
                                 type="filepath")
        with gr.Row():
            text_col = gr.Dropdown([], value="", label=t("ft.text_column"), allow_custom_value=True)
            label_col = gr.Dropdown([], value="", label=t("ft.label_column"), allow_custom_value=True)
            base = gr.Dropdown(self.lab.choices("finetune-base"), value=self.lab.default_choice("finetune-base"),
                               label=t("ft.base_model"), info=shown(help_for("base_model")),
                               allow_custom_value=self.lab.hub.online)
        data_info = gr.Markdown(elem_id="ft-data-info")
        with gr.Row():
            classes = gr.BarPlot(x="name", y="count", title=t("ft.classes_plot"), height=220)
            lengths = gr.BarPlot(x="length", y="texts", title=t("ft.lengths_plot"), height=220, x_label_angle=-45,
                                 elem_id="ft-lengths")
        with gr.Accordion(t("ft.preview"), open=False):
            preview = gr.Dataframe(interactive=False, wrap=True)

        with gr.Accordion(t("ft.settings"), open=True):
            with gr.Row():
                # Shown in the student's language; the values stay the strategy names the API takes.
                strategy = gr.Radio([(STRATEGY_LABELS[key], key) for key in STRATEGIES], value=DEFAULTS.strategy,
                                    label=t("ft.strategy"), info=t("ft.strategy_info"))
                with gr.Column():
                    layers = self.lab.num_layers("finetune-base", local_only=True) or 12
                    freeze = Slider(0, layers, value=min(DEFAULTS.freeze_layers, layers), step=1,
                                    label=t("ft.freeze_layers"),
                                       info=shown(help_for("freeze_layers")))
                    lora_r = Slider(1, 64, value=DEFAULTS.lora_r, step=1, label=t("ft.lora_r"),
                                       info=shown(help_for("lora_r")))
            params_info = gr.Markdown(elem_id="ft-params")
            with gr.Row():
                lr = Number(DEFAULTS.learning_rate, label=t("ft.learning_rate"), info=shown(help_for("learning_rate")))
                batch = Slider(1, 128, value=DEFAULTS.batch_size, step=1, label=t("ft.batch_size"),
                                  info=shown(help_for("batch_size")))
                epochs = Number(DEFAULTS.epochs, label=t("ft.epochs"), info=shown(help_for("epochs")))
                max_len = Slider(8, 512, value=DEFAULTS.max_length, step=8, label=t("ft.max_length"),
                                    info=shown(help_for("max_length")))
            with gr.Row():
                warmup = Slider(0, 0.5, value=DEFAULTS.warmup_ratio, step=0.01, label=t("ft.warmup_ratio"),
                                   info=shown(help_for("warmup_ratio")))
                decay = Slider(0, 0.3, value=DEFAULTS.weight_decay, step=0.01, label=t("ft.weight_decay"),
                                  info=shown(help_for("weight_decay")))
                seed = Number(DEFAULTS.seed, label=t("ft.seed"), precision=0, info=shown(help_for("seed")))
                test_frac = Slider(0, 0.4, value=DEFAULTS.test_fraction, step=0.05, label=t("ft.test_fraction"),
                                      info=shown(help_for("test_fraction")))
            with gr.Row():
                weights = gr.Checkbox(False, label=t("ft.class_weights"), info=shown(help_for("class_weights")))
                all_pieces = gr.Checkbox(False, label=t("ft.all_pieces"), visible=False, info=t("ft.all_pieces_info"))
                scratch = gr.Checkbox(False, label=t("ft.scratch"), info=t("ft.scratch_info"))
        with gr.Row(visible=self.board.enabled):
            share = gr.Checkbox(False, label=t("ft.share"), elem_id="ft-share", info=t("ft.share_info"))
            student = gr.Textbox("", label=t("ft.student"), max_length=classroom.MAX_NAME,
                                 elem_id="ft-student")
        with gr.Row():
            train_btn = gr.Button(t("ft.train"), variant="primary", elem_id="ft-train")
            cancel_btn = gr.Button(t("ft.cancel"), variant="stop", elem_id="ft-cancel")
        metric_note = gr.Markdown(task_words("classification", "metric_note"))
        status = gr.Markdown(elem_id="ft-status")
        with gr.Row():
            curves = gr.LinePlot(x="epoch", y="value", color="series", title=t("ft.loss_plot"),
                                 height=300, elem_id="ft-curves")
            acc_curves = gr.LinePlot(x="epoch", y="value", color="series", title=t("ft.score_plot"),
                                     height=300, y_lim=[0, 1], elem_id="ft-score")
        with gr.Accordion(t("ft.results"), open=True):
            results = gr.JSON(label=t("ft.metrics"), elem_id="ft-results")
            per_class = gr.Dataframe(label=t("ft.per_class"), interactive=False, elem_id="ft-per-class")
            confusion = gr.Dataframe(label=t("ft.confusion"), interactive=False, elem_id="ft-confusion")
            wrong = gr.Dataframe(label=t("ft.wrong"), interactive=False, wrap=True)
            download = gr.File(label=t("ft.download"), interactive=False, elem_id="ft-download")

        gr.Markdown(t("ft.try_heading"))
        with gr.Row():
            try_text = gr.Textbox(label=t("ft.try_text"), value="", elem_id="ft-try-text", scale=3)
            try_btn = gr.Button(t("ft.predict"), elem_id="ft-try")
        with gr.Row():
            after = gr.Label(label=t("ft.after"), elem_id="ft-after")
            before = gr.Label(label=t("ft.before"))
        try_info = gr.Markdown()

        with gr.Accordion(t("ft.hub"), open=False):
            gr.Markdown(t("ft.hub_intro"))
            with gr.Row():
                repo = gr.Textbox(label=t("ft.repo"), placeholder="your-user-name/my-sentiment-model", value="")
                token = gr.Textbox(label=t("ft.token"), type="password", value="")
                private = gr.Checkbox(True, label=t("ft.private"))
                push_btn = gr.Button(t("ft.push"))
            push_info = gr.Markdown()

        gr.Markdown(t("ft.runs_heading"))
        runs_table = gr.Dataframe(interactive=False, elem_id="ft-runs")
        with gr.Row():
            pick = gr.CheckboxGroup([], label=t("ft.pick"))
            fmt = gr.Radio(["CSV", "JSON"], value="CSV", label=t("ft.format"))
            export_btn = gr.Button(t("ft.export"))
        with gr.Row():
            compare_loss = gr.LinePlot(x="epoch", y="value", color="series", title=t("ft.compare_loss"), height=300)
            compare_acc = gr.LinePlot(x="epoch", y="value", color="series", title=t("ft.compare_acc"),
                                      height=300, y_lim=[0, 1])
        export_file = gr.File(label=t("ft.runs_export"), interactive=False)
        explainer(t("ft.explainer"))

        inspect_inputs = [upload, text_col, label_col, base, task]
        inspected = dict(info=data_info, text_column=text_col, label_column=label_col, classes=classes,
                         lengths=lengths, preview=preview, max_length=max_len)
        inspect_outputs = Inspection.wire(**inspected)
        slow = lane(self.lab, SLOW)  # reading data, building models: seconds, never before quick answers
        upload.upload(self.inspect_data, inspect_inputs, inspect_outputs, api_name="inspect_data", **slow)
        dataset.input(self.describe_dataset, [dataset, task], [card_info, size], api_visibility="private")
        # The page's language (app.py sets it through localize): the card and sizes the server wrote
        # are said again in it, for the dataset chosen at that moment.
        self.language = gr.State(i18n.DEFAULT)
        self.localized_outputs = [self.language]
        self.language.change(self.relocalize, [self.language, dataset, size, task], [card_info, size],
                             api_visibility="private")
        use.click(self.use_dataset, [dataset, size, base, task], Loaded.wire(file=upload, **inspected),
                  api_name="load_dataset", **slow)
        task.change(self.switch_task, task,
                    TaskSwitch.wire(dataset=dataset, size=size, card=card_info, file=upload, text_column=text_col,
                                    label_column=label_col, class_weights=weights, metric_note=metric_note),
                    api_visibility="private")
        task.change(lambda t: (gr.update(visible=t == "ner"), gr.update(visible=t == "classification")), task,
                    [all_pieces, imbalanced], api_visibility="private")
        imbalanced.click(self.use_imbalanced_sample, base,
                         Imbalanced.wire(dataset=dataset, size=size, card=card_info, file=upload, **inspected,
                                         class_weights=weights),
                         api_name="load_imbalanced_sample", **slow)
        for column in (text_col, label_col):
            column.input(self.inspect_data, inspect_inputs, inspect_outputs, api_visibility="private", **slow)
        params_inputs = [strategy, freeze, lora_r, base]
        for control in params_inputs:
            control.change(self.count_parameters, params_inputs, params_info, api_visibility="private", **slow)
        # "Freeze the lower N layers" offers the layers the chosen base has (a 6-layer MiniLM: 0-6).
        base.change(lambda choice, current: layer_slider_update(self.lab, "finetune-base", 0, current, choice, fallback=12),
                    [base, freeze], freeze, api_visibility="private", **lane(self.lab, QUICK))
        cancel_btn.click(self.cancel, None, status, api_name="cancel_training")
        self.train_event = train_btn.click(
            self.finetune,
            [upload, text_col, label_col, validation, base, strategy, freeze, lora_r, lr, batch, epochs, max_len,
             warmup, decay, seed, weights, scratch, test_frac, task, all_pieces, share, student, session_models, runs],
            Training.wire(results=results, status=status, loss_chart=curves, score_chart=acc_curves,
                          per_class=per_class, confusion=confusion, mistakes=wrong, download=download,
                          session_models=session_models, runs=runs, runs_table=runs_table, pick=pick),
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
