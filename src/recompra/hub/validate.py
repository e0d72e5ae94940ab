"""Field specifications and frame validation shared by every importer and the API.

A spec says which fields an entity has, how each is parsed and whether it is required.
:func:`validate_frame` parses a frame of raw text, rejects each row with at least one
problem (recording every problem), and returns the valid rows with typed values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recompra.hub import normalize
from recompra.hub.parsing import (
    Parsed,
    ParseOptions,
    parse_date,
    parse_int,
    parse_money,
    parse_text,
    parse_timestamp,
    parse_with,
)
from recompra.hub.rejects import ImportReport, Reject

Parser = Callable[[pd.Series, ParseOptions], Parsed]

PARSERS: dict[str, Parser] = {
    "text": parse_text,
    "int": parse_int,
    "money": parse_money,
    "timestamp": parse_timestamp,
    "date": parse_date,
    "email": parse_with(normalize.normalize_email, "not an e-mail address"),
    "cpf": parse_with(normalize.normalize_cpf, "not a valid CPF"),
    "document": parse_with(lambda v: ":".join(normalize.normalize_document(v)), "bad document"),
    "phone": parse_with(normalize.normalize_phone, "not a phone number"),
    "payment_fingerprint": parse_with(
        normalize.normalize_payment_fingerprint, "not a payment fingerprint"
    ),
}

LINE = "_line"
#: With ``keep_bad``: whether the row has a problem.
BAD = "_bad"


@dataclass(frozen=True)
class Field:
    """One field of an entity: its parser kind, whether required, and value bounds."""

    name: str
    kind: str = "text"
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None


def validate_frame(
    frame: pd.DataFrame,
    fields: list[Field],
    *,
    entity: str,
    file: str,
    options: ParseOptions,
    report: ImportReport,
    keep_bad: bool = False,
) -> pd.DataFrame:
    """Parse ``frame`` (raw text columns plus ``_line``) and return the valid typed rows.

    Optional fields absent from ``frame`` are left out of the result (callers read them
    with ``.get``); a required field that is absent rejects every row. Each rejected row
    is counted once in ``report`` under ``entity`` and every problem is recorded.
    ``keep_bad=True`` returns every row instead, with ``_bad`` marking the rejected ones
    (unparsable values are ``None``), for callers that check further rules on them.
    """
    n = len(frame)
    lines = frame[LINE].to_numpy() if LINE in frame else np.arange(2, n + 2)
    bad_rows = np.zeros(n, dtype=bool)
    out: dict[str, np.ndarray] = {}
    empty = pd.Series([""] * n, index=frame.index, dtype=object)
    if "_fields_error" in frame:
        field_errors = frame["_fields_error"].to_numpy()
        for i in np.flatnonzero(field_errors != ""):
            bad_rows[i] = True
            report.reject(Reject(entity, file, int(lines[i]), "*", "", str(field_errors[i])))
    for spec in fields:
        if spec.name not in frame and not spec.required:
            # An optional field the source does not have: nothing to parse or check.
            continue
        raw = frame.get(spec.name, empty)
        parsed = PARSERS[spec.kind](raw, options)
        problems: list[tuple[int, str]] = [
            (int(i), parsed.row_reasons.get(int(i), parsed.reason))
            for i in np.flatnonzero(parsed.bad)
        ]
        if spec.required:
            problems += [
                (int(i), "required value is missing") for i in np.flatnonzero(parsed.missing)
            ]
        problems += _bounds(parsed.values, spec)
        for row, reason in problems:
            bad_rows[row] = True
            value = str(raw.iat[row])
            report.reject(Reject(entity, file, int(lines[row]), spec.name, value, reason))
        out[spec.name] = parsed.values
    counts = report.entity(entity)
    counts.read += n
    counts.rejected += int(bad_rows.sum())
    # Object columns keep Python values (None, aware datetimes, ints) for the database.
    valid = pd.DataFrame({k: pd.Series(v, index=frame.index, dtype=object) for k, v in out.items()})
    valid[LINE] = lines
    if keep_bad:
        valid[BAD] = bad_rows
        return valid.reset_index(drop=True)
    return valid[~bad_rows].reset_index(drop=True)


def _bounds(values: np.ndarray, spec: Field) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    if spec.minimum is None and spec.maximum is None and spec.choices is None:
        return problems
    for i, value in enumerate(values):
        if value is None:
            continue
        if spec.minimum is not None and value < spec.minimum:
            problems.append((i, f"must be at least {spec.minimum}"))
        elif spec.maximum is not None and value > spec.maximum:
            problems.append((i, f"must be at most {spec.maximum}"))
        elif spec.choices is not None and value not in spec.choices:
            problems.append((i, f"must be one of {', '.join(spec.choices)}"))
    return problems


def first_of_key(
    frame: pd.DataFrame, key: list[str], entity: str, file: str, report: ImportReport
) -> pd.DataFrame:
    """Reject rows repeating a key seen earlier in the file (keep the first)."""
    dup = frame.duplicated(key, keep="first")
    if dup.any():
        first_line = frame.groupby(key, sort=False)[LINE].transform("first")
        for i in frame.index[dup]:
            value = ":".join(str(frame.at[i, k]) for k in key)
            report.reject(
                Reject(
                    entity,
                    file,
                    int(str(frame.at[i, LINE])),
                    "+".join(key),
                    value,
                    f"duplicate key (first at line {int(first_line[i])})",
                )
            )
        counts = report.entity(entity)
        counts.rejected += int(dup.sum())
    return frame[~dup]
