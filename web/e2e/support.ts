// What the end-to-end tests share: sign-in, accessibility checks, screenshots, and a watch on the console for
// anything the Content-Security-Policy blocked.

import AxeBuilder from "@axe-core/playwright";
import { expect, type Page, type TestInfo } from "@playwright/test";

export const DEMO = {
  tenant: process.env.E2E_TENANT ?? "demo",
  email: process.env.E2E_EMAIL ?? "owner@demo.example",
  password: process.env.E2E_PASSWORD ?? "demo-password-1",
};

export const VIEWER = {
  tenant: DEMO.tenant,
  email: process.env.E2E_VIEWER_EMAIL ?? "viewer@demo.example",
  password: process.env.E2E_VIEWER_PASSWORD ?? "viewer-password-1",
};

/** The policy the gateway must send with the console. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; " +
  "object-src 'none'";

/** A policy as a map of directive to its sources. */
export function directives(policy: string): Record<string, string> {
  return Object.fromEntries(
    policy
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name, sources.join(" ")]),
  );
}

/** Collects console errors and CSP violations on `page`; `check()` fails the test if any happened. */
export function watchConsole(page: Page) {
  const problems: string[] = [];
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return {
    problems,
    check: () => expect(problems, problems.join("\n")).toEqual([]),
  };
}

export async function signIn(page: Page, who: { tenant: string; email: string; password: string }) {
  await page.goto("/");
  await page.getByLabel("Workspace").fill(who.tenant);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("role")).toBeVisible();
}

/** Saves a full-page screenshot as test-results/screens/<name>.png. */
export async function shot(page: Page, name: string) {
  await page.screenshot({ path: `test-results/screens/${name}.png`, fullPage: true });
}

/** Runs axe on the page as it is and fails on serious or critical violations (WCAG 2.x A and AA). */
export async function checkA11y(page: Page, testInfo: TestInfo, name: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  await testInfo.attach(`axe-${name}.json`, { body: JSON.stringify(results.violations, null, 2), contentType: "application/json" });
  const summary = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  expect(summary, `axe on ${name}`).toEqual([]);
  return results.violations.length;
}
