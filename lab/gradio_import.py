"""Import gradio without regenerating its type stubs: ~3 s of a ~7 s ``import gradio`` here.

Every time a component class is defined, Gradio 6's ``ComponentMeta`` calls
``create_or_modify_pyi``: it reads the class's source file, parses all of it with ``ast``, renders
a Jinja template of the class's event methods and compares (or writes) a ``.pyi`` stub beside
the file. That keeps the stubs shipped for type checkers in step while Gradio itself is being
developed; at run time nothing reads them. ``import gradio`` defines ~60 component classes, so on
this 2-core CPU it spent 3.0-3.4 s of 6.3-6.9 s doing it (measured with and without, same
minutes), which is most of the app's time to its first page.

``skip_stub_writing()`` installs an import hook that, once ``gradio.component_meta`` has been
executed, replaces that function with one that does nothing. Everything else about the classes
is Gradio's own. It must run before gradio is first imported (``app.py`` calls it first thing);
afterwards it changes nothing and says so. If a Gradio version no longer has the function, the
hook steps aside.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

MODULE = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def _no_stubs(*args, **kwargs) -> None:
    """Stands in for gradio's stub writer: the app never reads the stubs."""


class _SkipStubs(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` like the normal path finder, and patches it once executed."""

    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None  # not a plain source module: let the normal machinery have it
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            if callable(getattr(module, FUNCTION, None)):
                setattr(module, FUNCTION, _no_stubs)
            if self in sys.meta_path:  # its one job is done
                sys.meta_path.remove(self)

        spec.loader.exec_module = exec_module  # this loader instance serves this one module
        return spec


def skip_stub_writing() -> bool:
    """Install the hook; True when it will take effect (gradio not imported yet)."""
    if MODULE in sys.modules or "gradio" in sys.modules:
        return False
    if not any(isinstance(finder, _SkipStubs) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipStubs())
    return True


def is_active() -> bool:
    """Whether the imported gradio runs without writing stubs."""
    module = sys.modules.get(MODULE)
    return module is not None and getattr(module, FUNCTION, None) is _no_stubs
