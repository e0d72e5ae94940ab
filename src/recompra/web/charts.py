"""Server-rendered inline SVG charts (no JavaScript, no CDN).

Each function returns a box holding one drawing per :data:`LAYOUTS` entry; a container
query in ``style.css`` shows the one made for the box's width, and each drawing scales
with it (``viewBox`` + ``width: 100%``), with a ``<title>`` per mark so values show on
hover and reach screen readers (the hidden drawings are ``display: none``, so they are
read once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: The smallest an axis label may be drawn on screen, in CSS pixels.
AXIS_MIN_PX = 11.0
#: Space between two axis labels, in ems of the axis font.
LABEL_GAP_EM = 0.75
#: About how wide a character of the axis font is, in ems (DejaVu Sans, Chromium's
#: default sans-serif on Debian: digits 0.64, lower-case letters about 0.6), and the
#: wide ones ("100%" is almost 3 em).
CHAR_EM = 0.64
WIDE_CHARS, WIDE_CHAR_EM = frozenset("%mwMW@"), 1.0


def text_ems(text: str) -> float:
    """About how wide ``text`` is drawn, in ems of its font."""
    return sum(WIDE_CHAR_EM if char in WIDE_CHARS else CHAR_EM for char in text)


@dataclass(frozen=True)
class Layout:
    """One drawing of a chart, shown while the chart's box is ``min_px`` wide or more.

    An SVG scales its text with its ``viewBox``: one drawing for every width would draw a
    640-unit chart's 11-unit labels at 6 px on a phone. Each layout is shown only down
    to ``design_px`` CSS pixels wide, so its font (in SVG units) is chosen to be drawn at
    :data:`AXIS_MIN_PX` there and larger above; fewer labels fit a narrower drawing, so
    a phone gets fewer ticks instead of overlapping ones.
    """

    name: str
    min_px: int
    design_px: int
    width: int
    height: int

    @property
    def font(self) -> float:
        """The axis font size in SVG units."""
        return math.ceil(AXIS_MIN_PX * self.width / self.design_px * 10) / 10

    @property
    def pad_t(self) -> float:
        """Room above the top grid line for the top tick's label: its box reaches about
        0.9 em above the line (the font's ascent less the third of an em it is lowered)."""
        return round(self.font * 1.2, 1)

    @property
    def pad_b(self) -> float:
        """Room under the plot for the x labels, below the bottom y label (no overlap)."""
        return round(self.font * 2.1 + 2, 1)


#: Narrowest first. ``min_px`` of each must match ``style.css``'s ``@container`` rules
#: (tests/web/test_charts.py checks it). A 390 px phone gives a chart about 330 px; the
#: dashboard's two-column grid gives at least 416 px; a chart alone on a row up to 1,200.
LAYOUTS = (
    Layout("phone", min_px=0, design_px=300, width=300, height=210),
    Layout("medium", min_px=400, design_px=400, width=400, height=210),
    Layout("wide", min_px=560, design_px=560, width=640, height=220),
    # A chart alone on a desktop row: the wide drawing scaled up drew 20 px labels.
    Layout("full", min_px=900, design_px=900, width=1000, height=260),
)


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
    axis = axis_fmt or fmt

    def draw(layout: Layout) -> str:
        frame = _Frame(layout, ticks, axis)
        step = frame.plot_width / max(len(labels) - 1, 1)
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
                x, y = frame.left + i * step, frame.y(v)
                path.append(f"{'M' if pen_up else 'L'}{x:.1f},{y:.1f}")
                pen_up = False
                dots.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{prefix}'
                    f"{escape(labels[i])}: {escape(fmt(v))}</title></circle>"
                )
            css = "line" if position == 0 else "line dashed"
            marks.append(f'<path class="{css}" d="{" ".join(path)}"/>')
            if len(values) <= 60:  # dots on long weekly series would hide the line
                marks.extend(dots)
        return frame.svg(label, labels, marks, bars=False)

    return _drawings(draw)


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
    axis = axis_fmt or fmt

    def draw(layout: Layout) -> str:
        frame = _Frame(layout, ticks, axis)
        slot = frame.plot_width / len(values)
        bars = []
        for i, v in enumerate(values):
            y = frame.y(v)
            bars.append(
                f'<rect x="{frame.left + i * slot + slot * 0.1:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.8:.1f}" height="{frame.bottom - y:.1f}">'
                f"<title>{escape(labels[i])}: {escape(fmt(v))}</title></rect>"
            )
        return frame.svg(label, tick_labels or labels, bars, bars=True)

    return _drawings(draw)


