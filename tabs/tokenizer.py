"""Tokenizer tab: WordPiece pieces with ids and offsets, a padded batch, two tokenizers side by side."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from lab import i18n, registry, render
from lab.context import Lab
from lab.errors import LabInputError
from lab.i18n import msg
from lab.lazy import lazy_import
from lab.tokenization import (
    check_text,
    compare_languages,
    count_words,
    marks_word_starts,
    tokenize_batch,
    tokenize_pieces,
    train_wordpiece,
)
from tabs.attention import attention_panel
from tabs.common import QUICK, explainer, lane, model_dropdown, table, user_errors
from tabs.components import Slider
from tabs.i18n import Examples, request_language, t

contextual = lazy_import("lab.contextual")  # torch: imported after the page is served

# The second tokenizer's choice for a vocabulary trained on the spot: the API's value, in English;
# the dropdown shows it in the page's language.
TRAINED_HERE = "WordPiece trained here on the project's paragraphs"
# An example row's tokenizer when it is the tab's default (the embedded encoder's offline, a hub
# model online): filled in when the tab is built.
DEFAULT = None
CHINESE, MULTILINGUAL = "bert-base-chinese", "bert-base-multilingual-cased"  # shipped, online or not

# Per language: what a student of that class would type, with the tokenizer that reads it. The
# Indonesian and Chinese sets read their language with the vocabulary made for it, and once with
# the English one (how a vocabulary that never saw the language cuts it), then an English sentence.
EXAMPLES = {
    "en": [
        ["Unbelievably, I love playing with my dogs!", "", DEFAULT],
        ["The capital of France is Paris.", "What is the capital of France?", DEFAULT],
        ["Thermodynamics is counterintuitive 🤔", "", DEFAULT],
    ],
    "id": [
        ["Saya belajar mengendarai sepeda motor.", "", MULTILINGUAL],
        ["Kucing saya suka tidur di bawah meja.", "Di mana kucing saya suka tidur?", MULTILINGUAL],
        ["Saya belajar mengendarai sepeda motor.", "", DEFAULT],
        ["Unbelievably, I love playing with my dogs!", "", DEFAULT],
    ],
    "zh-TW": [
        ["我正在學騎機車。", "", CHINESE],
        ["我家的貓在追狗。", "誰在追狗？", CHINESE],
        ["我正在學騎機車。", "", DEFAULT],
        ["Unbelievably, I love playing with my dogs!", "", DEFAULT],
    ],
}
# The batch view's lines, the same way: the Chinese course's two sentences differ by one word
# (狗 / 老鼠), so padding shows at the end of the shorter one.
BATCH_EXAMPLES = {
    "en": [
        ["I love dogs.\nTransfer learning starts from a pretrained model.\nHi!", DEFAULT],
        ["Hi!\nThis line is much longer than the others, so it is cut at the max length.", DEFAULT],
    ],
    "id": [
        ["Saya suka anjing.\nTransfer learning dimulai dari model pra-latih.\nHai!", MULTILINGUAL],
        ["Saya suka anjing.\nTransfer learning dimulai dari model pra-latih.\nHai!", DEFAULT],
    ],
    "zh-TW": [
        ["貓追狗\n貓追老鼠", CHINESE],
        ["我喜歡狗。\n遷移學習從預訓練模型開始。\n嗨！", CHINESE],
        ["貓追狗\n貓追老鼠", DEFAULT],
    ],
}


def _with_tokenizer(by_language: dict[str, list], default: str) -> dict[str, list]:
    return {language: [[default if value is DEFAULT else value for value in row] for row in rows]
            for language, rows in by_language.items()}


class TokenizerTab:
    def __init__(self, lab: Lab):
        self.lab = lab

    def _tokenizer(self, model: str | None):
        return self.lab.model("tokenizer", model).tokenizer

    @user_errors
    def tokenize(self, text: str, text_pair: str = "", model: str | None = None):
        check_text(text, self.lab.settings.max_text_chars)
        if text_pair:
            check_text(text_pair, self.lab.settings.max_text_chars, "second text")
        loaded = self.lab.model("tokenizer", model)
        pieces = tokenize_pieces(loaded.tokenizer, text, text_pair or None)
        language = request_language()
        rows = table(
            [
                {"#": p.index, "piece": p.token, "id": p.id, "kind": p.kind,
                 "text": "" if p.segment is None else ("A" if p.segment == 0 else "B"),
                 "chars": "" if p.start is None else f"{p.start}–{p.end}", "source": p.source}
                for p in pieces
            ], language=language,
        )
        words = count_words(text) + count_words(text_pair or "")
        key = "tok.summary_metaspace" if marks_word_starts(loaded.tokenizer) else "tok.summary"
        summary = i18n.text(key, language, tokens=len(pieces), words=words,
                            continuations=sum(p.kind == "continuation" for p in pieces),
                            unknown=sum(p.kind == "unk" for p in pieces), name=loaded.name)
        if loaded.notice:
            summary += f"\n\n⚠️ {i18n.say(loaded.notice, language)}"
        source = render.source_html(text, pieces, 0, language)
        if text_pair:
            source += render.source_html(text_pair, pieces, 1, language)
        return render.pieces_html(pieces, language), source, rows, summary

    @user_errors
    def tokenize_batch(self, lines: str, padding: bool = True, truncation: bool = True,
                       max_length: int = 16, model: str | None = None):
        check_text(lines, self.lab.settings.max_text_chars, "batch")
        split = [line for line in lines.splitlines() if line.strip()]
        if len(split) > self.lab.settings.max_batch_lines:
            raise LabInputError(msg("tok.too_many_lines", lines=len(split), max_lines=self.lab.settings.max_batch_lines))
        rows = tokenize_batch(self._tokenizer(model), split, padding, truncation, int(max_length))
        return render.batch_html(rows), table(
            [
                {"line": i + 1, "words": r.words, "tokens": r.tokens, "truncated": r.truncated,
                 "input_ids": " ".join(map(str, r.input_ids)),
                 "attention_mask": " ".join(map(str, r.attention_mask)),
                 "token_type_ids": " ".join(map(str, r.token_type_ids))}
                for i, r in enumerate(rows)
            ], language=request_language(),
        )

    @user_errors
    def compare(self, text: str, second: str = TRAINED_HERE, vocab_size: int = 300, model: str | None = None):
        check_text(text, self.lab.settings.max_text_chars)
        first = self.lab.model("tokenizer", model)
        language = request_language()
        if not second or second == TRAINED_HERE:
            other = train_wordpiece(self.lab.settings.assets_dir / "corpus" / "wordpiece_corpus.txt", int(vocab_size))
            other_name = i18n.text("tok.trained_name", language, size=len(other))
        else:
            loaded = self.lab.model("tokenizer", second)
            other, other_name = loaded.tokenizer, loaded.name
        a = tokenize_pieces(first.tokenizer, text)
        b = tokenize_pieces(other, text)
        summary = i18n.text("tok.compare_summary", language, first=first.name, first_tokens=len(a),
                            second=other_name, second_tokens=len(b))
        return render.pieces_html(a, language), render.pieces_html(b, language), summary

    @user_errors
    def mask_effect(self, lines: str, max_length: int = 16, model: str | None = None):
        """The batch through the encoder with and without its attention mask."""
        check_text(lines, self.lab.settings.max_text_chars, "batch")
        ref = self.lab.resolve("tokenizer", model)
        if ref.kind == "local" and ref.id in registry.shipped_tokenizers(self.lab.settings).values():
            raise LabInputError(msg("tok.tokenizer_only", name=ref.display, embedded=registry.EMBEDDED_NAME))
        loaded = self.lab.model("finetune-base", None if ref.kind == "embedded" else model)
        split = lines.splitlines()[: self.lab.settings.max_batch_lines]
        rows = contextual.mask_effect(loaded.model, loaded.tokenizer, split, max(8, int(max_length)))
        padded = [r for r in rows if r.pads]
        note = i18n.text("tok.mask_note", request_language(), with_mask=f"{min(r.with_mask for r in rows):.4f}",
                         without_mask=f"{min((r.without_mask for r in padded), default=1.0):.3f}", name=loaded.name)
        return table([{"line": r.line, "[PAD]s": r.pads, "cosine, mask on": round(r.with_mask, 4),
                       "cosine, mask off": round(r.without_mask, 4)} for r in rows], language=request_language()), note

    @user_errors
    def languages(self, english: str, indonesian: str, chinese: str, tokenizers: list[str] | None = None):
        """One sentence in several languages through several vocabularies."""
        sentences = [(lang, text) for lang, text in (("English", english), ("Bahasa Indonesia", indonesian),
                                                     ("中文", chinese)) if (text or "").strip()]
        if not sentences or not tokenizers:
            raise LabInputError(msg("tok.no_sentence"))
        for _, text in sentences:
            check_text(text, self.lab.settings.max_text_chars)
        loaded = {name: self.lab.model("tokenizer", name).tokenizer for name in tokenizers}
        rows = compare_languages(loaded, sentences)
        frame = [{"language": r.language, "tokenizer": r.tokenizer, "words": r.words, "pieces": r.pieces,
                  "pieces per word": round(r.per_word, 2), "[UNK]": r.unknown,
                  "[UNK] share": round(r.unknown_rate, 3)} for r in rows]
        # one bar per (language, tokenizer), side by side (bars of one x would stack), in the table's order
        bars = pd.DataFrame([{**row, "bar": f"{row['language']} / {row['tokenizer']}"} for row in frame])
        return table(frame, language=request_language()), gr.update(value=bars, sort=list(bars["bar"]))

    def localize(self, language: str) -> list:
        """The examples, and the chart's axis titles (Gradio translates its title only), in the page's language."""
        return [self.examples.localize(language), self.batch_examples.localize(language),
                gr.update(x_title=i18n.text("tok.chart_x", language), y_title=i18n.text("tok.chart_y", language))]

    def build(self, session_models: gr.State | None = None) -> None:
        gr.Markdown(t("tok.intro"))
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label=t("tok.text"), value="Unbelievably, I love playing with my dogs!", lines=2,
                                  elem_id="tok-text")
                pair = gr.Textbox(label=t("tok.pair"), placeholder=t("tok.pair_placeholder"), value="",
                                  elem_id="tok-pair")
            with gr.Column(scale=1):
                model = model_dropdown(self.lab, "tokenizer", t("tok.tokenizer"))
                run = gr.Button(t("tok.run"), variant="primary", elem_id="tok-run")
        self.lesson_inputs = {"tok-text": text}  # what the Lessons tab may fill in
        summary = gr.Markdown(elem_id="tok-summary")
        chips = gr.HTML(label=t("tok.pieces"))
        source = gr.HTML(label=t("tok.source"))
        with gr.Accordion(t("tok.pieces_table"), open=False):
            pieces_table = gr.Dataframe(interactive=False, wrap=True)
        default = self.lab.default_choice("tokenizer")
        self.examples = Examples(_with_tokenizer(EXAMPLES, default), [text, pair, model])
        explainer(t("tok.explainer"))
        event = dict(fn=self.tokenize, inputs=[text, pair, model], outputs=[chips, source, pieces_table, summary],
                     **lane(self.lab, QUICK))
        run.click(**event, api_name="tokenize")
        text.submit(**event, api_visibility="private")
        attention_panel(self.lab, "tokenizer", text, text_pair=pair)

        gr.Markdown(t("tok.batch_title"))
        with gr.Row():
            lines = gr.Textbox(label=t("tok.lines"), lines=4, elem_id="batch-lines",
                               value="I love dogs.\nTransfer learning starts from a pretrained model.\nHi!")
            with gr.Column():
                padding = gr.Checkbox(True, label=t("tok.padding"))
                truncation = gr.Checkbox(True, label=t("tok.truncation"))
                max_length = Slider(4, 128, value=16, step=1, label=t("tok.max_length"))
                batch_run = gr.Button(t("tok.batch_run"), elem_id="batch-run")
        self.batch_examples = Examples(_with_tokenizer(BATCH_EXAMPLES, default), [lines, model])
        batch_grid = gr.HTML()
        batch_table = gr.Dataframe(interactive=False, wrap=True, elem_id="batch-table")
        batch_run.click(self.tokenize_batch, [lines, padding, truncation, max_length, model],
                        [batch_grid, batch_table], api_name="tokenize_batch", **lane(self.lab, QUICK))
        with gr.Row():
            mask_run = gr.Button(t("tok.mask_run"), size="sm", elem_id="mask-run")
        mask_note = gr.Markdown(elem_id="mask-note")
        mask_table = gr.Dataframe(interactive=False, wrap=True, elem_id="mask-table")
        mask_run.click(self.mask_effect, [lines, max_length, model], [mask_table, mask_note],
                       api_name="attention_mask_effect", **lane(self.lab, QUICK))

        gr.Markdown(t("tok.languages_title"))
        with gr.Row():
            english = gr.Textbox("I am learning to ride a motorcycle.", label=t("tok.lang.english"), elem_id="lang-en")
            indonesian = gr.Textbox("Saya belajar mengendarai sepeda motor.", label=t("tok.lang.indonesian"),
                                    elem_id="lang-id")
            chinese = gr.Textbox("我正在學騎機車。", label=t("tok.lang.chinese"), elem_id="lang-zh")
        with gr.Row():
            # Ticked: every vocabulary but the multilingual encoder's, which loads (and converts, the first
            # time) only when someone ticks it.
            vocabularies = gr.CheckboxGroup(self.lab.choices("tokenizer"),
                                            value=[c for c in self.lab.choices("tokenizer") if c != registry.MULTILINGUAL_NAME],
                                            label=t("tok.tokenizers"), elem_id="lang-tokenizers")
            lang_run = gr.Button(t("tok.lang_run"), elem_id="lang-run")
        # x and y name the table's columns (the API's data, in English); the titles are what is shown.
        lang_chart = gr.BarPlot(x="bar", y="pieces per word", color="tokenizer", height=300, x_label_angle=-30,
                                x_title=i18n.text("tok.chart_x", i18n.DEFAULT),
                                y_title=i18n.text("tok.chart_y", i18n.DEFAULT),
                                title=t("tok.chart_title"), elem_id="lang-chart")
        lang_table = gr.Dataframe(interactive=False, elem_id="lang-table")
        explainer(t("tok.languages_explainer"))
        lang_run.click(self.languages, [english, indonesian, chinese, vocabularies], [lang_table, lang_chart],
                       api_name="compare_languages", **lane(self.lab, QUICK))

        gr.Markdown(t("tok.compare_title"))
        second_choices = [(t("tok.trained_here"), TRAINED_HERE)] + [(c, c) for c in self.lab.choices("tokenizer")]
        with gr.Row():
            second = gr.Dropdown(second_choices, value=TRAINED_HERE, label=t("tok.second"),
                                 allow_custom_value=self.lab.hub.online)
            vocab = Slider(60, 2000, value=300, step=10, label=t("tok.vocab"), info=t("tok.vocab_info"))
            compare_run = gr.Button(t("tok.compare_run"), elem_id="cmp-run")
        compare_summary = gr.Markdown()
        with gr.Row():
            left = gr.HTML()
            right = gr.HTML()
        compare_run.click(self.compare, [text, second, vocab, model], [left, right, compare_summary],
                          api_name="compare_tokenizers", **lane(self.lab, QUICK))
        self.localized_outputs = [self.examples.dataset, self.batch_examples.dataset, lang_chart]  # what localize() updates
