from __future__ import annotations

from pydantic import Field

from shoplet.schemas import Out


class StoreFiguresOut(Out):
    store_id: str
    code: str
    name: str
    kind: str
    operation: str = Field(description="direct or franchise.")
    orders: int = Field(description="Orders paid in the period that chose this location.")
    revenue: int = Field(description="What those orders paid (fen).")
    refunds: int = Field(description="What was refunded of them (fen).")
    net_revenue: int
    commission: int = Field(description="Guide commission on them, net of reversals (fen).")
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
