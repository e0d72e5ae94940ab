"""Vectorised parsing of raw text columns into typed values, with per-row reasons.

Importers read every source column as text and hand it here; each parser returns the
typed column and a mask of the rows whose non-empty value could not be parsed, so that
the importer can reject exactly those rows with the field and the reason.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

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


def _stripped(raw: pd.Series) -> list[str]:
    """Each value as trimmed text (a plain loop: pandas' ``.str.strip()`` on object
    columns is a Python loop too, behind a fixed cost that dominated an API batch's)."""
    return [str(v).strip() for v in raw.to_numpy()]


def _missing(raw: pd.Series, stripped: list[str] | None = None) -> np.ndarray:
    text = _stripped(raw) if stripped is None else stripped
    empty = np.fromiter((not v for v in text), bool, len(text))
    missing: np.ndarray = raw.isna().to_numpy() | empty
    return missing


def parse_text(raw: pd.Series, _opts: ParseOptions) -> Parsed:
    """Trimmed text; empty means missing."""
    stripped = _stripped(raw)
    missing = _missing(raw, stripped)
    values = np.empty(len(stripped), dtype=object)
    values[:] = stripped
    values[missing] = None
    return Parsed(values, np.zeros(len(raw), dtype=bool), "", missing)


def parse_int(raw: pd.Series, _opts: ParseOptions) -> Parsed:
    """Integers (a trailing ``.0`` written by spreadsheets is accepted)."""
    stripped = _stripped(raw)
    missing = _missing(raw, stripped)
    numbers = pd.to_numeric(pd.Series(stripped, index=raw.index, dtype=object), errors="coerce")
    integral = numbers.notna() & (numbers == np.floor(numbers.fillna(0)))
    bad = ~missing & ~integral.to_numpy()
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~bad
    out[ok] = numbers.to_numpy()[ok].astype(np.int64)
    return Parsed(out, bad, "not a whole number", missing)


AMBIGUOUS_AMOUNT = (
    "ambiguous amount: the mapping's decimal separator is {decimal!r} and {other!r} is not "
    "a thousands separator here"
)


def parse_money(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Decimal amounts into integer minor units (``58,9`` with decimal ``,`` -> 5890).

    Without a declared thousands separator, the other mark (``.`` when the decimal is
    ``,``) is accepted only in whole groups of three digits (``1.250,00``); ``35.5`` with
    decimal ``,`` could be 35,50 or 355,00, so it is rejected, never guessed.
    """
    missing = _missing(raw)
    text = raw.astype(str).str.strip().str.replace(r"^R\$\s*", "", regex=True)
    row_reasons: dict[int, str] = {}
    stray = pd.Series(False, index=raw.index)
    if opts.thousands:
        text = text.str.replace(opts.thousands, "", regex=False)
    else:
        other = "," if opts.decimal == "." else "."
        d, o = re.escape(opts.decimal), re.escape(other)
        grouped = text.str.fullmatch(rf"-?\d{{1,3}}({o}\d{{3}})+({d}\d+)?").fillna(False)
        stray = text.str.contains(other, regex=False).fillna(False) & ~grouped
        reason = AMBIGUOUS_AMOUNT.format(decimal=opts.decimal, other=other)
        row_reasons = {int(i): reason for i in np.flatnonzero(stray.to_numpy() & ~missing)}
        text = text.where(stray, text.str.replace(other, "", regex=False))
    if opts.decimal != ".":
        text = text.str.replace(opts.decimal, ".", regex=False)
    well_formed = text.str.fullmatch(r"-?\d+(\.\d+)?").fillna(False).to_numpy()
    well_formed &= ~stray.to_numpy()
    numbers = pd.to_numeric(text.where(well_formed), errors="coerce").to_numpy()
    bad = ~missing & ~well_formed
    out = np.full(len(raw), None, dtype=object)
    ok = ~missing & ~bad
    scaled = np.round(numbers[ok] * 10**opts.minor_digits)
    out[ok] = scaled.astype(np.int64)
    return Parsed(out, bad, "not a valid amount", missing, row_reasons)


NO_SUCH_DATE = "no such date: the format is right but the day does not exist"


def _date_reasons(text: Sequence[str], bad: np.ndarray, formats: Sequence[str]) -> dict[int, str]:
    """Say "no such date" for values in a right format whose day does not exist (31/02)."""
    reasons: dict[int, str] = {}
    for i in np.flatnonzero(bad):
        value = str(text[int(i)])
        for fmt in formats:
            try:
                datetime.strptime(value, fmt).replace(tzinfo=UTC)
            except ValueError as exc:
                if "out of range" in str(exc) or "must be in" in str(exc):
                    reasons[int(i)] = NO_SUCH_DATE
                    break
    return reasons


def _to_utc(parsed: pd.DatetimeIndex, opts: ParseOptions) -> pd.DatetimeIndex:
    if parsed.tz is None:
        ambiguous = np.ones(len(parsed), dtype=bool)
        parsed = parsed.tz_localize(opts.timezone, ambiguous=ambiguous, nonexistent="shift_forward")
    return parsed.tz_convert("UTC")


def _one(value: str, fmt: str) -> Any:
    """One value parsed by ``fmt``: a ``Timestamp``, ``NaT`` when it does not match."""
    return pd.to_datetime(value, format=fmt, errors="coerce")


def _column(values: np.ndarray, fmt: str) -> pd.DatetimeIndex | None:
    """``values`` parsed by ``fmt`` (``NaT`` where one does not match); ``None`` when they
    hold different UTC offsets, which no one column holds (pandas warns, and will raise)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    except ValueError:
        return None
    return parsed if isinstance(parsed, pd.DatetimeIndex) else None


def parse_timestamp(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Timestamps in any of ``opts.date_formats`` (or ISO 8601 with offset), to UTC.

    Each attempt parses the values still unparsed, as an array, and its hits go straight
    into the result (a tz-aware Series filled by label, then read back value by value,
    cost more than the parsing for an API batch)."""
    stripped = _stripped(raw)
    missing = _missing(raw, stripped)
    text = np.empty(len(stripped), dtype=object)
    text[:] = stripped
    out = np.full(len(raw), None, dtype=object)
    todo = ~missing
    for fmt in (*opts.date_formats, "ISO8601"):
        # ISO 8601 (with fractional seconds or an offset) is always accepted as well.
        if not todo.any():
            break
        pending = np.flatnonzero(todo)
        attempt = _column(text[pending], fmt)
        if attempt is None:
            # Values with different UTC offsets (or naive beside offsets) make no column
            # of one time zone: each is parsed on its own, by the same format (they were
            # all rejected before, whatever their format).
            attempt = pd.DatetimeIndex(
                [_to_utc(pd.DatetimeIndex([_one(v, fmt)]), opts)[0] for v in text[pending]]
            )
        hit = ~np.asarray(attempt.isna())
        if hit.any():
            out[pending[hit]] = list(_to_utc(attempt[hit], opts).to_pydatetime())
            todo[pending[hit]] = False
    reasons = _date_reasons(stripped, todo, opts.date_formats)
    reason = f"not a date/time in the format {' or '.join(opts.date_formats)}"
    return Parsed(out, todo, reason, missing, reasons)


def parse_date(raw: pd.Series, opts: ParseOptions) -> Parsed:
    """Calendar dates (no time zone conversion)."""
    stripped = _stripped(raw)
    missing = _missing(raw, stripped)
    text = pd.Series(stripped, index=raw.index, dtype=object)
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
    reasons = _date_reasons(stripped, todo, ("%Y-%m-%d", "%d/%m/%Y", *opts.date_formats))
    return Parsed(out, todo, "not a date (YYYY-MM-DD or DD/MM/YYYY)", missing, reasons)


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
