"""The web app in Debian's chromium: a rep builds a deal (catalog and custom lines) with the live
price and approvals preview, an approver approves it from the inbox on a phone, the rep sees it
approved and sends the proposal; refusals; the admin's policy, users and delegation pages; the
finance charts. Every test fails on a JavaScript error (see conftest.open_as)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from playwright.async_api import Locator, Page, expect

from store.db import SessionFactory
from tests.browser.conftest import SignIn
from tests.store.reporting_fixture import load_known_deals

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
Snap = Callable[[Page, str], Awaitable[None]]

# Every input, select and textarea a person could use, without a label naming it.
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => e.type !== 'hidden' && !e.closest('template'))
  .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""
# Elements taken out of the natural tab order or put first in it, and click targets a
# keyboard cannot reach.
KEYBOARD_TRAPS = """() => Array.from(
    document.querySelectorAll('[tabindex], [onclick], div[role=button], span[role=button]'))
  .filter(e => e.tabIndex > 0 || e.getAttribute('onclick') || e.getAttribute('role') === 'button')
  .map(e => e.outerHTML)"""


# A datetime-local value (the browser's local time) `offset` milliseconds from now.
LOCAL_TIME = """offset => { const d = new Date(Date.now() + offset);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); }"""


async def check_accessible(page: Page) -> None:
    assert await page.evaluate(UNLABELLED) == [], page.url
    assert await page.evaluate(KEYBOARD_TRAPS) == [], page.url


async def until_reloaded(page: Page, found: Callable[[], Awaitable[bool]]) -> None:
    """Reload until `found` (the workflow runs at its own pace), at most 10 s."""
    for _ in range(50):
        if await found():
            return
        await page.wait_for_timeout(200)
        await page.reload()


async def test_rep_submits_approver_approves_on_a_phone_rep_sends(
    open_as: SignIn, snap: Snap
) -> None:
    alice = await open_as("alice")
    await alice.goto("/deals/new")
    await alice.locator('input[name="customer.name"]').fill("Initech")
    line = alice.locator("[data-line]").first
    await line.locator('[data-field="quantity"]').fill("50")
    await line.locator('[data-field="discount"]').fill("10")
    figures = alice.locator("#figures")
    # 50 seats at 120 a month less 10%: an ACV of 64,800, a standard offer.
    await expect(figures.locator('[data-figure="ACV"] dd')).to_have_text("$64,800.00")
    await expect(alice.locator("#approvals")).to_contain_text("Standard offer")
    await line.locator('[data-field="discount"]').fill("25")
    await expect(figures.locator('[data-figure="ACV"] dd')).to_have_text("$54,000.00")
    await expect(alice.locator("#approvals")).to_contain_text(
        re.compile(r"Needs sales VP approval because Largest line discount 25(\.00)?% is over 20%")
    )
    # A field error is shown next to its field, in words.
    await line.locator('[data-field="quantity"]').fill("-1")
    await expect(line.locator('[data-slot="quantity"]')).to_contain_text("should be greater than")
    await line.locator('[data-field="quantity"]').fill("50")
    await expect(line.locator('[data-slot="quantity"]')).to_be_empty()
    await check_accessible(alice)
    await snap(alice, "deal-form")
    await alice.get_by_role("button", name="Submit deal").click()
    await alice.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    deal_url = alice.url
    await alice.goto("/deals")
    await expect(alice.locator("#deals")).to_contain_text("Initech")
    await snap(alice, "my-deals")

    dave = await open_as("dave", viewport=PHONE)
    card = dave.locator(".task", has_text="Initech")
    await until_reloaded(dave, lambda: _present(card))
    await expect(card).to_contain_text(re.compile(r"Largest line discount 25(\.00)?% is over 20%"))
    width = await dave.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"]
    await check_accessible(dave)
    await snap(dave, "inbox-phone")
    inbox_url = dave.url
    await card.get_by_role("button", name="Approve", exact=True).click()
    await expect(card.locator(".result")).to_contain_text("Approved")
    assert dave.url == inbox_url

    await alice.goto(deal_url)
    status = alice.locator("#deal-status")
    await until_reloaded(alice, lambda: _has_text(status, "approved"))
    await expect(status).to_have_text("approved")
    await expect(alice.locator("#timeline")).to_contain_text("dave")
    frame = alice.frame_locator("iframe.doc")
    await expect(frame.locator("body")).to_contain_text("Initech")
    await check_accessible(alice)
    await snap(alice, "deal-approved")
    async with alice.context.expect_page() as opened:
        await alice.locator("#proposal").get_by_role("link", name="Open").click()
    proposal = await opened.value
    await expect(proposal.locator("body")).to_contain_text("Initech")
    await proposal.close()
    await alice.get_by_label("Send to (buyer's e-mail)").fill("buyer@initech.example")
    await alice.get_by_role("button", name="Send proposal").click()
    # Sending renders and stores the PDF: allow for a busy machine.
    await expect(alice.locator("#send-result")).to_contain_text("Sent.", timeout=20_000)
    await expect(alice.locator("#customer-link")).to_have_attribute("href", re.compile(r"/p/"))


async def _has_text(locator: Locator, text: str) -> bool:
    return (await locator.inner_text()).strip() == text


async def _present(locator: Locator) -> bool:
    return await locator.count() > 0


async def test_rep_prices_a_custom_line_with_usage_tiers(open_as: SignIn, snap: Snap) -> None:
    alice = await open_as("alice")
    await alice.goto("/deals/new")
    await alice.locator('input[name="customer.name"]').fill("Hooli")
    await alice.locator("[data-line]").first.get_by_role("button", name="Remove line").click()
    # Keyboard only: the button takes focus to the new line's first field.
    await alice.get_by_role("button", name="Add custom line").focus()
    await alice.keyboard.press("Enter")
    line = alice.locator("[data-line]").first
    await expect(line.locator('[data-field="name"]')).to_be_focused()
    await alice.keyboard.type("API calls")
    charge = line.locator("[data-charge]").first
    await charge.get_by_label("Charge type").select_option("usage")
    await charge.get_by_label("Rated").select_option("graduated")
    # Hidden fields are out of the way: no unit price for a tiered usage charge.
    await expect(charge.get_by_label("Unit price", exact=True)).to_be_hidden()
    await charge.get_by_label("Estimated units a month").fill("25000")
    await charge.get_by_label("Unit cost").fill("0.0005")
    tier = charge.locator("[data-tier]").first
    await tier.get_by_label("Tier up to (units; blank: no limit)").fill("1000")
    await tier.get_by_label("Tier unit price").fill("0")
    await charge.get_by_role("button", name="Add tier").click()
    second = charge.locator("[data-tier]").nth(1)
    await expect(second.get_by_label("Tier up to (units; blank: no limit)")).to_be_focused()
    await second.get_by_label("Tier unit price").fill("0.002")
    # 24,000 rated units at 0.002: 48 a month, 576 over the 12 months.
    await expect(line.locator("[data-breakdown]")).to_contain_text("estimated TCV $576.00")
    # A tier out of order is refused at that tier's field.
    await second.get_by_label("Tier up to (units; blank: no limit)").fill("500")
    await expect(second.locator('[data-slot="up_to"]')).not_to_be_empty()
    await expect(tier.locator('[data-slot="up_to"]')).to_be_empty()
    await second.get_by_label("Tier up to (units; blank: no limit)").fill("")
    await expect(second.locator('[data-slot="up_to"]')).to_be_empty()
    # A one-time charge beside it, discounted by an amount over the term.
    await line.get_by_role("button", name="Add charge").click()
    setup = line.locator("[data-charge]").nth(1)
    await setup.get_by_label("Charge type").select_option("one_time")
    await setup.get_by_label("Unit price", exact=True).fill("48000")
    await setup.get_by_label("Unit cost").fill("30000")
    await line.get_by_label("Discount as").select_option("amount")
    await line.get_by_label("Discount", exact=True).fill("4857.60")
    figures = alice.locator("#figures")
    # 4,857.60 off (48,000 + 576) is 10% off each charge: a committed TCV of 43,200 (the
    # estimated usage is not committed) and 43,718.40 with it.
    await expect(figures.locator('[data-figure="TCV"] dd')).to_have_text("$43,200.00")
    await expect(line.locator("[data-breakdown]")).to_contain_text("estimated TCV $43,718.40")
    await expect(figures.locator('[data-figure="Discount"] dd')).to_have_text("10.00%")
    await alice.locator('textarea[name="nonstandard_terms"]').fill("Net 90 payment terms")
    await alice.locator('input[name="competitor.name"]').fill("OtherCo")
    await alice.locator('input[name="payment_terms_days"]').fill("90")
    await expect(alice.locator("#approvals")).to_contain_text("Risk")
    await check_accessible(alice)
    await snap(alice, "deal-form-custom-line")
    await alice.get_by_role("button", name="Submit deal").click()
    await alice.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    await expect(alice.locator("h1")).to_contain_text("Hooli")
    await alice.get_by_role("link", name="Revise").click()
    # The revise form gives the custom line back as it was entered.
    charge = alice.locator("[data-charge]").first
    await expect(charge.get_by_label("Rated")).to_have_value("graduated")
    await expect(charge.locator("[data-tier]")).to_have_count(2)
    await expect(alice.locator("[data-line]").first.get_by_label("Discount as")).to_have_value(
        "amount"
    )


async def test_a_rep_cannot_open_another_reps_deal_or_the_inbox(
    open_as: SignIn, snap: Snap
) -> None:
    alice = await open_as("alice")
    await alice.goto("/deals/new")
    await alice.locator('input[name="customer.name"]').fill("Alice Only Inc")
    await alice.get_by_role("button", name="Submit deal").click()
    await alice.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    deal_url = alice.url

    bob = await open_as("bob")
    response = await bob.goto(deal_url)
    assert response is not None
    assert response.status == 404
    await expect(bob.locator("h1")).to_have_text("Not found")
    await expect(bob.locator("body")).not_to_contain_text("Alice Only")
    response = await bob.goto("/inbox")
    assert response is not None
    assert response.status == 403
    await expect(bob.locator("h1")).to_have_text("Not allowed")
    await expect(bob.get_by_role("link", name="Inbox")).to_have_count(0)
    await bob.goto("/deals")
    await expect(bob.locator("main")).not_to_contain_text("Alice Only")
    # A cookie-authenticated POST without the CSRF header is refused.
    refused = await bob.evaluate(
        """async () => (await fetch('/api/v1/quotes/price', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
    )
    assert refused == 403
    await bob.get_by_role("button", name="Sign out").click()
    await bob.wait_for_url(re.compile(r"/login$"))


async def test_admin_policy_error_at_the_rule_and_dry_run(open_as: SignIn, snap: Snap) -> None:
    alice = await open_as("alice")
    await alice.goto("/deals/new")
    await alice.locator('input[name="customer.name"]').fill("Dry Run Co")
    await alice.locator("[data-line]").first.locator('[data-field="discount"]').fill("25")
    await alice.get_by_role("button", name="Submit deal").click()
    await alice.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))

    page = await open_as("admin")
    await page.goto("/admin/policy")
    document = page.locator("#policy-document")
    text = await document.input_value()
    await document.fill(text.replace("max_line_discount_pct > 20", "max_line_discountt > 20", 1))
    await page.get_by_role("button", name="Save as new version").click()
    problem = page.locator('#policy-errors li[data-rule-id="line-discount-over-20"]')
    await expect(problem).to_contain_text("Rule line-discount-over-20")
    await snap(page, "admin-policy-error")
    # Following the problem selects the failing line in the editor.
    await problem.get_by_role("link").click()
    await expect(document).to_be_focused()
    selected = await document.evaluate("a => a.value.slice(a.selectionStart, a.selectionEnd)")
    assert "max_line_discountt" in selected
    # The draft (now raising the bar to 30%) on the deal just submitted: no approval needed.
    await document.fill(text.replace("max_line_discount_pct > 20", "max_line_discount_pct > 30", 1))
    option = page.locator("#dry-run-deal option", has_text="Dry Run Co")
    await page.get_by_label("Recent deal").select_option(await option.get_attribute("value"))
    await page.get_by_role("button", name="Run the draft on this deal").click()
    await expect(page.locator('[data-plan="draft"]')).to_contain_text("Standard offer")
    await expect(page.locator('[data-plan="active"]')).to_contain_text("sales VP")
    await check_accessible(page)
    for path in ("/admin/templates", "/admin/catalog"):
        await page.goto(path)
        await check_accessible(page)
        await snap(page, "admin-" + path.rsplit("/", 1)[1])


