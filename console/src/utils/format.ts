import type { DeadlineRead, DeadlineState } from "@/api/types";
import { t } from "@/locales";

export function dateTime(value: string | null | undefined): string {
  if (!value) return "";
  return new Date(value).toLocaleString("zh-CN", { hour12: false });
}

export function duration(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours > 0
    ? `${hours}${t.deadline.hours}${minutes}${t.deadline.minutes}`
    : `${minutes}${t.deadline.minutes}`;
}

export function percent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

const URGENCY: DeadlineState[] = ["overdue", "due_soon", "on_track"];

/** The running time limit that is nearest to being missed (the one the queue shows). */
export function pressing(deadlines: DeadlineRead[]): DeadlineRead | null {
  const running = deadlines.filter((d) => URGENCY.includes(d.state));
  running.sort(
    (a, b) =>
      URGENCY.indexOf(a.state) - URGENCY.indexOf(b.state) || (a.seconds_left ?? 0) - (b.seconds_left ?? 0),
  );
  return running[0] ?? null;
}
