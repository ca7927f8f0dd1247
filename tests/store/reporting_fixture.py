"""Five deals written through the reporting writers, as the activities write them, with every
figure the report tests expect worked out by hand here.

A  alice, enterprise/NA, new, USD, 12 months, submitted 2026-01-10 09:00
   PLAT-SEAT x10 at 120/month less 10%: list 14,400, line discount 1,440, net 12,960,
                                        cost 10 x 18 x 12 = 2,160
   PLAT-ONBOARD x1 at 15,000 one-time:  list = net 15,000, cost 9,000
   deal: list 29,400, net (tcv_estimated) = tcv = acv 27,960, mrr 1,080, cost 11,160,
         margin 16,800 = 60.09%; discount 1,440 / 29,400 = 4.90% (490 bp)
   policy: stage 1 sales_vp; dave approves after 4 h; approved at 15:00 (6 h);
   won 2026-02-03 09:00 (24 days); order booked then: ACV = TCV = 27,960.
B  bob, smb/EMEA, existing, USD, 24 months, header discount 10%, submitted 2026-02-15 12:00
   Hosting 500/month, cost 300: list 12,000, header 1,200, net 10,800, cost 7,200
   Events usage 0.01 x 10,000/month = 100, minimum 150/month, cost 0.002/unit:
         list max(100, 150) x 24 = 3,600; discounted 90 < 150 so net 150 x 24 = 3,600;
         header discount 3,600 x 10% = 360; commitment effect 3,600 - 3,600 x 0.9 = 360;
         cost 20 x 24 = 480
   deal: list 15,600, net = tcv 14,400, acv (10,800 + 3,600) x 12 / 24 = 7,200, cost 7,680,
         margin 6,720 = 46.67%; discount 1,200 / 15,600 = 7.69% (769 bp)
   policy: stage 1 finance, stage 2 cfo. carol approves after 10 h; frank's task escalates
   after 24 h (the system closes it); admin rejects after 14 h; rejected 2026-02-17 12:00 (48 h).
C  alice, enterprise/NA, existing, EUR, 12 months, submitted 2026-04-01 08:00
   v1: Seats EU 20 x 100/month less 4,800: policy stage 1 sales_vp, dave asks for changes after
       4 h (12:00).
   v2 (revised): less 2,400 instead: list 24,000, line discount 2,400, net = acv 21,600,
       cost 20 x 40 x 12 = 9,600, margin 12,000 = 55.56%, discount 10.00% (1000 bp);
       a standard offer, approved 2026-04-02 08:00 (24 h after the first submission);
       lost 2026-04-20 08:00.
D  bob, smb/EMEA, new, USD, 12 months, submitted 2026-04-05 10:00, still in approval
   PLAT-SEAT x5 less 35% (floor 30%): list 7,200, line discount 2,520, net = acv 4,680,
       cost 1,080, margin 3,600 = 76.92%; beyond the floor 7,200 x 5% = 360; 3500 bp
   policy: stage 1 deal_desk and sales_vp; the deal desk task is open.
E  alice, public/APAC, new, JPY (no minor units), 12 months, submitted 2026-05-10 09:00
   Setup one-time 1,000,000, cost 400,000: margin 600,000 = 60.00%; a standard offer
   approved a minute later; won 2026-05-20 09:00 (10 days); order ACV = TCV = 1,000,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from pricing import DealInput, demo_catalog, price_deal
from store import deals, orders, reporting
from store.db import SessionFactory, transaction
from store.tables import ApprovalTask, DealOrder

CATALOG = {product.sku: product for product in demo_catalog()}

A_SUBMITTED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
B_SUBMITTED = datetime(2026, 2, 15, 12, 0, tzinfo=UTC)
C_SUBMITTED = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
D_SUBMITTED = datetime(2026, 4, 5, 10, 0, tzinfo=UTC)
E_SUBMITTED = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def deal_input(
    *,
    currency: str = "USD",
    term_months: int = 12,
    segment: str = "enterprise",
    region: str = "NA",
    new_customer: bool = False,
    header_discount_pct: str = "0",
    lines: Sequence[dict[str, Any]],
) -> DealInput:
    return DealInput.model_validate(
        {
            "currency": currency,
            "term_months": term_months,
            "start_date": "2026-06-01",
            "billing_frequency": "annual",
            "customer": {
                "name": f"{segment} customer",
                "segment": segment,
                "region": region,
                "new_customer": new_customer,
                "credit_rating": "A",
            },
            "header_discount_pct": header_discount_pct,
            "lines": list(lines),
        }
    )


def custom(name: str, charge: dict[str, Any], **line: Any) -> dict[str, Any]:
    return {"name": name, "quantity": line.pop("quantity", "1"), "charges": [charge], **line}


class Writer:
    """The activities' writes, in their order, for one deal."""

    def __init__(self, session: Session, deal_id: str, owner: str) -> None:
        self.session = session
        self.deal_id = deal_id
        self.owner = owner
        self.seq = 0

    def submit(self, version: int, deal: DealInput, at: datetime) -> None:
        deals.record_version(
            self.session,
            deal_id=self.deal_id,
            owner=self.owner,
            actor=self.owner,
            version=version,
            deal_input=deal.model_dump(mode="json"),
            catalog_version=1,
            status="submitted",
            at=at,
        )
        priced = price_deal(deal, CATALOG)
        deals.save_pricing(
            self.session,
            deal_id=self.deal_id,
            version=version,
            priced=priced.model_dump(mode="json"),
        )
        reporting.record_pricing(
            self.session, deal_id=self.deal_id, version=version, deal=deal, priced=priced
        )

    def plan(self, version: int, approvals: Sequence[tuple[int, str]]) -> None:
        reporting.record_plan(
            self.session, deal_id=self.deal_id, version=version, approvals=approvals
        )

    def status(self, status: str, at: datetime) -> None:
        self.seq += 1
        row = deals.set_status(
            self.session, deal_id=self.deal_id, status=status, reason=None, seq=self.seq, at=at
        )
        reporting.record_status(self.session, deal=row, seq=self.seq, at=at)

    def task(
        self,
        task_id: str,
        *,
        version: int = 1,
        stage: int,
        role: str,
        assignee: str,
        opened: datetime,
        closed: datetime | None = None,
        status: str = "open",
        decided_by: str | None = None,
    ) -> None:
        deals.upsert_tasks(
            self.session,
            tasks=[
                ApprovalTask(
                    id=task_id,
                    deal_id=self.deal_id,
                    version=version,
                    stage=stage,
                    role=role,
                    assignee=assignee,
                    status="open",
                    reasons=[],
                    created_at=opened,
                    remind_at=opened + 24 * HOUR,
                    due_at=opened + 48 * HOUR,
                )
            ],
        )
        if closed is not None:
            deals.close_task(
                self.session,
                task_id=task_id,
                status=status,
                decided_by=decided_by,
                comment=None,
                at=closed,
            )

    def book(self, deal: DealInput, at: datetime) -> None:
        priced = price_deal(deal, CATALOG)
        scale = 10 ** {"JPY": 0}.get(deal.currency, 2)
        totals = priced.totals
        orders.create_order(
            self.session,
            order=DealOrder(
                deal_id=self.deal_id,
                version=1,
                owner=self.owner,
                customer_name=deal.customer.name,
                segment=deal.customer.segment,
                region=deal.customer.region,
                new_customer=deal.customer.new_customer,
                currency=deal.currency,
                start_date=deal.start_date,
                end_date=date(2027, 5, 31),
                term_months=deal.term_months,
                billing_frequency=deal.billing_frequency.value,
                payment_terms_days=deal.payment_terms_days,
                one_time_minor=int(totals.one_time * scale),
                mrr_minor=int(totals.mrr * scale),
                acv_minor=int(totals.acv * scale),
                tcv_minor=int(totals.tcv * scale),
                cost_minor=int(totals.cost_tcv_estimated * scale),
                accepted_by_name="Buyer",
                accepted_by_title="Procurement",
                accepted_by_email="buyer@example.com",
                contract_sha256="0" * 64,
                booked_at=at,
            ),
        )


