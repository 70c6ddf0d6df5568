import zhCN from "./zh-CN";

export const t = zhCN;

/** The label of a code in one of the locale's maps; the code itself when none is known. */
export function label(map: Record<string, string>, code: string | null | undefined): string {
  if (!code) return "";
  return map[code] ?? code;
}
