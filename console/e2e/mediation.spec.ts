// A neighbours' dispute in the console, as the centre's dispatcher mediates it: a resident
// reports it through the API; the dispatcher opens the case's mediation file (调解档案),
// registers the parties, accepts it for mediation (受理), assigns the community's mediator,
// schedules a session and records it (调解笔录), records the agreement with its performance
// terms, downloads the 调解协议书, and finds the dispute in the ledger (矛盾纠纷台账) with the
// indicators drawn.
import { expect, test, type Locator, type Page } from "@playwright/test";
import { assertChinese, login, report, shot } from "./support";

function stepDialog(page: Page): Locator {
  return page.locator(".el-dialog").filter({ has: page.getByTestId("step-form") });
}

/** Take the step through its button (offered by the file's allowed_actions) and its dialog. */
async function step(page: Page, action: string, fill?: (dialog: Locator) => Promise<void>): Promise<void> {
  await page.locator(`[data-step="${action}"]`).click();
  const dialog = stepDialog(page);
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId("step-confirm")).toBeEnabled();
  if (fill) await fill(dialog);
  await dialog.getByTestId("step-confirm").click();
  await expect(page.locator(".el-message--success").last()).toBeVisible();
  await expect(dialog).toBeHidden();
}

test("a neighbours' dispute mediated to an agreement, then the ledger", async ({ page, request }) => {
  const created = await report(request, "楼上装修漏水邻里争执", {
    category_code: "0101",
    description: "楼上住户装修漏水，致楼下天花板受损，双方就赔偿发生争执",
  });

  await login(page, "dispatcher");
  await page.goto(`/#/cases/${created.id}`);
  await page.getByTestId("open-mediation").click();
  await expect(page.getByTestId("register")).toBeVisible();
  await page.getByTestId("dispute-type").fill("邻里纠纷");
  const parties = page.getByTestId("party-name");
  await parties.nth(0).fill("张建华");
  await page.getByTestId("party-phone").nth(0).fill("13700001111");
  await parties.nth(1).fill("李卫东");
  await page.getByTestId("party-phone").nth(1).fill("13700002222");
  await page.getByTestId("register-confirm").click();
  const status = page.getByTestId("mediation-status");
  await expect(status).toHaveAttribute("data-status", "registered");
  // the parties are masked until a reveal (audited server-side)
  await expect(page.getByTestId("parties")).toContainText("张*");
  await expect(page.getByTestId("parties")).not.toContainText("张建华");

  await step(page, "accept");
  await expect(status).toHaveAttribute("data-status", "accepted");
  await step(page, "assign", async (dialog) => {
    await dialog.getByTestId("members").click();
    await page.locator(".el-select-dropdown__item:visible", { hasText: "调解员" }).first().click();
    await dialog.locator(".el-dialog__title").click(); // close the picker
  });
  await expect(status).toHaveAttribute("data-status", "mediating");
  await expect(page.getByTestId("mediator")).toHaveCount(1);
  await step(page, "schedule_session", async (dialog) => {
    await dialog.getByTestId("place").fill("文新社区人民调解室");
    await dialog.getByTestId("attendees").fill("张建华、李卫东");
  });
  await expect(page.getByTestId("session-1")).toContainText("文新社区人民调解室");
  await step(page, "record_session", async (dialog) => {
    await dialog.getByTestId("record").fill("双方到场，陈述事实；经调解，双方同意协商赔偿。");
  });
  await expect(page.getByTestId("session-1")).toContainText("双方同意协商赔偿");
  await step(page, "agree", async (dialog) => {
    await dialog.getByTestId("responsibility").fill("漏水系楼上装修所致，楼上住户承担维修责任");
    await dialog.getByTestId("term-content").fill("李卫东赔偿张建华维修费三千元");
    await dialog.getByTestId("term-manner").fill("银行转账");
    await dialog.getByTestId("term-place").fill("文新社区人民调解室");
  });
  await expect(status).toHaveAttribute("data-status", "agreed");
  await expect(page.getByTestId("terms")).toContainText("银行转账");
  await expect(page.locator('[data-step="apply_confirmation"]')).toBeVisible();
  for (const title of ["登记调解档案", "受理调解", "指派调解员", "安排调解", "记录调解笔录", "达成调解协议"])
    await expect(page.getByTestId("timeline")).toContainText(title);
  await shot(page, "06-mediation-file");
  await assertChinese(page);

  // the 调解协议书 as the API generates it (DOCX is a zip)
  const saved = page.waitForEvent("download");
  await page.getByTestId("agreement-docx").click();
  const file = await saved;
  expect(file.suggestedFilename()).toBe(`调解协议书-${created.case_number}.docx`);
  const bytes = await (await import("node:fs/promises")).readFile(await file.path());
  expect(bytes.subarray(0, 2).toString()).toBe("PK");

  // the ledger: this month's disputes of the dispatcher's area, the indicators and the chart
  await page.getByRole("menuitem", { name: "矛盾纠纷台账" }).click();
  const row = page.getByTestId("ledger-table").locator("tr", { hasText: created.case_number });
  await expect(row).toBeVisible();
  await expect(row).toContainText("已达成协议");
  await expect(row).toContainText("张*");
  await expect(page.getByTestId("mediation-kpis")).toContainText("调解成功率");
  await expect(page.getByTestId("mediation-chart").locator("canvas")).toBeVisible();
  await shot(page, "07-ledger");
  await assertChinese(page);
  // from the ledger back to the file
  await row.getByRole("button", { name: created.case_number }).click();
  await expect(page.getByTestId("mediation-status")).toHaveAttribute("data-status", "agreed");
});