DEAL_A = deal_input(
    new_customer=True,
    lines=[
        {"sku": "PLAT-SEAT", "quantity": "10", "discount_pct": "10"},
        {"sku": "PLAT-ONBOARD", "quantity": "1"},
    ],
)
DEAL_B = deal_input(
    term_months=24,
    segment="smb",
    region="EMEA",
    header_discount_pct="10",
    lines=[
        custom("Hosting", {"type": "recurring", "unit_price": "500", "unit_cost": "300"}),
        custom(
            "Events",
            {
                "type": "usage",
                "model": "per_unit",
                "unit_price": "0.01",
                "estimated_quantity": "10000",
                "minimum_commitment": "150",
                "unit_cost": "0.002",
            },
        ),
    ],
)


def _deal_c(discount: str) -> DealInput:
    seats = {"type": "recurring", "unit_price": "100", "unit_cost": "40"}
    return deal_input(
        currency="EUR",
        lines=[custom("Seats EU", seats, quantity="20", discount_amount=discount)],
    )


DEAL_C1 = _deal_c("4800")
DEAL_C2 = _deal_c("2400")
DEAL_D = deal_input(
    segment="smb",
    region="EMEA",
    new_customer=True,
    lines=[{"sku": "PLAT-SEAT", "quantity": "5", "discount_pct": "35"}],
)
DEAL_E = deal_input(
    currency="JPY",
    segment="public",
    region="APAC",
    new_customer=True,
    lines=[custom("Setup", {"type": "one_time", "unit_price": "1000000", "unit_cost": "400000"})],
)


