"""The API's routers may be matched in any order (``create_app`` puts the hot ones
first, issue 20): no path is matched by routes of two routers. The hottest routes
(``recompra.server.HOT_ROUTES``) are matched before all others: no other route matches
a request of theirs, fully or by path alone (which decides a 405's ``Allow``)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Match
from starlette.types import Scope

from recompra.server import HOT_ROUTES

_PARAMETER = re.compile(r"\{[^}]+\}")
#: What a path segment may hold in a request for a hot route: ids, the largest id, a
#: word, other routes' literal segments.
_VALUES = ("1", "9223372036854775807", "x", "earn", "points", "orders", "customers", "-1")


def test_no_path_is_matched_by_routes_of_two_routers(app: FastAPI) -> None:
    routes = [
        (context.path_format, context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and context.original_route.endpoint.__module__.startswith("recompra.api.routers.")
    ]
    assert len(routes) > 100
    for template, _ in routes:
        # Each path parameter as a plain segment (what a static segment of another
        # route would look like) and as a number.
        for value in ("1", "x"):
            path = re.sub(r"\{\w+\}", value, template)
            modules = {
                route.endpoint.__module__
                for other, route in routes
                if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", other), path)
            }
            assert len(modules) == 1, (path, modules)


def test_a_request_tests_each_route_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routing cost (issue 20): an included router was asked as a whole, then matched its
    routes again to handle the request; served as the app's own routes, each route's
    path is tested at most once, and the answers stay the same (405 with ``Allow``)."""
    tried: Counter[str] = Counter()
    matches = APIRoute.matches

    def counting(route: APIRoute, scope: Scope) -> tuple[Match, Scope]:
        tried[f"{sorted(route.methods)} {route.path}"] += 1
        return matches(route, scope)

    monkeypatch.setattr(APIRoute, "matches", counting)
    response = client.post("/v1/loyalty/orders/1/earn")  # routed, then refused: no key
    assert response.status_code == 401
    assert tried["['POST'] /v1/loyalty/orders/{order_id}/earn"] == 1
    assert max(tried.values()) == 1, tried.most_common(3)
    tried.clear()
    refused = client.get("/v1/loyalty/orders/1/earn")
    assert (refused.status_code, refused.headers["allow"]) == (405, "POST")


def _requests(template: str) -> set[str]:
    """Concrete paths for ``template``: each parameter given each of :data:`_VALUES`."""
    paths = {template}
    for _ in _PARAMETER.findall(template):
        paths = {_PARAMETER.sub(value, path, count=1) for path in paths for value in _VALUES}
    return paths


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


@pytest.mark.parametrize(("method", "template"), HOT_ROUTES)
def test_no_other_route_matches_a_hot_routes_requests(
    app: FastAPI, method: str, template: str
) -> None:
    hot = [
        route
        for route in app.routes
        if isinstance(route, APIRoute) and route.path == template and method in route.methods
    ]
    assert len(hot) == 1
    requests = _requests(template)
    for path in (path for path in requests if "x" not in path and "-" not in path):
        assert hot[0].matches(_scope(method, path))[0] is Match.FULL, path
    for route in app.routes:
        if route is not hot[0]:
            for path in requests:
                assert route.matches(_scope(method, path))[0] is Match.NONE, (route, path)


def test_hot_routes_are_tried_first(app: FastAPI) -> None:
    first = [
        (sorted(route.methods)[0], route.path)
        for route in app.routes[: len(HOT_ROUTES)]
        if isinstance(route, APIRoute)
    ]
    assert first == list(HOT_ROUTES)
