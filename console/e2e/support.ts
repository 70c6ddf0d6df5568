// What the browser tests share: tokens and reports through the API, signing in and out, the
// action dialogs, screenshots and the check that every word shown is Chinese.
import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const PASSWORD = "demo12345";
export const SHOTS = process.env.GRIDGOV_SCREENSHOTS ?? "test-results/screens";
// Every word the pages show is Chinese: no run of Latin letters longer than this outside
// codes the person typed (case numbers are digits; the demo accounts line names usernames).
export const LATIN_WORD = /\b[A-Za-z]{4,}\b/g;

export async function token(api: APIRequestContext, username: string): Promise<string> {
  const answer = await api.post("/api/v1/auth/token", {
    form: { grant_type: "password", username, password: PASSWORD },
  });
  expect(answer.ok()).toBeTruthy();
  return (await answer.json()).access_token as string;
}

export async function report(
  api: APIRequestContext,
  title: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; case_number: string }> {
  const resident = await token(api, "resident");
  const answer = await api.post("/api/v1/cases", {
    headers: { Authorization: `Bearer ${resident}` },
    data: {
      category_code: "0801",
      channel: "mini_program",
      title,
      description: `${title}，请尽快处理`,
      location: { lat: 30.2741, lng: 120.1551, address: "西湖区文三路478号" },
      ...extra,
    },
  });
  expect(answer.status(), await answer.text()).toBe(201);
  return (await answer.json()) as { id: string; case_number: string };
}

export async function login(page: Page, username: string): Promise<void> {
  await page.goto("/#/login");
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await page.getByTestId("login").click();
  await expect(page.getByTestId("queue")).toBeVisible();
}

export async function logout(page: Page): Promise<void> {
  await page.getByRole("button", { name: "退出登录" }).click();
  await expect(page.locator('input[name="username"]')).toBeVisible();
}

export async function openCase(page: Page, caseId: string): Promise<void> {
  await page.goto(`/#/cases/${caseId}`);
  await expect(page.getByTestId("status")).toBeVisible();
}

export async function act(
  page: Page,
  action: string,
  fill?: (dialog: ReturnType<Page["locator"]>) => Promise<void>,
): Promise<void> {
  await page.locator(`[data-action="${action}"]`).click();
  const dialog = page.locator(".el-dialog").filter({ has: page.getByTestId("action-form") });
  await expect(dialog).toBeVisible();
  if (fill) await fill(dialog);
  await dialog.getByTestId("confirm").click();
  await expect(page.locator(".el-message--success").last()).toBeVisible();
  await expect(dialog).toBeHidden();
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(1200); // let ECharts finish its entry animation
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

export async function assertChinese(page: Page): Promise<void> {
  const text = await page.locator("#app").innerText();
  const latin = (text.match(LATIN_WORD) ?? []).filter(
    (w) => !["demo", "dispatcher", "handler", "worker", "supervisor", "leader", "admin", "Excel"].includes(w),
  );
  expect(latin, `untranslated words on ${page.url()}`).toEqual([]);
}
