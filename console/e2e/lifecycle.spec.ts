// The whole life of a case in the console, as the centre's staff live it: a resident reports
// through the API; the dispatcher accepts and dispatches it to the roads department; the
// department's handler resolves it; the dispatcher verifies it and it is closed. Then the grid
// map and the indicators board draw what the services hold.
import { expect, test } from "@playwright/test";
import { act, assertChinese, login, logout, openCase, report, shot, token } from "./support";

test("a case from report to close, then the map and the indicators", async ({ page, request }) => {
  const stays = await report(request, "路灯不亮");
  // the resident asks for urgency: a request the dispatcher sees and decides on at accept
  const created = await report(request, "人行道井盖破损", { priority: "urgent" });

  // the dispatcher: the case waits in the queue with its time-limit state; accept, dispatch
  await login(page, "dispatcher");
  await page.getByRole("tab", { name: "全部案件" }).click();
  const row = page.getByTestId("queue").locator("tr", { hasText: created.case_number });
  await expect(row).toBeVisible();
  await expect(row.locator("[data-state]")).toHaveAttribute("data-state", /on_track|due_soon|overdue/);
  await expect(row.getByTestId("requested")).toBeVisible();
  await shot(page, "01-queue");
  await assertChinese(page);
  // "to place": only cases whose address is not on a grid yet — these two are placed
  await page.getByRole("tab", { name: "待定位" }).click();
  await expect(page.getByText("地址尚未定位到网格")).toBeVisible();
  await expect(page.getByTestId("queue").locator("tr", { hasText: created.case_number })).toHaveCount(0);
  await page.getByRole("tab", { name: "全部案件" }).click();
  await row.getByRole("button", { name: "办理" }).click();
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "reported");
  await expect(page.getByTestId("case-map").locator("canvas")).toBeVisible();
  await expect(page.getByTestId("requested")).toContainText("特急");
  await act(page, "accept", async (dialog) => {
    await expect(dialog.getByTestId("requested-priority")).toContainText("特急");
    await dialog.getByTestId("priority").click();
    await page.locator(".el-select-dropdown__item", { hasText: "特急" }).click();
  });
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "accepted");
  const dispatcher = await token(request, "dispatcher");
  const accepted = await request.get(`/api/v1/cases/${created.id}`, {
    headers: { Authorization: `Bearer ${dispatcher}` },
  });
  expect((await accepted.json()).priority).toBe("urgent");
  await act(page, "dispatch", async (dialog) => {
    await dialog.getByTestId("department").click();
    await page.locator(".el-select-dropdown__item", { hasText: "西湖区市政设施管理中心" }).click();
    await dialog.getByTestId("reason").fill("请市政设施管理中心尽快修复");
  });
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "dispatched");
  await shot(page, "02-dispatched");
  await assertChinese(page);
  await logout(page);

  // the roads department's handler: the case is in their queue; claim and resolve it
  await login(page, "handler");
  await expect(page.getByTestId("queue").locator("tr", { hasText: created.case_number })).toBeVisible();
  await openCase(page, created.id);
  await act(page, "claim");
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "in_progress");
  await act(page, "resolve", async (dialog) => {
    await dialog.getByTestId("result").fill("已更换井盖，现场恢复通行");
  });
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "resolved");
  await logout(page);

  // back to the dispatcher: verify, and the case is closed with its whole timeline
  await login(page, "dispatcher");
  await openCase(page, created.id);
  await act(page, "verify");
  await expect(page.getByTestId("status")).toHaveAttribute("data-status", "closed");
  const timeline = page.getByTestId("timeline");
  for (const step of ["上报", "受理", "派遣", "签收", "办结", "核查通过"])
    await expect(timeline).toContainText(step);
  await shot(page, "03-closed");
  await assertChinese(page);

  // the grid map: the district's grids from the areas export, the open case counted in
  await page.getByRole("menuitem", { name: "网格地图" }).click();
  const map = page.getByTestId("grid-map");
  await expect(map.locator("canvas")).toBeVisible();
  await expect(map).not.toHaveAttribute("data-areas", "0");
  await expect(map).not.toHaveAttribute("data-open", "0");
  await expect(page.locator(".busiest li").first()).toContainText(/网格/);
  await shot(page, "04-map");
  await assertChinese(page);

  // the indicators: the two reports are counted (the rollup runs every few seconds)
  await expect(async () => {
    await page.goto("/#/map");
    await page.goto("/#/indicators");
    await expect(page.locator('[data-indicator="received"] .value')).toHaveText(/^[1-9]\d*$/, {
      timeout: 2000,
    });
  }).toPass({ timeout: 45_000 });
  await expect(page.getByTestId("trend").locator("canvas")).toBeVisible();
  await expect(page.locator('[data-indicator="on_time_resolution"] .value')).toHaveText(/%$/);
  await expect(page.getByTestId("ranking")).toBeVisible();
  await page.setViewportSize({ width: 1440, height: 1900 }); // the whole board in the picture
  await shot(page, "05-indicators");
  await page.setViewportSize({ width: 1440, height: 900 });
  // the export: the API's XLSX, saved by the browser
  const saved = page.waitForEvent("download");
  await page.getByRole("button", { name: "导出" }).first().click();
  await page.getByRole("menuitem", { name: "考核指标（Excel）" }).click();
  const file = await saved;
  expect(file.suggestedFilename()).toBe("indicators.xlsx");
  const bytes = await (await import("node:fs/promises")).readFile(await file.path());
  expect(bytes.subarray(0, 2).toString()).toBe("PK"); // an XLSX is a zip
  await assertChinese(page);
  expect(stays.id).not.toEqual(created.id);
});

test("a refused access token is refreshed once for every waiting request, then they are replayed", async ({
  page,
}) => {
  await login(page, "dispatcher");
  const tokenCalls: string[] = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/auth/token")) tokenCalls.push(r.postData() ?? "");
  });
  const refused: string[] = [];
  page.on("response", (r) => {
    if (r.status() === 401) refused.push(r.url());
  });
  // the access token goes bad (revoked, or a clock jump); the refresh token is still good
  await page.evaluate(() => {
    const saved = JSON.parse(sessionStorage.getItem("gridgov.session") ?? "{}");
    sessionStorage.setItem("gridgov.session", JSON.stringify({ ...saved, access: saved.access + "x" }));
  });
  await page.reload();
  await expect(page.getByTestId("queue")).toBeVisible();
  await expect(page.getByTestId("who")).toContainText("综治中心调度员");
  await page.getByRole("tab", { name: "全部案件" }).click();
  await expect(page.getByTestId("queue").locator("tbody tr").first()).toBeVisible();
  // several requests met the 401 at once; one refresh served them all
  expect(refused.length).toBeGreaterThan(1);
  expect(tokenCalls.filter((body) => body.includes("grant_type=refresh_token"))).toHaveLength(1);

  // when the refresh itself is refused, the person is sent to sign in again
  await page.evaluate(() => {
    const saved = JSON.parse(sessionStorage.getItem("gridgov.session") ?? "{}");
    sessionStorage.setItem(
      "gridgov.session",
      JSON.stringify({ ...saved, access: saved.access + "x", refresh: "not-a-refresh-token" }),
    );
  });
  await page.reload();
  await expect(page.locator('input[name="username"]')).toBeVisible();
  await assertChinese(page);
});
