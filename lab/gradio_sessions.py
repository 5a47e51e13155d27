"""Cheaper Gradio sessions: a session's per-component configs are made when first needed.

Gradio 6's ``SessionState.__init__`` builds the config of every component of the page for each
new session (``config_values``), only so that a deep link can snapshot them later. This page has
~300 components: ~35-90 ms of event-loop time per new session here, paid on a client's first
call. When a class opens the page at once, 20 new sessions queue behind one another for that
alone (measured with bench/load.py). Only deep links ever read all of them, and this app has none.

``install()`` keeps Gradio's own ``__init__`` (so whatever else it sets up stays as Gradio has
it) but hands it no components to snapshot, then gives the session a ``LazyConfigs``: a dict
that makes a component's config on first access, and all of them before anyone iterates it.
What a deep link would read is the same; ``tests/unit/test_gradio_sessions.py`` compares it with
Gradio's eager one on the real page. If Gradio's ``__init__`` changes shape, the patch steps
aside and the original runs (``install`` returns False).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_original_init = None  # Gradio's SessionState.__init__, once install() has run


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


def install() -> bool:
    """Patch ``gradio.state_holder.SessionState`` once per process; True if the patch is on."""
    global _original_init
    from gradio import state_holder

    if _original_init is not None:
        return state_holder.SessionState.__init__ is not _original_init
    original = _original_init = state_holder.SessionState.__init__

    def __init__(self, blocks):
        try:
            original(self, _NoComponents(blocks))
            eager = self.config_values
            if not isinstance(eager, dict) or eager:
                raise TypeError("config_values is not an empty dict")
        except Exception as exc:  # a Gradio whose __init__ differs: run it as it is
            log.warning("lazy session configs off (%s); Gradio's own SessionState runs", exc)
            state_holder.SessionState.__init__ = original
            original(self, blocks)
            return
        self.config_values = LazyConfigs(self.blocks_config,
                                         [k for k in self.blocks_config.blocks if k in blocks.blocks])

    state_holder.SessionState.__init__ = __init__
    return True
