"""The REST API (FastAPI): routers, request dependencies, errors, middleware.

The application that mounts it (with the dashboard) is :func:`recompra.server.create_app`.
"""
