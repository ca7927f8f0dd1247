"""Demo data for development: users, the demo price book and the default policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from api.security import hash_password
from policies import default_policy_text, load_policy
from pricing import ProductSpec, demo_catalog
from store import catalog, policy_versions, users
from store.db import SessionFactory, transaction


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[str, ...]
    approval_roles: tuple[str, ...] = ()
    manager: str | None = None

    @property
    def password(self) -> str:
        return f"{self.username}-demo"


DEMO_USERS = (
    DemoUser("alice", "Alice Rep", ("rep",), manager="dave"),
    DemoUser("bob", "Bob Rep", ("rep",), manager="dave"),
    DemoUser("carol", "Carol Finance", ("approver", "finance"), ("finance",)),
    DemoUser("dave", "Dave Sales VP", ("approver",), ("sales_vp",)),
    DemoUser("frank", "Frank CFO", ("approver",), ("cfo",)),
    DemoUser("erin", "Erin Analyst", ("finance",)),
    DemoUser("admin", "Deal Desk Admin", ("admin", "approver"), ("deal_desk",)),
)


def seed_demo(sessions: SessionFactory) -> list[str]:
    """Add whatever demo data is missing; never overwrites what is there. Returns what it did."""
    done: list[str] = []
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        for demo in DEMO_USERS:
            if users.get_user(session, username=demo.username) is None:
                users.upsert_user(
                    session,
                    username=demo.username,
                    full_name=demo.full_name,
                    email=f"{demo.username}@example.com",
                    roles=list(demo.roles),
                    approval_roles=list(demo.approval_roles),
                    manager=demo.manager,
                    password_hash=hash_password(demo.password),
                )
                done.append(f"user {demo.username}")
        if catalog.catalog_version(session) == 0:
            for product in demo_catalog():
                spec = ProductSpec.model_validate(product.model_dump(exclude={"sku"}))
                catalog.put_product(session, sku=product.sku, spec=spec, actor="seed", at=now)
            done.append("demo catalog")
        if policy_versions.active_policy(session) is None:
            text = default_policy_text()
            policy = load_policy(text)
            policy_versions.store_policy(
                session, version=policy.version, document=text, actor="seed", at=now
            )
            done.append(f"default policy v{policy.version}")
    return done
