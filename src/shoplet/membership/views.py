"""Members and light memberships as staff and customers see them (batched for lists)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shoplet.membership import light, tiers
from shoplet.membership.models import LightMembership, LightSettlement, LightStatus, Member
from shoplet.membership.schemas import LightMembershipOut, LightSettlementOut, MemberOut
from shoplet.scoping import scoped


def members_out(s: Session, members: list[Member]) -> list[MemberOut]:
    """Members with their next tier: the merchant's tiers are read once for the page."""
    if not members:
        return []
    ladder = tiers.tiers_of(s, members[0].merchant_id)
    out = []
    for member in members:
        ahead = [t for t in ladder if t.threshold > member.growth]
        out.append(
            MemberOut(
                customer_id=member.customer_id,
                tier=member.tier,
                growth=member.growth,
                points_balance=member.points_balance,
                next_tier=ahead[0].code if ahead else None,
                growth_to_next=ahead[0].threshold - member.growth if ahead else None,
                joined_at=member.joined_at,
                host_app=member.host_app,
                scene=member.scene,
            )
        )
    return out


def member_out(s: Session, member: Member) -> MemberOut:
    return members_out(s, [member])[0]


def memberships_out(s: Session, memberships: list[LightMembership]) -> list[LightMembershipOut]:
    """Light memberships with their current settlement (those past their period): one
    statement for the settlements of any page."""
    if not memberships:
        return []
    settling = [m for m in memberships if m.status != LightStatus.ACTIVE]
    current: dict[tuple[str, int], LightSettlement] = {}
    if settling:
        for row in s.scalars(
            scoped(LightSettlement, memberships[0].merchant_id).where(
                LightSettlement.membership_id.in_([m.id for m in settling])
            )
        ):
            current[(row.membership_id, row.period_no)] = row
    out = []
    for m in memberships:
        settlement = current.get((m.id, m.period_no)) if m.status != LightStatus.ACTIVE else None
        out.append(
            LightMembershipOut(
                id=m.id,
                customer_id=m.customer_id,
                plan_id=m.plan_id,
                status=m.status,
                period_no=m.period_no,
                period_start=m.period_start,
                period_end=m.period_end,
                fee=m.fee,
                enjoyed=m.enjoyed,
                to_charge=settlement.amount if settlement else light.to_charge(m),
                auto_renew=m.auto_renew,
                credit_score=m.credit_score,
                joined_at=m.joined_at,
                ended_at=m.ended_at,
                end_reason=m.end_reason,
                settlement=LightSettlementOut.model_validate(settlement) if settlement else None,
            )
        )
    return out


def membership_out(s: Session, m: LightMembership) -> LightMembershipOut:
    return memberships_out(s, [m])[0]
