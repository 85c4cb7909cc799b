"""The OpenAPI document, corrected where FastAPI's generation says less than the server.

FastAPI marks the bearer token as required on every operation that depends on
``HTTPBearer``, even with ``auto_error=False``. Public reads accept a request
without a token, so their ``security`` lists the empty requirement too
(``[{"HTTPBearer": []}, {}]``: a token, or none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def install_openapi(app: FastAPI, optional_auth: Callable[..., Any],
                    required_auth: Callable[..., Any]) -> None:
    """Mark operations that use ``optional_auth`` but not ``required_auth`` as
    callable without a token."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute):
                continue
            calls = _calls(route.dependant)
            if optional_auth not in calls or required_auth in calls:
                continue
            for method in route.methods or ():
                operation = schema["paths"][route.path_format].get(method.lower())
                if operation is not None and {} not in operation.setdefault("security", []):
                    operation["security"].append({})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
