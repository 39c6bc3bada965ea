"""Running a blocking endpoint with one thread hop instead of two.

FastAPI runs a sync endpoint in the thread pool and then, because it was sync, checks its
answer against the response model in the thread pool again: two hops per request, each a
hand-over between threads under the GIL. :func:`one_hop` makes the endpoint a coroutine that
runs the blocking body in the pool once; the answer is then checked on the event loop.
The signature FastAPI reads (parameters, dependencies, annotations) is the body's own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


def one_hop(endpoint: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Decorate a blocking endpoint (below the route decorator)."""

    @functools.wraps(endpoint)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


class OneHop(APIRoute):
    """The route class of every Shoplet router: a blocking (``def``) endpoint runs with
    :func:`one_hop` — one thread hop per request instead of two."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = one_hop(endpoint)
        super().__init__(path, endpoint, **kwargs)
