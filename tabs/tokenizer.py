"""Tokenizer tab: WordPiece pieces with ids and offsets, a padded batch, two tokenizers side by side."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from lab import registry, render
from lab.context import Lab
from lab.errors import LabInputError
from lab.lazy import lazy_import
from lab.tokenization import (
    check_text,
    compare_languages,
    count_words,
    tokenize_batch,
    tokenize_pieces,
    train_wordpiece,
)
from tabs.attention import attention_panel
from tabs.common import QUICK, explainer, lane, model_dropdown, table, user_errors
from tabs.components import Slider

contextual = lazy_import("lab.contextual")  # torch: imported after the page is served

TRAINED_HERE = "WordPiece trained here on the project's paragraphs"
LANGUAGES_EXPLAINER = """
A tokenizer's vocabulary is built from the text of its pre-training. English BERT's ~30,000
pieces were learned from English: an Indonesian sentence falls into many short pieces, and a
Chinese one keeps only the characters English text happened to contain, the rest `[UNK]`.
The Chinese vocabulary (21,128 pieces) has a piece for each common character. Multilingual BERT
shares one vocabulary of 119,547 pieces over 104 languages, so every language gets pieces of
its own, and one model can be fine-tuned in one language and used in another (crosslingual
transfer: mBERT, XLM-R). More pieces per word means longer inputs and less of each word in one
vector; `[UNK]` means the model never sees the word at all.
"""

EXPLAINER = """
**Sub-words.** BERT never sees words, only pieces from a fixed vocabulary (about 30,000 for
English BERT; 21,128 for Chinese BERT, 119,547 for multilingual BERT).
Frequent words stay whole; rare ones are split, and a piece that continues a word starts with
`##` (`un ##bel ##ie ##va ##bly`). Anything the vocabulary can't spell becomes `[UNK]`.

**Special tokens.** `[CLS]` starts every input: its final vector summarises the whole text and
feeds the classifier. `[SEP]` ends a text, and separates two texts (question and context, or
two sentences for next-sentence prediction); `token_type_ids` say which text a piece belongs to.

**Padding and the attention mask.** A batch is a rectangle, so shorter lines are filled with
`[PAD]`. The attention mask is 1 for real pieces and 0 for padding, so the model ignores the
padding instead of reading it as text. Truncation cuts lines longer than the max length.

