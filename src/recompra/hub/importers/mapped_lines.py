"""Checks on a mapped file's order lines, before anything is written.

Every line is looked at whole: its parse problems, the hub's value rules, its status, its
customer identity. A line with any problem is rejected with all of them; an order with a
rejected line is rejected whole (its other lines say which line); exact duplicate lines
are counted, not written twice. Negative lines become return lines when the mapping
says so (``invoice_prefix``, ``negative_quantity_is_return``). What remains is sure to be
written as read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from recompra.hub.canonical import OrderStatus
from recompra.hub.rejects import ImportReport, Reject
from recompra.hub.rules import (
    IDENTITY_FIELDS,
    LINE_FIELDS,
    NO_IDENTITY,
    UNKNOWN_STATUS,
    has_identity,
    line_value_problems,
    status_of,
)
from recompra.hub.validate import LINE

if TYPE_CHECKING:
    from recompra.hub.importers.csv_mapping import Mapping

#: Where a line comes from: its file and its physical line.
FILE = "_file"
#: The line's position among all lines read (its ``origin`` in the canonical model).
POSITION = "_pos"
_FIELD_ORDER = {f.name: i for i, f in enumerate(LINE_FIELDS)}
_DUPLICATE_KEY = ("order_id", "product_id", "quantity", "unit_price", "purchased_at")


@dataclass
class CheckedLines:
    """The lines to write: purchase lines (with their order status) and return lines."""

    purchases: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)


def _is_return(row: dict[str, Any], mapping: Mapping) -> bool:
    quantity = row.get("quantity")
    if quantity is None or quantity >= 0:
        return False
    prefix = mapping.cancellation.invoice_prefix
    by_prefix = bool(prefix) and str(row.get("order_id") or "").startswith(str(prefix))
    return by_prefix or mapping.cancellation.negative_quantity_is_return


class _Vocabulary:
    """The mapping's words and patterns, prepared once for every line."""

    def __init__(self, mapping: Mapping) -> None:
        self.cancel_words = {w.lower() for w in mapping.cancellation.statuses}
        self.status_map = {k.lower(): v for k, v in mapping.status_map.items()}
        self.non_merchandise = set(mapping.non_merchandise.products)
        pattern = mapping.non_merchandise.pattern
        self.pattern = re.compile(pattern, re.IGNORECASE) if pattern else None

    def merchandise(self, row: dict[str, Any]) -> bool:
        product = str(row.get("product_id") or "")
        if product in self.non_merchandise:
            return False
        if self.pattern is not None:
            name = str(row.get("product_name") or "")
            return not (self.pattern.search(product) or self.pattern.search(name))
        return True

    def status(self, row: dict[str, Any]) -> OrderStatus | None:
        word = str(row.get("status") or "").strip().lower()
        if word in self.cancel_words:
            return OrderStatus.CANCELED
        return status_of(word, self.status_map)


def _text(raw: pd.DataFrame, position: int, column: str) -> str:
    """The line's cell as written (empty when the mapping has no such column)."""
    return str(raw.at[position, column]) if column in raw.columns else ""


def _revenue(row: dict[str, Any], sign: int = 1) -> int:
    quantity, price = row.get("quantity"), row.get("unit_price")
    if quantity is None or price is None:
        return 0
    return int(sign * quantity * price - (row.get("discount") or 0))


def check_lines(
    records: list[dict[str, Any]],
    raw: pd.DataFrame,
    parse_rejects: Sequence[Reject],
    mapping: Mapping,
    report: ImportReport,
) -> CheckedLines:
    """Check parsed ``records`` (every line, ``_bad`` set by the parser) and report.

    ``raw`` holds each line's text (for the values quoted in rejects); ``parse_rejects``
    the parser's problems. Counts go to ``order_items`` and ``returns`` (return lines),
    the problems to ``report`` in file and line order.
    """
    position_of = {(str(r[FILE]), int(r[LINE])): i for i, r in enumerate(records)}
    problems: dict[int, list[tuple[str, str, str]]] = {}
    for reject in parse_rejects:
        problems.setdefault(position_of[(reject.file, reject.line)], []).append(
            (reject.column, reject.value, reject.reason)
        )
    words = _Vocabulary(mapping)
    returns_mask = [_is_return(r, mapping) for r in records]
    statuses: list[OrderStatus | None] = []
    for i, row in enumerate(records):
        found = problems.setdefault(i, [])
        sign = -1 if returns_mask[i] else 1
        quantity = row.get("quantity")
        for column, reason in line_value_problems(
            quantity=None if quantity is None else sign * quantity,
            unit_price=row.get("unit_price"),
            freight=row.get("freight"),
            discount=row.get("discount"),
        ):
            if not any(c == column for c, _, _ in found):
                found.append((column, _text(raw, i, column), reason))
        status = None if returns_mask[i] else words.status(row)
        if status is None and not returns_mask[i]:
            found.append(("status", _text(raw, i, "status"), UNKNOWN_STATUS))
        statuses.append(status)
        if not has_identity({k: row.get(k) for k in IDENTITY_FIELDS}):
            # Per reason: no identity cell filled, or only unreadable ones (their rejects
            # say why, e.g. "not an e-mail address").
            unreadable = any(c in IDENTITY_FIELDS for c, _, _ in found)
            if not unreadable:
                found.append(("customer_id", _text(raw, i, "customer_id"), NO_IDENTITY))
            kind = "unreadable_customer" if unreadable else "no_customer"
            report.note(f"{kind}_lines", 1)
            report.note(f"{kind}_revenue_minor", _revenue(row, sign))
    bad = {i for i, found in problems.items() if found}
    duplicates = _duplicates(records, bad, mapping)
    _reject_whole_orders(records, returns_mask, bad, duplicates, problems)
    _report(records, returns_mask, problems, duplicates, report)
    checked = CheckedLines()
    for i, row in enumerate(records):
        if problems.get(i) or i in duplicates:
            continue
        line = {**row, POSITION: i, "is_merchandise": words.merchandise(row)}
        if returns_mask[i]:
            checked.returns.append(line)
        else:
            checked.purchases.append({**line, "status_value": statuses[i]})
    _note_classes(checked.purchases, report)
    if mapping.cancellation.negative_quantity_is_return:
        applied = sum(1 for r in checked.returns if not _prefixed(r, mapping))
        report.note("negative_quantity_is_return_applied", applied)
    return checked


