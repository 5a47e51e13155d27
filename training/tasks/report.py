"""A run as the command line reports it: its data in one line, then the finished run's scores.

What every task reports alike (time, parameters, the kept checkpoint, the test scores, where the files
are) is written once in ``summary_lines``; what differs is each task's report class below, named by its
``report`` in the task registry.
"""

from __future__ import annotations

from training.tasks import registry


def _score_table(first: str, rows: dict, width: int) -> list[str]:
    lines = [f"{first:<{width}}  precision  recall     f1  support"]
    for name, row in rows.items():
        lines.append(f"{name:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  "
                     f"{row['support']:7d}")
    return lines


class ClassificationReport:
    unit = "examples"  # what the throughput counts
    test_count = ("support", "examples")  # the test report's count, and what it counts

    @staticmethod
    def data(data) -> str:
        return (f"examples, text column {data.text_column!r}, label column {data.label_column!r}, "
                f"labels {data.train.label_names}")

    @staticmethod
    def details(result) -> list[str]:
        report = result.val_report
        lines = []
        if result.class_weights:
            lines.append("class weights: " + ", ".join(f"{name} {w:.3f}" for name, w in
                                                        zip(report["labels"], result.class_weights)))
        return lines + _score_table("label", report["per_class"], max(len(name) for name in report["labels"]))


class NerReport:
    unit = "sentences"
    test_count = ("sentences", "sentences")

    @staticmethod
    def data(data) -> str:
        notes = "".join(f"\nnote: {n}" for n in data.train.notes)
        return f"sentences, tags {data.train.label_names}{notes}"

    @staticmethod
    def details(result) -> list[str]:
        report = result.val_report
        width = max([len("type")] + [len(t) for t in report["per_type"]])
        return _score_table("type", report["per_type"], width) + [
            f"(strict IOB2 entities: {report['support']} in {report['sentences']} validation sentences; "
            f"{report['truncated_sentences']} cut by --max-length)"]


class QaReport:
    unit = "windows"
    test_count = ("questions", "questions")

    @staticmethod
    def data(data) -> str:
        contexts = {e.context for e in data.train}
        shared = len(contexts & {e.context for e in data.val})
        return f"questions ({len(contexts)} training contexts, {shared} of them also in validation)"

    @staticmethod
    def details(result) -> list[str]:
        report = result.val_report
        return [f"{report['questions']} validation questions in {report['windows']} windows (max length "
                f"{report['max_length']}, stride {report['stride']}); {report['answers_outside_windows']} answer(s) "
                "fit no window whole"]


def data_line(task: str, data) -> str:
    """The split data (a reader's ``Prepared``) in one line: sizes, then what the task's reader found."""
    sizes = f"{len(data.train)} train / {len(data.val)} validation" + (f" / {len(data.test)} test" if data.test else "")
    return f"data: {sizes} {registry.get(task).report_class().data(data)}"


def summary_lines(result) -> list[str]:
    """The final report: best validation metrics, the task's own scores, test metrics, where things are."""
    task = result.extra.get("task", "classification")
    spec, best = registry.get(task), result.best_metrics
    report = spec.report_class()
    lines = [f"note: {result.extra['notice']}"] if result.extra.get("notice") else []
    lines += [
        f"done in {result.seconds:.1f}s ({result.examples_per_second:.1f} {report.unit}/s; {result.precision_note})"
        + (f", stopped early: {result.stopped_early}" if result.stopped_early else ""),
        f"trainable parameters {result.trainable_params:,} of {result.total_params:,} "
        f"({100 * result.trainable_params / max(1, result.total_params):.2f}%)",
        f"best checkpoint: step {best['step']} (epoch {best['epoch']:.2f})  "
        + "  ".join(f"{k} {best[k]:.4f}" for k in spec.metrics) + f"  val_loss {best['val_loss']:.4f}",
    ]
    lines += report.details(result)
    if result.test_report is not None:
        test = result.test_report
        count, counted = report.test_count
        lines.append("test: " + "  ".join(f"{k} {test[k]:.4f}" for k in spec.metrics) + f"  ({test[count]} {counted})")
    lines.append(f"model: {result.best_dir}")
    lines.append(f"metrics: {result.output_dir / 'metrics.json'}")
    return lines
