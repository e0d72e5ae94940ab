"""Roles per brand: every route has a rule, and each role opens only what it may."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.auth.roles import PUBLIC_ROUTES, allowed_roles
from recompra.db import unit_of_work
from recompra.models import AuditEntry
from samplestore import SampleStore


def _routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """``(method, path template, dependant or None)`` of every registered route."""
    for route in app.routes:
        if isinstance(route, APIRoute):  # served as the app's own (``server.add_routes``)
            for method in sorted(route.methods or {"GET"}):
                yield method, route.path, route.dependant
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            yield "GET", str(getattr(route, "path", "")), None
            continue
        for context in contexts():  # an included router (the dashboard's)
            for method in sorted(context.methods or {"GET"}):
                yield method, context.path, context.dependant


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def test_every_route_has_an_access_rule(app: FastAPI) -> None:
    without_rule = []
    for method, path, dependant in _routes(app):
        # API routes (``/v1/...`` and ``/metrics``) are governed by their key's scopes.
        scoped = dependant is not None and any(
            getattr(call, "__name__", "").startswith("require_") for call in _calls(dependant)
        )
        if path.startswith("/v1/") or scoped:
            if not scoped and path not in PUBLIC_ROUTES:
                without_rule.append(f"{method} {path}")
        elif allowed_roles(method, path) is None:
            without_rule.append(f"{method} {path}")
    assert without_rule == []


# What each role may open, written out by hand from the role descriptions in
# docs/privacy.md (not derived from the rule table under test).
PAGES = {
    "/dashboard": {"admin", "marketing", "analyst", "support"},
    "/dashboard/rfm": {"admin", "marketing", "analyst"},
    "/dashboard/clv": {"admin", "marketing", "analyst"},
    "/dashboard/segments": {"admin", "marketing", "analyst"},
    "/dashboard/segments/new": {"admin", "marketing"},
    "/dashboard/customers": {"admin", "marketing", "support"},
    "/dashboard/cases": {"admin", "support"},
    "/dashboard/journeys": {"admin", "marketing"},
    "/dashboard/loyalty": {"admin", "marketing", "analyst", "support"},
    "/dashboard/glossary": {"admin", "marketing", "analyst", "support"},
    "/dashboard/admin": {"admin"},
    "/dashboard/admin/keys": {"admin"},
    "/dashboard/admin/privacy": {"admin"},
    "/dashboard/admin/audit.csv": {"admin"},
}


@pytest.mark.parametrize("role", ["admin", "marketing", "analyst", "support"])
def test_each_role_opens_only_its_pages(
    role: str, signed_in: Callable[..., TestClient], store: SampleStore
) -> None:
    client = signed_in(role)
    customer = store.customers_a[0]
    pages = {**PAGES, f"/dashboard/customers/{customer}": PAGES["/dashboard/customers"]}
    opened = {path for path in pages if client.get(path).status_code == 200}
    refused = {path for path in pages if client.get(path).status_code == 403}
    assert opened == {path for path, roles in pages.items() if role in roles}
    assert refused == set(pages) - opened
    # The navigation offers only what opens.
    html = client.get("/dashboard/glossary").text
    assert ('href="/dashboard/admin"' in html) == (role == "admin")
    assert ('href="/dashboard/cases"' in html) == (role in {"admin", "support"})


def test_a_role_holds_on_its_brand_only(
    signed_in: Callable[..., TestClient], store: SampleStore
) -> None:
    client = signed_in("support")
    # Brand B is not the user's: choosing it changes nothing, brand A's role applies.
    client.cookies.set("recompra_brand", str(store.brand_b))
    assert client.get("/dashboard/rfm").status_code == 403
    assert client.get(f"/dashboard/customers/{store.customers_b[0]}").status_code == 404


def test_reading_a_customer_profile_is_audited(
    signed_in: Callable[..., TestClient], store: SampleStore, engine: Engine
) -> None:
    client = signed_in("support")
    customer = store.customers_a[1]
    assert client.get(f"/dashboard/customers/{customer}").status_code == 200
    with unit_of_work(engine, write=False) as session:
        entries = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
        ).all()
    assert ("user:support-0@loja.test", "customer.read", f"customer_id:{customer}") in entries
