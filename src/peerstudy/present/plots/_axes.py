"""What every figure shares: the axes helper, the theme, legend placement and alt text.

Axes
    :func:`create_ax` is the one way a plotting function gets somewhere to draw: ``ax=None`` makes a
    new figure (constrained layout) and its Axes, a given Axes is drawn on as it is; either way it
    returns ``(fig, ax)``, like ``statsmodels.graphics.utils.create_mpl_ax``.

Theme
    :func:`theme` is a context manager holding seaborn's ``whitegrid`` style and ``notebook``
    context (top and right spines off, seaborn's "deep" colour cycle). Every plotting function runs
    inside it (:func:`themed`), so the theme reaches what that function draws and nothing else:
    importing :mod:`peerstudy` or :mod:`peerstudy.present.plots` leaves ``matplotlib.rcParams``
    as the user had them, and seaborn is imported only when a figure is drawn. On an Axes the caller
    made, the Axes keep their own background and spines; the curves, text and legend follow the theme.

Legends
    :func:`place_legend` puts a legend where it cannot cover data: ``"right"``, outside the Axes
    (a new figure's constrained layout, or the caller's ``tight_layout``, makes room for it), or a
    matplotlib ``loc`` inside the Axes for plots whose empty corner is known (retention curves start
    at 100%, so their lower left corner is empty).

Alt text
    Every plotting function gives its Axes a one-sentence description with :func:`describe`. The
    figure's label (``fig.get_label()``) then holds the descriptions of all its described Axes in
    order, and :func:`alt_text` reads it back from a figure or an Axes. In an IPython kernel (the
    report notebooks), a figure that has such a description is displayed with it as display
    metadata, ``{"image/png": {"alt": TEXT}}`` (the key nbconvert's classic HTML template and
    nbsphinx read), so a report page can put it on the ``<img>`` as its ``alt`` attribute (the lab
    template does not read it: an HTML export with that template copies it onto the image itself).
    Nothing is drawn on the figure for this and no function calls ``plt.show()``.

Figures for papers
    :func:`save_figure` writes a figure as PDF (vector) and PNG (300 dpi), tables below the plot included. In a
    report run the runner names a prefix in ``PEERSTUDY_FIGURES`` and every described figure a notebook displays
    is also saved there, numbered in display order (``figures/02-retention-analysis-01.pdf``).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["FIGURES_ENV", "save_figure", "FIGSIZE", "theme_rc", "theme", "themed", "create_ax", "place_legend", "percent_axis", "describe",
           "alt_text"]

#: Size (inches) of a new figure when a function is not given an Axes and asks for no other.
FIGSIZE: tuple[float, float] = (7.0, 4.5)

#: Environment variable naming where figures displayed in a report run are also saved (``PREFIX-NN.pdf/.png``).
FIGURES_ENV = "PEERSTUDY_FIGURES"

#: Attribute of an Axes holding its own sentence (the figure's label joins them).
_ALT_ATTR = "_peerstudy_alt"

F = TypeVar("F", bound=Callable[..., Any])


def theme_rc() -> dict[str, Any]:
    """The theme as rcParams: seaborn's ``whitegrid`` style and ``notebook`` context, deep palette.

    A fresh dict each call; nothing is applied. Use :func:`theme` to draw with it.
    """
    import seaborn as sns
    from cycler import cycler

    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("whitegrid", {"axes.spines.top": False, "axes.spines.right": False,
                                           "grid.color": ".9", "axes.edgecolor": ".6",
                                           "xtick.bottom": True, "ytick.left": True}))
    rc.update(sns.plotting_context("notebook", font_scale=0.85, rc={"lines.linewidth": 2.0}))
    rc["axes.prop_cycle"] = cycler(color=sns.color_palette("deep"))
    rc["legend.frameon"] = False
    rc["xtick.major.size"] = rc["ytick.major.size"] = 3.5
    return rc


@contextmanager
def theme() -> Iterator[None]:
    """Draw inside the figure theme; the caller's rcParams come back on leaving, also on an error."""
    import matplotlib as mpl

    with mpl.rc_context(theme_rc()):
        yield


def themed(func: F) -> F:
    """Decorate a plotting function so that all it draws is drawn inside :func:`theme`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with theme():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def create_ax(ax: Any = None, figsize: tuple[float, float] = FIGSIZE) -> tuple[Any, Any]:
    """``(figure, axes)`` to draw on: a new pyplot figure and its Axes when ``ax`` is None, else ``ax``'s.

    A new figure uses constrained layout, so legends and tables outside the Axes get room. The
    figure returned is the top-level one (of a subfigure too): the one that is saved or displayed.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return _root_figure(ax), ax


def _root_figure(obj: Any) -> Any:
    """The top-level figure of an Axes, a subfigure or a figure."""
    from matplotlib.figure import FigureBase

    fig = obj if isinstance(obj, FigureBase) else obj.figure
    while getattr(fig, "figure", fig) is not fig:  # a subfigure's parents end at the figure
        fig = fig.figure
    return fig


