"""The report routes over HTTP: known answers as JSON (amounts as strings), the same tables as
CSV and as Excel sheets, empty ranges, validation, who may read them, quota targets, and one
deal through the real workflow into every report.

The deals are tests/store/reporting_fixture.py's, with their figures worked by hand there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal, localcontext
from typing import Any

import httpx
import openpyxl  # type: ignore[import-untyped]
import pytest
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from api.main import create_app
from api.routers import reports
from dealdesk.settings import Settings
from pricing.money import PRICING_CONTEXT, round_percent
from store.db import SessionFactory, transaction
from store.reporting import ReportDeal
from tests.helpers import deal_body, eventually, login
from tests.store.reporting_fixture import load_known_deals
from tests.workflows.flow import (
    accept,
    decide,
    send_proposal,
    submit,
    wait_for_status,
    wait_for_task,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Every report route, with a grouping that gives it several rows.
REPORTS: list[tuple[str, dict[str, str | list[str]]]] = [
    ("/api/v1/reports/margins", {"group_by": "month"}),
    ("/api/v1/reports/margins/bands", {"group_by": "rep"}),
    ("/api/v1/reports/discounts", {"group_by": "rep,product"}),
    ("/api/v1/reports/discounts/approvals", {"group_by": "rep"}),
    ("/api/v1/reports/discounts/bands", {"bands": "5,10"}),
    ("/api/v1/reports/bookings", {"group_by": "rep,quarter"}),
    ("/api/v1/reports/cycle-times", {"group_by": "rep"}),
    ("/api/v1/reports/cycle-times/tasks", {"group_by": ["stage", "approver"]}),
    ("/api/v1/reports/pipeline", {"group_by": "status"}),
]
ROW_MODELS: dict[str, type[BaseModel]] = {
    "/api/v1/reports/margins": reports.MarginRow,
    "/api/v1/reports/margins/bands": reports.MarginBandRow,
    "/api/v1/reports/discounts": reports.WaterfallRow,
    "/api/v1/reports/discounts/approvals": reports.ApprovalNeedRow,
    "/api/v1/reports/discounts/bands": reports.BandRow,
    "/api/v1/reports/bookings": reports.BookingRow,
    "/api/v1/reports/cycle-times": reports.DealCycleRow,
    "/api/v1/reports/cycle-times/tasks": reports.TaskCycleRow,
    "/api/v1/reports/pipeline": reports.PipelineRow,
}


@pytest.fixture
async def reports_api(
    settings: Settings, engine: Engine, seeded: SessionFactory
) -> AsyncIterator[httpx.AsyncClient]:
    load_known_deals(seeded)
    # Reports read only the database: no Temporal client, no worker.
    app = create_app(settings, engine=engine, temporal=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealdesk.test") as client:
        yield client


@pytest.fixture
async def erin(reports_api: httpx.AsyncClient) -> dict[str, str]:
    return await login(reports_api, "erin")


async def _json(
    api: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any
) -> dict[str, Any]:
    response = await api.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def _pick(rows: list[dict[str, Any]], *names: str) -> list[tuple[Any, ...]]:
    return [tuple(row[n] for n in names) for row in rows]


# -- known answers ----------------------------------------------------------------------------


async def test_margins_by_rep_revenue_weighted(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    body = await _json(reports_api, erin, "/api/v1/reports/margins", group_by="rep")
    assert (body["report"], body["view"], body["group_by"], body["date_field"]) == (
        "margins",
        "all",
        ["rep"],
        "submitted",
    )
    assert _pick(
        body["rows"],
        "currency",
        "rep",
        "deals",
        "tcv_estimated",
        "cost",
        "gross_margin",
        "gross_margin_pct",
        "month",
    ) == [
        ("EUR", "alice", 1, "21600.00", "9600.00", "12000.00", "55.56", None),
        # Yen have no minor unit.
        ("JPY", "alice", 1, "1000000", "400000", "600000", "60.00", None),
        ("USD", "alice", 1, "27960.00", "11160.00", "16800.00", "60.09", None),
        # B and D: 10,320 / 19,080 = 54.09% (not the mean of 46.67% and 76.92%).
        ("USD", "bob", 2, "19080.00", "8760.00", "10320.00", "54.09", None),
    ]


async def test_margins_won_by_quarter_and_product(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    body = await _json(
        reports_api, erin, "/api/v1/reports/margins", view="won", group_by="quarter,product"
    )
    assert body["date_field"] == "closed"
    assert _pick(
        body["rows"], "currency", "quarter", "product", "tcv", "acv", "gross_margin_pct"
    ) == [
        ("JPY", "2026-Q2", "(custom)", "1000000", "1000000", "60.00"),
        # A's onboarding (15,000 at cost 9,000) and its seats (12,960 at 2,160).
        ("USD", "2026-Q1", "PLAT-ONBOARD", "15000.00", "15000.00", "40.00"),
        ("USD", "2026-Q1", "PLAT-SEAT", "12960.00", "12960.00", "83.33"),
    ]


async def test_discounts_waterfall_and_leakage(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    body = await _json(
        reports_api, erin, "/api/v1/reports/discounts", group_by="rep", currency="USD"
    )
    assert _pick(
        body["rows"],
        "rep",
        "list_amount",
        "line_discount",
        "header_discount",
        "commitment_effect",
        "net_amount",
        "discount_amount",
        "discount_pct",
        "beyond_floor",
    ) == [
        ("alice", "29400.00", "1440.00", "0.00", "0.00", "27960.00", "1440.00", "4.90", "0.00"),
        # 22,800 - 2,520 - 1,560 + 360 = 19,080; 3,720 / 22,800 = 16.32%.
        (
            "bob",
            "22800.00",
            "2520.00",
            "1560.00",
            "360.00",
            "19080.00",
            "3720.00",
            "16.32",
            "360.00",
        ),
    ]


async def test_approvals_and_bands(reports_api: httpx.AsyncClient, erin: dict[str, str]) -> None:
    needed = await _json(reports_api, erin, "/api/v1/reports/discounts/approvals")
    assert _pick(needed["rows"], "stage", "role", "deals") == [
        (0, "none", 2),
        (1, "deal_desk", 1),
        (1, "finance", 1),
        (1, "sales_vp", 2),
        (2, "cfo", 1),
    ]
    bands = await _json(reports_api, erin, "/api/v1/reports/discounts/bands", bands="5,10")
    assert _pick(
        bands["rows"],
        "band",
        "band_from_pct",
        "band_to_pct",
        "deals",
        "needed_approval",
        "approved",
        "rejected",
        "approval_rate_pct",
    ) == [
        ("0-5%", "0", "5", 2, 1, 2, 0, "100.00"),
        ("5-10%", "5", "10", 1, 1, 0, 1, "0.00"),
        ("10%+", "10", None, 2, 1, 1, 0, "100.00"),
    ]


async def test_bookings_attainment(reports_api: httpx.AsyncClient, erin: dict[str, str]) -> None:
    body = await _json(reports_api, erin, "/api/v1/reports/bookings", group_by="rep,quarter")
    assert _pick(
        body["rows"],
        "currency",
        "rep",
        "quarter",
        "orders",
        "acv",
        "new_customer_acv",
        "quota",
        "attainment_pct",
    ) == [
        ("JPY", "alice", "2026-Q2", 1, "1000000", "1000000", None, None),
        # 27,960 of 50,000.
        ("USD", "alice", "2026-Q1", 1, "27960.00", "27960.00", "50000.00", "55.92"),
        ("USD", "bob", "2026-Q1", 0, "0.00", "0.00", "20000.00", "0.00"),
    ]


async def test_cycle_times_in_hours(reports_api: httpx.AsyncClient, erin: dict[str, str]) -> None:
    deals = await _json(reports_api, erin, "/api/v1/reports/cycle-times")
    # 60 s, 6 h, 24 h, 48 h: median 15 h, p90 40.8 h, mean 280,860 s / 4 = 19.50 h.
    assert _pick(
        deals["rows"],
        "deals",
        "median_hours",
        "p90_hours",
        "mean_hours",
        "attempts_mean",
        "attempts_max",
        "escalations",
    ) == [(4, "15.00", "40.80", "19.50", "1.25", 2, 1)]
    tasks = await _json(reports_api, erin, "/api/v1/reports/cycle-times/tasks", group_by="stage")
    assert _pick(
        tasks["rows"], "stage", "tasks", "decided", "median_hours", "p90_hours", "escalated"
    ) == [(1, 3, 3, "4.00", "8.80", 0), (2, 2, 1, "14.00", "14.00", 1)]


async def test_margin_distribution_bands_each_deal_by_its_exact_margin(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    body = await _json(reports_api, erin, "/api/v1/reports/margins/bands")
    # B 46.67%, C 55.56%, A 60.09%, E exactly 60.00% (in 60-70, not 50-60), D 76.92%.
    assert _pick(body["rows"], "band", "band_from_pct", "band_to_pct", "deals") == [
        ("40-50%", "40", "50", 1),
        ("50-60%", "50", "60", 1),
        ("60-70%", "60", "70", 2),
        ("70-80%", "70", "80", 1),
    ]
    edges = await _json(reports_api, erin, "/api/v1/reports/margins/bands", bands="-5,50,60")
    assert _pick(edges["rows"], "band", "band_from_pct", "band_to_pct", "deals") == [
        ("-5 to 50%", "-5", "50", 1),
        ("50-60%", "50", "60", 1),
        ("60%+", "60", None, 3),
    ]
    below = await _json(reports_api, erin, "/api/v1/reports/margins/bands", bands="50")
    assert _pick(below["rows"], "band", "band_from_pct", "deals") == [
        ("below 50%", None, 1),
        ("50%+", "50", 4),
    ]
    won = await _json(reports_api, erin, "/api/v1/reports/margins/bands", view="won")
    assert _pick(won["rows"], "band", "deals") == [("60-70%", 2)]
    bad = await reports_api.get(
        "/api/v1/reports/margins/bands", params={"bands": "50,10"}, headers=erin
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "bands"]


async def test_pipeline_by_rep_and_segment(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    body = await _json(reports_api, erin, "/api/v1/reports/pipeline", group_by="rep,segment")
    assert _pick(
        body["rows"],
        "currency",
        "rep",
        "segment",
        "open_deals",
        "open_acv",
        "won",
        "lost",
        "win_rate_pct",
        "avg_days_to_close",
    ) == [
        ("EUR", "alice", "enterprise", 0, "0.00", 0, 1, "0.00", None),
        ("JPY", "alice", "public", 0, "0", 1, 0, "100.00", "10.00"),
        ("USD", "alice", "enterprise", 0, "0.00", 1, 0, "100.00", "24.00"),
        ("USD", "bob", "smb", 2, "11880.00", 0, 0, None, None),
    ]


# -- CSV and XLSX -----------------------------------------------------------------------------


def _expected_cells(body: dict[str, Any], header: list[str]) -> list[list[Any]]:
    return [[row[column] for column in header] for row in body["rows"]]


@pytest.mark.parametrize(("path", "params"), REPORTS)
async def test_csv_and_xlsx_hold_the_json_table(
    reports_api: httpx.AsyncClient, erin: dict[str, str], path: str, params: dict[str, Any]
) -> None:
    body = await _json(reports_api, erin, path, **params)
    assert body["rows"], "the fixture gives every report rows"
    # The JSON is what the OpenAPI schema documents: the envelope, and rows of exactly the
    # row model's fields.
    model = ROW_MODELS[path]
    reports.Report[model].model_validate(body)  # type: ignore[valid-type]
    for row in body["rows"]:
        assert list(row) == list(model.model_fields)
        model.model_validate(row)

    as_csv = await reports_api.get(path, params={**params, "format": "csv"}, headers=erin)
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"].endswith('.csv"')
    header, *records = list(csv.reader(io.StringIO(as_csv.text)))
    # The grouped dimensions in their order come right after the currency (when any).
    dims = body["group_by"]
    start = 1 if header[0] == "currency" else 0
    assert header[start : start + len(dims)] == dims
    assert not {"month", "quarter", "rep", "product"} - set(dims) & set(header)
    expected = [["" if v is None else str(v) for v in row] for row in _expected_cells(body, header)]
    assert records == expected

    as_xlsx = await reports_api.get(path, params=params, headers=erin | {"Accept": XLSX})
    assert as_xlsx.status_code == 200, as_xlsx.text
    assert as_xlsx.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == header
    for got, want in zip(cells[1:], _expected_cells(body, header), strict=True):
        for value, json_value in zip(got, want, strict=True):
            if isinstance(json_value, str) and isinstance(value, int | float):
                # Amounts are numbers in the sheet; compare their digits with the JSON string.
                assert Decimal(repr(value)) == Decimal(json_value)
            else:
                assert value == json_value


async def test_amounts_are_numbers_with_the_currency_format_in_the_sheet(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    response = await reports_api.get(
        "/api/v1/reports/margins", params={"group_by": "rep", "format": "xlsx"}, headers=erin
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    tcv = header.index("tcv_estimated") + 1
    pct = header.index("gross_margin_pct") + 1
    formats = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=tcv) for r in (2, 3)}
    assert formats["EUR"].number_format == "#,##0.00"
    assert formats["JPY"].number_format == "#,##0"
    assert formats["JPY"].value == 1_000_000
    assert sheet.cell(row=2, column=pct).number_format == "0.00"


@pytest.mark.parametrize(("path", "params"), REPORTS)
async def test_an_empty_range_is_an_empty_table(
    reports_api: httpx.AsyncClient, erin: dict[str, str], path: str, params: dict[str, Any]
) -> None:
    empty = {**params, "from": "2031-01-01", "to": "2031-06-30"}
    body = await _json(reports_api, erin, path, **empty)
    assert body["rows"] == []
    assert (body["from"], body["to"]) == ("2031-01-01", "2031-06-30")
    as_csv = await reports_api.get(path, params={**empty, "format": "csv"}, headers=erin)
    assert len(list(csv.reader(io.StringIO(as_csv.text)))) == 1  # the header alone
    as_xlsx = await reports_api.get(path, params={**empty, "format": "xlsx"}, headers=erin)
    assert openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active.max_row == 1


async def test_text_that_looks_like_a_formula_is_kept_as_text(
    reports_api: httpx.AsyncClient, seeded: SessionFactory, erin: dict[str, str]
) -> None:
    # A segment is free text from the deal; one a spreadsheet would run must stay text.
    with transaction(seeded) as session:
        row = session.get(ReportDeal, "deal-e")
        assert row is not None
        row.segment = '=HYPERLINK("http://evil.example")'
        session.add(row)
    params = {"group_by": "segment", "currency": "JPY"}
    as_csv = await reports_api.get(
        "/api/v1/reports/pipeline", params={**params, "format": "csv"}, headers=erin
    )
    assert "'=HYPERLINK" in as_csv.text
    as_xlsx = await reports_api.get(
        "/api/v1/reports/pipeline", params={**params, "format": "xlsx"}, headers=erin
    )
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet.cell(row=2, column=2).data_type == "s"


async def test_accept_header_and_format_parameter(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    path = "/api/v1/reports/pipeline"

    async def content_type(params: dict[str, str], accept: str | None) -> tuple[int, str]:
        headers = erin | ({"Accept": accept} if accept else {})
        response = await reports_api.get(path, params=params, headers=headers)
        return response.status_code, response.headers["content-type"].split(";")[0]

    assert await content_type({}, None) == (200, "application/json")
    assert await content_type({}, "text/csv") == (200, "text/csv")
    assert await content_type({}, f"application/json;q=0.5, {XLSX}") == (200, XLSX)
    assert await content_type({}, "text/html, */*;q=0.8") == (200, "application/json")
    assert await content_type({"format": "csv"}, XLSX) == (200, "text/csv")
    assert await content_type({}, "application/pdf") == (406, "application/json")


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (1, 8, "12.50"),
        (-1, 8, "-12.50"),
        (1, 20_000, "0.01"),  # 0.005% rounds half up, away from zero
        (-1, 20_000, "-0.01"),
        (1, 30_000, "0.00"),
        (-1, 30_000, "0.00"),  # never "-0.00"
        (0, 5, "0.00"),
        (2, -3, "-66.67"),
        (10_320, 19_080, "54.09"),
    ],
)
def test_percentages_round_half_up_exactly(part: int, whole: int, expected: str) -> None:
    got = reports._ratio_pct(part, whole)
    assert str(got) == expected
    with localcontext(PRICING_CONTEXT):
        assert got == round_percent(Decimal(part) * 100 / Decimal(whole))


# -- validation and authorization -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/reports/margins", {"from": "2026-05-01", "to": "2026-04-01"}, "to"),
        ("/api/v1/reports/margins", {"from": "01/04/2026"}, "from"),
        ("/api/v1/reports/margins", {"group_by": "month,colour"}, "group_by"),
        ("/api/v1/reports/margins", {"view": "lost"}, "view"),
        ("/api/v1/reports/pipeline", {"group_by": "product"}, "group_by"),
        ("/api/v1/reports/bookings", {"group_by": "status"}, "group_by"),
        ("/api/v1/reports/cycle-times", {"group_by": "approver"}, "group_by"),
        ("/api/v1/reports/discounts", {"status": "lost"}, "status"),
        ("/api/v1/reports/discounts", {"currency": "XYZ"}, "currency"),
        ("/api/v1/reports/discounts", {"format": "pdf"}, "format"),
        ("/api/v1/reports/discounts/bands", {"bands": "10,5"}, "bands"),
        ("/api/v1/reports/discounts/bands", {"bands": "0,5"}, "bands"),
        ("/api/v1/reports/discounts/bands", {"bands": "ten"}, "bands"),
    ],
)
async def test_bad_parameters_are_refused(
    reports_api: httpx.AsyncClient,
    erin: dict[str, str],
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    response = await reports_api.get(path, params=params, headers=erin)
    assert response.status_code == 422, response.text
    assert any(field in error["loc"] for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("username", "expected"),
    [("alice", 403), ("dave", 403), ("erin", 200), ("carol", 200), ("admin", 200)],
)
async def test_only_finance_and_admins_read_reports(
    reports_api: httpx.AsyncClient, username: str, expected: int
) -> None:
    headers = await login(reports_api, username)
    quotas: dict[str, str | list[str]] = {}
    for path, params in [*REPORTS, ("/api/v1/reports/quotas", quotas)]:
        response = await reports_api.get(path, params=params, headers=headers)
        assert response.status_code == expected, (path, response.text)
        anonymous = await reports_api.get(path, params=params)
        assert anonymous.status_code == 401


async def test_admins_set_quota_targets(
    reports_api: httpx.AsyncClient, erin: dict[str, str]
) -> None:
    admin = await login(reports_api, "admin")
    targets = {
        "targets": [
            {"rep": "bob", "period": "2026-Q1", "currency": "USD", "amount": "25000"},
            {"rep": "bob", "period": "2026-Q2", "currency": "USD", "amount": "30000.50"},
        ]
    }
    assert (
        await reports_api.put("/api/v1/reports/quotas", json=targets, headers=erin)
    ).status_code == 403
    response = await reports_api.put("/api/v1/reports/quotas", json=targets, headers=admin)
    assert response.status_code == 200, response.text
    assert _pick(response.json(), "rep", "period", "period_kind", "period_start", "amount") == [
        ("bob", "2026-Q1", "quarter", "2026-01-01", "25000.00"),
        ("bob", "2026-Q2", "quarter", "2026-04-01", "30000.50"),
    ]
    listed = await reports_api.get("/api/v1/reports/quotas", params={"rep": "bob"}, headers=erin)
    assert _pick(listed.json(), "period", "amount", "updated_by") == [
        ("2026-Q1", "25000.00", "admin"),
        ("2026-Q2", "30000.50", "admin"),
    ]
    bookings = await _json(
        reports_api, erin, "/api/v1/reports/bookings", group_by="rep,quarter", rep="bob"
    )
    assert _pick(bookings["rows"], "quarter", "quota", "attainment_pct") == [
        ("2026-Q1", "25000.00", "0.00"),
        ("2026-Q2", "30000.50", "0.00"),
    ]

    bad = {
        "targets": [
            {"rep": "nobody", "period": "2026-Q1", "currency": "USD", "amount": "1"},
            {"rep": "bob", "period": "2026-Q1", "currency": "JPY", "amount": "1.5"},
            {"rep": "bob", "period": "2026-Q5", "currency": "USD", "amount": "1"},
        ]
    }
    refused = await reports_api.put("/api/v1/reports/quotas", json=bad, headers=admin)
    assert refused.status_code == 422
    assert ["body", "targets", 2, "period"] in [e["loc"] for e in refused.json()["detail"]]
    bad["targets"].pop()
    refused = await reports_api.put("/api/v1/reports/quotas", json=bad, headers=admin)
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [
        ["body", "targets", 0, "rep"],
        ["body", "targets", 1, "amount"],
    ]


async def test_the_openapi_schema_documents_every_column(reports_api: httpx.AsyncClient) -> None:
    schema = (await reports_api.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    for name in (
        "MarginRow",
        "WaterfallRow",
        "ApprovalNeedRow",
        "BandRow",
        "BookingRow",
        "DealCycleRow",
        "TaskCycleRow",
        "PipelineRow",
    ):
        properties = components[name]["properties"]
        undocumented = [p for p, spec in properties.items() if not spec.get("description")]
        assert undocumented == [], name
    margin = components["MarginRow"]["properties"]
    # Amounts are strings in the document, as in the JSON.
    assert "string" in str(margin["gross_margin"])
    assert "revenue-weighted" in margin["gross_margin_pct"]["description"]
    content = schema["paths"]["/api/v1/reports/margins"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", XLSX} <= set(content)


# -- the real workflow feeds the reports ------------------------------------------------------


async def test_a_deal_through_the_workflow_reaches_every_report(api: httpx.AsyncClient) -> None:
    alice = await login(api, "alice")
    dave = await login(api, "dave")
    erin = await login(api, "erin")
    # 10 seats at 120/month less 25%: the policy sends it to dave (sales VP).
    deal_id = await submit(api, alice, deal_body(discount_pct="25"))
    task = await wait_for_task(api, dave, deal_id)
    assert (await decide(api, dave, task["id"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "approved")
    sent = await send_proposal(api, alice, deal_id)
    assert (await accept(api, sent["path"])).status_code == 200
    await wait_for_status(api, alice, deal_id, "closed_won")

    async def won() -> dict[str, Any]:
        return await _json(api, erin, "/api/v1/reports/pipeline", group_by="status")

    pipeline = await eventually(won, lambda b: bool(b["rows"]) and b["rows"][0]["won"] == 1)
    # 10 x 120 x 12 = 14,400 list, less 25%: 10,800; won the day it was submitted.
    assert _pick(pipeline["rows"], "currency", "status", "won", "won_acv", "win_rate_pct") == [
        ("USD", "closed_won", 1, "10800.00", "100.00")
    ]
    margins = await _json(api, erin, "/api/v1/reports/margins", view="won", group_by="product")
    # Cost 10 x 18 x 12 = 2,160: margin 8,640 = 80.00%.
    assert _pick(
        margins["rows"], "product", "list_amount", "tcv_estimated", "gross_margin_pct"
    ) == [("PLAT-SEAT", "14400.00", "10800.00", "80.00")]
    discounts = await _json(api, erin, "/api/v1/reports/discounts")
    assert _pick(discounts["rows"], "line_discount", "net_amount") == [("3600.00", "10800.00")]
    approvals = await _json(api, erin, "/api/v1/reports/discounts/approvals")
    assert _pick(approvals["rows"], "stage", "role", "deals") == [(1, "sales_vp", 1)]
    bookings = await _json(api, erin, "/api/v1/reports/bookings", group_by="rep")
    assert _pick(bookings["rows"], "rep", "orders", "acv", "tcv") == [
        ("alice", 1, "10800.00", "10800.00")
    ]
    cycle = await _json(api, erin, "/api/v1/reports/cycle-times")
    assert _pick(cycle["rows"], "deals", "attempts_max", "escalations") == [(1, 1, 0)]
    tasks = await _json(api, erin, "/api/v1/reports/cycle-times/tasks", group_by="approver")
    assert _pick(tasks["rows"], "approver", "tasks", "decided", "approved") == [("dave", 1, 1, 1)]
