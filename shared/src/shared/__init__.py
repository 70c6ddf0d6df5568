"""Gridgov shared kit.

Everything the three services have in common: settings, database helpers, RFC 9457 problems,
keyset pagination, the inter-service HTTP client, receiving-side idempotency, JWT verification,
structured logging, the service app factory and the wire contracts (`shared.contracts`).
"""

__version__ = "0.1.0"