async def test_admin_manages_users_and_delegation_windows(open_as: SignIn, snap: Snap) -> None:
    page = await open_as("admin")
    await page.get_by_role("link", name="Users").click()
    await expect(page.locator("h1")).to_have_text("Users and delegations")
    create = page.locator("#new-user")
    await create.get_by_label("Username").fill("grace")
    await create.get_by_label("Full name").fill("Grace Approver")
    await create.get_by_label("E-mail").fill("not-an-address")
    await create.get_by_label("Initial password (12 characters or more)").fill(
        "grace-long-password"
    )
    await create.get_by_label("approver").check()
    await create.get_by_label("Approval roles (comma-separated)").fill("sales_vp")
    await create.get_by_label("Manager").select_option("frank")
    await create.get_by_role("button", name="Create user").click()
    # The address is refused next to its field, in words; nothing is created.
    await expect(create.locator('[data-error-for="email"]')).to_contain_text("email")
    await expect(page.locator('#users tr[data-username="grace"]')).to_have_count(0)
    await create.get_by_label("E-mail").fill("grace@example.com")
    await create.get_by_role("button", name="Create user").click()
    row = page.locator('#users tr[data-username="grace"]')
    await expect(row).to_contain_text("approver")
    await expect(row).to_contain_text("sales_vp")
    await expect(row).to_contain_text("frank")

    # Disable bob.
    edit = page.locator('details.user-edit[data-username="bob"]')
    await edit.locator("summary").click()
    await edit.get_by_label("Active (may sign in and approve)").uncheck()
    await edit.get_by_role("button", name="Save bob").click()
    await expect(page.locator('#users tr[data-username="bob"]')).to_contain_text("disabled")
    # A manager loop is refused at the manager field.
    edit = page.locator('details.user-edit[data-username="dave"]')
    await edit.locator("summary").click()
    await edit.get_by_label("Manager").select_option("alice")
    await edit.get_by_role("button", name="Save dave").click()
    await expect(edit.locator('[data-error-for="manager"]')).to_contain_text("reports to")

    # dave is away from now for two days; grace stands in, then dave is back early.
    window = page.locator("#new-delegation")
    await window.get_by_label("Away (delegator)").select_option("dave")
    await window.get_by_label("Delegate").select_option("grace")
    now = await page.evaluate(LOCAL_TIME, -60_000)
    later = await page.evaluate(LOCAL_TIME, 2 * 86_400_000)
    await window.get_by_label("Until (your local time)").fill(now)
    await window.get_by_label("From (your local time)").fill(later)
    await window.get_by_role("button", name="Add window").click()
    await expect(window.locator(".result")).to_contain_text("ends_at must be after starts_at")
    await window.get_by_label("From (your local time)").fill(now)
    await window.get_by_label("Until (your local time)").fill(later)
    await window.get_by_role("button", name="Add window").click()
    delegation = page.locator("#delegations tbody tr").first
    await expect(delegation).to_contain_text("grace")
    await expect(delegation).to_contain_text("open")
    await check_accessible(page)
    await snap(page, "admin-users")
    await delegation.get_by_role("button", name=re.compile("End now")).click()
    await expect(page.locator("#delegations tbody tr").first).to_contain_text("ended")


