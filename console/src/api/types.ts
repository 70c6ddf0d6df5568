// Names for the API's own types, generated from the services' /openapi.json by
// openapi-typescript (`npm run types`, driven by scripts/console.py). Never write them by hand.
import type { components as CaseComponents, operations as CaseOperations } from "./generated/case";
import type { components as GridComponents } from "./generated/grid";

type CaseSchemas = CaseComponents["schemas"];
type GridSchemas = GridComponents["schemas"];

export type CaseRead = CaseSchemas["CaseRead"];
export type CaseSummary = CaseSchemas["CaseSummary"];
export type CasePage = CaseSchemas["Page_CaseSummary_"];
export type CaseStatus = CaseSchemas["Status"];
export type CaseAction = CaseSchemas["Action"];
export type CaseActionRequest = CaseSchemas["CaseActionRequest"];
export type LocateRequest = CaseSchemas["LocateRequest"];
export type AssigneeIn = CaseSchemas["AssigneeIn"];
export type Priority = CaseSchemas["Priority"];
export type Channel = CaseSchemas["Channel"];
export type DeadlineRead = CaseSchemas["DeadlineRead"];
export type DeadlineState = CaseSchemas["DeadlineState"];
export type TimelineRead = CaseSchemas["TimelineRead"];
export type AttachmentRead = CaseSchemas["AttachmentRead"];
export type ExtensionCreate = CaseSchemas["ExtensionCreate"];
export type SupervisionCreate = CaseSchemas["SupervisionCreate"];
export type CategoryRead = CaseSchemas["CategoryRead"];
export type IndicatorTable = CaseSchemas["IndicatorTable"];
export type IndicatorRow = CaseSchemas["IndicatorRow"];
export type Figure = CaseSchemas["Figure"];
export type Ranking = CaseSchemas["Ranking"];
export type NegativeList = CaseSchemas["NegativeList"];
export type GroupBy = CaseSchemas["GroupBy"];
export type Interval = CaseSchemas["Interval"];
export type Problem = CaseSchemas["Problem"];
export type CaseListQuery = NonNullable<CaseOperations["list_cases_api_v1_cases_get"]["parameters"]["query"]>;

export type TokenResponse = GridSchemas["TokenResponse"];
export type DepartmentRead = GridSchemas["DepartmentRead"];
export type AccountRead = GridSchemas["AccountRead"];
export type MemberRead = GridSchemas["MemberRead"];
export type AddressMatchResult = GridSchemas["AddressMatchResult"];
export type AddressCandidate = GridSchemas["AddressCandidate"];
export type Page<T> = { items: T[]; next_cursor: string | null };

export type DisputeRead = CaseSchemas["DisputeRead"];
export type DisputeCreate = CaseSchemas["DisputeCreate"];
export type PartyIn = CaseSchemas["PartyIn"];
export type TermIn = CaseSchemas["TermIn"];
export type MediationActionRequest = CaseSchemas["MediationActionRequest"];
export type MediationIndicatorTable = CaseSchemas["MediationIndicatorTable"];
export type MediationIndicatorGroup = CaseSchemas["IndicatorGroup"];
export type LedgerTable = CaseSchemas["LedgerTable"];
export type LedgerEntry = CaseSchemas["LedgerEntry"];
export type AreaSummary = GridSchemas["AreaSummary"];
