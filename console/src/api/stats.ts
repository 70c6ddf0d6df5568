// case_service statistics: indicators, series, ranking (red / yellow lists), negative list,
// the heat map per grid, and the exports (CSV / XLSX streamed by the API).
import { download, request, type Query } from "./request";
import type { GroupBy, IndicatorTable, Interval, NegativeList, Ranking } from "./types";

export interface StatsFilter {
  from?: string;
  to?: string;
  area_path?: string;
  department_id?: string;
  category_code?: string;
}

export function indicators(filter: StatsFilter, groupBy: GroupBy = "none"): Promise<IndicatorTable> {
  return request<IndicatorTable>("/api/v1/stats/indicators", { query: { ...filter, group_by: groupBy } });
}

export function series(filter: StatsFilter, interval: Interval): Promise<IndicatorTable> {
  return request<IndicatorTable>("/api/v1/stats/series", { query: { ...filter, interval } });
}

export function ranking(filter: StatsFilter, by: GroupBy, indicator: string): Promise<Ranking> {
  return request<Ranking>("/api/v1/stats/ranking", { query: { ...filter, by, indicator } });
}

export function negativeList(year: number, areaPath?: string): Promise<NegativeList> {
  return request<NegativeList>("/api/v1/stats/negative-list", { query: { year, area_path: areaPath } });
}

export interface HeatFeature {
  type: "Feature";
  geometry: unknown;
  properties: { path: string; count: number; open?: number; name?: string };
}

export function heatmap(
  filter: StatsFilter,
): Promise<{ type: "FeatureCollection"; features: HeatFeature[] }> {
  return request("/api/v1/stats/heatmap", { query: filter as Query });
}

export type ExportKind = "indicators" | "series" | "ranking" | "negative-list" | "cases/export";

export function exportFile(kind: ExportKind, query: Query, format: "csv" | "xlsx" = "xlsx"): Promise<void> {
  const name = `${kind.replace("/", "-")}.${format}`;
  return download(`/api/v1/stats/${kind}`, { ...query, format }, name);
}
