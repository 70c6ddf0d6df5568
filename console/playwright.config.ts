// Browser tests against real services: tests/test_console_e2e.py starts the three services,
// the gateway in front (serving dist/) and runs `npx playwright test` with GRIDGOV_CONSOLE_URL.
// The browser is Debian's chromium (apt package `chromium`), not a Playwright download.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  timeout: 120_000,
  expect: { timeout: 15_000 },
  retries: 0,
  workers: 1,
  reporter: [["list"]],
  outputDir: process.env.GRIDGOV_E2E_OUTPUT ?? "test-results",
  use: {
    baseURL: process.env.GRIDGOV_CONSOLE_URL ?? "http://127.0.0.1:8000",
    locale: "zh-CN",
    testIdAttribute: "data-test",
    timezoneId: "Asia/Shanghai",
    viewport: { width: 1440, height: 900 },
    screenshot: "only-on-failure",
    trace: "off",
    launchOptions: {
      executablePath: process.env.GRIDGOV_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});
