// The console against a live platform (`switchboard up` beside the sandbox, seeded by `switchboard demo`): an
// owner connects Stripe through the sandbox's OAuth, watches the sync finish, asks for last week's revenue, asks for
// a refund and approves it, and finds it in the audit log; a viewer sees the same data but cannot act. Every screen
// is checked with axe and photographed into test-results/screens/.

import { expect, test, type Page } from "@playwright/test";
import { checkA11y, CSP, DEMO, directives, shot, signIn, VIEWER, watchConsole } from "./support";

const servedByGateway = process.env.E2E_SERVER !== "preview";

test("the gateway serves the console: CSP, caching, SPA fallback that never shadows the API", async ({ page, request }) => {
  const index = await page.goto("/");
  expect(index?.status()).toBe(200);
  // Every directive of the policy, as strict as written; the gateway may add more that only allow 'self' or nothing.
  const sent = directives(index?.headers()["content-security-policy"] ?? "");
  expect(sent).toMatchObject(directives(CSP));
  for (const [name, sources] of Object.entries(sent)) expect(sources, name).toMatch(/^('self'|'none')( data:)?$/);
  const deep = await request.get("/records?kind=charge");
  expect(deep.status()).toBe(200);
  expect(await deep.text()).toContain('<div id="root">');
  const api = await request.get("/v1/auth/me");
  expect(api.status()).toBe(401);
  expect(await api.text()).not.toContain('<div id="root">');
  test.skip(!servedByGateway, "caching headers are the gateway's (E2E_SERVER=preview serves dist/ with vite preview)");
  expect(index?.headers()["cache-control"] ?? "").toMatch(/no-cache|no-store/);
  const script = await page.locator("script[type=module]").first().getAttribute("src");
  const asset = await request.get(script ?? "");
  expect(asset.headers()["cache-control"] ?? "").toMatch(/immutable|max-age=(\d{6,})/);
  // The service worker must never be cached: a cached worker would pin an old build.
  const sw = await request.get("/sw.js");
  expect(sw.headers()["content-type"] ?? "").toMatch(/javascript/);
  expect(sw.headers()["cache-control"] ?? "").toMatch(/no-cache|no-store|max-age=0/);
  const openapi = await request.get("/openapi.json");
  expect(openapi.headers()["content-type"] ?? "").toContain("json");
});

