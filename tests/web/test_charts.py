"""Unit tests of the SVG chart helper and the segment names (no browser)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from recompra.analytics import SEGMENTS, SegmentKey
from recompra.formatting import format_money_short
from recompra.web import charts
from recompra.web.i18n import segment_name


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (3_526_272, [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]),
        (1.0, [0, 0.25, 0.5, 0.75, 1.0]),
        (0.43, [0, 0.2, 0.4, 0.6]),
        (87, [0, 25, 50, 75, 100]),
        (7, [0, 2, 4, 6, 8]),
        (0, [0, 0.25, 0.5, 0.75, 1.0]),
    ],
)
def test_nice_ticks_start_at_zero_increase_and_cover_the_top(
    top: float, ticks: list[float]
) -> None:
    got = charts.nice_ticks(top)
    assert got == pytest.approx(ticks)
    assert got == sorted(got)
    assert got[-1] >= top


def test_count_ticks_are_whole_numbers() -> None:
    assert charts.nice_ticks(1, integer=True) == [0, 1]
    assert charts.nice_ticks(3, integer=True) == [0, 1, 2, 3]
    assert all(t == int(t) for t in charts.nice_ticks(10, integer=True))
    assert charts.nice_ticks(166, integer=True) == [0, 50, 100, 150, 200]


def _drawings(markup: str) -> list[str]:
    """The SVG drawings of a chart's box, one per layout."""
    drawings = re.findall(r"<svg .*?</svg>", markup)
    assert len(drawings) == len(charts.LAYOUTS)
    return drawings


def test_revenue_axis_labels_increase_upwards_at_the_right_scale() -> None:
    # Monthly revenue of about R$ 20-35k, in centavos.
    values = [2_000_000.0, 3_526_272.0, 2_950_000.0]
    markup = str(
        charts.line_chart(
            ["a", "b", "c"],
            values,
            label="Receita",
            fmt=str,
            axis_fmt=lambda v: format_money_short(v, "pt-BR"),
        )
    )
    for svg in _drawings(markup):
        axis = re.findall(r'y="([\d.]+)" text-anchor="end" data-tick="([\d.e+]+)">([^<]+)<', svg)
        # Top to bottom on screen (ascending y): the values must decrease.
        axis.sort(key=lambda a: float(a[0]))
        ticks = [float(t) for _, t, _ in axis]
        assert ticks == [4_000_000, 3_000_000, 2_000_000, 1_000_000, 0]
        # CLDR's pt short compact pattern for thousands is "0 mil" (no-break spaces).
        assert [text for _, _, text in axis] == [
            "R$\u00a040\u00a0mil",
            "R$\u00a030\u00a0mil",
            "R$\u00a020\u00a0mil",
            "R$\u00a010\u00a0mil",
            "R$\u00a00",
        ]
        # The highest point sits below the top grid line, inside the plot.
        top_line = min(float(y) for y in re.findall(r'<line class="grid" [^>]*y1="([\d.]+)"', svg))
        ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
        assert min(ys) > top_line


def test_every_layout_has_its_container_rule_in_the_stylesheet() -> None:
    """The stylesheet shows each drawing from its layout's width: a layout added or moved
    without its rule would never show (or show beside another)."""
    css = (Path(charts.__file__).parent / "static" / "style.css").read_text()
    for narrower, layout in itertools.pairwise(charts.LAYOUTS):
        rule = re.search(
            rf"@container \(min-width: {layout.min_px}px\) \{{\s*"
            rf"\.chart-box > \.fit-{narrower.name} \{{ display: none; \}}\s*"
            rf"\.chart-box > \.fit-{layout.name} \{{ display: block; \}}",
            css,
        )
        assert rule is not None, layout
    assert f".chart-box > .fit-{charts.LAYOUTS[0].name} {{ display: block; }}" in css


def test_money_short_in_english() -> None:
    # CLDR's en short compact patterns: "¤0K" and "¤0.0M".
    assert format_money_short(4_000_000, "en") == "R$40K"
    assert format_money_short(250_000_000, "en") == "R$2.5M"


def test_every_segment_key_has_the_analytics_names() -> None:
    for segment in SEGMENTS:
        assert segment_name(segment.key, "pt-BR") == segment.name_pt
        assert segment_name(segment.key, "en") == segment.name_en
    assert {segment.key for segment in SEGMENTS} == set(SegmentKey)
    # The plain string stored with the scores finds the same name as the enum member.
    assert segment_name("new_customers", "pt-BR") == "Novos clientes"
    assert segment_name(SegmentKey.CANT_LOSE_THEM, "en") == "Can't Lose Them"
    assert segment_name(None, "en") == "Unsegmented"


def test_the_last_month_keeps_its_label_inside_the_chart_without_overlap() -> None:
    """Nineteen months end at the right padding, narrower than half a label: in every
    layout the last month is anchored at its end and keeps its label, the labels stay
    inside the drawing and none overlaps the next."""
    months = [f"m{i:02d}. de 2024" for i in range(19)]
    markup = str(charts.line_chart(months, [1.0] * 19, label="receita", fmt=str))
    for layout, svg in zip(charts.LAYOUTS, _drawings(markup), strict=True):
        axis = re.findall(
            r'<text class="axis" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">([^<]+)</text>',
            svg,
        )
        assert axis[-1][1:] == ("end", "m18. de 2024")
        extents = []
        for x, anchor, text in axis:
            width = charts.text_ems(text) * layout.font
            left = float(x) - {"start": 0, "middle": width / 2, "end": width}[anchor]
            extents.append((left, left + width))
        assert all(left >= 0 and right <= layout.width for left, right in extents)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(extents))
