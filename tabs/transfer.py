"""Transfer tab: what fine-tuning does to an encoder, measured on a dataset a student picks.

Five views: the validation rows' vectors before and after fine-tuning, a linear probe per layer,
learning curves by data size, crosslingual transfer (train in one language, test the same sentences in
three: the multilingual and the English-only encoder side by side, a map of each where a sentence's
translations land, and a full fine-tune), and one word's contextual vectors against its static one. The work is training.transfer.transfer,
training.transfer.learning_curves, training.transfer.crosslingual and lab.contextual; vectors are cached per
(data, model, pooling) in training.transfer.features, shared by every session.
"""

from __future__ import annotations

import functools
import shutil
import threading
import uuid
from pathlib import Path

import anyio
import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from lab import i18n, registry
from lab import render_transfer as render
from lab import session as session_state
from lab.context import Lab
from lab.errors import LabInputError
from lab.lazy import lazy_import
from lab.settings import Settings
from tabs.attention import MAX_LAYER_CHOICE, layer_slider_update
from tabs.common import QUICK, SLOW, explainer, lane, named_outputs, table, training_lane, user_errors
from tabs.components import Slider
from tabs.i18n import request_language, t
from training.config import TrainConfig
from training.data import catalog
from training.data.reader import Prepared, Uploads
from training.runs import backends
from training.runs.jobs import JobSpec, TrainingJob
from training.tasks.registry import TASKS as TRAINING_TASKS
from training.transfer import learning_curves as curves
from training.transfer import shared_curves, transfer
from training.transfer.learning_curves import SERIES

contextual = lazy_import("lab.contextual")
estimate = lazy_import("training.engine.estimate")
features = lazy_import("training.transfer.features")

POOLING = [(t("transfer.pooling.cls"), "cls"), (t("transfer.pooling.mean"), "mean")]
# The value the API takes for a session's run (its name and this suffix); the label says it in the page's language.
RUN_SUFFIX = " (this session: the rows it trained on)"
# The model reads English, so the example stays English in every language (the explainer says why).
BANK = ("We sat on the bank of the river and watched the boats.\n"
        "The river bank was muddy after the rain.\n"
        "I deposited my salary at the bank this morning.\n"
        "The bank raised its interest rates again.")
# The probe chart's categories (training.transfer.transfer.probe_frame) as catalog keys, for a page in another
# language; "layer N" is matched apart. The API's answer without a language stays as the frame has it.
PROBE_LABELS = {"embeddings": "transfer.bar.embeddings", "fine-tuned model": "transfer.bar.finetuned",
                "most common class": "transfer.bar.majority", "probe on the frozen layer": "transfer.bar.kind.probe",
                "whole model fine-tuned": "transfer.bar.kind.finetuned",
                "always the most common class": "transfer.bar.kind.majority"}
# What the streaming endpoints answer, in the API's order (an answer leaves out what it does not change).
Curves = named_outputs("Curves", "chart table info")
CrossCompare = named_outputs("CrossCompare", "chart table info")
CrossMap = named_outputs("CrossMap", "multilingual english info")


class TransferTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self.uploads = Uploads(4)  # an upload is parsed once for every view that shows it
        self._cache = None
        self._lock = threading.Lock()
        # The learning curves a class shares: one computation per (data, model, settings), then cached.
        self.shared = shared_curves.SharedCurves(lab.settings.cache_dir)
        # The crosslingual comparison or map each session is computing (one at a time), for its Cancel.
        self._cross_jobs: dict[str, TrainingJob] = {}

    @property
    def cache(self):
        """Vectors by (data, model, pooling), kept in memory and under LAB_CACHE_DIR, for every session."""
        with self._lock:
            if self._cache is None:
                self._cache = features.FeatureCache(Path(self.lab.settings.cache_dir) / "features")
            return self._cache

    # ------------------------------------------------------------------------------- data
    def data_choices(self, session: dict | None = None, language: str = i18n.DEFAULT) -> list[tuple]:
        """(label, value): a run's value is its name + RUN_SUFFIX whatever the language of its label."""
        samples = list(self._cards())
        runs = [(i18n.text("transfer.run_choice", language, name=name), name + RUN_SUFFIX)
                for name in session_state.models_for(session, "classification")]
        # a sample's title is a message (training.data.catalog): the browser says it in the page's language
        return runs + [(t(title.key) if isinstance(title, i18n.Message) and not title.values else title, str(title))
                       for title in samples]

    def _cards(self) -> dict:
        """The catalogue's datasets the views read (title -> card): those with one label per text."""
        return {c.title: c for c in catalog.catalog(self.lab.settings, self.lab.hub.online)
                if TRAINING_TASKS[c.task].per_text}

    def _data(self, choice: str, file: str | None, session: dict | None, request: gr.Request | None = None):
        """(the data, the feature cache it goes in): the project's samples share one; an upload and a
        session's run stay in the session's folder (the upload moved there), and go with it."""
        key = getattr(request, "session_hash", None)

        def own():
            return features.FeatureCache(session_state.session_dir(self.lab.settings.runs_dir, key) / "features", 2)

        if file:
            if key:
                file = str(session_state.own_upload(self.lab.settings.runs_dir, get_upload_folder(), key, file))
            return transfer.file_data(file, Path(file).name, max_rows=self.lab.settings.max_view_rows,
                                      limits=self.lab.settings.data_limits, uploads=self.uploads), own()
        runs = session_state.models_for(session, "classification")
        name = (choice or "").removesuffix(RUN_SUFFIX)
        if choice and choice.endswith(RUN_SUFFIX) and name in runs:
            if not Path(runs[name]).is_dir():
                raise LabInputError(i18n.msg("transfer.run_gone", name=name))
            return transfer.run_data(Path(runs[name]).parent, name), own()
        cards = self._cards()
        if choice not in cards:
            raise LabInputError(i18n.msg("transfer.pick_data"))
        return transfer.card_data(cards[choice], cache_dir=catalog.datasets_dir(self.lab.settings)), self.cache

    def _model(self, choice: str | None, session: dict | None) -> str | None:
        """The model choice, refused unless it is in this session's list (typed hub ids only when online)."""
        if choice and choice not in self.lab.choices("classification", session) and not self.lab.hub.online:
            raise LabInputError(i18n.msg("transfer.pick_model", choice=choice[:80]))
        return choice

    def refresh(self, session: dict | None):
        """After a fine-tune: the session's runs in the data list, its model chosen."""
        active = session_state.active(session, "classification")
        choices = self.data_choices(session, request_language())
        return (gr.update(choices=choices, value=active + RUN_SUFFIX if active else choices[0][1]),
                gr.update(choices=self.lab.choices("classification", session),
                          value=active or self.lab.default_choice("classification")))

    # ------------------------------------------------------------------------------ views
    @user_errors
    def embedding_map(self, data_choice: str, file: str | None = None, model: str | None = None,
                      pooling: str = "cls", projection: str = "PCA", session_models: dict | None = None,
                      request: gr.Request = None, progress=gr.Progress()):
        language = request_language()
        encoding = i18n.text("transfer.progress.encoding", language)
        data, cache = self._data(data_choice, file, session_models, request)
        result = transfer.embedding_map(self.lab, cache, data, self._model(model, session_models), session_models, pooling, projection,
                                        on_batch=lambda done, total: progress((done, total), desc=encoding))

        def score(value):
            return "—" if value is None else f"{value:.2f}"

        models = dict(before=result.pair.before.name, after=result.pair.after.name)
        lines = [i18n.text("transfer.map.info", language, data=data.name, rows=f"{len(data.val):,}",
                           pooling=pooling_name(pooling, language), projection=projection,
                           before=score(result.before_separation), after=score(result.after_separation)),
                 i18n.text("transfer.map.scored", language, **models, accuracy=f"{result.accuracy:.1%}")
                 if result.accuracy is not None else i18n.text("transfer.map.unscored", language, **models)]
        if data.note:
            lines.append(i18n.say(data.note, language))
        return result.before, result.after, "\n\n".join(lines)

    @user_errors
    def layer_probe(self, data_choice: str, file: str | None = None, model: str | None = None,
                    pooling: str = "mean", session_models: dict | None = None, request: gr.Request = None,
                    progress=gr.Progress()):
        language = request_language()
        encoding = i18n.text("transfer.progress.encoding", language)
        data, cache = self._data(data_choice, file, session_models, request)
        result = transfer.layer_probe(self.lab, cache, data, self._model(model, session_models), session_models,
                                      pooling,
                                      on_batch=lambda done, total: progress((done, total), desc=encoding))
        bars = probe_bars(transfer.probe_frame(result.accuracies, result.finetuned, result.majority), language)
        best = max(range(len(result.accuracies)), key=result.accuracies.__getitem__)
        lines = [i18n.text("transfer.probe.info", language, data=data.name, model=result.pair.before.name,
                           pooling=pooling_name(pooling, language), train=f"{len(data.train):,}",
                           val=f"{len(data.val):,}", best=bars["layer"][best],
                           accuracy=f"{result.accuracies[best]:.1%}", majority=f"{result.majority:.1%}")]
        if result.finetuned is not None:
            lines.append(i18n.text("transfer.probe.finetuned", language, model=result.pair.after.name,
                                   accuracy=f"{result.finetuned:.1%}"))
        else:
            lines.append(i18n.text("transfer.probe.other_labels", language, model=result.pair.after.name))
        if data.note:
            lines.append(i18n.say(data.note, language))
        return gr.update(value=bars, sort=list(bars["layer"])), "\n\n".join(lines)

    @user_errors
    async def learning_curves(self, data_choice: str, file: str | None = None, series: list[str] | None = None,
                              session_models: dict | None = None, request: gr.Request = None,
                              progress=gr.Progress()):
        """The curves for (data, base model, settings): from the class's cache, or the one computation
        for them that this session joins (training/transfer/shared_curves.py), its points drawn as they come.
        The setup (data, model, estimate) runs in a worker thread; the wait for points is awaited, so a
        class watching one computation holds no server thread per student."""
        language = request_language(request)
        session = getattr(request, "session_hash", None) or "cli"
        computation, total, planned = await anyio.to_thread.run_sync(functools.partial(
            self._join_curves, data_choice, file, series, session_models, request, session, language))
        if computation.cached:
            yield self._curves_answer(computation, language, i18n.text("transfer.curves.cached", language,
                                                                         done=len(computation.points)))
            return
        shown = 0
        runs = i18n.text("transfer.progress.runs", language)
        yield self._curves_answer(computation, language, planned, computation.points[:0])
        try:
            while self.shared.watching(session, computation):
                points = await computation.changed(shown, 1.0)
                if len(points) > shown:
                    shown = len(points)
                    progress((shown, total), desc=runs, unit=runs)
                    last = points[-1]
                    yield self._curves_answer(computation, language, i18n.text(
                        "transfer.curves.progress", language, done=shown, total=total,
                        series=series_name(last.series, language), examples=last.examples,
                        accuracy=f"{last.accuracy:.1%}", seconds=f"{last.seconds:.0f}"), points)
                if computation.finished and shown == len(computation.points):
                    break
        finally:
            self.shared.leave(session)  # Cancel, or the page went away: the runs stop if nobody else watches
        if computation.error is not None:
            if isinstance(computation.error, LabInputError):
                raise computation.error
            # a message from the run (a Message where it has one) in the student's language
            reason = computation.error.args[0] if len(computation.error.args) == 1 else computation.error
            raise gr.Error(i18n.text("transfer.curves.failed", language, error=i18n.say(reason, language)))
        points = computation.points[:shown]
        counts = dict(done=len(points), total=total)
        yield self._curves_answer(computation, language, i18n.text("transfer.curves.done", language, **counts)
                                  if len(points) == total else i18n.text("transfer.curves.stopped", language, **counts),
                                  points)

    def _join_curves(self, data_choice: str, file: str | None, series: list[str] | None,
                     session_models: dict | None, request: gr.Request | None, session: str, language: str):
        """The computation ``session`` watches for these curves (joined or started), how many points it
        makes, and the plan said in ``language``."""
        data, cache = self._data(data_choice, file, session_models, request)
        series = [s for s in SERIES if s in (series or [])]
        if not series:
            raise LabInputError(i18n.msg("transfer.no_series"))
        base = curves.base_config(max_train_minutes=self.lab.settings.max_train_minutes)
        sizes = curves.sizes_for(len(data.train))
        total = len(sizes) * len(series)
        encoder = self.lab.model("finetune-base", base.base_model)
        key = shared_curves.request_key(data, features.model_key(f"{encoder.ref.kind}:{encoder.ref.id}", encoder.ref.id), base, series)
        # a session's upload or run: what the runs compute from it stays in the session's folder
        settings = (self.lab.settings if cache is self.cache
                    else session_state.session_settings(self.lab.settings, session))
        computation = self.shared.join(key, session, total, self._curves_work(data, base, series, encoder, cache,
                                                                               settings))
        if computation.cached:
            return computation, total, ""
        examples = curves.planned_examples(sizes, series)
        # the measured step at the machine's current speed (training/engine/estimate.py), the runs shared
        # between the curves' workers
        per_example = (estimate.seconds_per_step(self.lab, base, curves.MAX_LENGTH) * estimate.SPEED.factor()
                       / base.batch_size / backends.for_curves(settings).parallel if examples else 0.0)
        planned = i18n.text("transfer.curves.planned", language, data=data.name, sizes=", ".join(map(str, sizes)),
                            val=f"{len(data.val):,}", time=estimate.human(examples * per_example),
                            examples=f"{examples:,}")
        return computation, total, planned

    def _curves_answer(self, computation, language: str, info: str, points=None) -> Curves:
        points = computation.points if points is None else points
        return Curves(chart=curves_chart(points, language), table=curves_table(points, language), info=info)

    def _curves_work(self, data, base: TrainConfig, series: list[str], encoder, cache: features.FeatureCache,
                     settings: Settings) -> shared_curves.Work:
        """What the one computation for these curves runs: each neural run a job on the curves' own
        backend (never behind the class's fine-tunes), the frozen series from the cached vectors."""
        online = self.lab.hub.online
        work_dir = Path(settings.runs_dir) / "curves" / uuid.uuid4().hex[:12]

        def train_run(config, train, val, out_dir):
            spec = JobSpec(Prepared("classification", train, val, None, len(train), curves.MAX_LENGTH),
                           config, str(out_dir), settings, online)
            job = backends.for_curves(settings).submit(spec)
            while not job.wait(0.5):
                if stopping():
                    job.cancel()
            if job.error is not None:
                raise job.error
            return job.result

        def last_layer():
            return curves.frozen_vectors(cache, encoder, data)

        stopping = lambda: False  # noqa: E731 (set below: the computation's own stop flag)

        def work(on_point, should_stop):
            nonlocal stopping
            stopping = should_stop
            try:
                return curves.learning_curves(data, base, work_dir, series, train_run, last_layer, on_point,
                                              should_stop, backends.for_curves(settings).parallel)
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)

        return work

    def cancel_curves(self, request: gr.Request = None) -> str:
        language = request_language(request)
        if not self.shared.leave(getattr(request, "session_hash", None) or "cli"):
            return i18n.text("transfer.cancel.none", language)
        return i18n.text("transfer.cancel.stopping", language)

    @user_errors
    def contextual_vectors(self, word: str, sentences: str, layer: int = 6, encoder: str = "base",
                           model: str | None = None, session_models: dict | None = None):
        language = request_language()
        lines = (sentences or "").splitlines()
        if len(sentences or "") > self.lab.settings.max_text_chars:
            raise LabInputError(i18n.msg("transfer.too_long", chars=f"{self.lab.settings.max_text_chars:,}"))
        loaded = (self.lab.model("classification", self._model(model, session_models), session_models)
                  if encoder == "model"
                  else self.lab.model("finetune-base"))
        result = contextual.contextual_vectors(loaded.model, loaded.tokenizer, word, lines, int(layer))
        rows = [f"{i + 1}. {render.short(s)}" for i, s in enumerate(result.sentences)]
        to_static = render.grid_html(rows, ["emb"] + [str(i) for i in range(1, result.num_layers + 1)],
                                     result.to_static,
                                     i18n.text("transfer.context.to_static", language, word=result.word,
                                               pieces=" ".join(result.pieces)))
        between = render.grid_html(rows, [str(i + 1) for i in range(len(rows))], result.between,
                                   i18n.text("transfer.context.between", language, word=result.word,
                                             layer=result.layer))
        return to_static, between, i18n.text("transfer.context.info", language, model=loaded.name,
                                             layers=result.num_layers)

    # ----------------------------------------------------------------------------- layout
    def localize(self, language: str) -> list:
        """What the server draws in the page's language: the plots' axis titles (Gradio translates a
        plot's title, not its axes) and the empty curves and crosslingual charts (a chart already drawn is
        redrawn empty; its table and status stay)."""
        first, second = (i18n.text("transfer.axis.component", language, n=n) for n in (1, 2))
        label = i18n.text("transfer.axis.label", language)
        return [gr.update(x_title=first, y_title=second, color_title=label),
                gr.update(x_title=first, y_title=second, color_title=label),
                gr.update(x_title=i18n.text("transfer.axis.layer", language),
                          y_title=i18n.text("transfer.axis.accuracy", language),
                          color_title=i18n.text("transfer.axis.kind", language)),
                curves_chart([], language), cross_chart(None, language)]

    # ------------------------------------------------------------------------------- crosslingual
    def _run_job(self, config: TrainConfig, train, val, out_dir):
        """One classification run as a job on the server's training backend; waits for its result."""
        spec = JobSpec(Prepared("classification", train, val, None, len(train), 64), config,
                       str(out_dir), self.lab.settings, self.lab.hub.online)
        job = backends.shared(self.lab.settings).submit(spec)
        job.wait()
        if job.error is not None:
            raise job.error
        return job.result

    @user_errors
    def crosslingual(self, train_language: str = "en", base_model: str | None = None, strategy: str = "full",
                     session_models: dict | None = None, request: gr.Request = None):
        """Fine-tune on one language's sentiment sample; the parallel set's accuracy in each language."""
        from training.transfer import crosslingual

        language = request_language(request)
        bases = self.lab.choices("finetune-base", session_models)
        base = base_model or (registry.MULTILINGUAL_NAME if registry.MULTILINGUAL_NAME in bases else bases[0])
        if base not in bases and not self.lab.hub.online:
            raise LabInputError(i18n.msg("transfer.pick_model", choice=base[:80]))
        config = TrainConfig(base_model=base, strategy=strategy, max_train_minutes=self.lab.settings.max_train_minutes)
        key = getattr(request, "session_hash", None) or "cli"
        out_dir = session_state.session_dir(self.lab.settings.runs_dir, key) / "crosslingual" / train_language
        result = crosslingual.fine_tune_and_score(config, train_language, out_dir, self.lab.settings,
                                                  self.lab.hub.online, train_run=self._run_job)
        rows = [{"language": lang, "accuracy": round(result.accuracy[lang], 3),
                 "trained on": "yes" if lang == train_language else "no"} for lang in crosslingual.LANGUAGES]
        note = i18n.text("transfer.cross.result", language, base=base, train=i18n.text(f"transfer.cross.lang.{train_language}",
                         language), rows=result.train_rows, seconds=f"{result.seconds:.0f}")
        return pd.DataFrame(rows), note

    def _cross_work(self, work, request: gr.Request | None, progress):
        """Run ``work(on_batch)`` as a job of this session (its Cancel stops it between two batches of
        texts); yields the progress lines while it encodes, then returns its result. The vectors it
        encodes go to the shared feature cache: the next session asking gets them at once."""
        from training.transfer.feature_head import (
            RunStopped,  # torch: imported when the first job runs, not with the page
        )

        language = request_language(request)
        session = getattr(request, "session_hash", None) or "cli"
        names = {"multilingual": registry.MULTILINGUAL_NAME, "english-only": registry.EMBEDDED_NAME}

        def run(on_event, should_stop):
            def on_batch(encoder: str, done: int, total: int) -> None:
                if should_stop():
                    raise RunStopped(i18n.msg("transfer.xl.stopped"), "cancelled")
                on_event((encoder, done, total))

            return work(on_batch)

        job = TrainingJob(run)
        with self._lock:
            previous = self._cross_jobs.get(session)
            if previous is not None:
                previous.cancel()  # a session computes one of these at a time
            self._cross_jobs[session] = job
        job.start()
        try:
            while not job.wait(0.5):
                event = None
                while not job.events.empty():
                    event = job.events.get_nowait()
                if event is not None:
                    encoder, done, total = event
                    desc = i18n.text("transfer.xl.encoding", language, model=names[encoder])
                    progress((done, total), desc=desc)
                    yield i18n.text("transfer.xl.progress", language, model=names[encoder], done=done, total=total)
        finally:
            job.cancel()  # the page went away or Cancel: nothing more is encoded for it
            with self._lock:
                if self._cross_jobs.get(session) is job:
                    del self._cross_jobs[session]
        if isinstance(job.error, RunStopped):
            return None  # Cancel: the caller says so
        if job.error is not None:
            raise job.error
        return job.result

    def cancel_crosslingual(self, request: gr.Request = None) -> str:
        language = request_language(request)
        with self._lock:
            job = self._cross_jobs.get(getattr(request, "session_hash", None) or "cli")
        if job is None:
            return i18n.text("transfer.xl.cancel_none", language)
        job.cancel()
        return i18n.text("transfer.xl.cancel_stopping", language)

    @user_errors
    def crosslingual_compare(self, train_language: str = "en", request: gr.Request = None, progress=gr.Progress()):
        """Three setups side by side on the parallel set (training.transfer.crosslingual.compare): the chart, its
        table and what was run. Frozen encoders with a fitted head: seconds once the vectors are cached."""
        from training.transfer import crosslingual

        language = request_language(request)
        if train_language not in crosslingual.LANGUAGES:
            raise LabInputError(i18n.msg("msg.training.crosslingual.language", language=str(train_language)[:20],
                                         languages=", ".join(crosslingual.LANGUAGES)))
        empty = cross_chart(None, language)
        work = self._cross_work(lambda on_batch: crosslingual.compare_encoders(
            self.lab, self.cache, train_language, self.lab.settings, self.lab.hub.online, on_batch), request, progress)
        try:
            while True:
                yield CrossCompare(chart=empty, info=next(work))
        except StopIteration as done:
            result = done.value
        if result is None:
            yield CrossCompare(chart=empty, info=i18n.text("transfer.xl.stopped", language))
            return
        rows = [{"setup": setup_name(s.setup, train_language, language),
                 "language": i18n.plain_text(f"transfer.cross.lang.{s.language}", language),
                 "trained on": i18n.plain_text(f"transfer.cross.lang.{s.trained_on}", language),
                 "accuracy": round(s.accuracy, 3)} for s in result.scores]
        yield CrossCompare(chart=cross_chart(result, language), table=table(rows, language=language),
                           info=i18n.text("transfer.xl.info", language, multilingual=registry.MULTILINGUAL_NAME,
                                          english=registry.EMBEDDED_NAME,
                                          train=i18n.text(f"transfer.cross.lang.{train_language}", language),
                                          rows=result.train_rows[train_language],
                                          reviews=len(crosslingual.read_parallel().labels)))

    @user_errors
    def crosslingual_map(self, request: gr.Request = None, progress=gr.Progress()):
        """The parallel set's sentences on a 2-D map from each encoder, translations joined by lines."""
        from training.transfer import crosslingual

        language = request_language(request)

        def both(on_batch):
            return {encoder: crosslingual.encoder_map(self.lab, self.cache, encoder, on_batch)
                    for encoder in ("multilingual", "english-only")}

        work = self._cross_work(both, request, progress)
        try:
            while True:
                yield CrossMap(info=next(work))
        except StopIteration as done:
            maps = done.value
        if maps is None:
            yield CrossMap(info=i18n.text("transfer.xl.stopped", language))
            return
        names = {"multilingual": registry.MULTILINGUAL_NAME, "english-only": registry.EMBEDDED_NAME}
        shares = {encoder: f"{m.nearest_is_translation:.0%}" for encoder, m in maps.items()}
        yield CrossMap(multilingual=map_svg(maps["multilingual"], names["multilingual"], language),
                       english=map_svg(maps["english-only"], names["english-only"], language),
                       info=i18n.text("transfer.xl.map_info", language, multilingual=names["multilingual"],
                                      english=names["english-only"], ml_share=shares["multilingual"],
                                      en_share=shares["english-only"], reviews=len(set(maps["multilingual"].pairs)),
                                      chance=f"{1 / len(set(maps['multilingual'].pairs)):.1%}"))

    def build(self, session_models: gr.State | None = None) -> None:
        self.session_models = session_models
        gr.Markdown(t("transfer.intro"))
        with gr.Row():
            choices = self.data_choices()
            # Custom values pass the browser (a session's runs are not in the page's first list); _data checks them.
            self.data = gr.Dropdown(choices, value=choices[0][1] if choices else None, label=t("transfer.data"),
                                    elem_id="tr-data", info=t("transfer.data_info"),
                                    allow_custom_value=True)
            # Lesson 1 opens the tab on the topics sample: its curves show the lesson's picture clearly.
            self.lesson_inputs = {"tr-data": self.data}
            upload = gr.File(label=t("transfer.upload"), file_types=[".csv", ".tsv", ".txt"],
                             type="filepath", elem_id="tr-file", height=110)
            self.model = gr.Dropdown(self.lab.choices("classification"),
                                     value=self.lab.default_choice("classification"), label=t("transfer.model"),
                                     elem_id="tr-model",
                                     info=t("transfer.model_info"),
                                     allow_custom_value=True)  # checked by _model
        state = [session_models] if session_models is not None else []
        slow = lane(self.lab, SLOW)

        gr.Markdown(t("transfer.map.heading"))
        with gr.Row():
            map_pooling = gr.Radio(POOLING, value="cls", label=t("transfer.sentence_vector"))
            projection = gr.Radio(["PCA", "UMAP"] if transfer.umap_available() else ["PCA"], value="PCA",
                                  label=t("transfer.projection"),
                                  info=t("transfer.projection_info") if not transfer.umap_available() else None)
            map_run = gr.Button(t("transfer.map.run"), variant="primary", elem_id="tr-map-run")
        with gr.Row():
            before = gr.ScatterPlot(x="x", y="y", color="label", tooltip=["text", "label"],
                                    title=t("transfer.map.before"), height=360, elem_id="tr-map-before",
                                    x_title="component 1", y_title="component 2")
            after = gr.ScatterPlot(x="x", y="y", color="label", tooltip=["text", "label", "prediction"],
                                   title=t("transfer.map.after"), height=360, elem_id="tr-map-after",
                                   x_title="component 1", y_title="component 2")
        map_info = gr.Markdown(elem_id="tr-map-info")
        explainer(t("transfer.map.explainer"))
        map_run.click(self.embedding_map, [self.data, upload, self.model, map_pooling, projection, *state],
                      [before, after, map_info], api_name="embedding_map", **slow)

        gr.Markdown(t("transfer.probe.heading"))
        with gr.Row():
            probe_pooling = gr.Radio(POOLING, value="mean", label=t("transfer.sentence_vector"))
            probe_run = gr.Button(t("transfer.probe.run"), variant="primary", elem_id="tr-probe-run")
        probe_plot = gr.BarPlot(x="layer", y="accuracy", color="kind", title=t("transfer.probe.title"),
                                y_lim=[0, 1], height=320, elem_id="tr-probe", x_label_angle=-30)
        probe_info = gr.Markdown(elem_id="tr-probe-info")
        explainer(t("transfer.probe.explainer"))
        probe_run.click(self.layer_probe, [self.data, upload, self.model, probe_pooling, *state],
                        [probe_plot, probe_info], api_name="layer_probe", **slow)

        gr.Markdown(t("transfer.curves.heading"))
        with gr.Row():
            series = gr.CheckboxGroup([(t("transfer.series.pretrained"), "pretrained"),
                                       (t("transfer.series.scratch"), "scratch"),
                                       (t("transfer.series.frozen"), "frozen")], value=list(SERIES),
                                      label=t("transfer.ways"))
            curves_run = gr.Button(t("transfer.curves.run"), variant="primary", elem_id="tr-curves-run")
            curves_cancel = gr.Button(t("transfer.curves.cancel"), variant="stop", elem_id="tr-curves-cancel")
        curve_plot = gr.HTML(curves_chart([]), elem_id="tr-curves")
        curve_table = gr.Dataframe(curves.curves_frame([]), label=t("transfer.curves.points"), interactive=False,
                                   elem_id="tr-curves-table")
        curves_info = gr.Markdown(elem_id="tr-curves-info")
        explainer(t("transfer.curves.explainer"))
        # Its own lane: a class waiting on one shared computation holds handlers, not training slots.
        curves_run.click(self.learning_curves, [self.data, upload, series, *state],
                         Curves.wire(chart=curve_plot, table=curve_table, info=curves_info),
                         api_name="learning_curves", concurrency_id="curves", concurrency_limit=None)
        curves_cancel.click(self.cancel_curves, None, curves_info, api_name="cancel_learning_curves")

        gr.Markdown(t("transfer.cross.heading"))
        with gr.Row():
            cross_language = gr.Dropdown([(t(f"transfer.cross.lang.{lang}"), lang) for lang in ("en", "id", "zh-TW")],
                                         value="en", label=t("transfer.cross.train_language"), elem_id="tr-cross-language")
            self.lesson_inputs["tr-cross-language"] = cross_language
            xl_run = gr.Button(t("transfer.xl.run"), variant="primary", elem_id="tr-xl-run")
            xl_map_run = gr.Button(t("transfer.xl.map_run"), variant="primary", elem_id="tr-xl-map-run")
            xl_cancel = gr.Button(t("transfer.xl.cancel"), variant="stop", elem_id="tr-xl-cancel")
        xl_chart = gr.HTML(cross_chart(None), elem_id="tr-xl-chart")
        xl_table = gr.Dataframe(interactive=False, elem_id="tr-xl-table")
        xl_info = gr.Markdown(elem_id="tr-xl-info")
        with gr.Row():
            xl_map_multilingual = gr.HTML(elem_id="tr-xl-map-multilingual")
            xl_map_english = gr.HTML(elem_id="tr-xl-map-english")
        xl_map_info = gr.Markdown(elem_id="tr-xl-map-info")
        explainer(t("transfer.xl.explainer"))
        xl_run.click(self.crosslingual_compare, [cross_language],
                     CrossCompare.wire(chart=xl_chart, table=xl_table, info=xl_info),
                     api_name="crosslingual_compare", **slow)
        xl_map_run.click(self.crosslingual_map, None,
                         CrossMap.wire(multilingual=xl_map_multilingual, english=xl_map_english, info=xl_map_info),
                         api_name="crosslingual_map", **slow)
        # Not in the slow lane: Cancel must get through while the comparison holds it.
        xl_cancel.click(self.cancel_crosslingual, None, xl_info, api_name="cancel_crosslingual",
                        **lane(self.lab, QUICK))

        gr.Markdown(t("transfer.cross.full_heading"))
        with gr.Row():
            bases = self.lab.choices("finetune-base")
            cross_base = gr.Dropdown(bases, value=registry.MULTILINGUAL_NAME if registry.MULTILINGUAL_NAME in bases
                                     else bases[0], label=t("transfer.cross.base"), elem_id="tr-cross-base")
            cross_run = gr.Button(t("transfer.cross.run"), variant="primary", elem_id="tr-cross-run")
        cross_table = gr.Dataframe(interactive=False, elem_id="tr-cross-table")
        cross_info = gr.Markdown(elem_id="tr-cross-info")
        explainer(t("transfer.cross.explainer"))
        cross_run.click(self.crosslingual, [cross_language, cross_base, gr.State("full"), *state],
                        [cross_table, cross_info], api_name="crosslingual", **training_lane(self.lab))

        gr.Markdown(t("transfer.context.heading"))
        with gr.Row():
            word = gr.Textbox("bank", label=t("transfer.context.word"), elem_id="tr-word", scale=1)
            sentences = gr.Textbox(BANK, label=t("transfer.context.sentences"), lines=4, elem_id="tr-sentences",
                                   scale=3)
            with gr.Column(scale=1):
                top = self.lab.num_layers("finetune-base", local_only=True) or MAX_LAYER_CHOICE
                layer = Slider(0, top, value=min(6, top), step=1, label=t("transfer.context.layer"),
                               info=t("transfer.context.layer_info"), elem_id="tr-layer")
                encoder = gr.Radio([(t("transfer.context.encoder.base"), "base"),
                                    (t("transfer.context.encoder.model"), "model")],
                                   value="base", label=t("transfer.context.encoder_label"))
                context_run = gr.Button(t("transfer.context.run"), variant="primary", elem_id="tr-context-run")
        to_static = gr.HTML(elem_id="tr-to-static")
        between = gr.HTML(elem_id="tr-between")
        context_info = gr.Markdown()
        explainer(t("transfer.context.explainer"))

        def bound(current, which: str, choice: str | None = None, *session):
            """Layers 0 (the embeddings) to the chosen encoder's last."""
            if which == "model":
                return layer_slider_update(self.lab, "classification", 0, current, choice, *session)
            return layer_slider_update(self.lab, "finetune-base", 0, current)

        for source in (encoder, self.model):
            source.change(bound, [layer, encoder, self.model, *state], layer, api_visibility="private",
                          **lane(self.lab, QUICK))
        context_run.click(self.contextual_vectors, [word, sentences, layer, encoder, self.model, *state],
                          [to_static, between, context_info], api_name="contextual_vectors", **lane(self.lab, QUICK))
        self.localized_outputs = [before, after, probe_plot, curve_plot, xl_chart]  # what localize() updates