def place_legend(ax: Any, where: str = "right", *, title: str | None = None, ncol: int = 1,
                 **kwargs: Any) -> Any:
    """A legend of the Axes' labelled artists (seaborn's too) where it does not cover the data.

    Parameters
    ----------
    ax : matplotlib Axes
    where : str
        ``"right"``: outside, right of the Axes, vertically centred; ``"top"``: outside, above the Axes,
        centred; anything else is a matplotlib ``loc`` inside the Axes.
    title : str, optional
        Legend title (default: the title of a legend seaborn made, if any).
    ncol : int, default 1
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.legend`.

    Returns
    -------
    matplotlib.legend.Legend or None
        None when nothing is labelled.
    """
    old = ax.get_legend()
    entries: dict[str, Any] = {}
    if old is not None:  # a legend seaborn made: its entries first, in its order
        if title is None:
            title = old.get_title().get_text() or None
        entries.update(zip((t.get_text() for t in old.get_texts()), old.legend_handles))
        old.remove()
    found, found_labels = ax.get_legend_handles_labels()
    # seaborn's lineplot draws empty labelled lines only to carry its legend entries: not data, not kept
    proxies = [h for h in found if _is_empty_line(h)]
    for handle, label in zip(found, found_labels):
        entries.setdefault(label, handle)
    if not entries:
        return None
    labels, handles = list(entries), list(entries.values())
    opts: dict[str, Any] = dict(loc=where, ncol=ncol)
    if where == "right":
        opts.update(loc="center left", bbox_to_anchor=(1.01, 0.5), borderaxespad=0.2)
    elif where == "top":
        opts.update(loc="lower center", bbox_to_anchor=(0.5, 1.01), borderaxespad=0.2)
    legend = ax.legend(handles, labels, title=title, **{**opts, **kwargs})
    for line in proxies:
        line.remove()
    return legend


def percent_axis(axis: Any) -> None:
    """Label an axis of shares (0 to 1) in whole percent: 0%, 20%, ..."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _is_empty_line(artist: Any) -> bool:
    from matplotlib.lines import Line2D

    return isinstance(artist, Line2D) and len(artist.get_xdata()) == 0 and artist.axes is not None


def describe(ax: Any, text: str) -> str:
    """Give ``ax`` its one-sentence description and refresh its figure's alt text; return the figure's.

    Drawing again on the same Axes replaces that Axes' sentence. The figure's label becomes the
    sentences of its described Axes, in the figure's order.
    """
    setattr(ax, _ALT_ATTR, " ".join(str(text).split()))
    fig = _root_figure(ax)
    joined = alt_text(fig)
    fig.set_label(joined)
    _display_with_alt()
    return joined


def alt_text(obj: Any) -> str:
    """The alt text of a figure (or of an Axes' figure): its described Axes' sentences; ``""`` if none."""
    fig = _root_figure(obj)
    return " ".join(s for s in (getattr(a, _ALT_ATTR, "") for a in _all_axes(fig)) if s)


def _all_axes(fig: Any) -> list[Any]:
    axes = list(fig.axes)
    for sub in getattr(fig, "subfigs", []):
        axes += [a for a in _all_axes(sub) if a not in axes]
    return axes


def _display_with_alt() -> None:
    """In IPython, display described figures with ``alt`` metadata (idempotent; no-op elsewhere)."""
    import sys

    if "IPython" not in sys.modules:
        return
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - IPython half-imported
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        formatter = shell.display_formatter.formatters.get(mime)
        if formatter is None:
            continue
        try:
            printer = formatter.lookup_by_type(Figure)
        except KeyError:  # the inline backend did not register this format
            continue
        if getattr(printer, "_adds_alt", False):
            continue
        formatter.for_type(Figure, _with_alt(printer))


def save_figure(fig: Any, stem: str, *, dpi: int = 300, formats: tuple[str, ...] = ("pdf", "png")) -> list[str]:
    """Save ``fig`` as ``STEM.pdf`` and ``STEM.png`` (``dpi``), whole (``bbox_inches="tight"``); return the paths.

    The PDF carries the alt text as its title.
    """
    fig = _root_figure(fig)
    paths = []
    for fmt in formats:
        path = f"{stem}.{fmt}"
        meta = {"Title": alt_text(fig)[:500]} if fmt == "pdf" else None
        fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


_SAVED = [0]  # figures saved by this process, for their numbers


def _save_for_report(fig: Any) -> None:
    """In a report run, save a displayed figure once (a figure shown twice keeps its first number)."""
    import os

    prefix = os.environ.get(FIGURES_ENV)
    if not prefix or getattr(fig, "_peerstudy_saved", None):
        return
    _SAVED[0] += 1
    fig._peerstudy_saved = stem = f"{prefix}-{_SAVED[0]:02d}"
    save_figure(fig, stem)


def _with_alt(printer: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def print_with_alt(fig: Any) -> Any:
        data = printer(fig)
        text = alt_text(fig)
        if text:
            _save_for_report(fig)
        if data is None or not text or isinstance(data, tuple):
            return data
        return data, {"alt": text}

    print_with_alt._adds_alt = True  # type: ignore[attr-defined]
    print_with_alt.__wrapped__ = printer  # type: ignore[attr-defined]
    return print_with_alt
