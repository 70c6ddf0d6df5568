"""case_service, as grid_service sees it: which case ids exist (patrol findings link to them)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.http import ServiceClient
from shared.i18n import Text
from shared.problem import UpstreamError

MAX_IDS = 100  # case_service's page size


class CaseClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    async def aclose(self) -> None:
        await self.http.aclose()

    async def visible(self, ids: Iterable[str], *, authorization: str) -> set[str]:
        """Those of ``ids`` that are cases the caller may see, in one call per hundred ids:
        the caller's own token goes along, so case_service applies its own scope rules."""
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), MAX_IDS):
            chunk = wanted[start : start + MAX_IDS]
            response = await self.http.get(
                "/api/v1/cases",
                params=[("id", i) for i in chunk] + [("limit", str(MAX_IDS))],
                headers={"Authorization": authorization},
            )
            if response.status_code != 200:
                raise UpstreamError(
                    Text(
                        f"案件服务返回 {response.status_code}",
                        f"case_service answered {response.status_code}",
                    )
                )
            found.update(str(item["id"]) for item in response.json()["items"])
        return found
