"""The page in the student's language: Gradio's own i18n for what the page shows, the request's
language for what the server says, and one switch at the top of the page for both.

- Labels, buttons, explainers and tab titles are ``t("key")``: Gradio translates them in the
  browser from the catalogs in ``assets/i18n`` (``lab/i18n.py``), in the browser's language first.
- The switch keeps the choice in a cookie (``lab_lang``), so every later request says which
  language its messages must be in (``request_language``), and a reload keeps it.
- Errors from the lab are rendered in that language where they raise (``tabs/common.py``).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict

import anyio
import gradio as gr

from lab import i18n

I18N = gr.I18n(**i18n.catalogs())
COOKIE = "lab_lang"


def t(key: str):
    """A translatable text for a component's label, value, info or placeholder."""
    return I18N(key)


def request_language(request: gr.Request | None = None) -> str:
    """The language a request's messages are said in: the switch's cookie, else the browser's."""
    if request is None:
        request = _current_request()
    if request is None:
        return i18n.DEFAULT
    try:
        chosen = i18n.normalize(request.cookies.get(COOKIE))
        return chosen or i18n.negotiate(request.headers.get("accept-language"))
    except AttributeError:  # a request made in code (tests, benchmarks) without headers
        return i18n.DEFAULT


def _current_request() -> gr.Request | None:
    """The request being answered, for code that is not handed it (the error wrapper). Gradio keeps
    it in a context variable for its own helpers; without it, messages stay in English."""
    try:
        from gradio.context import LocalContext

        return LocalContext.request.get(None)
    except (ImportError, AttributeError):
        return None


# Sets the cookie and switches Gradio's labels in the browser. Gradio has no public call for the
# locale, so this imports its own module that exports ``changeLocale`` (the one its Settings panel
# calls) by the URL the page already loaded it from; where that is not found the labels keep the
# browser's language and the server still answers in the chosen one.
APPLY_JS = f"""
async (lang) => {{
  document.cookie = "{COOKIE}=" + lang + "; path=/; max-age=31536000; SameSite=Lax";
  try {{
    const url = performance.getEntriesByType("resource").map((e) => e.name)
      .find((name) => /\\/core-[\\w-]+\\.js(\\?.*)?$/.test(name));
    const core = url ? await import(url) : null;
    if (core && typeof core.changeLocale === "function") core.changeLocale(lang);
    else console.warn("BERT Transfer Lab: Gradio's locale switch was not found; labels stay as they are");
  }} catch (error) {{
    console.warn("BERT Transfer Lab: could not switch Gradio's language", error);
  }}
  document.documentElement.lang = lang;
  return lang;
}}
"""


# Gradio's footer "Runs" page (/gradio_api/runs) lists a browser's past calls under the labels its
# client stored with each call: a gr.I18n label is stored as the mark ``__i18n__{..."key": ...}``
# that the main page translates as it draws, and the runs page shows the mark as it is. Gradio has
# no hook into that page; it does insert the app's ``head``, so this script, on that page only,
# writes each mark as its words from the page's own catalogs (config.i18n_translations), in the
# language a request would get (``request_language``: the switch's cookie, else the browser's).
_RUN_HISTORY_JS = r"""(LANGUAGES, ALIASES, DEFAULT, COOKIE) => {
  if (!/\/gradio_api\/runs\/?$/.test(location.pathname)) return;
  const normalize = (code) => {  // lab/i18n.py's normalize
    if (!code) return null;
    code = code.trim();
    if (LANGUAGES.includes(code)) return code;
    const lowered = code.toLowerCase().replace(/_/g, "-");
    if (lowered in ALIASES) return ALIASES[lowered];
    const base = lowered.split("-")[0];
    return LANGUAGES.includes(base) ? base : (ALIASES[base] || null);
  };
  const cookie = (document.cookie.match(new RegExp("(?:^|;\\s*)" + COOKIE + "=([^;]*)")) || [])[1];
  const language = [cookie, ...(navigator.languages || [navigator.language])].map(normalize)
    .find(Boolean) || DEFAULT;
  const words = (key) => {
    const catalogs = (window.gradio_config || {}).i18n_translations || {};
    return (catalogs[language] || {})[key] ?? (catalogs[DEFAULT] || {})[key] ?? key;
  };
  const MARK = /__i18n__(\{[^{}]*\})/g;
  const say = (text) => text.replace(MARK, (mark, data) => {
    try { const key = JSON.parse(data).key; return typeof key === "string" ? words(key) : mark; }
    catch (error) { return mark; }  // not a mark Gradio wrote: shown as it is, as Gradio does
  });
  const translate = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeValue.includes("__i18n__")) node.nodeValue = say(node.nodeValue);
    }
  };
  new MutationObserver((changes) => changes.forEach((change) => translate(change.target)))
    .observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  translate(document.documentElement);
}"""
RUN_HISTORY_HEAD = "<script>({})({});</script>".format(_RUN_HISTORY_JS, ", ".join(
    json.dumps(value) for value in (list(i18n.LANGUAGES), i18n.ALIASES, i18n.DEFAULT, COOKIE)))


