// Which cases wait for whom: the statuses at which each role has the next move. The list is
// already limited to the person's scope by the API (their areas, their departments); this
// only picks, within it, the cases that are theirs to move now. What they may do with a case
// is still the API's allowed_actions, never decided here.
import type { CaseStatus } from "@/api/types";

const WAITING: Record<string, CaseStatus[]> = {
  // accept or reject, dispatch, take back what was returned or escalated, verify what was resolved
  dispatcher: ["reported", "accepted", "returned", "escalated", "resolved"],
  admin: ["reported", "accepted", "returned", "escalated", "resolved"],
  // handle what was dispatched to them or their department
  department_handler: ["dispatched", "in_progress", "reopened"],
  grid_worker: ["reported", "dispatched", "in_progress", "reopened", "resolved"],
  grid_leader: ["reported", "dispatched", "in_progress", "resolved", "escalated"],
  // follow what is running late or waiting
  supervisor: ["dispatched", "in_progress", "escalated", "suspended"],
};

export function waitingFor(roles: string[]): CaseStatus[] {
  return [...new Set(roles.flatMap((role) => WAITING[role] ?? []))];
}
