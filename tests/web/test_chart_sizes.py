"""Chart axis labels stay readable on a phone (real Chromium, 1366 and 390 px, pt-BR
and en): every visible axis label is drawn at 11 px or more, and no two overlap.

An SVG scales its text with its ``viewBox``: the 640-unit-wide chart drawn at 11 units
shrank to about 6 px on a 390 px screen. The check measures what the browser draws (the
computed font size times the SVG's scale on screen), not our own numbers.
"""

from __future__ import annotations

from typing import Any

import pytest
from webtest import Server, screenshot, sign_in

pytestmark = pytest.mark.browser

#: Pages that draw charts (the models page's chart needs the ``backtests`` fixture).
CHART_PAGES = {
    "overview": "/dashboard",
    "clv": "/dashboard/clv",
    "voc": "/dashboard/voc",
    "models": "/dashboard/models",
}
MIN_AXIS_PX = 11

#: Per visible chart: its axis labels' drawn font sizes and the overlapping label pairs.
MEASURE = """() => {
  const charts = [];
  for (const svg of document.querySelectorAll('svg.chart')) {
    const frame = svg.getBoundingClientRect();
    if (frame.width === 0) continue;  // the other width's variant, or a closed tab
    const scale = svg.getScreenCTM().a;
    const labels = [...svg.querySelectorAll('text.axis')].map(text => ({
      text: text.textContent,
      px: parseFloat(getComputedStyle(text).fontSize) * scale,
      box: text.getBoundingClientRect(),
    }));
    const overlaps = [];
    labels.forEach((a, i) => labels.slice(i + 1).forEach(b => {
      if (a.box.left < b.box.right && b.box.left < a.box.right
          && a.box.top < b.box.bottom && b.box.top < a.box.bottom) {
        overlaps.push([a.text, b.text]);
      }
    }));
    charts.push({
      sizes: labels.map(label => [label.text, label.px]),
      overlaps: overlaps,
    });
  }
  return charts;
}"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["pt-BR", "en"])
def test_axis_labels_are_at_least_11_px_and_never_overlap(
    server: Server, tab_at: Any, backtests: dict[str, Any], viewport: str, locale: str
) -> None:
    tab = tab_at(viewport, locale)
    sign_in(tab, server)
    if locale == "en":
        tab.goto(server.url + "/dashboard/lang?to=en&next=/dashboard")
        tab.wait_for_url("**/dashboard")
    problems: list[str] = []
    for name, path in CHART_PAGES.items():
        response = tab.goto(server.url + path)
        assert response is not None, name
        assert response.status == 200, name
        screenshot(tab, f"charts-{name}-{viewport}-{locale}")
        charts = tab.evaluate(MEASURE)
        if not charts:
            problems.append(f"{name}: no chart shown")
        for chart in charts:
            small = [(text, round(px, 1)) for text, px in chart["sizes"] if px < MIN_AXIS_PX]
            if small:
                problems.append(f"{name}: axis labels under {MIN_AXIS_PX} px: {small}")
            if chart["overlaps"]:
                problems.append(f"{name}: overlapping labels {chart['overlaps']}")
    assert problems == []
