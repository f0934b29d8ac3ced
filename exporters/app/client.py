"""Outbound calls to external APIs, measured through an aiohttp client trace.

``aiohttp.ClientSession(trace_configs=[trace_config(instr)])`` records each call's
duration and outcome under a target *name*: ``trace_request_ctx={"target": "payments"}``
on the call, else the host's name from ``InstrumentationConfig.external_targets``, else
"other". Rate-limit headers, when the API sends them, update the quota gauges.
aiohttp is imported when a trace config is made or an exception classified, so this
module imports (and the app package works) without it.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from exporters.app.instrument import Instrumentation

if TYPE_CHECKING:
    import aiohttp


def outcome_of_status(status: int) -> str:
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "success"


def outcome_of_exception(exc: BaseException) -> str:
    import aiohttp

    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connection_error"
    return "error"


def trace_config(instr: Instrumentation) -> aiohttp.TraceConfig:
    """A TraceConfig feeding ``promfleet_app_external_*`` for every call of the session."""
    import aiohttp

    config = aiohttp.TraceConfig()
    limit_header = instr.config.quota_limit_header
    remaining_header = instr.config.quota_remaining_header

    def target_of(ctx: SimpleNamespace, url: Any) -> str:
        explicit = None
        request_ctx = getattr(ctx, "trace_request_ctx", None)
        if isinstance(request_ctx, dict):
            explicit = request_ctx.get("target")
        return instr.external_target(getattr(url, "host", None), explicit)

    async def on_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        ctx.promfleet_start = time.perf_counter()
        ctx.promfleet_target = target_of(ctx, params.url)

    async def on_end(
        session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        seconds = time.perf_counter() - ctx.promfleet_start
        response = params.response
        instr.record_external(ctx.promfleet_target, outcome_of_status(response.status), seconds)
        limit = response.headers.get(limit_header)
        remaining = response.headers.get(remaining_header)
        if limit is not None and remaining is not None:
            try:
                limit_value, remaining_value = float(limit), float(remaining)
            except ValueError:
                return  # a malformed header is the API's problem, not a metric
            instr.set_quota(ctx.promfleet_target, limit_value - remaining_value, limit_value)

    async def on_exception(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        seconds = time.perf_counter() - ctx.promfleet_start
        instr.record_external(ctx.promfleet_target, outcome_of_exception(params.exception), seconds)

    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_exception)
    return config