def _prefixed(row: dict[str, Any], mapping: Mapping) -> bool:
    prefix = mapping.cancellation.invoice_prefix
    return bool(prefix) and str(row.get("order_id") or "").startswith(str(prefix))


def _duplicates(records: list[dict[str, Any]], bad: set[int], mapping: Mapping) -> set[int]:
    """Lines repeating an earlier good line exactly (unless a line number tells them apart)."""
    if "line_number" in mapping.columns:
        return set()
    seen: set[tuple[Any, ...]] = set()
    repeated: set[int] = set()
    for i, row in enumerate(records):
        if i in bad:
            continue
        key = tuple(row.get(k) for k in _DUPLICATE_KEY)
        if key in seen:
            repeated.add(i)
        seen.add(key)
    return repeated


def _reject_whole_orders(
    records: list[dict[str, Any]],
    returns_mask: list[bool],
    bad: set[int],
    duplicates: set[int],
    problems: dict[int, list[tuple[str, str, str]]],
) -> None:
    """An order with a rejected line is rejected whole: never stored with a line missing."""
    bad_lines: dict[str, list[int]] = {}
    for i in sorted(bad):
        if not returns_mask[i] and records[i].get("order_id") is not None:
            bad_lines.setdefault(str(records[i]["order_id"]), []).append(int(records[i][LINE]))
    for i, row in enumerate(records):
        order = str(row.get("order_id"))
        if i in bad or i in duplicates or returns_mask[i] or order not in bad_lines:
            continue
        lines = bad_lines[order]
        which = f"line {lines[0]} has" if len(lines) == 1 else f"lines {lines} have"
        problems[i] = [("*", "", f"order {order} is rejected whole: {which} problems")]


def _report(
    records: list[dict[str, Any]],
    returns_mask: list[bool],
    problems: dict[int, list[tuple[str, str, str]]],
    duplicates: set[int],
    report: ImportReport,
) -> None:
    items, returns = report.entity("order_items"), report.entity("returns")
    items.read += returns_mask.count(False)
    returns.read += returns_mask.count(True)
    items.duplicate += sum(1 for i in duplicates if not returns_mask[i])
    returns.duplicate += sum(1 for i in duplicates if returns_mask[i])
    found = []
    for i, row_problems in problems.items():
        if not row_problems:
            continue
        counts = returns if returns_mask[i] else items
        counts.rejected += 1
        entity = "returns" if returns_mask[i] else "order_items"
        for column, value, reason in row_problems:
            found.append(
                Reject(entity, str(records[i][FILE]), int(records[i][LINE]), column, value, reason)
            )
    files = list(dict.fromkeys(str(r[FILE]) for r in records))
    found.sort(key=lambda r: (files.index(r.file), r.line, _FIELD_ORDER.get(r.column, -1)))
    report.rejects.extend(found)


def _note_classes(purchases: list[dict[str, Any]], report: ImportReport) -> None:
    merchandise = [r for r in purchases if r["is_merchandise"]]
    other = [r for r in purchases if not r["is_merchandise"]]
    report.note("non_merchandise_lines", len(other))
    report.note("zero_price_lines", sum(1 for r in purchases if r.get("unit_price") == 0))
    report.note("revenue_merchandise_minor", sum(_revenue(r) for r in merchandise))
    report.note("revenue_non_merchandise_minor", sum(_revenue(r) for r in other))
    for kind in ("no_customer", "unreadable_customer"):
        report.facts.setdefault(f"{kind}_lines", 0)
        report.facts.setdefault(f"{kind}_revenue_minor", 0)