**Vocabulary size.** Compare with a WordPiece vocabulary trained here on a few paragraphs:
with a small vocabulary almost every word falls into pieces; a larger one keeps more whole.
"""


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
        rows = table(
            [
                {"#": p.index, "piece": p.token, "id": p.id, "kind": p.kind,
                 "text": "" if p.segment is None else ("A" if p.segment == 0 else "B"),
                 "chars": "" if p.start is None else f"{p.start}–{p.end}", "source": p.source}
                for p in pieces
            ]
        )
        words = count_words(text) + count_words(text_pair or "")
        summary = (
            f"**{len(pieces)} tokens** for **{words} words** (a Chinese or Japanese character counts as one) "
            f"({sum(p.kind == 'continuation' for p in pieces)} ## pieces, "
            f"{sum(p.kind == 'unk' for p in pieces)} [UNK]). Tokenizer: **{loaded.name}**."
        )
        if loaded.notice:
            summary += f"\n\n⚠️ {loaded.notice}"
        source = render.source_html(text, pieces, 0)
        if text_pair:
            source += render.source_html(text_pair, pieces, 1)
        return render.pieces_html(pieces), source, rows, summary

    @user_errors
    def tokenize_batch(self, lines: str, padding: bool = True, truncation: bool = True,
                       max_length: int = 16, model: str | None = None):
        check_text(lines, self.lab.settings.max_text_chars, "batch")
        split = [line for line in lines.splitlines() if line.strip()]
        if len(split) > self.lab.settings.max_batch_lines:
            raise LabInputError(f"The batch has {len(split)} lines; use at most {self.lab.settings.max_batch_lines}.")
        rows = tokenize_batch(self._tokenizer(model), split, padding, truncation, int(max_length))
        return render.batch_html(rows), table(
            [
                {"line": i + 1, "words": r.words, "tokens": r.tokens, "truncated": r.truncated,
                 "input_ids": " ".join(map(str, r.input_ids)),
                 "attention_mask": " ".join(map(str, r.attention_mask)),
                 "token_type_ids": " ".join(map(str, r.token_type_ids))}
                for i, r in enumerate(rows)
            ]
        )

    @user_errors
    def compare(self, text: str, second: str = TRAINED_HERE, vocab_size: int = 300, model: str | None = None):
        check_text(text, self.lab.settings.max_text_chars)
        first = self.lab.model("tokenizer", model)
        if not second or second == TRAINED_HERE:
            other = train_wordpiece(self.lab.settings.assets_dir / "corpus" / "wordpiece_corpus.txt", int(vocab_size))
            other_name = f"WordPiece trained here, vocabulary {len(other)}"
        else:
            loaded = self.lab.model("tokenizer", second)
            other, other_name = loaded.tokenizer, loaded.name
        a = tokenize_pieces(first.tokenizer, text)
        b = tokenize_pieces(other, text)
        summary = f"**{first.name}**: {len(a)} tokens · **{other_name}**: {len(b)} tokens"
        return render.pieces_html(a), render.pieces_html(b), summary

    @user_errors
    def mask_effect(self, lines: str, max_length: int = 16, model: str | None = None):
        """The batch through the encoder with and without its attention mask."""
        check_text(lines, self.lab.settings.max_text_chars, "batch")
        ref = self.lab.resolve("tokenizer", model)
        if ref.kind == "local" and ref.id in registry.shipped_tokenizers(self.lab.settings).values():
            raise LabInputError(f"{ref.display} ships as a tokenizer only (no model weights here): pick the "
                                f"{registry.EMBEDDED_NAME} tokenizer to see what the mask changes.")
        loaded = self.lab.model("finetune-base", None if ref.kind == "embedded" else model)
        split = lines.splitlines()[: self.lab.settings.max_batch_lines]
        rows = contextual.mask_effect(loaded.model, loaded.tokenizer, split, max(8, int(max_length)))
        padded = [r for r in rows if r.pads]
        note = (f"With the mask every line's [CLS] vector is the one it gets alone (cosine ≥ "
                f"{min(r.with_mask for r in rows):.4f}); without it, the padded lines drift to "
                f"{min((r.without_mask for r in padded), default=1.0):.3f}: the model reads [PAD] as text. "
                f"Encoder: **{loaded.name}**.")
        return table([{"line": r.line, "[PAD]s": r.pads, "cosine, mask on": round(r.with_mask, 4),
                       "cosine, mask off": round(r.without_mask, 4)} for r in rows]), note

    @user_errors
    def languages(self, english: str, indonesian: str, chinese: str, tokenizers: list[str] | None = None):
        """One sentence in several languages through several vocabularies."""
        sentences = [(lang, text) for lang, text in (("English", english), ("Bahasa Indonesia", indonesian),
                                                     ("中文", chinese)) if (text or "").strip()]
        if not sentences or not tokenizers:
            raise LabInputError("Write at least one sentence and tick at least one tokenizer.")
        for _, text in sentences:
            check_text(text, self.lab.settings.max_text_chars)
        loaded = {name: self.lab.model("tokenizer", name).tokenizer for name in tokenizers}
        rows = compare_languages(loaded, sentences)
        frame = [{"language": r.language, "tokenizer": r.tokenizer, "words": r.words, "pieces": r.pieces,
                  "pieces per word": round(r.per_word, 2), "[UNK]": r.unknown,
                  "[UNK] share": round(r.unknown_rate, 3)} for r in rows]
        # one bar per (language, tokenizer), side by side (bars of one x would stack), in the table's order
        bars = pd.DataFrame([{**row, "bar": f"{row['language']} / {row['tokenizer']}"} for row in frame])
        return table(frame), gr.update(value=bars, sort=list(bars["bar"]))

    def build(self, session_models: gr.State | None = None) -> None:
        gr.Markdown("Type a sentence and see the pieces BERT reads, with their ids and where they came from.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", value="Unbelievably, I love playing with my dogs!", lines=2,
                                  elem_id="tok-text")
                pair = gr.Textbox(label="Second text (optional: a sentence pair as BERT sees it for QA or NSP)",
                                  placeholder="e.g. Where do the dogs play?", value="", elem_id="tok-pair")
            with gr.Column(scale=1):
                model = model_dropdown(self.lab, "tokenizer", "Tokenizer")
                run = gr.Button("Tokenize", variant="primary", elem_id="tok-run")
        self.lesson_inputs = {"tok-text": text}  # what the Lessons tab may fill in
        summary = gr.Markdown(elem_id="tok-summary")
        chips = gr.HTML(label="Pieces")
        source = gr.HTML(label="Where each piece came from")
        with gr.Accordion("Pieces as a table", open=False):
            pieces_table = gr.Dataframe(interactive=False, wrap=True)
        gr.Examples(
            [["Unbelievably, I love playing with my dogs!", ""],
             ["The capital of France is Paris.", "What is the capital of France?"],
             ["Thermodynamics is counterintuitive 🤔", ""]],
            [text, pair],
        )
        explainer(EXPLAINER)
        event = dict(fn=self.tokenize, inputs=[text, pair, model], outputs=[chips, source, pieces_table, summary],
                     **lane(self.lab, QUICK))
        run.click(**event, api_name="tokenize")
        text.submit(**event, api_visibility="private")
        attention_panel(self.lab, "tokenizer", text, text_pair=pair)

        gr.Markdown("### A batch: padding, truncation and the attention mask")
        with gr.Row():
            lines = gr.Textbox(label="One sentence per line", lines=4, elem_id="batch-lines",
                               value="I love dogs.\nTransfer learning starts from a pretrained model.\nHi!")
            with gr.Column():
                padding = gr.Checkbox(True, label="Pad to the longest line")
                truncation = gr.Checkbox(True, label="Truncate to max length")
                max_length = Slider(4, 128, value=16, step=1, label="Max length (tokens)")
                batch_run = gr.Button("Tokenize batch", elem_id="batch-run")
        batch_grid = gr.HTML()
        batch_table = gr.Dataframe(interactive=False, wrap=True, elem_id="batch-table")
        batch_run.click(self.tokenize_batch, [lines, padding, truncation, max_length, model],
                        [batch_grid, batch_table], api_name="tokenize_batch", **lane(self.lab, QUICK))
        with gr.Row():
            mask_run = gr.Button("What if the attention mask is dropped?", size="sm", elem_id="mask-run")
        mask_note = gr.Markdown(elem_id="mask-note")
        mask_table = gr.Dataframe(interactive=False, wrap=True, elem_id="mask-table")
        mask_run.click(self.mask_effect, [lines, max_length, model], [mask_table, mask_note],
                       api_name="attention_mask_effect", **lane(self.lab, QUICK))

        gr.Markdown("### One sentence, several languages, several vocabularies")
        with gr.Row():
            english = gr.Textbox("I am learning to ride a motorcycle.", label="English", elem_id="lang-en")
            indonesian = gr.Textbox("Saya belajar mengendarai sepeda motor.", label="Bahasa Indonesia",
                                    elem_id="lang-id")
            chinese = gr.Textbox("我正在學騎機車。", label="中文", elem_id="lang-zh")
        with gr.Row():
            vocabularies = gr.CheckboxGroup(self.lab.choices("tokenizer"), value=self.lab.choices("tokenizer"),
                                            label="Tokenizers", elem_id="lang-tokenizers")
            lang_run = gr.Button("Compare the languages", elem_id="lang-run")
        lang_chart = gr.BarPlot(x="bar", y="pieces per word", color="tokenizer", height=300, x_label_angle=-30,
                                x_title="language / tokenizer",
                                title="Pieces per word (more = the vocabulary knows the language less)",
                                elem_id="lang-chart")
        lang_table = gr.Dataframe(interactive=False, elem_id="lang-table")
        explainer(LANGUAGES_EXPLAINER)
        lang_run.click(self.languages, [english, indonesian, chinese, vocabularies], [lang_table, lang_chart],
                       api_name="compare_languages", **lane(self.lab, QUICK))

        gr.Markdown("### Two tokenizers side by side")
        second_choices = [TRAINED_HERE] + self.lab.choices("tokenizer")
        with gr.Row():
            second = gr.Dropdown(second_choices, value=TRAINED_HERE, label="Second tokenizer",
                                 allow_custom_value=self.lab.hub.online)
            vocab = Slider(60, 2000, value=300, step=10, label="Vocabulary size (trained here)",
                              info="Small vocabularies split more words into ## pieces.")
            compare_run = gr.Button("Compare", elem_id="cmp-run")
        compare_summary = gr.Markdown()
        with gr.Row():
            left = gr.HTML()
            right = gr.HTML()
        compare_run.click(self.compare, [text, second, vocab, model], [left, right, compare_summary],
                          api_name="compare_tokenizers", **lane(self.lab, QUICK))
