"""Transfer tab: what fine-tuning does to an encoder, measured on a dataset a student picks.

Four views: the validation rows' vectors before and after fine-tuning, a linear probe per layer,
learning curves by data size, and one word's contextual vectors against its static one. The work
is training.transfer, training.learning_curves and lab.contextual; vectors are cached per
(data, model, pooling) in training.features, shared by every session.
"""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr

from lab import render_transfer as render
from lab import session as session_state
from lab.context import Lab
from lab.errors import LabInputError
from lab.lazy import lazy_import
from tabs.common import QUICK, SLOW, explainer, lane, training_lane, user_errors
from tabs.components import Slider
from training import backends, catalog, transfer, workflows
from training import learning_curves as curves
from training.config import TrainConfig
from training.jobs import JobSpec
from training.learning_curves import SERIES

contextual = lazy_import("lab.contextual")
estimate = lazy_import("training.estimate")
features = lazy_import("training.features")

POOLING = [("[CLS] vector", "cls"), ("mean of the tokens", "mean")]
RUN_SUFFIX = " (this session: the rows it trained on)"
BANK = ("We sat on the bank of the river and watched the boats.\n"
        "The river bank was muddy after the rain.\n"
        "I deposited my salary at the bank this morning.\n"
        "The bank raised its interest rates again.")

MAP_EXPLAINER = """
Each dot is one **validation** sentence, placed by its sentence vector (the pooling above says
which vector) and coloured by its **true** label. Left: the pretrained encoder the model started
from. Right: the same encoder after fine-tuning. The vectors have hundreds of numbers, so they are
projected to 2-D: **PCA** keeps the two directions along which the vectors vary most (a linear
view: distances are faithful, clusters may overlap); **UMAP** keeps each point's nearest
neighbours (clusters show clearly, distances between clusters mean little).

Before fine-tuning the classes usually overlap: the encoder knows language, not your labels.
After, sentences of a class move together, because the training loss pulled them towards what
the classification head separates. The *separation* score under the maps is the silhouette
(cosine distance, on the full vectors, not the 2-D picture): 1 = every sentence far closer to its own class,
0 = no structure. Hover a dot for its text and what the fine-tuned model predicts.
"""

PROBE_EXPLAINER = """
A **probe** freezes the pretrained encoder, takes the sentence vectors of one layer, and fits a
logistic regression (a new linear head) on the training rows; the bar is its accuracy on the
validation rows. Layer 0 is the input embeddings (word + position, no context); each layer above
mixes in more context. This is the *feature-based* way of using BERT, measured layer by layer: it
shows which layers already hold what your task needs, and why "freeze the lower layers" loses
little. The bar after the layers is what the chosen fine-tuned model reaches on the same rows (updating
the encoder itself), and the last one always answering the most common class, the floor to beat.
"""

CURVES_EXPLAINER = """
The same task trained on 16, 64, 256 and 1,024 labelled examples (as many as the data has), each
scored on the same validation rows. **Fine-tuned from pretrained** starts from what pre-training
learned; **from scratch** is the same network from random weights with the same budget; **frozen
encoder + head** trains only a logistic-regression head on the pretrained encoder's vectors
(seconds, from the cached vectors). The gap between the first two is what pre-training buys, and it
is largest when examples are few: that is why transfer learning needs hundreds of examples where
training from scratch needs tens of thousands. Runs are short on purpose (60 steps of 16 examples
each, the small sets repeated, learning rate 1e-4, scored once at the end), so read the chart as a
comparison under one budget, not the best each way could do.
"""

CONTEXT_EXPLAINER = """
A **static** embedding gives a word one vector whatever the sentence (word2vec, GloVe, and
BERT's own input embedding table). BERT's layers mix the context into each token, so the same
word gets a different vector in each sentence. Top grid: how similar the word's vector at each
layer is to its single static vector (cosine: 1 = same direction). It starts near 1 at the
embeddings and falls as layers add context. Bottom grid: the word's vectors in the sentences
compared with each other at one layer: a river bank is closer to another river bank than to the
bank that lends money. A word split into several pieces is the mean of its pieces.
"""


