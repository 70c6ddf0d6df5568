"""The client one service uses to call another.

One :class:`ServiceClient` per target, built in the lifespan, with explicit timeouts.

* ``X-Request-ID`` of the current request is sent along.
* Retries (exponential backoff with full jitter, ``Retry-After`` honoured) happen only for
  idempotent methods or for calls that carry an ``Idempotency-Key``: a plain POST is never
  repeated, because the first one may have taken effect.
* After retries, an upstream 5xx becomes our 502, an unreachable upstream our 503 and a timeout
  our 504 (:mod:`shared.problem`). 4xx answers are returned for the caller to interpret.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
)

from shared.i18n import Text
from shared.logging import current_request_id, get_logger
from shared.problem import UpstreamError, UpstreamTimeout, UpstreamUnavailable

log = get_logger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def retry_after_seconds(response: httpx.Response, *, cap: float = 30.0) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date); ``None`` when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, min(cap, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from shared.db import utcnow

    return max(0.0, min(cap, (when - utcnow()).total_seconds()))


def _last_outcome(state: RetryCallState) -> Any:
    """When retries run out, return the last response (or re-raise the last exception)."""
    assert state.outcome is not None
    return state.outcome.result()


class ServiceClient:
    """Typed clients for other services wrap this."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        timeout: float = 5.0,
        retries: int = 3,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            headers=dict(headers or {}),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _wait(self, state: RetryCallState) -> float:
        if state.outcome is not None and not state.outcome.failed:
            response = state.outcome.result()
            if isinstance(response, httpx.Response):
                hinted = retry_after_seconds(response, cap=self.backoff_max * 4)
                if hinted is not None:
                    return hinted
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)  # full jitter

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        method = method.upper()
        send_headers: dict[str, str] = dict(headers or {})
        request_id = current_request_id()
        if request_id:
            send_headers.setdefault("X-Request-ID", request_id)
        if idempotency_key:
            send_headers["Idempotency-Key"] = idempotency_key
        may_retry = (
            retry
            if retry is not None
            else (method in IDEMPOTENT_METHODS or idempotency_key is not None)
        )
        attempts = 1 + (self.retries if may_retry else 0)

        async def once() -> httpx.Response:
            return await self._client.request(
                method, url, json=json, data=data, params=params, headers=send_headers
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=(
                retry_if_exception(lambda e: isinstance(e, httpx.TransportError))
                | retry_if_result(lambda r: r.status_code in RETRY_STATUSES)
            ),
            retry_error_callback=_last_outcome,
        )
        try:
            response: httpx.Response = await retrying(once)
        except httpx.TimeoutException as exc:
            log.warning("upstream_timeout", upstream=self.name, method=method, url=url)
            raise UpstreamTimeout(
                Text(f"{self.name} 未及时应答", f"{self.name} did not answer in time")
            ) from exc
        except httpx.TransportError as exc:
            log.warning(
                "upstream_unreachable",
                upstream=self.name,
                method=method,
                url=url,
                error=type(exc).__name__,
            )
            raise UpstreamUnavailable(
                Text(f"{self.name} 无法连接", f"{self.name} is unreachable")
            ) from exc
        if response.status_code >= 500:
            log.warning(
                "upstream_error",
                upstream=self.name,
                method=method,
                url=url,
                status=response.status_code,
            )
            if response.status_code == 503:
                raise UpstreamUnavailable(
                    Text(f"{self.name} 不可用", f"{self.name} is unavailable")
                )
            if response.status_code == 504:
                raise UpstreamTimeout(Text(f"{self.name} 超时", f"{self.name} timed out"))
            raise UpstreamError(
                Text(
                    f"{self.name} 返回了 {response.status_code}",
                    f"{self.name} answered {response.status_code}",
                )
            )
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)
