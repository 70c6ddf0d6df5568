// case_service: a dispute's mediation file (矛盾纠纷调处), its procedure steps and documents,
// the ledger (台账) and the indicators. The steps allowed now come from the API
// (`allowed_actions`); the console never keeps its own copy of the transition table.
import { download, request } from "./request";
import type {
  DisputeCreate,
  DisputeRead,
  LedgerTable,
  MediationActionRequest,
  MediationIndicatorTable,
} from "./types";

/** The file of a case; null when the case has none (404 `dispute_not_found`). */
export async function getDispute(caseId: string): Promise<DisputeRead | null> {
  try {
    return await request<DisputeRead>(`/api/v1/cases/${caseId}/mediation`, { silent: true });
  } catch (error) {
    if ((error as { status?: number }).status === 404) return null;
    throw error;
  }
}

/** The parties in full: audited server-side as a reveal, with the reason given. */
export function revealDispute(caseId: string, reason: string): Promise<DisputeRead> {
  return request<DisputeRead>(`/api/v1/cases/${caseId}/mediation`, {
    query: { reveal: true, reason },
  });
}

export function openDispute(caseId: string, body: DisputeCreate): Promise<DisputeRead> {
  return request<DisputeRead>(`/api/v1/cases/${caseId}/mediation`, { method: "POST", json: body });
}

export function mediationStep(
  caseId: string,
  action: string,
  body: MediationActionRequest,
): Promise<DisputeRead> {
  return request<DisputeRead>(`/api/v1/cases/${caseId}/mediation/actions/${action}`, {
    method: "POST",
    json: body,
  });
}

export interface Period {
  area_path: string;
  from_month: string;
  to_month?: string;
}

export function ledger(period: Period): Promise<LedgerTable> {
  return request<LedgerTable>("/api/v1/mediation/ledger", { query: { ...period, format: "json" } });
}

export function downloadLedger(period: Period): Promise<void> {
  return download("/api/v1/mediation/ledger", { ...period }, `矛盾纠纷台账-${period.from_month}.xlsx`);
}

export function indicators(
  period: Period,
  by: "type" | "month" | "level" = "type",
): Promise<MediationIndicatorTable> {
  return request<MediationIndicatorTable>("/api/v1/mediation/indicators", { query: { ...period, by } });
}

export function downloadAgreement(caseId: string, number: string): Promise<void> {
  return download(`/api/v1/cases/${caseId}/mediation/agreement.docx`, {}, `调解协议书-${number}.docx`);
}

export function downloadRecord(caseId: string, session: number, number: string): Promise<void> {
  return download(
    `/api/v1/cases/${caseId}/mediation/sessions/${session}/record.docx`,
    {},
    `调解笔录-${number}-第${session}次.docx`,
  );
}

export function downloadArchive(caseId: string, number: string): Promise<void> {
  return download(`/api/v1/cases/${caseId}/mediation/archive.zip`, {}, `调解档案-${number}.zip`);
}
