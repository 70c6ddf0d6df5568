"""GeoReport v2 wire formats: JSON and XML bodies, and the spec's error body.

The specification's XML is plain element-per-field with a list root (``<services>`` of
``<service>``, ``<service_requests>`` of ``<request>``, ``<errors>`` of ``<error>``), UTF-8
with an XML declaration. The standard library's ElementTree writes exactly that; no library
models GeoReport itself, so the shapes are written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import Request
from fastapi.responses import Response

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
FORMATS = ("json", "xml")

#: child element name of each list root
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


class Open311Error(Exception):
    """An error answered with the spec's body: ``[{"code": status, "description": …}]``."""

    def __init__(self, status: int, description: str, fmt: str = "json") -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.fmt = fmt


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    node = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, child in value.items():
            _append(node, key, child)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS.get(tag, "item")
        for child in value:
            _append(node, item_tag, child)
    else:
        node.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    if isinstance(value, list):
        item_tag = ITEM_TAGS[root]
        for item in value:
            _append(element, item_tag, item)
    else:
        for key, child in value.items():
            _append(element, key, child)
    out: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return out


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status, media_type=XML_TYPE)
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE)


def errors(fmt: str, status: int, descriptions: Sequence[str]) -> Response:
    return render(
        fmt, "errors", [{"code": status, "description": d} for d in descriptions], status=status
    )


async def open311_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Open311Error)
    return errors(exc.fmt, exc.status, [exc.description])


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(400, f"format must be json or xml, not {fmt!r}")
    return fmt