def pooling_name(pooling: str, language: str) -> str:
    """"[CLS] vector per sentence" or "mean of the tokens per sentence", for the lines under a view."""
    return i18n.text({"cls": "transfer.per_sentence.cls", "mean": "transfer.per_sentence.mean"}[pooling], language)


def series_name(key: str, language: str) -> str:
    """A way of training by name: in English as the API's table says it, else from the catalog."""
    return SERIES[key] if language == i18n.DEFAULT else i18n.text(f"transfer.series.{key}", language)


def probe_bars(frame, language: str):
    """The probe chart's rows with their categories in ``language`` (English: the frame as it is)."""
    if language == i18n.DEFAULT:
        return frame

    def say(value: str) -> str:
        if value in PROBE_LABELS:
            return i18n.text(PROBE_LABELS[value], language)
        number = value.removeprefix("layer ")
        return i18n.text("transfer.bar.layer", language, n=number) if number.isdigit() else value

    return frame.assign(layer=[say(v) for v in frame["layer"]], kind=[say(v) for v in frame["kind"]])


def curves_table(points, language: str = i18n.DEFAULT):
    """The curves' points, each way of training named in ``language`` (English: the API's own table)."""
    frame = curves.curves_frame(points)
    if language == i18n.DEFAULT:
        return frame
    return frame.assign(series=[series_name(p.series, language) for p in points])