def _drawings(draw: Callable[[Layout], str]) -> Markup:
    """One drawing per layout in the box whose width picks one (``style.css``)."""
    return Markup('<div class="chart-box">' + "".join(map(draw, LAYOUTS)) + "</div>")


class _Frame:
    """A layout's plot area for a value axis ``ticks`` (ascending, from 0): the grid, the
    y labels (their width sets the left margin) and the x labels."""

    def __init__(self, layout: Layout, ticks: Sequence[float], fmt: Callable[[float], str]) -> None:
        self.layout = layout
        self.ticks = [(tick, fmt(tick)) for tick in ticks]
        widest = max((self.text_width(text) for _, text in self.ticks), default=0.0)
        self.left = math.ceil(widest + layout.font * 0.75)
        self.right = layout.width - math.ceil(layout.font)
        self.top = layout.pad_t
        self.bottom = layout.height - layout.pad_b
        self.plot_width = self.right - self.left

    def text_width(self, text: str) -> float:
        """About how wide an axis label is drawn, in SVG units."""
        return text_ems(text) * self.layout.font

    def y(self, value: float) -> float:
        """The SVG y of ``value`` on the axis."""
        top = self.ticks[-1][0] or 1.0
        return self.top + (self.bottom - self.top) * (1 - value / top)

    def svg(self, label: str, labels: Sequence[str], marks: Sequence[str], *, bars: bool) -> str:
        """The whole drawing: frame, axis labels and ``marks``."""
        layout, font = self.layout, self.layout.font
        parts = [
            f'<svg class="chart fit-{layout.name}" viewBox="0 0 {layout.width} '
            f'{layout.height}" role="img" aria-label="{escape(label)}" '
            f'preserveAspectRatio="xMidYMid meet" font-size="{font:g}">'
        ]
        for tick, text in self.ticks:  # ascending: the first tick (0) is the bottom line
            y = self.y(tick)
            parts.append(
                f'<line class="grid" x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            )
            # Baseline a third of an em under the line: the label's middle on it.
            parts.append(
                f'<text class="axis" x="{self.left - font * 0.5:.1f}" '
                f'y="{y + font * 0.35:.1f}" text-anchor="end" data-tick="{tick:g}">'
                f"{escape(text)}</text>"
            )
        parts.extend(self._x_labels(labels, bars=bars))
        return "".join(parts) + "".join(marks) + "</svg>"

    def _x_labels(self, labels: Sequence[str], *, bars: bool) -> list[str]:
        font, width = self.layout.font, self.layout.width
        slot = self.plot_width / (len(labels) if bars else max(len(labels) - 1, 1))
        gap = font * LABEL_GAP_EM
        # Label every k-th slot, counted back from the latest period (the one a reader
        # looks for), so that the widest label plus a gap fits: overlapping ticks are
        # unreadable.
        widest = self.text_width(max(labels, key=len, default="")) + gap
        every = max(1, math.ceil(widest / slot))
        shown = [
            (self.left + i * slot + (slot / 2 if bars else 0), text)
            for i, text in enumerate(labels)
            if (len(labels) - 1 - i) % every == 0
        ]
        # Under the bottom y label's descent: the first x label sits where it ends.
        baseline = self.bottom + font * 1.7
        kept: list[str] = []
        left_of_kept = math.inf
        # From the right, so the latest period keeps its label: a label moved inside the
        # chart at the edge may now reach its neighbour, which then gives way.
        for x, text in reversed(shown):
            text_width = self.text_width(text)
            anchor = _anchor(x, text_width, width)
            left = {"end": x - text_width, "start": x}.get(anchor, x - text_width / 2)
            if left + text_width + gap > left_of_kept:
                continue
            left_of_kept = left
            kept.append(
                f'<text class="axis" x="{x:.1f}" y="{baseline:.1f}" '
                f'text-anchor="{anchor}">{escape(text)}</text>'
            )
        return kept[::-1]


def _anchor(x: float, width: float, chart_width: float) -> str:
    """Centre a label under its point unless that runs it past the chart's edge: the last
    month of a line chart ends at the right padding, narrower than half a label
    ("jan. de 2025" was cut to "jan. de 202")."""
    if x + width / 2 > chart_width:
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
