"""Compiled rules, cached: a stored rule never changes, so its statement is built once.

Incremental re-evaluation (one customer, every active segment, inside a write) and
journeys' condition nodes look statements up by the rules' hashes instead of compiling
them on every call.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from recompra.segments.compile import CompiledSegment, compile_many, compile_rule
from recompra.segments.definition import parse_rule


def rule_hash(rule: dict[str, Any]) -> str:
    """SHA-256 of a canonical rule (stored with each version)."""
    return hashlib.sha256(json.dumps(rule, sort_keys=True).encode()).hexdigest()


#: Compiled multi-rule statements by (rule hashes, subset); bounded, oldest out first.
_MANY: OrderedDict[tuple[tuple[str, ...], bool], CompiledSegment] = OrderedDict()
_MANY_SIZE = 64


def compiled_many(
    hashes: Sequence[str],
    rules: Callable[[], Sequence[dict[str, Any]]],
    *,
    subset: bool = True,
) -> CompiledSegment:
    """:func:`compile_many` of stored rules, cached by their hashes.

    ``rules`` loads the rules (in the order of ``hashes``) and is only called when the
    statement is not cached yet, so an incremental re-evaluation reads short hashes
    instead of every rule.
    """
    key = (tuple(hashes), subset)
    found = _MANY.get(key)
    if found is None:
        found = compile_many([parse_rule(rule) for rule in rules()], subset=subset)
        _MANY[key] = found
        if len(_MANY) > _MANY_SIZE:
            _MANY.popitem(last=False)
    else:
        _MANY.move_to_end(key)
    return found


@lru_cache(maxsize=1024)
def _compiled(rule_text: str, subset: bool) -> CompiledSegment:
    return compile_rule(parse_rule(json.loads(rule_text)), subset=subset)


def compiled(rule: dict[str, Any], *, subset: bool = False) -> CompiledSegment:
    """:func:`compile_rule` of one stored canonical rule, cached (a stored rule never
    changes): journeys' condition nodes test a customer against a rule this way."""
    return _compiled(json.dumps(rule, sort_keys=True), subset)
