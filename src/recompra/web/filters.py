"""The filters every dashboard page shares, kept in the URL's query string.

``brand``, ``state`` (UF), ``channel`` (sales channel of an order), ``segment`` (an RFM
segment key) and ``live`` (a live segment's id) travel with the navigation links and the
exports (:func:`carried_query`), so a manager who narrows the view keeps it from page to
page. ``range``, ``from`` and ``to`` choose the date range of the KPI cards
(:func:`date_range`). Each page says which of the filters it applies (``Page.applies``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from recompra.formatting import Locale

FilterName = Literal["state", "channel", "segment", "live"]
FILTER_NAMES: tuple[FilterName, ...] = get_args(FilterName)
#: The query parameters carried from page to page.
CARRIED = ("brand", *FILTER_NAMES, "range", "from", "to")

RangePreset = Literal["all", "30d", "90d", "365d", "year", "custom"]
RANGE_PRESETS: tuple[RangePreset, ...] = get_args(RangePreset)
_PRESET_DAYS = {"30d": 30, "90d": 90, "365d": 365}
#: Longest value kept from a filter parameter (UFs, channel and segment keys are short).
_MAX_VALUE = 64
#: How the range's dates are written in each language. The page's own text inputs, not
#: ``<input type=date>``, whose format follows the browser's locale (mm/dd/yyyy on an
#: en-US browser showing a pt-BR page).
DATE_INPUT_FORMATS: dict[Locale, str] = {"pt-BR": "%d/%m/%Y", "en": "%Y-%m-%d"}
#: Either form is read whatever the page's language (a link keeps what was typed).
DATE_INPUT_PATTERN = r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}"


def carried_query(params: QueryParams, **changes: str | None) -> str:
    """The carried parameters of ``params`` (with ``changes``) as a query string."""
    values = {name: params.get(name) for name in CARRIED}
    values.update(changes)
    return urlencode({k: v[:_MAX_VALUE] for k, v in values.items() if v})


@dataclass(frozen=True)
class Filters:
    """The shared filters of a request (``None``: not filtered)."""

    state: str | None = None
    channel: str | None = None
    segment: str | None = None
    live: int | None = None

    @classmethod
    def from_query(cls, params: QueryParams) -> Filters:
        """The filters in ``params`` (blank values are no filter)."""
        values = {
            name: (params.get(name) or "").strip()[:_MAX_VALUE] or None for name in FILTER_NAMES
        }
        state, live = values["state"], values["live"]
        return cls(
            state=state.upper() if state else None,
            channel=values["channel"],
            segment=values["segment"],
            live=int(live) if live and live.isdigit() and len(live) < 19 else None,
        )

    def active(self) -> dict[FilterName, str]:
        """The filters that are set, by name."""
        return {n: str(v) for n in FILTER_NAMES if (v := getattr(self, n)) is not None}


@dataclass(frozen=True)
class DateRange:
    """The KPI cards' range as asked (``end`` may run past the data's as-of date)."""

    preset: RangePreset
    start: date | None
    end: date | None


def date_input_value(value: date | None, locale: Locale) -> str:
    """``value`` as the range's date inputs show it (empty when there is none)."""
    return "" if value is None else value.strftime(DATE_INPUT_FORMATS[locale])


def _parse_date(value: str | None) -> date | None:
    """A typed date in either :data:`DATE_INPUT_FORMATS` form, else ``None``."""
    for form in DATE_INPUT_FORMATS.values():
        try:
            # A calendar day: the zone only keeps the parsed value from being naive.
            return datetime.strptime((value or "").strip(), form).replace(tzinfo=UTC).date()
        except ValueError:
            continue
    return None


def date_range(params: QueryParams, as_of: date) -> DateRange:
    """The range the query asks for, ending on the as-of date for the presets.

    ``30d``/``90d``/``365d``: the last N days up to the as-of date; ``year``: 1 January
    of the as-of year to its 31 December (partial until the year is over); ``custom``:
    ``from``..``to`` (swapped when given backwards); anything else: the whole history.
    """
    preset = params.get("range")
    if preset in _PRESET_DAYS:
        days = _PRESET_DAYS[preset]
        return DateRange(preset, as_of - timedelta(days=days - 1), as_of)  # type: ignore[arg-type]
    if preset == "year":
        return DateRange("year", date(as_of.year, 1, 1), date(as_of.year, 12, 31))
    if preset == "custom":
        start, end = _parse_date(params.get("from")), _parse_date(params.get("to"))
        if start is not None and end is not None:
            return DateRange("custom", min(start, end), max(start, end))
    return DateRange("all", None, None)
