"""The audit log is append-only from the outside too: no route changes or removes it."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from api.main import create_app
from dealdesk.settings import Settings


def test_audit_is_only_read_over_http(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine=engine)
    audit_routes = {
        (path, method.upper())
        for path, operations in app.openapi()["paths"].items()
        if "history" in path or "audit" in path
        for method in operations
    }

    assert ("/api/v1/deals/{deal_id}/history", "GET") in audit_routes
    assert {method for _, method in audit_routes} == {"GET"}, audit_routes