def curves_chart(points, language: str = i18n.DEFAULT) -> str:
    return render.log_curves_svg([(series_name(p.series, language), p.examples, p.accuracy) for p in points],
                                 i18n.text("transfer.chart.title", language), language=language)


def setup_name(setup: str, train_language: str, language: str) -> str:
    """A setup of the crosslingual comparison (training.transfer.crosslingual.SETUPS) by name, in ``language``."""
    train = i18n.plain_text(f"transfer.cross.lang.{train_language}", language)
    return i18n.plain_text(f"transfer.xl.setup.{setup}", language, train=train)


def cross_chart(result, language: str = i18n.DEFAULT) -> str:
    """The comparison's grouped bars: the languages scored on the x axis, a bar per setup (none yet: the
    axes only, for the chart before a run)."""
    from training.transfer import crosslingual

    train = result.train_language if result is not None else "en"
    groups = {lang: i18n.plain_text(f"transfer.cross.lang.{lang}", language) for lang in crosslingual.LANGUAGES}
    series = {setup: setup_name(setup, train, language) for setup in crosslingual.SETUPS}
    values = {} if result is None else {(series[s.setup], groups[s.language]): s.accuracy for s in result.scores}
    return render.grouped_bars_svg(list(groups.values()), list(series.values()), values,
                                   i18n.plain_text("transfer.xl.chart_title", language), chance=0.5,
                                   chance_label=i18n.plain_text("transfer.xl.chance", language))


def map_svg(result, model: str, language: str = i18n.DEFAULT) -> str:
    """One encoder's translations map (training.transfer.crosslingual.TranslationMap), its words in ``language``."""
    from training.transfer import crosslingual

    return render.translation_map_svg(
        result.points, result.languages, result.labels, result.texts, result.pairs,
        {lang: i18n.plain_text(f"transfer.cross.lang.{lang}", language) for lang in crosslingual.LANGUAGES},
        {label: i18n.plain_text(f"transfer.xl.label.{label}", language) for label in ("positive", "negative")},
        model, i18n.plain_text("transfer.xl.map_subtitle", language))
