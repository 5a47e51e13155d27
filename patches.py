"""Every patch of a third-party library's internals, in one place.

Four are worth their lines here (each measured or needed, see its section):

- gradio: ``import gradio`` without regenerating its type stubs (~3 s of a ~7 s cold start);
- gradio: a new session's ~300 component configs made on demand (~35-90 ms per new session);
- gradio: a session's state dropped when the session ends (~50 KB per session id, kept otherwise
  until 10,000 newer ones push it out);
- accelerate: its process-wide state reset between runs of one worker process, so that runs
  one after another can each have their own precision.

Each names the minor versions it was written for (``WRITTEN_FOR``). On any other installed
version it stays off, says so in one log line, and the library runs as shipped. What the app
loses then is the speed above; an accelerate it was not written for makes a later run in the
same worker process keep the first run's precision, and say so (``training.engine.loop``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import logging
import sys

log = logging.getLogger(__name__)

# package -> the major.minor versions the patches of it were written and tested for
WRITTEN_FOR: dict[str, tuple[str, ...]] = {"gradio": ("6.31",), "accelerate": ("1.15",)}


def written_for(package: str, patch: str) -> bool:
    """Whether the installed ``package`` is one ``patch`` was written for; logs the reason when not."""
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        installed = "not installed"
    if ".".join(installed.split(".")[:2]) in WRITTEN_FOR[package]:
        return True
    log.warning("patch %r off: written for %s %s, %s is %s; %s runs as shipped", patch, package,
                "/".join(WRITTEN_FOR[package]), package, installed, package)
    return False


# ----------------------------------------------------------------------- gradio: no stub writing
#
# Every time a component class is defined, Gradio 6's ``ComponentMeta`` calls
# ``create_or_modify_pyi``: it reads the class's source file, parses all of it with ``ast``, renders
# a Jinja template of the class's event methods and compares (or writes) a ``.pyi`` stub beside the
# file. That keeps the stubs shipped for type checkers in step while Gradio itself is developed; at
# run time nothing reads them. ``import gradio`` defines ~60 component classes: on a 2-core CPU
# that was 3.0-3.4 s of a 6.3-6.9 s import (measured with and without, same minutes).

STUB_MODULE, STUB_FUNCTION = "gradio.component_meta", "create_or_modify_pyi"


def _no_stubs(*args, **kwargs) -> None:
    """Stands in for gradio's stub writer: the app never reads the stubs."""


