"""Admin screens: users (invite, role, disable), API keys (create once-shown, revoke),
CSRF on every form, the audit log and its CSV export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.auth.keys import verify_api_key
from recompra.auth.roles import role_on
from recompra.db import unit_of_work
from recompra.models import DashboardUser
from samplestore import SampleStore


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_forms_without_the_csrf_token_are_refused(
    signed_in: Callable[..., TestClient],
) -> None:
    admin = signed_in("admin")
    form = {"email": "novo@loja.test", "role": "analyst"}
    assert admin.post("/dashboard/admin/users", data=form).status_code == 422
    assert admin.post("/dashboard/admin/users", data={**form, "csrf": "x"}).status_code == 403


def test_invite_change_role_and_disable(
    signed_in: Callable[..., TestClient], engine: Engine, store: SampleStore
) -> None:
    admin = signed_in("admin")
    token = _csrf(admin.get("/dashboard/admin").text)
    invited = admin.post(
        "/dashboard/admin/users",
        data={"csrf": token, "email": "nova@loja.test", "role": "analyst"},
    )
    assert invited.status_code == 200
    password = re.search(r"<code data-password>([^<]+)</code>", invited.text)
    assert password is not None
    with unit_of_work(engine, write=False) as session:
        user = session.execute(
            select(DashboardUser).where(DashboardUser.email == "nova@loja.test")
        ).scalar_one()
        assert role_on(session, user_id=user.id, brand_id=store.brand_a) == "analyst"
    # The invited user signs in with the password shown once.
    with TestClient(admin.app, follow_redirects=False) as newcomer:
        signed = newcomer.post(
            "/login", data={"email": "nova@loja.test", "password": password.group(1)}
        )
        assert signed.status_code == 303
        assert newcomer.get("/dashboard/customers").status_code == 403
        changed = admin.post(
            f"/dashboard/admin/users/{user.id}/role", data={"csrf": token, "role": "support"}
        )
        assert changed.status_code == 303
        assert newcomer.get("/dashboard/customers").status_code == 200
        disabled = admin.post(
            f"/dashboard/admin/users/{user.id}/disable", data={"csrf": token, "disabled": "true"}
        )
        assert disabled.status_code == 303
        # The live session stops at once.
        assert newcomer.get("/dashboard/customers").status_code == 303


def test_a_key_is_shown_once_and_revoked(
    signed_in: Callable[..., TestClient], engine: Engine, store: SampleStore
) -> None:
    admin = signed_in("admin")
    token = _csrf(admin.get("/dashboard/admin/keys").text)
    created = admin.post(
        "/dashboard/admin/keys",
        data={"csrf": token, "name": "loja", "scope": ["read", "ingest"]},
    )
    assert created.status_code == 200
    secret = re.search(r"<code data-secret>([^<]+)</code>", created.text)
    assert secret is not None
    key = secret.group(1)
    listing = admin.get("/dashboard/admin/keys").text
    assert key not in listing
    with unit_of_work(engine, write=False) as session:
        principal = verify_api_key(session, key)
    assert principal is not None
    # The admin is restricted to brand A, so is the key it creates.
    assert principal.brand_id == store.brand_a
    assert principal.scopes == {"read", "ingest"}
    revoked = admin.post(f"/dashboard/admin/keys/{principal.key_id}/revoke", data={"csrf": token})
    assert revoked.status_code == 303
    with unit_of_work(engine, write=False) as session:
        assert verify_api_key(session, key) is None


def test_the_audit_log_exports_the_admin_actions(
    signed_in: Callable[..., TestClient],
) -> None:
    admin = signed_in("admin")
    token = _csrf(admin.get("/dashboard/admin/keys").text)
    admin.post("/dashboard/admin/keys", data={"csrf": token, "scope": ["read"]})
    exported = admin.get("/dashboard/admin/audit.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["actor"], r["action"]) for r in rows] == [("user:admin-0@loja.test", "key.create")]
