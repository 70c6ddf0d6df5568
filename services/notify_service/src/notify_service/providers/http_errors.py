"""Classify what can go wrong on the wire, the same way for every provider."""

from __future__ import annotations

import httpx

from notify_service.providers.base import Outcome, SendResult


def transport_failure(exc: httpx.TransportError) -> SendResult:
    """A request that failed below HTTP.

    * Could not connect at all: the provider is unreachable and the message was certainly not
      sent — an outage (fail over when another provider exists).
    * Timed out or broke after the request was written: it may have been sent. Not re-sent
      blindly; the message waits for a receipt.
    * The local pool was exhausted: nothing was sent; retry.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return SendResult(Outcome.outage, code=f"network.{name}", detail=str(exc)[:300])
    if isinstance(exc, httpx.PoolTimeout):
        return SendResult(Outcome.transient, code=f"network.{name}", detail=str(exc)[:300])
    return SendResult(Outcome.ambiguous, code=f"network.{name}", detail=str(exc)[:300])


def http_failure(response: httpx.Response) -> SendResult | None:
    """5xx answers are transient (the provider said it did not do it); 503 is an outage."""
    if response.status_code == 503:
        return SendResult(Outcome.outage, code="http.503", detail=response.text[:300])
    if response.status_code >= 500:
        return SendResult(
            Outcome.transient, code=f"http.{response.status_code}", detail=response.text[:300]
        )
    return None
