// grid_service: the area tree (GeoJSON export), departments and their handlers, grid members.
import { request } from "./request";
import type { AccountRead, AddressMatchResult, AreaSummary, DepartmentRead, MemberRead, Page } from "./types";

export interface AreaFeature {
  type: "Feature";
  id: string;
  geometry: { type: "Polygon" | "MultiPolygon"; coordinates: unknown };
  properties: {
    code: string;
    name: string;
    level: string;
    parent_code: string | null;
    path: string;
    household_count: number | null;
  };
}
export interface AreaCollection {
  type: "FeatureCollection";
  features: AreaFeature[];
}

/** GET /api/v1/areas/export: the tree under `under` as GeoJSON. */
export function exportAreas(under?: string): Promise<AreaCollection> {
  return request<AreaCollection>("/api/v1/areas/export", { query: { under } });
}

/** POST /api/v1/addresses/match: standard addresses like the one said, best first. */
export function matchAddress(address: string): Promise<AddressMatchResult> {
  return request<AddressMatchResult>("/api/v1/addresses/match", {
    method: "POST",
    json: { address, limit: 10 },
  });
}

export function listDepartments(): Promise<Page<DepartmentRead>> {
  return request<Page<DepartmentRead>>("/api/v1/departments", { query: { limit: 100 } });
}

export function departmentHandlers(departmentId: string): Promise<Page<AccountRead>> {
  return request<Page<AccountRead>>(`/api/v1/departments/${departmentId}/handlers`, { silent: true });
}

export function listMembers(areaId: string): Promise<Page<MemberRead>> {
  return request<Page<MemberRead>>("/api/v1/members", {
    query: { area_id: areaId, limit: 100 },
    silent: true,
  });
}

/** GET /api/v1/areas?under=…: the area with this path and its subtree. */
export function listAreasUnder(path: string): Promise<Page<AreaSummary>> {
  return request<Page<AreaSummary>>("/api/v1/areas", { query: { under: path, limit: 100 } });
}
