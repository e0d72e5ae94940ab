"""Server-rendered inline SVG charts (no JavaScript, no CDN).

Each function returns markup that scales with its container (``viewBox`` +
``width: 100%``), with a ``<title>`` per mark so values show on hover and reach screen
readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

W, H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 84, 28, 12, 36
AXIS_FONT_PX = 11
#: Space between two axis labels, in SVG units.
LABEL_GAP = 8


def nice_ticks(top: float, count: int = 4, *, integer: bool = False) -> list[float]:
    """Axis ticks from 0 upwards to a round value covering ``top``, in ascending order.

    The step is 1, 2, 2.5 or 5 times a power of ten, chosen so that about ``count``
    intervals cover ``top`` (``nice_ticks(35_262.72)`` is ``[0, 10000, ..., 40000]``).
    With ``integer`` (counts) the step is at least 1.
    """
    if not math.isfinite(top) or top <= 0:
        top = 1.0
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude * count >= top * (1 - 1e-9):
            step = multiple * magnitude
            break
    if integer:
        step = max(1.0, round(step)) if step >= 1 else 1.0
    intervals = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 12) for i in range(intervals + 1)]


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    label: str,
    fmt: Callable[[float], str],
    axis_fmt: Callable[[float], str] | None = None,
) -> Markup:
    """A line chart of ``values`` over ``labels`` (gaps where a value is ``None``)."""
    return lines_chart(labels, [(label, values)], label=label, fmt=fmt, axis_fmt=axis_fmt)


def lines_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    label: str,
    fmt: Callable[[float], str],
    axis_fmt: Callable[[float], str] | None = None,
) -> Markup:
    """Several lines ``(name, values)`` over ``labels``; the 2nd and later ones are dashed."""
    if not series or not any(values for _, values in series):
        return Markup("")
    present = [v for _, values in series for v in values if v is not None]
    ticks = nice_ticks(max(present, default=0.0))
    top = ticks[-1]
    n = len(labels)
    step = (W - PAD_L - PAD_R) / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD_L + i * step, PAD_T + (H - PAD_T - PAD_B) * (1 - v / top)

    marks: list[str] = []
    for position, (name, values) in enumerate(series):
        path: list[str] = []
        dots: list[str] = []
        pen_up = True
        prefix = f"{escape(name)} · " if len(series) > 1 else ""
        for i, v in enumerate(values):
            if v is None:
                pen_up = True
                continue
            x, y = xy(i, v)
            path.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
            pen_up = False
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{prefix}{escape(labels[i])}: '
                f"{escape(fmt(v))}</title></circle>"
            )
        css = "line" if position == 0 else "line dashed"
        marks.append(f'<path class="{css}" d="{" ".join(path)}"/>')
        if len(values) <= 60:  # dots on long weekly series would hide the line
            marks.extend(dots)
    return Markup(_frame(label, labels, ticks, axis_fmt or fmt) + "".join(marks) + "</svg>")


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    label: str,
    fmt: Callable[[float], str],
    axis_fmt: Callable[[float], str] | None = None,
    integer: bool = False,
    tick_labels: Sequence[str] | None = None,
) -> Markup:
    """A vertical bar chart (``integer``: counts, so axis ticks are whole numbers).

    ``tick_labels`` (default ``labels``) are the shorter texts under the bars; ``labels``
    name each bar in its hover title.
    """
    if not values:
        return Markup("")
    ticks = nice_ticks(max(values, default=0.0), integer=integer)
    top = ticks[-1]
    n = len(values)
    slot = (W - PAD_L - PAD_R) / n
    bars = []
    for i, v in enumerate(values):
        height = (H - PAD_T - PAD_B) * (v / top)
        x = PAD_L + i * slot + slot * 0.1
        y = H - PAD_B - height
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{height:.1f}">'
            f"<title>{escape(labels[i])}: {escape(fmt(v))}</title></rect>"
        )
    return Markup(
        _frame(label, tick_labels or labels, ticks, axis_fmt or fmt, bars=True)
        + "".join(bars)
        + "</svg>"
    )


def _frame(
    label: str,
    labels: Sequence[str],
    ticks: Sequence[float],
    fmt: Callable[[float], str],
    *,
    bars: bool = False,
) -> str:
    n = len(labels)
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}" '
        'preserveAspectRatio="xMidYMid meet">'
    ]
    top = ticks[-1] or 1.0
    for tick in ticks:  # ascending: the first tick (0) is the bottom line
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - tick / top)
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'data-tick="{tick:g}">{escape(fmt(tick))}</text>'
        )
    slot = (W - PAD_L - PAD_R) / (n if bars else max(n - 1, 1))
    # Label every k-th slot so that the widest label (about 0.6 em per character) plus a
    # gap fits: overlapping ticks are unreadable.
    widest = _text_width(max(labels, key=len, default="")) + LABEL_GAP
    every = max(1, math.ceil(widest / slot))
    shown = [
        (PAD_L + i * slot + (slot / 2 if bars else 0), text)
        for i, text in enumerate(labels)
        if i % every == 0
    ]
    kept: list[str] = []
    left_of_kept = math.inf
    # From the right, so the latest period keeps its label: a label moved inside the chart
    # at the edge may now reach its neighbour, which then gives way.
    for x, text in reversed(shown):
        width = _text_width(text)
        anchor = _anchor(x, width)
        left = {"end": x - width, "start": x}.get(anchor, x - width / 2)
        if left + width + LABEL_GAP > left_of_kept:
            continue
        left_of_kept = left
        kept.append(
            f'<text class="axis" x="{x:.1f}" y="{H - PAD_B + 16}" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    return "".join(parts + kept[::-1])


def _text_width(text: str) -> float:
    """About how wide an axis label is drawn (0.6 em per character)."""
    return len(text) * AXIS_FONT_PX * 0.6


def _anchor(x: float, width: float) -> str:
    """Centre a label under its point unless that runs it past the chart's edge: the last
    month of a line chart ends at the right padding, narrower than half a label
    ("jan. de 2025" was cut to "jan. de 202")."""
    if x + width / 2 > W:
        return "end"
    if x - width / 2 < 0:
        return "start"
    return "middle"


def heat_color(fraction: float | None) -> str:
    """A CSS background for a heatmap cell (white to brand teal)."""
    if fraction is None:
        return "transparent"
    fraction = min(max(fraction, 0.0), 1.0)
    alpha = 0.08 + 0.85 * fraction
    return f"rgba(13, 128, 118, {alpha:.2f})"