class _SkipStubs(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` like the normal path finder, and patches it once executed."""

    def find_spec(self, name, path, target=None):
        if name != STUB_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # not a plain source module: let the normal machinery have it
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            if callable(getattr(module, STUB_FUNCTION, None)):
                setattr(module, STUB_FUNCTION, _no_stubs)
            else:
                log.warning("patch 'gradio stubs' off: %s has no %s", STUB_MODULE, STUB_FUNCTION)
            if self in sys.meta_path:  # its one job is done
                sys.meta_path.remove(self)

        spec.loader.exec_module = exec_module  # this loader instance serves this one module
        return spec


def skip_gradio_stub_writing() -> bool:
    """Install the import hook; True when it will take effect. It must run before gradio's first
    import (``app.py`` calls it first thing); afterwards it changes nothing and says so."""
    if STUB_MODULE in sys.modules or "gradio" in sys.modules:
        return False
    if not written_for("gradio", "gradio stubs"):
        return False
    if not any(isinstance(finder, _SkipStubs) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipStubs())
    return True


def gradio_stubs_skipped() -> bool:
    """Whether the imported gradio runs without writing stubs."""
    module = sys.modules.get(STUB_MODULE)
    return module is not None and getattr(module, STUB_FUNCTION, None) is _no_stubs


# ------------------------------------------------------------------ gradio: lazy session configs
#
# Gradio 6's ``SessionState.__init__`` builds the config of every component of the page for each
# new session (``config_values``), only so that a deep link can snapshot them later. This page has
# ~300 components: ~35-90 ms of event-loop time per new session, paid on a client's first call;
# when a class opens the page at once, 20 new sessions queue behind one another for that alone
# (bench/load.py). Only deep links ever read them all, and this app has none. The patch keeps
# Gradio's own ``__init__`` (whatever else it sets up stays as Gradio has it) but hands it no
# components to snapshot, then gives the session a ``LazyConfigs``: a dict that makes a
# component's config on first access, and all of them before anyone iterates it.

_original_session_init = None  # Gradio's SessionState.__init__, once the patch is installed


class LazyConfigs(dict):
    """``{block id: config}`` made on demand from ``blocks_config`` for the ids in ``pending``."""

    def __init__(self, blocks_config, pending):
        super().__init__()
        self._blocks_config = blocks_config
        self._order = list(pending)  # Gradio's order: the page's blocks, then later additions
        self._pending = set(pending)

    def _make(self, key):
        self._pending.discard(key)  # (only ever a key of the page, so _order holds it)
        block = self._blocks_config.blocks[key]
        value = self._blocks_config.config_for_block(key, [], block)
        dict.__setitem__(self, key, value)
        return value

    def __missing__(self, key):
        if key in self._pending:
            return self._make(key)
        raise KeyError(key)

    def __contains__(self, key):
        return key in self._pending or dict.__contains__(self, key)

    def __setitem__(self, key, value):
        self._pending.discard(key)
        dict.__setitem__(self, key, value)

    def materialize(self) -> None:
        if not self._pending and self._order is None:
            return
        for key in [k for k in self._order if k in self._pending]:
            self._make(key)
        # Reinsert in Gradio's order: its dict comprehension made the page's blocks first.
        made = dict(dict.items(self))
        dict.clear(self)
        for key in self._order:
            if key in made:
                dict.__setitem__(self, key, made.pop(key))
        for key, value in made.items():
            dict.__setitem__(self, key, value)
        self._order = None  # in order from now on: later keys are appended, as in Gradio

    def items(self):
        self.materialize()
        return dict.items(self)

    def values(self):
        self.materialize()
        return dict.values(self)

    def keys(self):
        self.materialize()
        return dict.keys(self)

    def __iter__(self):
        self.materialize()
        return dict.__iter__(self)

    def __len__(self):
        return dict.__len__(self) + len(self._pending)


class _NoComponents:
    """What Gradio's ``__init__`` sees instead of the Blocks: the same config, no components."""

    def __init__(self, blocks):
        self.default_config = blocks.default_config
        self.blocks = {}


def lazy_gradio_session_configs() -> bool:
    """Patch ``gradio.state_holder.SessionState`` once per process; True if the patch is on.

    If Gradio's ``__init__`` turns out to have another shape, the patch steps aside at the first
    session and Gradio's own runs from then on.
    """
    global _original_session_init
    from gradio import state_holder

    if _original_session_init is not None:
        return state_holder.SessionState.__init__ is not _original_session_init
    original = _original_session_init = state_holder.SessionState.__init__
    if not written_for("gradio", "lazy session configs"):
        return False

    def __init__(self, blocks):
        try:
            original(self, _NoComponents(blocks))
            eager = self.config_values
            if not isinstance(eager, dict) or eager:
                raise TypeError("config_values is not an empty dict")
        except Exception as exc:  # a Gradio whose __init__ differs: run it as it is
            log.warning("patch 'lazy session configs' off (%s); Gradio's own SessionState runs", exc)
            state_holder.SessionState.__init__ = original
            original(self, blocks)
            return
        self.config_values = LazyConfigs(self.blocks_config,
                                         [k for k in self.blocks_config.blocks if k in blocks.blocks])

    state_holder.SessionState.__init__ = __init__
    return True


# ------------------------------------------------------------- gradio: a session's state goes with it
#
# Gradio 6 keeps a ``SessionState`` (a copy of the page's block and event tables, ~50 KB here) for
# every session id it has run an event for, until ``state_session_capacity`` (10,000) newer ones
# push it out; a closed session's only loses its ``gr.State`` values after an hour. The page's
# unload event counts: a GET of ``/gradio_api/heartbeat/<any id>`` makes one, so made-up ids cost
# the server memory for as long as the capacity allows (1,000 such GETs: +56 MB). ``GradioSessions``
# is the session reaper's owner of that state (lab/session.py): a state nothing was written to is
# dropped as soon as the session's last connection ends, one with values or changed components
# when the session's grace period is over. It only reads and deletes entries of Gradio's
# ``StateHolder``; on a Gradio it was not written for it holds nothing and Gradio keeps its states.


class GradioSessions:
    """The per-session state a launched Gradio app keeps, as an owner for ``lab.session.Reaper``."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.on = written_for("gradio", "session state cleanup")

    def _holder(self):
        holder = getattr(self.blocks, "state_holder", None)  # set by launch()
        return holder if self.on and holder is not None and hasattr(holder, "session_data") else None

    def holds(self, session_hash: str) -> bool:
        """Whether the session's state is worth its grace period; an untouched state is dropped now."""
        holder = self._holder()
        state = holder.session_data.get(session_hash) if holder is not None else None
        if state is None:
            return False
        default = self.blocks.default_config.blocks
        blocks = state.blocks_config.blocks
        touched = bool(state.state_data) or len(blocks) != len(default) or any(
            block is not default.get(key) for key, block in list(blocks.items()))
        if not touched:
            self.forget(session_hash)
        return touched

    def forget(self, session_hash: str) -> None:
        holder = self._holder()
        if holder is None:
            return
        holder.delete_state(session_hash)  # runs the gr.State values' delete callbacks
        with holder.lock:
            holder.session_data.pop(session_hash, None)
            holder.time_last_used.pop(session_hash, None)


# ------------------------------------------------------------------------ accelerate: state reset
#
# accelerate keeps one process-wide state, made by the first ``Accelerator`` and fixed from then
# on (its precision included). A training worker process trains run after run, each with the
# precision its user chose, so between runs the state is reset as accelerate's own test suite
# does (``_reset_state`` has no public equivalent).


def reset_accelerate_state() -> bool:
    """Forget accelerate's process-wide state; False (nothing done) on an accelerate the reset
    was not written for."""
    if not written_for("accelerate", "accelerate state reset"):
        return False
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    return True
