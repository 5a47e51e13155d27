"""What every tab shares: turning the lab's user errors into gr.Error, naming the model, and an
event's outputs by name."""

from __future__ import annotations

import collections
import functools
import inspect
import logging
from typing import TYPE_CHECKING

import anyio
import gradio as gr

from lab import i18n, lazy
from lab.errors import LabInputError, ModelLoadError, NoHeadAvailable, TrainingFailed
from lab.i18n import msg
from lab.registry import embedded_head_dir, no_head_message
from lab.tokenization import check_unicode
from tabs.i18n import request_language, t

if TYPE_CHECKING:
    from lab.loading import LoadedModel

log = logging.getLogger(__name__)

USER_ERRORS = (LabInputError, NoHeadAvailable, ModelLoadError, TrainingFailed)

# Queue lanes (Gradio concurrency groups): answers that take tens of milliseconds never wait
# behind ones that take seconds (QA windows, saliency, model cards, data checks). A lane runs
# Settings.quick_workers / slow_workers events at once; trainings have their own lane ("training").
QUICK, SLOW = "quick", "slow"


def lane(lab, name: str) -> dict:
    """The event listener arguments that put an event in lane ``name``."""
    workers = {QUICK: lab.settings.quick_workers, SLOW: lab.settings.slow_workers}[name]
    return {"concurrency_id": name, "concurrency_limit": workers}


def training_lane(lab) -> dict:
    """The lane of events that train. Runs go to worker processes that take them in order and say
    where each waits (training/runs/backends.py), so twice as many handlers as workers are let in: one
    prepares its data while another's run trains. In the server's own process, one per training."""
    limit = lab.settings.max_concurrent_trainings
    if lab.settings.train_backend != "thread" or lab.settings.ray_address:
        limit *= 2
    return {"concurrency_id": "training", "concurrency_limit": limit}


def named_outputs(typename: str, names: str) -> type:
    """A tuple class for one event's outputs, its fields named in the order the API returns them.

    The same class maps names to components and values, so the order is written once:
    ``Outputs.wire(status=status_box, ...)`` is the event's ``outputs=`` list (every name given),
    and a handler returns ``Outputs(status="...")``: an output it does not name stays as it is in the
    page (``gr.skip()``). A tuple, so Gradio and an API caller see the positional values as before,
    and a test reads ``answer.status`` without building a page."""
    base = collections.namedtuple(typename, names.split())

    class Outputs(base):
        __slots__ = ()

        def __new__(cls, **values):
            unknown = set(values) - set(cls._fields)
            if unknown:
                raise TypeError(f"{typename} has no output {', '.join(sorted(unknown))}")
            # a fresh skip per output: Gradio may edit an update dict it is handed
            return super().__new__(cls, *(values[f] if f in values else gr.skip() for f in cls._fields))

        @classmethod
        def wire(cls, **components) -> list:
            """The event's output components in the API's order; every output named."""
            missing = [f for f in cls._fields if f not in components]
            if missing:
                raise TypeError(f"{typename}.wire needs {', '.join(missing)}")
            return list(cls(**components))

    Outputs.__name__ = Outputs.__qualname__ = typename
    return Outputs


def table(rows: list[dict], columns: list[str] | None = None, language: str | None = None) -> dict:
    """Rows as a ``gr.Dataframe`` value, without pandas: a DataFrame built and taken apart again
    for every answer was ~15% of the server's CPU for a /tokenize call (bench/load.py).

    The headers are the rows' keys (English, as the API documents them); with ``language`` they are
    said in it where ``col.<header>`` has words (assets/i18n/<language>/columns.json)."""
    keys = list(columns if columns is not None else rows[0] if rows else [])
    return {"headers": [column_name(key, language) for key in keys], "data": [[row.get(h) for h in keys] for row in rows]}


def column_name(key: str, language: str | None) -> str:
    """A table column's header in ``language``: its words from the catalogs, or the key itself."""
    if not language or f"col.{key}" not in i18n.catalog(i18n.DEFAULT):
        return key
    return i18n.text(f"col.{key}", language)


def _check_strings(args: tuple, kwargs: dict) -> None:
    """Every text a request carries is real Unicode before any work starts (lab.tokenization)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, str):
            check_unicode(value)


# What a handler's plain annotations let through, and how a message names it. Gradio hands a
# handler what an API caller sent when a component does not convert it (a list for a column name,
# a string for a checkbox): refused here by the parameter's name, before the handler runs. None is
# let through for text: an empty dropdown sends it, and the handlers read it as "not chosen".
_KINDS = {"str": ((str, type(None)), "shared.type.text"), "bool": ((bool,), "shared.type.bool"),
          "int": ((int, float), "shared.type.number"), "float": ((int, float), "shared.type.number")}


def _type_checks(fn) -> dict[str, tuple[tuple, str]]:
    """{parameter: (accepted types, words for them)} for the parameters annotated ``str``, ``bool``,
    ``int`` or ``float`` (``| None`` added); other annotations are the handler's to check."""
    checks = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        annotation = parameter.annotation
        words = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
        parts = [part.strip() for part in words.split("|")]
        kinds = [_KINDS[part] for part in parts if part in _KINDS]
        if not kinds or len(kinds) + parts.count("None") != len(parts):
            continue
        accepted = tuple(t for types, _ in kinds for t in types) + ((type(None),) if "None" in parts else ())
        checks[name] = (accepted, kinds[0][1])
    return checks