class TransferTab:
    def __init__(self, lab: Lab):
        self.lab = lab
        self._cache = None
        self._stops: dict[str, threading.Event] = {}  # session hash -> the running curves' stop flag
        self._lock = threading.Lock()

    @property
    def cache(self):
        """Vectors by (data, model, pooling), kept in memory and under LAB_CACHE_DIR, for every session."""
        with self._lock:
            if self._cache is None:
                self._cache = features.FeatureCache(Path(self.lab.settings.cache_dir) / "features")
            return self._cache

    # ------------------------------------------------------------------------------- data
    def data_choices(self, session: dict | None = None) -> list[str]:
        samples = [c.title for c in catalog.catalog(self.lab.settings, self.lab.hub.online)
                   if c.task == "classification"]
        return [name + RUN_SUFFIX for name in session_state.models_for(session, "classification")] + samples

    def _data(self, choice: str, file: str | None, session: dict | None):
        if file:
            return transfer.file_data(file, Path(file).name)
        runs = session_state.models_for(session, "classification")
        name = (choice or "").removesuffix(RUN_SUFFIX)
        if choice and choice.endswith(RUN_SUFFIX) and name in runs:
            if not Path(runs[name]).is_dir():
                raise LabInputError(f"The model {name} is gone with its session: train it again in the Fine-tune tab.")
            return transfer.run_data(Path(runs[name]).parent, name)
        cards = {c.title: c for c in catalog.catalog(self.lab.settings, self.lab.hub.online)
                 if c.task == "classification"}
        if choice not in cards:
            raise LabInputError("Pick a dataset from the list, or upload a CSV.")
        card = cards[choice]
        return transfer.file_data(catalog.materialize(card, dict(catalog.size_choices(card)).get("1,000 rows")),
                                  card.title)

    def _model(self, choice: str | None, session: dict | None) -> str | None:
        """The model choice, refused unless it is in this session's list (typed hub ids only when online)."""
        if choice and choice not in self.lab.choices("classification", session) and not self.lab.hub.online:
            raise LabInputError(f"Pick a model from the list: '{choice[:80]}' is not one of this session's.")
        return choice

    def refresh(self, session: dict | None):
        """After a fine-tune: the session's runs in the data list, its model chosen."""
        active = session_state.active(session, "classification")
        return (gr.update(choices=self.data_choices(session),
                          value=active + RUN_SUFFIX if active else self.data_choices(session)[0]),
                gr.update(choices=self.lab.choices("classification", session),
                          value=active or self.lab.default_choice("classification")))

    # ------------------------------------------------------------------------------ views
    @user_errors
    def embedding_map(self, data_choice: str, file: str | None = None, model: str | None = None,
                      pooling: str = "cls", projection: str = "PCA", session_models: dict | None = None,
                      progress=gr.Progress()):
        data = self._data(data_choice, file, session_models)
        result = transfer.embedding_map(self.lab, self.cache, data, self._model(model, session_models), session_models, pooling, projection,
                                        on_batch=lambda done, total: progress((done, total), desc="encoding"))

        def score(value):
            return "—" if value is None else f"{value:.2f}"

        lines = [f"**{data.name}**, {len(data.val):,} validation rows, {POOLING_NAMES[pooling]}, {projection}. "
                 f"Separation of the classes: **{score(result.before_separation)}** before → "
                 f"**{score(result.after_separation)}** after.",
                 f"Before: **{result.pair.before.name}** · After: **{result.pair.after.name}**"
                 + (f", {result.accuracy:.1%} accurate on these rows." if result.accuracy is not None else
                    " (trained for other labels than this data's: it cannot be scored on it).")]
        if data.note:
            lines.append(data.note)
        return result.before, result.after, "\n\n".join(lines)

    @user_errors
    def layer_probe(self, data_choice: str, file: str | None = None, model: str | None = None,
                    pooling: str = "mean", session_models: dict | None = None, progress=gr.Progress()):
        data = self._data(data_choice, file, session_models)
        result = transfer.layer_probe(self.lab, self.cache, data, self._model(model, session_models), session_models,
                                      pooling,
                                      on_batch=lambda done, total: progress((done, total), desc="encoding"))
        bars = transfer.probe_frame(result.accuracies, result.finetuned, result.majority)
        best = max(range(len(result.accuracies)), key=result.accuracies.__getitem__)
        lines = [f"**{data.name}**: probes of **{result.pair.before.name}** ({POOLING_NAMES[pooling]}) trained on "
                 f"{len(data.train):,} rows, scored on {len(data.val):,}. Best: **{bars['layer'][best]}**, "
                 f"{result.accuracies[best]:.1%}; always the most common class: {result.majority:.1%}."]
        if result.finetuned is not None:
            lines.append(f"Fine-tuned **{result.pair.after.name}** on the same rows: **{result.finetuned:.1%}**.")
        else:
            lines.append(f"{result.pair.after.name} was trained for other labels: fine-tune on this data to compare.")
        if data.note:
            lines.append(data.note)
        return gr.update(value=bars, sort=list(bars["layer"])), "\n\n".join(lines)

    @user_errors
    def learning_curves(self, data_choice: str, file: str | None = None, series: list[str] | None = None,
                        session_models: dict | None = None, request: gr.Request = None, progress=gr.Progress()):
        data = self._data(data_choice, file, session_models)
        series = [s for s in SERIES if s in (series or [])]
        if not series:
            raise LabInputError("Tick at least one way of training.")
        base = TrainConfig(max_train_minutes=self.lab.settings.max_train_minutes)
        sizes = curves.sizes_for(len(data.train))
        examples = curves.planned_examples(sizes, series)
        per_example = estimate.seconds_per_step(self.lab, base, 64) / base.batch_size if examples else 0.0
        key = getattr(request, "session_hash", None) or "cli"
        stop = threading.Event()
        with self._lock:
            self._stops[key] = stop
        yield (curves_chart([]), curves.curves_frame([]),
               f"**{data.name}**: sizes {', '.join(map(str, sizes))}, {len(data.val):,} validation rows. "
               f"Expected time ≈ **{estimate.human(examples * per_example)}** ({examples:,} training examples).")
        points = []
        done = threading.Event()
        failure: list[BaseException] = []
        work_dir = session_state.session_dir(self.lab.settings.runs_dir, key) / "curves"

        def train_run(config, train, val, out_dir):
            """One run as a job on the server's training backend (worker processes by default)."""
            spec = JobSpec(workflows.Prepared("classification", train, val, None, len(train), 64), config,
                           str(out_dir), self.lab.settings, self.lab.hub.online)
            job = backends.shared(self.lab.settings).submit(spec)
            while not job.wait(0.5):
                if stop.is_set():
                    job.cancel()
            if job.error is not None:
                raise job.error
            return job.result

        def last_layer():
            encoder = self.lab.model("finetune-base", base.base_model)
            return tuple(transfer.layer_vectors(self.cache, encoder, part.texts, "mean")[-1]
                         for part in (data.train, data.val))

        def work():
            try:
                curves.learning_curves(data, base, work_dir, series, train_run, last_layer, points.append,
                                       stop.is_set)
            except BaseException as exc:  # shown to the user below; the server goes on
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="lab-learning-curves", daemon=True).start()
        total = len(sizes) * len(series)
        shown = 0
        try:
            while not done.wait(1.0) or shown < len(points):
                if len(points) > shown:
                    shown = len(points)
                    progress((shown, total), desc="runs", unit="runs")
                    last = points[-1]
                    yield (curves_chart(points), curves.curves_frame(points), f"{shown} of {total} runs done · last: {SERIES[last.series]}, "
                           f"{last.examples} examples → {last.accuracy:.1%} ({last.seconds:.0f} s)")
        finally:
            stop.set()  # the page went away: the runs stop too
            with self._lock:
                self._stops.pop(key, None)
        if failure:
            if isinstance(failure[0], LabInputError):
                raise failure[0]
            raise gr.Error(f"The learning curves failed: {failure[0]}")
        ended = "stopped" if len(points) < total else "done"
        yield curves_chart(points), curves.curves_frame(points), f"{ended.capitalize()}: {len(points)} of {total} runs."

    def cancel_curves(self, request: gr.Request = None) -> str:
        with self._lock:
            stop = self._stops.get(getattr(request, "session_hash", None) or "cli")
        if stop is None:
            return "No learning curves are running in this session."
        stop.set()
        return "Stopping after the current step; the points so far stay on the chart."

    @user_errors
    def contextual_vectors(self, word: str, sentences: str, layer: int = 6, encoder: str = "base",
                           model: str | None = None, session_models: dict | None = None):
        lines = (sentences or "").splitlines()
        if len(sentences or "") > self.lab.settings.max_text_chars:
            raise LabInputError(f"The sentences are longer than {self.lab.settings.max_text_chars:,} characters.")
        loaded = (self.lab.model("classification", self._model(model, session_models), session_models)
                  if encoder == "model"
                  else self.lab.model("finetune-base"))
        result = contextual.contextual_vectors(loaded.model, loaded.tokenizer, word, lines, int(layer))
        rows = [f"{i + 1}. {render.short(s)}" for i, s in enumerate(result.sentences)]
        to_static = render.grid_html(rows, ["emb"] + [str(i) for i in range(1, result.num_layers + 1)],
                                     result.to_static, f"'{result.word}' ({' '.join(result.pieces)}) against its "
                                     "static vector, per layer (emb = the embedding layer's output)")
        between = render.grid_html(rows, [str(i + 1) for i in range(len(rows))], result.between,
                                   f"'{result.word}' in each sentence against the others, layer {result.layer}")
        return to_static, between, f"Encoder: **{loaded.name}**, {result.num_layers} layers."

    # ----------------------------------------------------------------------------- layout
    def build(self, session_models: gr.State | None = None) -> None:
        self.session_models = session_models
        gr.Markdown("What fine-tuning does to a pretrained encoder, measured on a dataset: pick one of the samples, "
                    "a run of yours from the Fine-tune tab, or upload a CSV (a text and a label column).")
        with gr.Row():
            choices = self.data_choices()
            # Custom values pass the browser (a session's runs are not in the page's first list); _data checks them.
            self.data = gr.Dropdown(choices, value=choices[0] if choices else None, label="Data",
                                    elem_id="tr-data", info="Your fine-tuned runs appear here after training.",
                                    allow_custom_value=True)
            upload = gr.File(label="Or upload a CSV (used instead of the list)", file_types=[".csv", ".tsv", ".txt"],
                             type="filepath", elem_id="tr-file", height=110)
            self.model = gr.Dropdown(self.lab.choices("classification"),
                                     value=self.lab.default_choice("classification"), label="Fine-tuned model",
                                     elem_id="tr-model",
                                     info="The 'after' side; its base encoder is the 'before' side.",
                                     allow_custom_value=True)  # checked by _model
        state = [session_models] if session_models is not None else []
        slow = lane(self.lab, SLOW)

        gr.Markdown("### Embeddings before and after fine-tuning")
        with gr.Row():
            map_pooling = gr.Radio(POOLING, value="cls", label="Sentence vector")
            projection = gr.Radio(["PCA", "UMAP"] if transfer.umap_available() else ["PCA"], value="PCA", label="Projection",
                                  info="UMAP needs the optional umap-learn package." if not transfer.umap_available() else None)
            map_run = gr.Button("Draw the maps", variant="primary", elem_id="tr-map-run")
        with gr.Row():
            before = gr.ScatterPlot(x="x", y="y", color="label", tooltip=["text", "label"], title="Before fine-tuning",
                                    height=360, elem_id="tr-map-before", x_title="component 1", y_title="component 2")
            after = gr.ScatterPlot(x="x", y="y", color="label", tooltip=["text", "label", "prediction"],
                                   title="After fine-tuning", height=360, elem_id="tr-map-after",
                                   x_title="component 1", y_title="component 2")
        map_info = gr.Markdown(elem_id="tr-map-info")
        explainer(MAP_EXPLAINER)
        map_run.click(self.embedding_map, [self.data, upload, self.model, map_pooling, projection, *state],
                      [before, after, map_info], api_name="embedding_map", **slow)

        gr.Markdown("### A probe per layer")
        with gr.Row():
            probe_pooling = gr.Radio(POOLING, value="mean", label="Sentence vector")
            probe_run = gr.Button("Probe every layer", variant="primary", elem_id="tr-probe-run")
        probe_bars = gr.BarPlot(x="layer", y="accuracy", color="kind", title="Validation accuracy by layer",
                                y_lim=[0, 1], height=320, elem_id="tr-probe", x_label_angle=-30)
        probe_info = gr.Markdown(elem_id="tr-probe-info")
        explainer(PROBE_EXPLAINER)
        probe_run.click(self.layer_probe, [self.data, upload, self.model, probe_pooling, *state],
                        [probe_bars, probe_info], api_name="layer_probe", **slow)

        gr.Markdown("### Learning curves by data size")
        with gr.Row():
            series = gr.CheckboxGroup([(title, key) for key, title in SERIES.items()], value=list(SERIES),
                                      label="Ways of training")
            curves_run = gr.Button("Train the curves", variant="primary", elem_id="tr-curves-run")
            curves_cancel = gr.Button("Cancel", variant="stop", elem_id="tr-curves-cancel")
        curve_plot = gr.HTML(curves_chart([]), elem_id="tr-curves")
        curve_table = gr.Dataframe(curves.curves_frame([]), label="Points", interactive=False,
                                   elem_id="tr-curves-table")
        curves_info = gr.Markdown(elem_id="tr-curves-info")
        explainer(CURVES_EXPLAINER)
        curves_run.click(self.learning_curves, [self.data, upload, series, *state], [curve_plot, curve_table, curves_info],
                         api_name="learning_curves", **training_lane(self.lab))
        curves_cancel.click(self.cancel_curves, None, curves_info, api_name="cancel_learning_curves")

        gr.Markdown("### Contextual vs static vectors")
        with gr.Row():
            word = gr.Textbox("bank", label="Word", elem_id="tr-word", scale=1)
            sentences = gr.Textbox(BANK, label="Sentences that use it, one per line", lines=4, elem_id="tr-sentences",
                                   scale=3)
            with gr.Column(scale=1):
                layer = Slider(0, 24, value=6, step=1, label="Layer for the sentence-by-sentence grid",
                               info="0 = the embeddings; the embedded model has 6 layers.", elem_id="tr-layer")
                encoder = gr.Radio([("pretrained base", "base"), ("the fine-tuned model above", "model")],
                                   value="base", label="Encoder")
                context_run = gr.Button("Compare", variant="primary", elem_id="tr-context-run")
        to_static = gr.HTML(elem_id="tr-to-static")
        between = gr.HTML(elem_id="tr-between")
        context_info = gr.Markdown()
        explainer(CONTEXT_EXPLAINER)
        context_run.click(self.contextual_vectors, [word, sentences, layer, encoder, self.model, *state],
                          [to_static, between, context_info], api_name="contextual_vectors", **lane(self.lab, QUICK))


def curves_chart(points) -> str:
    return render.log_curves_svg([(SERIES[p.series], p.examples, p.accuracy) for p in points],
                                 "Validation accuracy by number of labelled examples")


POOLING_NAMES = {key: f"{label} per sentence" for label, key in POOLING}