async def test_finance_charts_with_data(
    open_as: SignIn, snap: Snap, seeded: SessionFactory
) -> None:
    load_known_deals(seeded)
    page = await open_as("erin")
    charts = page.locator("section.chart")
    await expect(charts).to_have_count(5)
    histogram = page.locator("#chart-margin-distribution")
    await expect(histogram.get_by_role("img", name="Margin distribution")).to_be_visible()
    await expect(histogram.locator("g.bar rect")).to_have_count(11)
    tallest = await histogram.locator("g.bar rect").evaluate_all(
        "rs => rs.map(r => r.getBBox().height)"
    )
    assert max(tallest) == tallest[7] > 0  # the 60-70% band, two deals
    await expect(page.locator("#chart-discount-vs-margin circle.point")).to_have_count(4)
    await expect(page.locator("#chart-bookings-usd polyline.line")).to_have_count(1)
    await histogram.get_by_text("Margin distribution as a table").click()
    await expect(histogram.locator("table")).to_contain_text("60-70%")
    for section in await page.locator(".report").all():
        await expect(section.locator(".report-body")).not_to_have_text("Loading…")
    await expect(page.locator(".report-body.error")).to_have_count(0)
    async with page.expect_download() as download:
        await histogram.get_by_role("link", name="Margin bands XLSX").click()
    assert (await download.value).suggested_filename == "margin-bands-all.xlsx"
    await check_accessible(page)
    await snap(page, "finance")