def _check_types(signature: inspect.Signature, checks: dict, args: tuple, kwargs: dict) -> None:
    try:
        bound = signature.bind_partial(*args, **kwargs).arguments
    except TypeError:  # not called as declared: the handler's own error says so
        return
    for name, (accepted, kind) in checks.items():
        if name in bound and not isinstance(bound[name], accepted):
            got = bound[name]
            shown = type(got).__name__ if isinstance(got, dict | list | tuple | set) else repr(got)[:60]
            raise LabInputError(msg("shared.type.wrong", name=name, kind=msg(kind), got=shown))


def _refuse(exc: Exception, fn) -> gr.Error:
    """The user's mistake as a message in the UI, and one line in the log (no traceback)."""
    log.info("refused %s: %s", fn.__name__, str(exc).splitlines()[0][:200])
    message = exc.args[0] if len(exc.args) == 1 else str(exc)
    return gr.Error(i18n.as_html(message, request_language()), title=i18n.text("shared.error_title", request_language()),
                    print_exception=False)


def expected(message, language: str | None = None) -> str:
    """An expected situation (a feature the offline lab lacks, a step not taken yet), said as
    information: a blue toast (gr.Info, not a red Error) and the same words for the handler to
    show inline, in the request's language."""
    text = i18n.say(message, language or request_language())
    gr.Info(text)
    return f"ℹ️ {text}"


def user_errors(fn):
    """Show the lab's own errors as a clear message in the UI instead of a traceback; a value of the
    wrong type for a parameter annotated str, bool, int or float is one of them. The handler starts
    once the server's background imports are done (lab.lazy.ready), so a request that comes right
    after the page is served waits for them instead of importing beside them."""
    signature, checks = inspect.signature(fn), _type_checks(fn)

    if inspect.isasyncgenfunction(fn):  # streaming handlers that await: the wait for imports too

        @functools.wraps(fn)
        async def async_gen_wrapper(*args, **kwargs):
            try:
                _check_types(signature, checks, args, kwargs)
                _check_strings(args, kwargs)
                await anyio.to_thread.run_sync(lazy.ready)
                async for update in fn(*args, **kwargs):
                    yield update
            except USER_ERRORS as exc:
                raise _refuse(exc, fn) from exc

        return async_gen_wrapper

    if inspect.isgeneratorfunction(fn):  # streaming handlers: errors surface while iterating

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                _check_types(signature, checks, args, kwargs)
                _check_strings(args, kwargs)
                lazy.ready()
                yield from fn(*args, **kwargs)
            except USER_ERRORS as exc:
                raise _refuse(exc, fn) from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            _check_types(signature, checks, args, kwargs)
            _check_strings(args, kwargs)
            lazy.ready()
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            raise _refuse(exc, fn) from exc

    return wrapper


def model_line(loaded: LoadedModel, seconds: float | None = None, language: str | None = None) -> str:
    """'Answered by ...' under every result, with the fallback notice when there is one, in the
    language of the request (English where there is none, as for API clients)."""
    language = language or request_language()
    kind = i18n.text(f"shared.kind.{loaded.ref.kind}", language)
    timing = i18n.text("shared.timing", language, ms=f"{seconds * 1000:.0f}") if seconds is not None else ""
    precision = f" · {loaded.precision}" if loaded.model is not None else ""
    line = i18n.text("shared.answered_by", language, name=loaded.name, kind=kind, timing=timing, precision=precision)
    if loaded.notice:
        line += f"\n\n⚠️ {i18n.say(loaded.notice, language)}"
    return line


def model_dropdown(lab, task: str, label=None) -> gr.Dropdown:
    """The registry's models for a task; typed hub ids are accepted only when the hub is up."""
    return gr.Dropdown(
        choices=lab.choices(task),
        value=lab.default_choice(task),
        label=label if label is not None else t("shared.model"),
        allow_custom_value=lab.hub.online,
        info=t("shared.model_info"),
    )


def explainer(markdown) -> None:
    """The tab's "What am I looking at?": ``markdown`` is usually ``t("<tab>.explainer")``."""
    with gr.Accordion(t("shared.what_am_i_looking_at"), open=False):
        gr.Markdown(markdown)


def head_banner(lab, task: str) -> None:
    """Above the tab: say plainly when the embedded encoder has no trained head for it, or show
    the card of the head the project ships (which data, which score)."""
    if lab.head_missing(task):
        message = no_head_message(task)
        # A message without blanks is translated in the browser, as a label is; one with blanks
        # (a task's name) stays as the server wrote it.
        gr.Markdown(t(message.key) if not message.values else f"⚠️ {message}", elem_classes="lab-banner",
                    elem_id=f"no-head-{task}")
        return
    head = embedded_head_dir(task, lab.settings)
    card = head / "README.md" if head else None
    if card is not None and card.is_file():
        with gr.Accordion(t("shared.model_card"), open=False,
                          elem_id=f"card-{task}"):
            gr.Markdown(card.read_text(encoding="utf-8"))