test("an owner connects Stripe, syncs, asks, approves a refund and finds it in the audit log", async ({ page }, testInfo) => {
  const console = watchConsole(page);

  await test.step("sign in", async () => {
    await page.goto("/");
    await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible();
    await checkA11y(page, testInfo, "sign-in");
    await shot(page, "01-sign-in");
    await signIn(page, DEMO);
    await expect(page.getByTestId("role")).toHaveText("owner");
    await expect(page.getByRole("heading", { name: "Overview", exact: true })).toBeVisible();
    await expect(page.getByText(/\d+ connected/)).toBeVisible();
    await checkA11y(page, testInfo, "overview");
    await shot(page, "02-overview");
  });

  await test.step("replace the demo's Stripe API-key connection with one made through OAuth", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Connections" }).click();
    await expect(page.getByRole("heading", { name: "Connections", exact: true })).toBeVisible();
    const yours = page.getByRole("region", { name: "Your connections" });
    const stripeCards = yours.getByRole("listitem").filter({ hasText: /Stripe/ });
    await expect(stripeCards.first()).toBeVisible();
    await checkA11y(page, testInfo, "connections");
    await shot(page, "03-connections");
    while ((await stripeCards.count()) > 0) {
      const card = stripeCards.first();
      await card.getByRole("button", { name: "Delete…" }).click();
      await card.getByRole("button", { name: /^Delete .* and its records$/ }).click();
      await expect(card).toHaveCount(0);
    }
    await page.getByRole("button", { name: "Connect Stripe" }).click();
    // The sandbox's Stripe Connect page approves at once and sends the browser back to /oauth/callback.
    await page.waitForURL(/\/connections\?connected=/);
    await expect(page.getByRole("status").filter({ hasText: "Connected" })).toBeVisible();
    await expect(stripeCards).toHaveCount(1);
    await expect(stripeCards.first()).toContainText("active");
    await shot(page, "04-stripe-connected");
  });

  await test.step("sync it and watch the sync finish", async () => {
    const stripe = page.getByRole("region", { name: "Your connections" }).getByRole("listitem").filter({ hasText: /Stripe/ });
    await stripe.getByRole("button", { name: "Sync now" }).click();
    await page.waitForURL(/\/syncs\?sync=/);
    const followed = page.getByTestId("sync").first();
    await expect(followed).toContainText(/waiting|running|finished/);
    await shot(page, "05-sync-running");
    await expect(followed.locator(".badge")).toHaveText("finished", { timeout: 180_000 });
    const fetched = Number(await followed.locator("dt:text('Fetched') + dd").textContent());
    expect(fetched).toBeGreaterThan(0);
    await expect(page.getByRole("status").filter({ hasText: "Sync of" })).toContainText("finished");
    await checkA11y(page, testInfo, "syncs");
    await shot(page, "06-sync-finished");
  });

  await test.step("ask how much revenue we made last week", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Ask" }).click();
    await page.getByLabel("Your request").fill("How much revenue did we make last week?");
    await page.getByRole("button", { name: "Ask", exact: true }).click();
    await page.waitForURL(/\/ask\?run=/);
    await expect(page.getByTestId("run-status")).toContainText("answered", { timeout: 60_000 });
    const answer = page.getByTestId("answer-text");
    await expect(answer).toContainText(/\$\s?[\d,]+(\.\d\d)?/);
    await expect(page.getByTestId("step").first()).toHaveAttribute("data-status", "done");
    await checkA11y(page, testInfo, "ask-revenue");
    await shot(page, "07-revenue-answer");
  });

  const email = await test.step("find a customer with a refundable charge in the records browser", async () => {
    const filter = 'status = "succeeded" AND refunded = false';
    await page.goto(`/records?kind=charge&provider=stripe&filter=${encodeURIComponent(filter)}&order_by=${encodeURIComponent("created desc")}`);
    await expect(page.getByRole("heading", { name: /charge records?/ })).toBeVisible();
    const records = page.locator(".records pre");
    await expect(records.first()).toBeAttached();
    const texts = await records.allTextContents();
    const found = texts.map((t) => JSON.parse(t) as { receipt_email?: string }).find((r) => r.receipt_email);
    expect(found?.receipt_email).toMatch(/@example\.com$/);
    await checkA11y(page, testInfo, "records");
    await shot(page, "08-records");
    return found?.receipt_email ?? "";
  });

  await test.step(`ask to refund the last charge of ${email}, re-attach after a reload, approve`, async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Ask" }).click();
    await page.getByLabel("Your request").fill(`Refund the last charge of ${email}`);
    await page.getByRole("button", { name: "Ask", exact: true }).click();
    const card = page.getByTestId("approval-card");
    await expect(card).toBeVisible({ timeout: 60_000 });
    await expect(card).toContainText("stripe.refund.create");
    await expect(page.getByTestId("run-status")).toContainText("waiting for approval");
    // The run belongs to the server: reload the tab (the access token is gone, the refresh token is in this tab's
    // sessionStorage) and the console signs back in and re-attaches to the run from its address.
    await page.reload();
    await expect(page.getByTestId("approval-card")).toBeVisible();
    await checkA11y(page, testInfo, "approval");
    await shot(page, "09-approval");
    await page.getByTestId("approval-card").getByRole("button", { name: "Approve" }).click();
    await expect(page.getByTestId("run-status")).toContainText("answered", { timeout: 60_000 });
    await expect(page.getByTestId("answer-text")).toContainText(/refunded/i);
    const refundStep = page.getByTestId("step").filter({ hasText: "stripe.refund.create" });
    await expect(refundStep).toHaveAttribute("data-status", "done");
    await shot(page, "10-refund-answer");
  });

  await test.step("the refund's citation opens the record in the records browser", async () => {
    const link = page.getByTestId("citation-link").first();
    await expect(link).toBeVisible();
    await link.click();
    await expect(page).toHaveURL(/\/records\?.*filter=id/);
  });

  await test.step("the refund and its approval are in the audit log, and the chain verifies", async () => {
    await page.goto("/audit");
    await expect(page.getByTestId("chain-status")).toContainText("valid", { timeout: 30_000 });
    // Audit records travel over the event bus: give them a moment.
    await expect(async () => {
      await page.reload();
      await expect(page.locator('[data-action="connectors.action.stripe.refund.create"]').first()).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 60_000 });
    await expect(page.locator('[data-action="orchestrator.step.approve"]').first()).toBeVisible();
    await checkA11y(page, testInfo, "audit");
    await shot(page, "11-audit");
  });

  await test.step("runs history and settings", async () => {
    await page.goto("/runs");
    await expect(page.getByRole("link", { name: `Refund the last charge of ${email}` }).first()).toBeVisible();
    await checkA11y(page, testInfo, "runs");
    await page.getByRole("link", { name: `Refund the last charge of ${email}` }).first().click();
    await expect(page.getByTestId("step").filter({ hasText: "stripe.refund.create" })).toHaveAttribute("data-status", "done");
    await shot(page, "12-run-detail");
    await page.goto("/settings");
    await expect(page.getByLabel("Questions per minute")).toBeEnabled();
    await checkA11y(page, testInfo, "settings");
    await shot(page, "13-settings");
  });

  await test.step("sign out ends the session", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible();
    expect(await page.evaluate(() => window.sessionStorage.getItem("switchboard.refresh"))).toBeNull();
    await page.reload();
    await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible();
  });

  console.check();
});

