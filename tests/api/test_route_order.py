"""The API's routers may be matched in any order (``create_app`` puts the hot ones
first, issue 20): no path is matched by routes of two routers."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


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
