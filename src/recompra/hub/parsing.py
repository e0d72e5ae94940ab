"""Vectorised parsing of raw text columns into typed values, with per-row reasons.

Importers read every source column as text and hand it here; each parser returns the
typed column and a mask of the rows whose non-empty value could not be parsed, so that
the importer can reject exactly those rows with the field and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ParseOptions:
    """How a source writes numbers, dates and money.

    ``timezone`` is the zone of naive source timestamps (Olist writes São Paulo local
    time); every parsed timestamp is converted to UTC. Ambiguous local times (the hour
    repeated when daylight saving time ends) are read as daylight time, so no row is lost.
    """

    decimal: str = "."
    thousands: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
    timezone: str = "UTC"
    currency: str = "BRL"
    minor_digits: int = 2
    encoding: str = "utf-8"
    delimiter: str = ","


@dataclass
class Parsed:
    """A parsed column: ``values`` (object array of Python values or None) and ``bad``."""

    values: np.ndarray
    bad: np.ndarray
    reason: str
    missing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Per-row reasons that are more precise than ``reason`` (row position -> text).
    row_reasons: dict[int, str] = field(default_factory=dict)


def _missing(raw: pd.Series) -> np.ndarray:
    return (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()


def _object(values: pd.Series, missing: np.ndarray) -> np.ndarray:
    out = values.astype(object).to_numpy(copy=True)
    out[missing] = None
    return out


def parse_text(raw: pd.Series, _opts: ParseOptions) -> Parsed:
    """Trimmed text; empty means missing."""
    missing = _missing(raw)
    values = _object(raw.astype(str).str.strip(), missing)
    return Parsed(values, np.zeros(len(raw), dtype=bool), "", missing)


def parse_int(raw: pd.Series, _opts: ParseOptions) -> Parsed:
    """Integers (a trailing ``.0`` written by spreadsheets is accepted)."""
    missing = _missing(raw)
    numbers = pd.to_numeric(raw.astype(str).str.strip(), errors="coerce")
    integral = numbers.notna() & (numbers == np.floor(numbers.fillna(0)))
    bad = ~missing & ~integral.to_numpy()
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~bad
    out[ok] = numbers.to_numpy()[ok].astype(np.int64)
    return Parsed(out, bad, "not a whole number", missing)


def parse_money(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Decimal amounts into integer minor units (``58,9`` with decimal ``,`` -> 5890)."""
    missing = _missing(raw)
    text = raw.astype(str).str.strip().str.replace(r"^R\$\s*", "", regex=True)
    if opts.thousands:
        text = text.str.replace(opts.thousands, "", regex=False)
    if opts.decimal != ".":
        if opts.thousands is None:
            # "1.234,56" with decimal "," and no thousands separator declared: drop dots.
            text = text.str.replace(".", "", regex=False)
        text = text.str.replace(opts.decimal, ".", regex=False)
    well_formed = text.str.fullmatch(r"-?\d+(\.\d+)?").fillna(False).to_numpy()
    numbers = pd.to_numeric(text.where(well_formed), errors="coerce").to_numpy()
    bad = ~missing & ~well_formed
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~bad
    scaled = np.round(numbers[ok] * 10**opts.minor_digits)
    out[ok] = scaled.astype(np.int64)
    return Parsed(out, bad, "not a valid amount", missing)


def _to_utc(parsed: pd.Series, opts: ParseOptions) -> pd.Series:
    if parsed.dt.tz is None:
        ambiguous = np.ones(len(parsed), dtype=bool)
        parsed = parsed.dt.tz_localize(
            opts.timezone, ambiguous=ambiguous, nonexistent="shift_forward"
        )
    converted: pd.Series = parsed.dt.tz_convert("UTC")
    return converted


def parse_timestamp(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Timestamps in any of ``opts.date_formats`` (or ISO 8601 with offset), to UTC."""
    missing = _missing(raw)
    text = raw.astype(str).str.strip()
    result = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    todo = ~missing
    for fmt in opts.date_formats:
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = attempt.notna()
        if hit.any():
            result.loc[hit[hit].index] = _to_utc(attempt[hit], opts)
            todo[np.flatnonzero(todo)[hit.to_numpy()]] = False
    if todo.any():
        # ISO 8601 (with fractional seconds or an offset) is always accepted as well.
        attempt = pd.to_datetime(text[todo], format="ISO8601", errors="coerce")
        if pd.api.types.is_datetime64_any_dtype(attempt.dtype):
            hit = attempt.notna()
            if hit.any():
                result.loc[hit[hit].index] = _to_utc(attempt[hit], opts)
                todo[np.flatnonzero(todo)[hit.to_numpy()]] = False
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~todo
    out[ok] = [t.to_pydatetime() for t in result[ok]]
    return Parsed(out, todo, f"not a date/time in the format {' or '.join(opts.date_formats)}")


def parse_date(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Calendar dates (no time zone conversion)."""
    missing = _missing(raw)
    text = raw.astype(str).str.strip()
    result = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    todo = ~missing
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", *opts.date_formats):
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        hit = attempt.notna()
        result.loc[hit[hit].index] = attempt[hit]
        todo[np.flatnonzero(todo)[hit.to_numpy()]] = False
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~todo
    out[ok] = [date(t.year, t.month, t.day) for t in result[ok]]
    return Parsed(out, todo, "not a date (YYYY-MM-DD or DD/MM/YYYY)")


def parse_with(function: Callable[[str], object], reason: str) -> Callable[..., Parsed]:
    """Build a parser from a per-value function that raises ``ValueError`` on bad input."""

    def parse(raw: pd.Series, _opts: ParseOptions) -> Parsed:
        missing = _missing(raw)
        out = np.full(len(raw), None, dtype=object)
        bad = np.zeros(len(raw), dtype=bool)
        reasons: dict[int, str] = {}
        for i in np.flatnonzero(~missing):
            try:
                out[i] = function(str(raw.iat[int(i)]))
            except ValueError as exc:
                bad[i] = True
                reasons[int(i)] = str(exc)
        return Parsed(out, bad, reason, missing, reasons)

    return parse
