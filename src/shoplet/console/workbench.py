"""The shopping guide's workbench: my sales and commission, my groups, who is due a revisit
(the same service calls as ``/workbench/*``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shoplet.console.web import render, require
from shoplet.guides import commissions, groups, revisits

router = APIRouter(prefix="/console")


@router.get("/workbench")
def workbench(request: Request) -> Response:
    viewer = require(request, "workbench")
    rt = request.app.state.runtime
    guide = str(viewer.staff_id)
    with rt.db.unit_of_work(write=False) as s:
        figures = commissions.guide_figures(
            s, merchant_id=viewer.tenant, guide_id=guide, since=None, until=None
        )
        my_groups = groups.groups(s, merchant_id=viewer.tenant, guide_id=guide)
        reminders = revisits.reminders(s, merchant_id=viewer.tenant, guide_id=guide, now=rt.clock(), limit=50)
    return render(request, viewer, "workbench.html", figures=figures, groups=my_groups, reminders=reminders)