class Examples:
    """A tab's ``gr.Examples`` whose rows and column headers follow the page's language.

    ``by_language`` maps each language to its rows. Gradio does not translate an examples table's
    headers, so they are rendered here from the inputs' label keys."""

    def __init__(self, by_language: dict[str, list], inputs: list, **kwargs):
        missing = set(i18n.LANGUAGES) - set(by_language)
        if missing:
            raise ValueError(f"examples lack {sorted(missing)}")
        self.by_language = by_language
        self.labels = [getattr(box, "label", None) for box in inputs]
        self.examples = gr.Examples(by_language[i18n.DEFAULT], inputs, label=t("shared.examples"), **kwargs)
        self.dataset = self.examples.dataset
        self.dataset.headers = self.headers(i18n.DEFAULT)

    def headers(self, language: str) -> list[str]:
        return [i18n.text(label.key, language) if isinstance(label, gr.i18n.I18nData) else str(label or "")
                for label in self.labels]

    def localize(self, language: str) -> gr.Dataset:
        return gr.Dataset(samples=self.by_language[language], headers=self.headers(language))


def language_switch() -> gr.Radio:
    """English / Bahasa Indonesia / 繁體中文, at the top of the page."""
    return gr.Radio([(name, code) for code, name in i18n.LANGUAGES.items()], value=i18n.DEFAULT,
                    label="Language · Bahasa · 語言", elem_id="language", container=False)


def connect(demo: gr.Blocks, switch: gr.Radio, outputs: list, refresh, uploads: list | None = None) -> None:
    """The page opens in the request's language; a change re-renders what the server wrote.

    ``refresh(language)`` returns the updates of ``outputs`` for a language (examples, lessons).
    ``uploads`` are the page's upload widgets: Gradio's frontend says "Drop File Here / Click to
    Upload" in the locale of the moment a widget is drawn and never again (its text is not bound to
    the locale store, as labels are), so after a switch they are drawn again: hidden, then shown."""

    def opened(request: gr.Request) -> str:
        return request_language(request)

    # The browser's labels switch first, so the titles and examples sent after are drawn in it. One
    # record per session for both: the opening render gives way to any switch, and of two switches
    # the one that came later wins, whichever ends last.
    latest = _Latest()
    demo.load(opened, None, switch, api_visibility="private").then(
        None, switch, None, js=APPLY_JS).then(refresh_with(refresh, latest, opening=True), switch, outputs,
                                              api_visibility="private")
    switched = switch.input(refresh_with(refresh, latest), switch, outputs, js=APPLY_JS, api_visibility="private")
    if uploads:
        switched.then(lambda: [gr.update(visible=False)] * len(uploads), None, uploads, api_visibility="private",
                      queue=False).then(lambda: [gr.update(visible=True)] * len(uploads), None, uploads,
                                        api_visibility="private", queue=False)


def upload_widgets(demo: gr.Blocks) -> list[gr.File]:
    """The file boxes a student drops files on (an output-only box draws no upload text)."""
    return [block for block in demo.blocks.values() if isinstance(block, gr.File) and block.interactive is not False]


class _Latest:
    """Which re-render of a session's page is the one to show. The page's opening re-render (in the
    browser's language) and a switch clicked while it waits or runs are two events that may end, and
    even start, in either order on a busy server: an opening render gives way to any switch of its
    session, and of two switches the later one wins. Bounded: the oldest sessions are forgotten first."""

    def __init__(self, most: int = 10_000):
        self._seen: OrderedDict[str, tuple[int, bool]] = OrderedDict()  # session -> (newest ticket, switched)
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self.most = most

    def ask(self, session: str, opening: bool = False) -> int:
        with self._lock:
            ticket = next(self._count)
            _, switched = self._seen.get(session, (0, False))
            if not (opening and switched):  # an opening render asked after a switch takes nothing from it
                self._seen[session] = (ticket, switched or not opening)
            self._seen.move_to_end(session)
            while len(self._seen) > self.most:
                self._seen.popitem(last=False)
            return ticket

    def is_newest(self, session: str, ticket: int, opening: bool = False) -> bool:
        with self._lock:
            newest, switched = self._seen.get(session, (ticket, False))
            return newest == ticket and not (opening and switched)


def refresh_with(refresh, latest: _Latest | None = None, opening: bool = False):
    """The handler that re-renders the page's server-written parts in a language. Async: its ticket is
    taken on the event loop, in the order the events came, not in the order worker threads start."""
    latest = latest or _Latest()

    async def changed(language: str, request: gr.Request = None):
        session = getattr(request, "session_hash", None) or ""
        ticket = latest.ask(session, opening)
        outputs = tuple(await anyio.to_thread.run_sync(refresh, i18n.normalize(language) or i18n.DEFAULT))
        if session and not latest.is_newest(session, ticket, opening):
            return tuple(gr.skip() for _ in outputs)  # the student chose a language meanwhile
        return outputs
    return changed
