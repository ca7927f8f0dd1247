"""Admin-edited document templates: validated on save, sandboxed, and used for new documents."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

import templates.documents as documents
from store.db import SessionFactory
from store.tables import Document
from templates.documents import builtin_source
from tests.helpers import deal_body, login
from tests.templates.test_template_limits import HEAD, HUNGRY, NO_LINE, REFUSED
from tests.workflows.flow import submit, wait_for_status

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ config }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'] }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


async def test_only_admins_read_or_change_templates(api: httpx.AsyncClient) -> None:
    for user in ("alice", "dave", "erin"):
        headers = await login(api, user)
        assert (await api.get("/api/v1/templates", headers=headers)).status_code == 403
        put = await api.put(
            "/api/v1/templates/proposal", json={"source": "<p>x</p>"}, headers=headers
        )
        assert put.status_code == 403
    assert (await api.get("/api/v1/templates")).status_code == 401
    admin = await login(api, "admin")
    listed = await api.get("/api/v1/templates", headers=admin)
    assert listed.status_code == 200
    assert [(t["name"], t["customized"]) for t in listed.json()] == [
        ("proposal", False),
        ("contract", False),
    ]
    assert listed.json()[0]["source"] == builtin_source("proposal")
    assert (await api.get("/api/v1/templates/invoice", headers=admin)).status_code == 422


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_template_injection_is_refused_on_save(api: httpx.AsyncClient, payload: str) -> None:
    admin = await login(api, "admin")
    response = await api.put(
        "/api/v1/templates/proposal", json={"source": f"<p>{payload}</p>"}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "source"]
    # Nothing was saved.
    current = await api.get("/api/v1/templates/proposal", headers=admin)
    assert current.json()["customized"] is False


async def test_a_missing_field_or_bad_syntax_names_the_problem(api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin")
    unknown = await api.put(
        "/api/v1/templates/contract", json={"source": "<p>{{ deal.nope }}</p>"}, headers=admin
    )
    assert unknown.status_code == 422
    assert "nope" in unknown.json()["detail"][0]["msg"]
    broken = await api.put(
        "/api/v1/templates/contract", json={"source": "<p>\n\n{% if %}</p>"}, headers=admin
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["line"] == 3


async def test_a_saved_template_renders_new_proposals_until_reset(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    admin, alice = await login(api, "admin"), await login(api, "alice")
    marker = "<p id='custom'>Prices exclude VAT.</p>"
    source = builtin_source("proposal").replace("</body>", f"{marker}</body>")
    preview = await api.post(
        "/api/v1/templates/proposal/preview", json={"source": source}, headers=admin
    )
    assert preview.status_code == 200
    assert marker in preview.text
    saved = await api.put("/api/v1/templates/proposal", json={"source": source}, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["customized"] is True

    deal_id = await submit(api, alice, deal_body())
    await wait_for_status(api, alice, deal_id, "approved")
    proposal = await api.get(f"/api/v1/deals/{deal_id}/proposal", headers=alice)
    assert marker in proposal.text
    with seeded() as session:
        doc = session.exec(select(Document).where(Document.deal_id == deal_id)).one()
    assert doc.template_revision == saved.json()["revision"]

    reset = await api.delete("/api/v1/templates/proposal", headers=admin)
    assert reset.status_code == 200
    assert reset.json()["customized"] is False
    other = await submit(api, alice, deal_body(customer="Beta Ltd"))
    await wait_for_status(api, alice, other, "approved")
    assert marker not in (await api.get(f"/api/v1/deals/{other}/proposal", headers=alice)).text


async def test_refused_and_hungry_templates_are_a_422_naming_the_line(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "RENDER_SECONDS", 0.5)
    admin = await login(api, "admin")
    cases = [(payload, says, 3) for payload, says in REFUSED] + [
        (payload, says, None if payload in NO_LINE else 3) for payload, _, says in HUNGRY
    ]
    for payload, says, line in cases:
        for route in ("/api/v1/templates/proposal", "/api/v1/templates/proposal/preview"):
            send = api.put if route.endswith("proposal") else api.post
            response = await send(route, json={"source": HEAD + payload}, headers=admin)

            assert response.status_code == 422, (payload, response.text)
            [problem] = response.json()["detail"]
            assert problem["loc"] == ["body", "source"]
            assert says in problem["msg"], (payload, problem)
            assert problem.get("line") == line, (payload, problem)
    current = await api.get("/api/v1/templates/proposal", headers=admin)
    assert current.json()["customized"] is False
