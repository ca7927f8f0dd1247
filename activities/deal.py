"""The activities of DealWorkflow.

Plain `def` activities run on the worker's thread pool: SQLAlchemy sessions block, and a
blocking call inside an `async def` activity would stall every workflow on the worker.
Every write is idempotent, keyed by deal id, version and step, because activities retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import documents as documents_service
from policies import ApprovalPlan, NoApproverError, PolicyEvaluationError, evaluate
from pricing import DealInput, PricedDeal, PricingError, minor_units, price_deal, round_money
from pricing.schedule import add_months
from store import catalog, deals, documents, orders, reporting, routing, users
from store.db import SessionFactory, transaction
from store.tables import ApprovalTask, DealOrder
from templates.documents import Acceptance
from workflows.messages import (
    CloseTasksInput,
    CloseWonInput,
    DocumentResult,
    EscalationInput,
    EscalationTargets,
    EvaluateInput,
    EventInput,
    OpenTasksInput,
    RecordDecisionInput,
    RecordVersionInput,
    RenderInput,
    SendProposalInput,
    SetStatusInput,
    VersionRef,
)


class DealActivities:
    def __init__(self, session_factory: SessionFactory, *, seller: str = "DealDesk") -> None:
        self._sessions = session_factory
        # The selling company's name, printed on proposals and contracts.
        self._seller = seller

    def all(self) -> Sequence[Callable[..., Any]]:
        return [
            self.record_version,
            self.price_version,
            self.evaluate_version,
            self.open_tasks,
            self.record_decision,
            self.close_tasks,
            self.set_status,
            self.render_proposal,
            self.send_proposal,
            self.close_won,
            self.record_event,
            self.escalation_targets,
        ]

    @activity.defn
    def record_version(self, input: RecordVersionInput) -> None:
        with transaction(self._sessions) as session:
            deals.record_version(
                session,
                deal_id=input.deal_id,
                owner=input.owner,
                actor=input.actor,
                version=input.version,
                deal_input=input.deal.model_dump(mode="json"),
                catalog_version=input.catalog_version,
                status="submitted",
                at=input.at,
                request_hash=input.request_hash,
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:submitted",
                version=input.version,
                event="submitted" if input.version == 1 else "revised",
                actor=input.actor,
                at=input.at,
                detail={"catalog_version": input.catalog_version},
            )
            # The customer's link to an earlier version's proposal stops working.
            if input.version > 1 and documents.supersede_before(
                session, deal_id=input.deal_id, version=input.version
            ):
                deals.append_audit(
                    session,
                    deal_id=input.deal_id,
                    key=f"v{input.version}:documents_superseded",
                    version=input.version,
                    event="proposal_superseded",
                    actor=input.actor,
                    at=input.at,
                    detail={"by_version": input.version},
                )

    @activity.defn
    def price_version(self, input: VersionRef) -> PricedDeal:
        with transaction(self._sessions) as session:
            row = deals.require_version(session, deal_id=input.deal_id, version=input.version)
            deal = DealInput.model_validate(row.input)
            products = catalog.products_at(session, version=row.catalog_version)
            try:
                priced = price_deal(deal, products)
            except PricingError as err:
                raise ApplicationError(str(err), type="pricing_error", non_retryable=True) from err
            deals.save_pricing(
                session,
                deal_id=input.deal_id,
                version=input.version,
                priced=priced.model_dump(mode="json"),
            )
            # Finance's report rows of the deal follow its newest priced version.
            reporting.record_pricing(
                session, deal_id=input.deal_id, version=input.version, deal=deal, priced=priced
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:priced",
                version=input.version,
                event="priced",
                actor="system",
                at=row.created_at,
                detail={
                    "tcv": str(priced.totals.tcv),
                    "acv": str(priced.totals.acv),
                    "gross_margin_pct": str(priced.totals.gross_margin_pct),
                },
            )
        return priced

    @activity.defn
    def evaluate_version(self, input: EvaluateInput) -> ApprovalPlan:
        with transaction(self._sessions) as session:
            row = deals.require_version(session, deal_id=input.deal_id, version=input.version)
            if row.priced is None:
                raise ApplicationError("version is not priced yet", type="not_priced")
            active = routing.active_policy(session)
            if active is None:
                raise ApplicationError("no active policy", type="no_policy", non_retryable=True)
            policy_version, policy = active
            directory = routing.directory_at(session, at=input.at)
            try:
                plan = evaluate(
                    deal=DealInput.model_validate(row.input),
                    priced=PricedDeal.model_validate(row.priced),
                    policy=policy,
                    directory=directory,
                    submitter=input.submitter,
                    at=input.at,
                )
            except (NoApproverError, PolicyEvaluationError) as err:
                # A retry gives the same answer; the workflow hands the deal back with the reason.
                raise ApplicationError(str(err), type="routing_error", non_retryable=True) from err
            deals.save_plan(
                session,
                deal_id=input.deal_id,
                version=input.version,
                plan=plan.model_dump(mode="json"),
                policy_version=policy_version,
            )
            reporting.record_plan(
                session,
                deal_id=input.deal_id,
                version=input.version,
                approvals=[(s.stage, s.role) for s in plan.stages],
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:routed",
                version=input.version,
                event="routed",
                actor="system",
                at=input.at,
                detail={
                    "policy_version": policy_version,
                    "standard_offer": plan.standard_offer,
                    "stages": [
                        {
                            "stage": s.stage,
                            "role": s.role,
                            "reasons": [r.text for r in s.reasons],
                        }
                        for s in plan.stages
                    ],
                    "violations": [v.text for v in plan.violations],
                },
            )
        return plan

    @activity.defn
    def open_tasks(self, input: OpenTasksInput) -> None:
        with transaction(self._sessions) as session:
            row = deals.require_version(session, deal_id=input.deal_id, version=input.version)
            reasons_by_role = _reasons_by_role(row.plan or {}, input.stage)
            deals.upsert_tasks(
                session,
                tasks=[
                    ApprovalTask(
                        id=task.task_id,
                        deal_id=input.deal_id,
                        version=input.version,
                        stage=input.stage,
                        role=task.role,
                        assignee=task.assignee,
                        delegated_from=task.delegated_from,
                        escalated_from=task.escalated_from,
                        status="open",
                        reasons=reasons_by_role.get(task.role, []),
                        created_at=input.at,
                        remind_at=input.remind_at,
                        due_at=input.due_at,
                    )
                    for task in input.tasks
                ],
            )
            for task in input.tasks:
                deals.append_audit(
                    session,
                    deal_id=input.deal_id,
                    key=f"task:{task.task_id}:opened",
                    version=input.version,
                    event="task_opened",
                    actor="system",
                    at=input.at,
                    detail={
                        "task_id": task.task_id,
                        "stage": input.stage,
                        "role": task.role,
                        "assignee": task.assignee,
                        "delegated_from": task.delegated_from,
                        "escalated_from": task.escalated_from,
                        "due_at": input.due_at.isoformat(),
                    },
                )
                if task.delegated_from:
                    deals.append_audit(
                        session,
                        deal_id=input.deal_id,
                        key=f"task:{task.task_id}:delegated",
                        version=input.version,
                        event="delegated",
                        actor="system",
                        at=input.at,
                        detail={
                            "task_id": task.task_id,
                            "from": task.delegated_from,
                            "to": task.assignee,
                        },
                    )

    @activity.defn
    def record_decision(self, input: RecordDecisionInput) -> None:
        with transaction(self._sessions) as session:
            deals.close_task(
                session,
                task_id=input.task_id,
                status=input.status.value,
                decided_by=input.actor,
                comment=input.comment or None,
                at=input.at,
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"task:{input.task_id}:decided",
                version=input.version,
                event="decided",
                actor=input.actor,
                at=input.at,
                detail={
                    "task_id": input.task_id,
                    "decision": input.status.value,
                    "comment": input.comment,
                },
            )

    @activity.defn
    def close_tasks(self, input: CloseTasksInput) -> None:
        with transaction(self._sessions) as session:
            for task_id in input.task_ids:
                deals.close_task(
                    session,
                    task_id=task_id,
                    status=input.status.value,
                    decided_by=None,
                    comment=None,
                    at=input.at,
                )
                deals.append_audit(
                    session,
                    deal_id=input.deal_id,
                    key=f"task:{task_id}:closed",
                    version=input.version,
                    event=f"task_{input.status.value}",
                    actor="system",
                    at=input.at,
                    detail={"task_id": task_id},
                )

    @activity.defn
    def set_status(self, input: SetStatusInput) -> None:
        with transaction(self._sessions) as session:
            deal = deals.set_status(
                session,
                deal_id=input.deal_id,
                status=input.status.value,
                reason=input.reason,
                seq=input.seq,
                at=input.at,
            )
            reporting.record_status(session, deal=deal, seq=input.seq, at=input.at)
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"status:{input.seq}",
                version=input.version,
                event=input.status.value,
                actor=input.actor,
                at=input.at,
                detail={"reason": input.reason} if input.reason else {},
            )

    @activity.defn
    def render_proposal(self, input: RenderInput) -> DocumentResult:
        """The approved version's proposal as the rep previews it, before it is sent (no
        validity date yet: that starts when it goes to the customer)."""
        with transaction(self._sessions) as session:
            html, _ = documents_service.render_proposal(
                session,
                deal_id=input.deal_id,
                version=input.version,
                valid_until=None,
                at=input.at,
                seller=self._seller,
                pdf=False,
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:proposal",
                version=input.version,
                event="proposal_rendered",
                actor="system",
                at=input.at,
                detail={"sha256": html.sha256},
            )
            return DocumentResult(
                deal_id=input.deal_id, version=input.version, kind="proposal", sha256=html.sha256
            )

    @activity.defn
    def send_proposal(self, input: SendProposalInput) -> DocumentResult:
        """Render the proposal the customer receives (with its validity date), as HTML and
        PDF, and record who sent it to whom."""
        with transaction(self._sessions) as session:
            html, pdf = documents_service.render_proposal(
                session,
                deal_id=input.deal_id,
                version=input.version,
                valid_until=input.valid_until.date(),
                at=input.at,
                seller=self._seller,
                pdf=True,
            )
            assert pdf is not None
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:proposal_sent",
                version=input.version,
                event="proposal_sent",
                actor=input.actor,
                at=input.at,
                detail={
                    "to": input.to,
                    "valid_until": input.valid_until.isoformat(),
                    "html_sha256": html.sha256,
                    "pdf_sha256": pdf.sha256,
                },
            )
            return DocumentResult(
                deal_id=input.deal_id, version=input.version, kind="proposal", sha256=pdf.sha256
            )

    @activity.defn
    def close_won(self, input: CloseWonInput) -> DocumentResult:
        """The customer accepted: render the contract from the accepted version, store it and
        book the order, in one transaction so a retry finds all of it or none."""
        acceptance = Acceptance(
            name=input.name, title=input.title, email=input.email, accepted_at=input.at
        )
        with transaction(self._sessions) as session:
            context, deal, priced = documents_service.build_contract_context(
                session,
                deal_id=input.deal_id,
                version=input.version,
                acceptance=acceptance,
                at=input.at,
                seller=self._seller,
            )
            html, pdf = documents_service.render_and_store(
                session,
                deal_id=input.deal_id,
                version=input.version,
                kind="contract",
                context=context,
                at=input.at,
                pdf=True,
            )
            assert pdf is not None
            row = deals.get_deal(session, deal_id=input.deal_id)
            assert row is not None
            order = orders.create_order(
                session, order=_order(row.owner, input, deal, priced, pdf.sha256)
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:accepted",
                version=input.version,
                event="accepted",
                actor="customer",
                at=input.at,
                detail={"name": input.name, "title": input.title, "email": input.email},
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:contract",
                version=input.version,
                event="contract_rendered",
                actor="system",
                at=input.at,
                detail={"html_sha256": html.sha256, "pdf_sha256": pdf.sha256},
            )
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=f"v{input.version}:order",
                version=input.version,
                event="order_created",
                actor="system",
                at=input.at,
                detail={
                    "order_id": order.id,
                    "acv": str(priced.totals.acv),
                    "tcv": str(priced.totals.tcv),
                },
            )
            return DocumentResult(
                deal_id=input.deal_id, version=input.version, kind="contract", sha256=pdf.sha256
            )

    @activity.defn
    def record_event(self, input: EventInput) -> None:
        with transaction(self._sessions) as session:
            deals.append_audit(
                session,
                deal_id=input.deal_id,
                key=input.key,
                version=input.version,
                event=input.event,
                actor=input.actor,
                at=input.at,
                detail=dict(input.detail),
            )

    @activity.defn
    def escalation_targets(self, input: EscalationInput) -> EscalationTargets:
        """Who each task escalates to: the approver's manager, else a deal desk admin.

        Never the deal's submitter, never an inactive user; an approver with no one above
        keeps the task (the answer names them again) and reminders go on.
        """
        with self._sessions() as session:
            directory = {u.username: u for u in users.list_users(session)}
        desk = sorted(
            name
            for name, user in directory.items()
            if user.active and "deal_desk" in user.approval_roles and name != input.submitter
        )
        targets: dict[str, str] = {}
        for task_id, assignee in input.assignees.items():
            user = directory.get(assignee)
            manager = directory.get(user.manager) if user and user.manager else None
            if manager is not None and manager.active and manager.username != input.submitter:
                targets[task_id] = manager.username
            elif desk and assignee not in desk:
                targets[task_id] = desk[0]
            else:
                targets[task_id] = assignee
        return EscalationTargets(targets=targets)


def _reasons_by_role(plan: dict[str, Any], stage: int) -> dict[str, list[dict[str, Any]]]:
    return {
        s["role"]: list(s.get("reasons", []))
        for s in plan.get("stages", [])
        if s.get("stage") == stage
    }


def _minor(amount: Decimal, currency: str) -> int:
    return int(round_money(amount, currency).scaleb(minor_units(currency)))


def _order(
    owner: str, input: CloseWonInput, deal: DealInput, priced: PricedDeal, contract_sha256: str
) -> DealOrder:
    totals = priced.totals
    currency = priced.currency
    end = add_months(deal.start_date, deal.term_months) - timedelta(days=1)
    return DealOrder(
        deal_id=input.deal_id,
        version=input.version,
        owner=owner,
        customer_name=deal.customer.name,
        segment=deal.customer.segment,
        region=deal.customer.region,
        new_customer=deal.customer.new_customer,
        currency=currency,
        start_date=deal.start_date,
        end_date=end,
        term_months=deal.term_months,
        billing_frequency=deal.billing_frequency.value,
        payment_terms_days=deal.payment_terms_days,
        one_time_minor=_minor(totals.one_time, currency),
        mrr_minor=_minor(totals.mrr, currency),
        acv_minor=_minor(totals.acv, currency),
        tcv_minor=_minor(totals.tcv, currency),
        cost_minor=_minor(totals.cost_tcv_estimated, currency),
        accepted_by_name=input.name,
        accepted_by_title=input.title,
        accepted_by_email=input.email,
        contract_sha256=contract_sha256,
        booked_at=input.at,
    )