def load_known_deals(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        a = Writer(session, "deal-a", "alice")
        a.submit(1, DEAL_A, A_SUBMITTED)
        a.plan(1, [(1, "sales_vp")])
        a.status("in_approval", A_SUBMITTED)
        a.task(
            "t-a1",
            stage=1,
            role="sales_vp",
            assignee="dave",
            opened=A_SUBMITTED,
            closed=A_SUBMITTED + 4 * HOUR,
            status="approved",
            decided_by="dave",
        )
        a.status("approved", A_SUBMITTED + 6 * HOUR)
        a.status("sent", A_SUBMITTED + 7 * HOUR)
        won_a = A_SUBMITTED + timedelta(days=24)
        a.book(DEAL_A, won_a)
        a.status("closed_won", won_a)

        b = Writer(session, "deal-b", "bob")
        b.submit(1, DEAL_B, B_SUBMITTED)
        b.plan(1, [(1, "finance"), (2, "cfo")])
        b.status("in_approval", B_SUBMITTED)
        b.task(
            "t-b1",
            stage=1,
            role="finance",
            assignee="carol",
            opened=B_SUBMITTED,
            closed=B_SUBMITTED + 10 * HOUR,
            status="approved",
            decided_by="carol",
        )
        b.task(
            "t-b2",
            stage=2,
            role="cfo",
            assignee="frank",
            opened=B_SUBMITTED + 10 * HOUR,
            closed=B_SUBMITTED + 34 * HOUR,
            status="escalated",
        )
        b.task(
            "t-b3",
            stage=2,
            role="cfo",
            assignee="admin",
            opened=B_SUBMITTED + 34 * HOUR,
            closed=B_SUBMITTED + 48 * HOUR,
            status="rejected",
            decided_by="admin",
        )
        b.status("rejected", B_SUBMITTED + 48 * HOUR)

        c = Writer(session, "deal-c", "alice")
        c.submit(1, DEAL_C1, C_SUBMITTED)
        c.plan(1, [(1, "sales_vp")])
        c.status("in_approval", C_SUBMITTED)
        c.task(
            "t-c1",
            stage=1,
            role="sales_vp",
            assignee="dave",
            opened=C_SUBMITTED,
            closed=C_SUBMITTED + 4 * HOUR,
            status="changes_requested",
            decided_by="dave",
        )
        c.status("changes_requested", C_SUBMITTED + 4 * HOUR)
        c.submit(2, DEAL_C2, C_SUBMITTED + 20 * HOUR)
        c.plan(2, [])
        c.status("approved", C_SUBMITTED + 24 * HOUR)
        c.status("sent", C_SUBMITTED + 25 * HOUR)
        c.status("closed_lost", C_SUBMITTED + timedelta(days=19))

        d = Writer(session, "deal-d", "bob")
        d.submit(1, DEAL_D, D_SUBMITTED)
        d.plan(1, [(1, "deal_desk"), (1, "sales_vp")])
        d.status("in_approval", D_SUBMITTED)
        d.task("t-d1", stage=1, role="deal_desk", assignee="admin", opened=D_SUBMITTED)

        e = Writer(session, "deal-e", "alice")
        e.submit(1, DEAL_E, E_SUBMITTED)
        e.plan(1, [])
        e.status("approved", E_SUBMITTED + timedelta(minutes=1))
        e.status("sent", E_SUBMITTED + 2 * HOUR)
        won_e = E_SUBMITTED + timedelta(days=10)
        e.book(DEAL_E, won_e)
        e.status("closed_won", won_e)

        now = datetime(2026, 1, 1, tzinfo=UTC)
        for rep, period, amount in (
            ("alice", "2026-Q1", 5_000_000),
            ("bob", "2026-Q1", 2_000_000),
            ("alice", "2026-02", 3_000_000),
        ):
            reporting.put_quota(
                session,
                rep=rep,
                period=period,
                currency="USD",
                amount_minor=amount,
                actor="admin",
                at=now,
            )
