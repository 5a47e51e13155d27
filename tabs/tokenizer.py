"""Tokenizer tab: WordPiece pieces with ids and offsets, a padded batch, two tokenizers side by side."""

from __future__ import annotations

import gradio as gr

from lab import render
from lab.context import Lab
from lab.errors import LabInputError
from lab.tokenization import check_text, tokenize_batch, tokenize_pieces, train_wordpiece
from tabs.attention import attention_panel
from tabs.common import QUICK, explainer, lane, model_dropdown, table, user_errors
from tabs.components import Slider

TRAINED_HERE = "WordPiece trained here on the project's paragraphs"

EXPLAINER = """
**Sub-words.** BERT never sees words, only pieces from a fixed vocabulary of about 30,000.
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
        words = len(text.split()) + len((text_pair or "").split())
        summary = (
            f"**{len(pieces)} tokens** for **{words} words** "
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

        gr.Markdown("### Two tokenizers side by side")
        second_choices = [TRAINED_HERE] + (self.lab.choices("tokenizer") if self.lab.hub.online else [])
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
