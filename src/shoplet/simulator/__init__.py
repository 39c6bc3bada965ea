"""The traffic simulator: realistic customer history for a merchant, through the real services.

``shoplet simulate --days 30 --customers 5000 --seed 1`` (or :func:`simulate`) plays ``days``
days up to now with a clock it controls. Customers arrive over the period (more on
weekends), each through a host app and an entry scene; on the days they come back — less
often the longer ago they arrived (a decaying retention curve) — they sign in at an hour of
the day drawn from a shop's rhythm, view a few pages, claim coupons, order at a store
(priced by the engine, paid through the sandbox wallet), collect pickups and receive
deliveries, have coupons verified at the till, follow the life account, join light
memberships and bind to guides. Some refund a day or two later. Each simulated day ends
with the shop's sweeps (coupon expiry, settlement of light memberships, commission
settlement, unpaid orders, the outbox) and the analytics rollup.

Nothing is inserted directly: every change goes through the service an API route or a job
would call, so the events, stock, money and figures are what the real system makes. The
same seed gives the same history (the figures; ids are fresh). The knobs are
:class:`Knobs`.
"""

from shoplet.simulator.play import Simulator, runtime_for, simulate
from shoplet.simulator.shop import Knobs, Report, SimClock

__all__ = ["Knobs", "Report", "SimClock", "Simulator", "runtime_for", "simulate"]
