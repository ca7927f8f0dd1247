"""The web app in Debian's chromium: a rep builds and submits a deal with the live price and
approvals preview, an approver approves it from the inbox on a phone, the rep sends the proposal.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}


async def signed_in(
    browser: Browser, base_url: str, username: str, **options: object
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(f"{username}-demo")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/(deals|inbox|finance|admin/policy)$"))
    return context, page


async def test_rep_submits_approver_approves_on_a_phone_rep_sends(
    browser: Browser, base_url: str
) -> None:
    alice_context, alice = await signed_in(browser, base_url, "alice")
    await alice.goto("/deals/new")
    await alice.locator('input[name="customer.name"]').fill("Initech")
    line = alice.locator("[data-line]").first
    await line.locator('[data-field="quantity"]').fill("50")
    await line.locator('[data-field="discount_pct"]').fill("10")
    figures = alice.locator("#figures")
    # 50 seats at 120 a month less 10%: an ACV of 64,800, a standard offer.
    await expect(figures.locator('[data-figure="ACV"] dd')).to_have_text("$64,800.00")
    await expect(alice.locator("#approvals")).to_contain_text("Standard offer")
    await line.locator('[data-field="discount_pct"]').fill("25")
    await expect(figures.locator('[data-figure="ACV"] dd')).to_have_text("$54,000.00")
    await expect(alice.locator("#approvals")).to_contain_text(
        re.compile(r"Needs sales VP approval because Largest line discount 25(\.00)?% is over 20%")
    )
    # A field error is shown next to its field, in words.
    await line.locator('[data-field="quantity"]').fill("-1")
    await expect(line.locator('[data-line-error="quantity"]')).not_to_be_empty()
    await line.locator('[data-field="quantity"]').fill("50")
    await expect(line.locator('[data-line-error="quantity"]')).to_be_empty()
    await alice.get_by_role("button", name="Submit deal").click()
    await alice.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    deal_url = alice.url
    await alice.goto("/deals")
    await expect(alice.locator("#deals")).to_contain_text("Initech")

    dave_context, dave = await signed_in(browser, base_url, "dave", viewport=PHONE)
    card = dave.locator(".task", has_text="Initech")
    for _ in range(50):
        if await card.count():
            break
        await dave.wait_for_timeout(200)
        await dave.reload()
    await expect(card).to_contain_text(re.compile(r"Largest line discount 25(\.00)?% is over 20%"))
    width = await dave.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"]
    inbox_url = dave.url
    await card.get_by_role("button", name="Approve", exact=True).click()
    await expect(card.locator(".result")).to_contain_text("Approved")
    assert dave.url == inbox_url
    await dave_context.close()

    await alice.goto(deal_url)
    for _ in range(50):
        if (await alice.locator("#deal-status").inner_text()) == "approved":
            break
        await alice.wait_for_timeout(200)
        await alice.reload()
    await expect(alice.locator("#deal-status")).to_have_text("approved")
    frame = alice.frame_locator("iframe.doc")
    await expect(frame.locator("body")).to_contain_text("Initech")
    await alice.get_by_label("Send to (buyer's e-mail)").fill("buyer@initech.example")
    await alice.get_by_role("button", name="Send proposal").click()
    # Sending renders and stores the PDF: allow for a busy machine.
    await expect(alice.locator("#send-result")).to_contain_text("Sent.", timeout=20_000)
    await expect(alice.locator("#customer-link")).to_have_attribute("href", re.compile(r"/p/"))
    await alice_context.close()


async def test_csrf_roles_policy_errors_and_finance(browser: Browser, base_url: str) -> None:
    context, page = await signed_in(browser, base_url, "alice")
    # A cookie-authenticated POST without the CSRF header is refused.
    refused = await page.evaluate(
        """async () => (await fetch('/api/v1/quotes/price', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
    )
    assert refused == 403
    response = await page.goto("/admin/policy")
    assert response is not None
    assert response.status == 403
    await expect(page.locator("h1")).to_have_text("Not allowed")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(re.compile(r"/login$"))
    await context.close()

    context, page = await signed_in(browser, base_url, "admin")
    await page.goto("/admin/policy")
    document = page.locator("#policy-document")
    text = await document.input_value()
    await document.fill(text.replace("max_line_discount_pct > 20", "max_line_discountt > 20", 1))
    await page.get_by_role("button", name="Check").click()
    problem = page.locator('#policy-errors li[data-rule-id="line-discount-over-20"]')
    await expect(problem).to_contain_text("Rule line-discount-over-20")
    await context.close()

    context, page = await signed_in(browser, base_url, "erin")
    await page.goto("/finance")
    for section in await page.locator(".report").all():
        await expect(section.locator(".report-body")).not_to_have_text("Loading…")
    await expect(page.locator(".report-body.error")).to_have_count(0)
    await context.close()
