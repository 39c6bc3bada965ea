from __future__ import annotations

from pydantic import Field

from shoplet.schemas import Out


class StoreFiguresOut(Out):
    store_id: str
    code: str
    name: str
    kind: str
    operation: str = Field(description="direct or franchise.")
    orders: int = Field(description="Orders paid in the period that this location hands over (a part of).")
    revenue: int = Field(
        description="What those orders paid for its part: its lines and its share of the "
        "delivery fee (fen). A split order counts for the store and the warehouse."
    )
    refunds: int = Field(description="What was refunded of that part (fen).")
    net_revenue: int
    commission: int = Field(
        description="Commission of the guides of this store on orders paid in the period, "
        "net of reversals (fen)."
    )
    commission_settled: int


class GuideReportOut(Out):
    guide_id: str
    name: str | None
    store_id: str | None
    orders: int
    revenue: int
    refunds: int
    net_revenue: int
    commission: int
    commission_settled: int
