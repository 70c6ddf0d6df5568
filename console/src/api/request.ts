// The one way the console talks to the services (same origin: the gateway routes /api/…).
// It adds the bearer token, shows a problem's title and detail in an ElMessage, and on a 401
// refreshes the token once while the requests that arrive meanwhile wait in a queue, then
// replays them all; only when the refresh fails does it send the person to the login page.
import { ElMessage } from "element-plus";
import type { Problem } from "./types";
import { t } from "@/locales";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
}

export type Query = Record<string, string | number | boolean | string[] | null | undefined>;

export interface RequestOptions {
  method?: string;
  query?: Query;
  json?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
  /** do not show the problem to the person (the caller handles it) */
  silent?: boolean;
  /** no bearer token and no refresh (the token endpoint itself) */
  anonymous?: boolean;
  /** the answer as a Blob (exports) */
  blob?: boolean;
}

/** What request.ts needs from the session; the auth store plugs itself in (no import cycle). */
export interface SessionHooks {
  accessToken(): string | null;
  /** a new access token, or an error when the sign-in is over */
  refresh(): Promise<void>;
  expired(): void;
}

let session: SessionHooks | null = null;
export function useSession(hooks: SessionHooks): void {
  session = hooks;
}

let refreshing: Promise<boolean> | null = null;

/** Refresh once for every request that met a 401 meanwhile; true when it worked. */
function refreshOnce(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (session?.refresh() ?? Promise.reject(new Error("no session")))
      .then(() => true)
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(path: string, opts: RequestOptions): Promise<Response> {
  // problems come back in Chinese (the services answer zh-CN first)
  const headers: Record<string, string> = {
    Accept: "application/json",
    "Accept-Language": "zh-CN",
    ...opts.headers,
  };
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = new URLSearchParams(opts.form);
  }
  const token = opts.anonymous ? null : session?.accessToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(buildUrl(path, opts.query), { method: opts.method ?? "GET", headers, body });
}

async function problemOf(response: Response): Promise<Partial<Problem>> {
  try {
    return (await response.json()) as Partial<Problem>;
  } catch {
    return { title: t.request.failed, detail: `HTTP ${response.status}`, status: response.status };
  }
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  let response: Response;
  try {
    response = await send(path, opts);
    if (response.status === 401 && !opts.anonymous) {
      if (await refreshOnce()) response = await send(path, opts);
      else {
        session?.expired();
        throw new ApiError(401, { title: t.request.expired, status: 401 });
      }
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (!opts.silent) ElMessage.error(t.request.network);
    throw new ApiError(0, { title: t.request.network });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (!opts.silent) {
      const field = problem.errors?.[0];
      const detail = [problem.detail, field ? `${field.field}: ${field.reason}` : ""].filter(Boolean);
      ElMessage.error({ message: [problem.title, ...detail].join("：") || t.request.failed, duration: 5000 });
    }
    throw new ApiError(response.status, problem);
  }
  if (opts.blob) return (await response.blob()) as T;
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** Save an export (CSV / XLSX) the API streams, with the file name it gives. */
export async function download(path: string, query: Query, fallbackName: string): Promise<void> {
  const blob = await request<Blob>(path, { query, blob: true });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = fallbackName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
