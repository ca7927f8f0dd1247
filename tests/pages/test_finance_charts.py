"""The finance page's charts: drawn on the server from the report routes, with words, a table
and downloads for each; tests/store/reporting_fixture.py's five deals, figures worked there."""

from __future__ import annotations

import re

import httpx

from store.db import SessionFactory
from tests.pages.test_pages import sign_in
from tests.store.reporting_fixture import load_known_deals


def section(html: str, key: str) -> str:
    start = html.index(f'<section class="card chart" id="chart-{key}"')
    return html[start : html.index("</section>", start)]


async def test_finance_charts_show_the_reports_figures(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    load_known_deals(seeded)
    await sign_in(api, "erin")
    page = await api.get("/finance")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html.split("</main>")[0].split("<main>")[1]

    margins = section(html, "margin-distribution")
    assert 'role="img" aria-labelledby="chart-margin-distribution-title' in margins
    assert "40-50%: 1; 50-60%: 1; 60-70%: 2; 70-80%: 1</desc>" in margins
    # Every band is drawn, the empty ones flat; the tallest bar is the 60-70% band's two deals.
    heights = {
        band: height for height, band in re.findall(r'height="([\d.]+)"><title>([^<:]+):', margins)
    }
    assert len(heights) == 11
    assert heights["60-70%"] == "202.0"
    assert heights["40-50%"] == "101.0"
    assert heights["90%+"] == "0.0"
    assert '<th scope="row">60-70%</th><td class="num">2</td>' in margins

    scatter = section(html, "discount-vs-margin")
    assert "<title>bob (USD): discount 16.32%, margin 54.09%, 2 deals</title>" in scatter
    assert scatter.count('<circle class="point"') == 4

    usd = section(html, "bookings-usd")
    assert "2026-02: $27,960.00 of $30,000.00</desc>" in usd
    assert '<polyline class="line" points=' in usd
    assert '<td class="num">93.20%</td>' in usd

    cycle = section(html, "cycle-times")
    assert "<title>Stage 2 · CFO: median 14.00 h</title>" in cycle

    # Each chart's downloads are its report as CSV and as a workbook.
    links = re.findall(r'<a class="button" href="([^"]+)" download>', html)
    assert "/api/v1/reports/margins/bands?format=csv" in links
    assert "/api/v1/reports/bookings?group_by=month&amp;currency=USD&amp;format=xlsx" in links
    for link in links:
        response = await api.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert response.headers["content-type"].startswith(
            ("text/csv", "application/vnd.openxmlformats")
        )
    assert len(links) == 2 * (1 + 2 + 2 + 1)


async def test_finance_charts_follow_the_period(
    api: httpx.AsyncClient, seeded: SessionFactory
) -> None:
    load_known_deals(seeded)
    await sign_in(api, "erin")
    april = (await api.get("/finance", params={"from": "2026-04-01", "to": "2026-12-31"})).text
    # C 55.56%, D 76.92% and E 60.00% were submitted from April on.
    assert "3 deals: 50-60%: 1; 60-70%: 1; 70-80%: 1</desc>" in section(
        april, "margin-distribution"
    )
    assert "margins/bands?from=2026-04-01&amp;to=2026-12-31&amp;format=csv" in april
    assert 'name="from" value="2026-04-01"' in april
    backwards = (await api.get("/finance", params={"from": "2026-05-01", "to": "2026-01-01"})).text
    assert "“To” must not be before “From”" in backwards
    assert "5 deals:" in section(backwards, "margin-distribution")
    empty = (await api.get("/finance", params={"from": "2030-01-01"})).text
    assert "No data for this period." in section(empty, "margin-distribution")
