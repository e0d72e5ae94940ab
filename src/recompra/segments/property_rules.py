"""Rules over customer properties: ``{field: property.<name>, op: ..., value: ...}``.

A property (:mod:`recompra.hub.properties`) has no declared type: the brand writes text,
whole numbers, true/false or ISO dates. A condition's type follows from its operator and
value, and a stored value of another type never matches (``property.pets gt 2`` is false
for a customer whose ``pets`` is the text ``"two"``):

=========  ===============================================================  =================
type       operators                                                        value
=========  ===============================================================  =================
text       eq, ne, in, not_in, contains (case-sensitive substring)          text(s)
number     eq, ne, gt, gte, lt, lte, between, in, not_in                    number(s)
boolean    eq                                                               true / false
date       gt (after), gte, lt (before), lte, between, within_days N        ISO date(s), or N
           (the last N days up to today), within_next_days N (today and
           the next N days)
any        is_null (not set), is_not_null (set)                             —
=========  ===============================================================  =================

A date property is text starting ``YYYY-MM-DD`` (a timestamp's calendar day counts);
days are UTC calendar days, as for the other date fields. The SQL here is plain
comparisons on the row's typed columns, so it runs unchanged on SQLite, PostgreSQL and
DuckDB (the full evaluation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, exists, func, literal, not_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from recompra.hub.properties import MAX_TEXT, valid_name
from recompra.models import CustomerProperty
from recompra.segments.fields import NULL_OPS
from recompra.segments.purchases import compare

PREFIX = "property."
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in")
DATE_OPS = ("gt", "gte", "lt", "lte", "between", "within_days", "within_next_days")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "text": (*TEXT_OPS, *NULL_OPS),
    "number": (*NUMBER_OPS, *NULL_OPS),
    "boolean": ("eq", *NULL_OPS),
    "date": (*DATE_OPS, *NULL_OPS),
}
PROPERTY_OPS = tuple(sorted({op for ops in OPS_BY_TYPE.values() for op in ops}))
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WINDOWS = ("within_days", "within_next_days")


class PropertyRuleError(ValueError):
    """A property condition that cannot be evaluated; the message says why."""


def property_name(field: str) -> str | None:
    """The property a field names (``property.plan`` -> ``plan``), else ``None``."""
    if not field.startswith(PREFIX):
        return None
    name = field[len(PREFIX) :]
    return name if valid_name(name) else None


def field_of(name: str) -> str:
    """The rule field of property ``name``."""
    return PREFIX + name


def check_property_value(op: Any, value: Any, *, max_days: int, max_list: int) -> Any:
    """The canonical value of a property condition ``op value`` (dates as :class:`date`,
    lists as tuples); the caller names the field in the message of
    :class:`PropertyRuleError`, raised when the operator is unknown or does not fit the
    value."""
    if op not in PROPERTY_OPS:
        raise PropertyRuleError(f"unknown operator {op!r} (use {', '.join(PROPERTY_OPS)})")
    if op in NULL_OPS:
        if value is not None:
            raise PropertyRuleError(f"{op} takes no value")
        return None
    if value is None:
        raise PropertyRuleError(f"{op} needs a value")
    if op in _WINDOWS:
        if not _whole(value) or not 0 <= value <= max_days:
            raise PropertyRuleError(f"{op} needs a whole number of days from 0 to {max_days}")
        return int(value)
    if op in ("in", "not_in", "between"):
        return _list_value(op, value, max_list)
    if isinstance(value, list):
        raise PropertyRuleError(f"{op} takes one value, not a list")
    kind = _scalar_kind(value)
    if kind == "text" and op in ("gt", "gte", "lt", "lte"):
        if not _is_iso_date(value):
            raise PropertyRuleError(
                f"type mismatch: {op} compares numbers or dates; {value!r} is neither "
                "a number nor an ISO date (YYYY-MM-DD)"
            )
        return date.fromisoformat(value)
    if kind is None or op not in OPS_BY_TYPE[kind]:
        allowed = ", ".join(OPS_BY_TYPE[kind]) if kind else "text, a number or true/false"
        what = f"a {kind}" if kind else "not a text, number or true/false"
        raise PropertyRuleError(
            f"type mismatch: {op} does not apply to {value!r} ({what}); "
            f"{kind or 'a value'} takes {allowed}"
        )
    if kind == "text" and (not value.strip() or len(value) > MAX_TEXT):
        raise PropertyRuleError(f"expected a non-empty text of at most {MAX_TEXT} characters")
    return value


def _list_value(op: str, value: Any, max_list: int) -> tuple[Any, ...]:
    if not isinstance(value, list) or not value or len(value) > max_list:
        size = "[low, high]" if op == "between" else f"of at most {max_list} values"
        raise PropertyRuleError(f"{op} needs a non-empty list {size}")
    kinds = {_scalar_kind(v) for v in value}
    if op == "between":
        if len(value) != 2:
            raise PropertyRuleError("between needs a list [low, high]")
        if kinds == {"text"} and all(_is_iso_date(v) for v in value):
            low, high = (date.fromisoformat(v) for v in value)
        elif kinds == {"number"}:
            low, high = value
        else:
            raise PropertyRuleError("type mismatch: between needs two numbers or two ISO dates")
        if low > high:
            raise PropertyRuleError(f"empty range: {value[0]} is above {value[1]}")
        return (low, high)
    if kinds not in ({"text"}, {"number"}):
        raise PropertyRuleError(
            f"type mismatch: the values of {op} must be all texts or all numbers"
        )
    if any(isinstance(v, str) and (not v.strip() or len(v) > MAX_TEXT) for v in value):
        raise PropertyRuleError(f"expected non-empty texts of at most {MAX_TEXT} characters")
    return tuple(dict.fromkeys(value))


def _scalar_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else None


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def condition_type(op: str, value: Any) -> str | None:
    """The type of a canonical property condition (``None``: is_null / is_not_null)."""
    if op in NULL_OPS:
        return None
    sample = value[0] if isinstance(value, tuple) else value
    if op in _WINDOWS or isinstance(sample, date):
        return "date"
    return _scalar_kind(sample)


def value_json(value: Any) -> Any:
    """A canonical value as JSON (dates as ISO text, tuples as lists)."""
    if isinstance(value, tuple):
        return [value_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def date_shaped(text: Any) -> ColumnElement[bool]:
    """Whether a text column holds a date property: ``YYYY-MM-DD`` first, digits where the
    year starts (anything else would compare as text and match date ranges by accident)."""
    day = func.substr(text, 1, 10)
    return and_(
        func.length(text) >= 10,
        func.substr(text, 5, 1) == "-",
        func.substr(text, 8, 1) == "-",
        day >= "0001-01-01",
        day <= "9999-12-31",
    )


def property_types(session: Session, brand_id: int, *, limit: int = 200) -> dict[str, str]:
    """The brand's property names and the type most of their values have (text whose
    every value is a date: ``date``), for the rule builder; at most ``limit`` names."""
    cp = CustomerProperty.__table__
    dated = func.sum(case((date_shaped(cp.c.text_value), 1), else_=0))
    rows = session.execute(
        select(
            cp.c.name,
            func.count(cp.c.text_value),
            func.count(cp.c.number_value),
            func.count(cp.c.flag_value),
            dated,
        )
        .where(cp.c.brand_id == brand_id)
        .group_by(cp.c.name)
        .order_by(cp.c.name)
        .limit(limit)
    )
    found = {}
    for name, texts, numbers, flags, dates in rows:
        counts = {"text": texts, "number": numbers, "boolean": flags}
        kind = max(counts, key=lambda k: counts[k])
        found[name] = "date" if kind == "text" and texts and dates == texts else kind
    return found


def property_sql(
    field: str,
    op: str,
    value: Any,
    *,
    customer_id: Any,
    brand: Any,
    iso_day: Callable[[int], BindParameter[str]],
) -> ColumnElement[bool]:
    """The condition as SQL: whether the customer's property row exists with a value that
    satisfies it (a missing property, or one of another type, satisfies no comparison).

    ``iso_day(n)`` is the ISO text of today + ``n`` days, bound at execution.
    """
    name = property_name(field)
    assert name is not None, "a validated property field"
    cp = CustomerProperty.__table__.alias("cp")
    row = select(literal(1)).where(
        cp.c.brand_id == brand, cp.c.customer_id == customer_id, cp.c.name == name
    )
    if op in NULL_OPS:
        return exists(row) if op == "is_not_null" else not_(exists(row))
    kind = condition_type(op, value)
    if kind == "boolean":
        return exists(row.where(cp.c.flag_value == value))
    if kind == "number":
        return exists(row.where(compare(cp.c.number_value, op, value)))
    text = cp.c.text_value
    if kind == "text":
        if op == "contains":
            return exists(row.where(_Position(text, literal(value)) > 0))
        # A null (another type's row) satisfies no comparison, ne and not_in included.
        return exists(row.where(compare(text, op, value)))
    day = func.substr(text, 1, 10)
    shaped = date_shaped(text)
    if op == "within_days":
        window = and_(day >= iso_day(-value), day <= iso_day(0))
    elif op == "within_next_days":
        window = and_(day >= iso_day(0), day <= iso_day(value))
    else:
        window = compare(day, op, value_json(value))
    return exists(row.where(shaped, window))


class _Position(FunctionElement[int]):
    """Where a text occurs in another (0: it does not): ``strpos`` on PostgreSQL and
    DuckDB, ``instr`` on SQLite. Not ``LIKE``: SQLite's ignores ASCII case, the others'
    does not, and the same rule must select the same customers everywhere."""

    type = Integer()
    inherit_cache = True


@compiles(_Position)
def _strpos(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "sqlite")
def _instr(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"
