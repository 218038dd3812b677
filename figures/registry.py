"""Figure registry: ``@figure(name, needs=[...])`` registers a function ``Results -> Figure``.

Any results directory renders exactly the figures whose needs its files satisfy, so the
quantization, model-diffing and lens analyses add figures by decorating functions in their own
module under ``figures/`` (discovered automatically) without touching this file::

    @figure("quant_disparity", needs=["quant.nc:disparity"], title="...", description="...")
    def quant_disparity(res: Results) -> Figure: ...
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from polylens.errors import ToolkitError

from .results import Results
from .style import save, style

__all__ = ["FigureSpec", "REGISTRY", "PLUGIN_MODULES", "figure", "available", "make_figure", "render_all"]


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its name (file stem), drawing function, needs and caption."""

    name: str
    func: Callable[[Results], Figure]
    needs: tuple[str, ...]
    title: str
    description: str = ""
    order: int = field(default=0, compare=False)


#: name -> spec, in registration order
REGISTRY: dict[str, FigureSpec] = {}
#: figure modules registered first, in report order; every other module or package under
#: ``figures/`` that is not infrastructure is discovered and registered after them
CORE_MODULES = ("alignment", "quant", "diff")
INFRASTRUCTURE = frozenset({"registry", "results", "style", "common", "report"})


def _discover() -> list[str]:
    """Figure modules under ``figures/``: the core ones in report order, then the rest by name."""
    found = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
    plugins = [m for m in found if m not in INFRASTRUCTURE]
    ordered = [m for m in CORE_MODULES if m in plugins] + [m for m in plugins if m not in CORE_MODULES]
    return [f"polylens.figures.{m}" for m in ordered]


#: modules imported before rendering so their ``@figure`` functions register
PLUGIN_MODULES: list[str] = _discover()


def figure(name: str, needs: Sequence[str], title: str | None = None, description: str = "") -> Callable:
    """Register ``func(res: Results) -> matplotlib Figure`` under ``name`` (also the file stem)."""

    def deco(func: Callable) -> Callable:
        """Register ``func`` and return it unchanged."""
        if name in REGISTRY and REGISTRY[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"figure {name!r} registered twice")
        REGISTRY[name] = FigureSpec(
            name, func, tuple(needs), title or name.replace("_", " "), description, order=len(REGISTRY)
        )
        return func

    return deco


def load_plugins() -> None:
    """Import every module in :data:`PLUGIN_MODULES` so its figures register."""
    for mod in PLUGIN_MODULES:
        importlib.import_module(mod)


def available(results: Results | str | Path) -> list[FigureSpec]:
    """Specs whose needs the results directory satisfies, in registration order."""
    load_plugins()
    res = results if isinstance(results, Results) else Results(results)
    return [s for s in REGISTRY.values() if all(res.has(n) for n in s.needs)]


def make_figure(name: str, results: Results | str | Path) -> Figure:
    """Draw one registered figure (returns the open matplotlib Figure; caller closes/saves it)."""
    load_plugins()
    res = results if isinstance(results, Results) else Results(results)
    if name not in REGISTRY:
        raise ToolkitError(f"unknown figure {name!r}; known: {', '.join(REGISTRY)}")
    spec = REGISTRY[name]
    missing = [n for n in spec.needs if not res.has(n)]
    if missing:
        raise ToolkitError(f"figure {name!r} needs {', '.join(missing)} in {res.path}")
    with style():
        return spec.func(res)


def render_all(
    results: Results | str | Path,
    out_dir: str | Path,
    formats: Iterable[str] = ("png", "svg"),
    only: Iterable[str] | None = None,
) -> dict[str, list[Path]]:
    """Render every figure the results allow into ``out_dir`` (``<name>.png`` / ``<name>.svg``)."""
    res = results if isinstance(results, Results) else Results(results)
    specs = available(res)
    if only is not None:
        wanted = list(only)
        unknown = [n for n in wanted if n not in REGISTRY]
        if unknown:
            raise ToolkitError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
        specs = [s for s in specs if s.name in wanted]
    if not specs:
        raise ToolkitError(f"no figure can be drawn from {res.path}: none of the expected files are there")
    formats = tuple(formats)
    return {s.name: save(make_figure(s.name, res), out_dir, s.name, formats) for s in specs}