test("a viewer reads but cannot act: no Ask box, no approvals, read-only settings", async ({ page }, testInfo) => {
  const console = watchConsole(page);
  await signIn(page, VIEWER);
  await expect(page.getByTestId("role")).toHaveText("viewer");
  await page.goto("/ask");
  await expect(page.getByLabel("Your request")).toHaveCount(0);
  await expect(page.getByText(/Viewers can read past runs/)).toBeVisible();
  await page.goto("/connections");
  await expect(page.getByText("Owners and admins connect providers.")).toBeVisible();
  await expect(page.getByRole("button", { name: "Sync now" })).toHaveCount(0);
  await page.goto("/settings");
  await expect(page.getByTestId("read-only")).toBeVisible();
  await expect(page.getByLabel("Questions per minute")).toBeDisabled();
  await page.goto("/audit");
  await expect(page.getByText("Owners and admins can re-verify the whole chain.")).toBeVisible();
  await checkA11y(page, testInfo, "viewer-audit");
  await shot(page, "20-viewer-audit");
  console.check();
});

test("at phone width the navigation folds behind a menu and every screen still passes axe", async ({ browser }, testInfo) => {
  const context = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
  const page: Page = await context.newPage();
  const console = watchConsole(page);
  await page.goto("/");
  await checkA11y(page, testInfo, "phone-sign-in");
  await shot(page, "30-phone-sign-in");
  await signIn(page, DEMO);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav).toBeHidden();
  await page.getByRole("button", { name: "Menu" }).click();
  await expect(nav).toBeVisible();
  await shot(page, "31-phone-menu");
  await nav.getByRole("link", { name: "Runs" }).click();
  await expect(nav).toBeHidden();
  for (const path of ["/", "/connections", "/syncs", "/runs", "/audit", "/ask"]) {
    await page.goto(path);
    await expect(page.locator("main h1")).toBeVisible();
    // Nothing may overflow the screen sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
    await checkA11y(page, testInfo, `phone${path.replace(/\//g, "-")}`);
  }
  await shot(page, "32-phone-ask");
  console.check();
  await context.close();
});
