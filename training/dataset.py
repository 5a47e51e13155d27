"""The labelled data a classification run trains on, after loading and checks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[int]  # indices into label_names
    label_names: list[str]  # id2label order; written into the model config
    # Row number of each example in the file it came from (1-based, header excluded), so
    # misclassified examples can be shown with their origin.
    rows: list[int] = field(default_factory=list)

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError("texts and labels differ in length")
        if not self.rows:
            self.rows = list(range(1, len(self.texts) + 1))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> TextDataset:
        return TextDataset([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                           self.label_names, [self.rows[i] for i in indices])

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    def class_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.label_names, 0)
        for label in self.labels:
            counts[self.label_names[label]] += 1
        return counts
