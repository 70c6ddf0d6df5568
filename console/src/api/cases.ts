// case_service: cases, their actions, timeline, deadlines, attachments, extensions, supervision.
import { request, type Query } from "./request";
import type {
  AttachmentRead,
  CaseAction,
  CaseActionRequest,
  LocateRequest,
  CaseListQuery,
  CasePage,
  CaseRead,
  CategoryRead,
  DeadlineRead,
  ExtensionCreate,
  SupervisionCreate,
  TimelineRead,
} from "./types";

export function listCases(query: CaseListQuery): Promise<CasePage> {
  return request<CasePage>("/api/v1/cases", { query: query as Query });
}

export function getCase(caseId: string): Promise<CaseRead> {
  return request<CaseRead>(`/api/v1/cases/${caseId}`);
}

/** A lifecycle action; `version` goes as If-Match so that a stale page cannot overwrite. */
export function act(
  caseId: string,
  action: CaseAction | string,
  body: CaseActionRequest | Record<string, unknown>,
  version?: number,
): Promise<CaseRead> {
  return request<CaseRead>(`/api/v1/cases/${caseId}/actions/${action}`, {
    method: "POST",
    json: body,
    headers: version === undefined ? {} : { "If-Match": String(version) },
  });
}

// 定位: place a case (待定位) by a point or a standard address id, with the reason
export function locate(caseId: string, body: LocateRequest, version?: number): Promise<CaseRead> {
  return act(caseId, "locate", body, version);
}

export function getTimeline(caseId: string): Promise<TimelineRead[]> {
  return request<TimelineRead[]>(`/api/v1/cases/${caseId}/timeline`);
}

export function getDeadlines(caseId: string, silent = false): Promise<DeadlineRead[]> {
  return request<DeadlineRead[]>(`/api/v1/cases/${caseId}/deadlines`, { silent });
}

export function getAttachment(attachmentId: string): Promise<AttachmentRead> {
  return request<AttachmentRead>(`/api/v1/attachments/${attachmentId}`, { silent: true });
}

export function attachmentContent(attachmentId: string): Promise<Blob> {
  return request<Blob>(`/api/v1/attachments/${attachmentId}/content`, { blob: true });
}

export function askExtension(caseId: string, body: ExtensionCreate): Promise<unknown> {
  return request(`/api/v1/cases/${caseId}/extensions`, { method: "POST", json: body });
}

export function supervise(caseId: string, body: SupervisionCreate): Promise<unknown> {
  return request(`/api/v1/cases/${caseId}/supervisions`, { method: "POST", json: body });
}

export function listCategories(): Promise<CategoryRead[]> {
  return request<CategoryRead[] | { items: CategoryRead[] }>("/api/v1/categories", {
    query: { limit: 500 },
    silent: true,
  }).then((answer) => (Array.isArray(answer) ? answer : answer.items));
}
