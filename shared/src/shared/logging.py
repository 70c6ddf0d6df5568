"""Structured logging (structlog) bound with the request id.

Log lines carry ``request_id``, ``method``, ``path`` and ``user_id`` when known; never phone
numbers, ID numbers or tokens (:func:`redact` drops keys that look like them).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_SENSITIVE_KEYS = re.compile(
    r"(password|secret|token|authorization|phone|mobile|id_number|id_card|openid|api_key)", re.I
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """Accept a caller's X-Request-ID when it is short and plain; otherwise make a new one."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: replace values of keys that may hold personal data or secrets."""
    for key in list(event_dict):
        if key != "event" and _SENSITIVE_KEYS.search(key):
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(
    *, service: str, level: str = "INFO", json: bool = False, log_file: Path | None = None
) -> None:
    """Configure structlog and the standard library (uvicorn, sqlalchemy) to one format."""

    def add_service(
        _: Any, __: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared_processors,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            )
        )
        root.addHandler(file_handler)
    root.setLevel(level)
    # uvicorn's own access log duplicates ours (which carries the request id): silence it.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx/httpcore log an INFO line per call between the services ("HTTP Request: GET …"):
    # one per locate call and relayed event, ~0.1 ms each, and no request id. Failures are
    # logged by shared.http at WARNING with the upstream named.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(
            logging.NOTSET if root.level <= logging.DEBUG else max(root.level, logging.WARNING)
        )


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
