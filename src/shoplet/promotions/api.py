"""Promotions: create, list, edit, schedule, pause, resume, stop."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from shoplet.auth import AsOperator, AsStaff, Db, Now
from shoplet.pagination import Page, PageQuery, paginate
from shoplet.promotions import service
from shoplet.promotions.models import Promotion
from shoplet.promotions.schemas import PromotionIn, PromotionOut, PromotionPatch
from shoplet.scoping import get_owned, scoped
from shoplet.threads import OneHop

router = APIRouter(route_class=OneHop, tags=["promotions"])


def promotion_out(promotion: Promotion, now: datetime) -> PromotionOut:
    fields = {c.name: getattr(promotion, c.name) for c in Promotion.__table__.columns}
    fields["group"] = fields.pop("stack_group")
    return PromotionOut(**fields, state=service.state(promotion, now))


@router.post("/promotions", response_model=PromotionOut, status_code=201)
def create_promotion(
    body: PromotionIn,
    p: AsOperator,
    db: Db,
    now: Now,
) -> PromotionOut:
    """A promotion of any stage 1–3 kind, with its scope, stack group, channels, stores and window."""
    with db.unit_of_work() as s:
        promotion = service.create_from_request(s, merchant_id=p.tenant, body=body, now=now)
        return promotion_out(promotion, now)


@router.get("/promotions", response_model=Page[PromotionOut])
def list_promotions(
    p: AsStaff,
    db: Db,
    now: Now,
    page: PageQuery,
    status: str | None = Query(None, pattern="^(active|paused|stopped)$"),
) -> Page[PromotionOut]:
    with db.unit_of_work(write=False) as s:
        stmt = scoped(Promotion, p.tenant)
        if status:
            stmt = stmt.where(Promotion.status == status)
        rows, cursor = paginate(s, stmt, Promotion.id, page)
        return Page(items=[promotion_out(r, now) for r in rows], next_cursor=cursor)


@router.get("/promotions/{promotion_id}", response_model=PromotionOut)
def get_promotion(
    promotion_id: str,
    p: AsStaff,
    db: Db,
    now: Now,
) -> PromotionOut:
    with db.unit_of_work(write=False) as s:
        return promotion_out(get_owned(s, Promotion, p.tenant, promotion_id, what="Promotion"), now)


@router.patch("/promotions/{promotion_id}", response_model=PromotionOut)
def update_promotion(
    promotion_id: str,
    body: PromotionPatch,
    p: AsOperator,
    db: Db,
    now: Now,
) -> PromotionOut:
    """Edit, or reschedule with ``starts_at``/``ends_at``. Rule fields, when given, replace the
    rule's parameters as a whole. Orders already placed keep what they were priced with."""
    with db.unit_of_work() as s:
        promotion = service.update_from_request(
            s, merchant_id=p.tenant, promotion_id=promotion_id, body=body, now=now
        )
        return promotion_out(promotion, now)


def _transition(action: str):
    def route(
        promotion_id: str,
        p: AsOperator,
        db: Db,
        now: Now,
    ) -> PromotionOut:
        with db.unit_of_work() as s:
            return promotion_out(
                service.transition(
                    s, merchant_id=p.tenant, promotion_id=promotion_id, action=action, now=now
                ),
                now,
            )

    route.__name__ = f"{action}_promotion"
    route.__doc__ = {
        "pause": "Pause: it stops applying until resumed.",
        "resume": "Resume a paused promotion.",
        "stop": "Stop for good (it can no longer be edited or resumed).",
    }[action]
    return route


for _action in ("pause", "resume", "stop"):
    router.add_api_route(
        f"/promotions/{{promotion_id}}/{_action}",
        _transition(_action),
        methods=["POST"],
        response_model=PromotionOut,
    )
