// Tokens in a live session: rotated quietly before they expire (e2e.sh runs the platform with 30 s access tokens),
// and a replayed refresh token revokes the session, which sends the console back to sign-in.

import { expect, test } from "@playwright/test";
import { DEMO, signIn, watchConsole } from "./support";

const stored = "switchboard.refresh";

test("tokens rotate quietly, and a reused refresh token ends the session", async ({ page, request }) => {
  const console = watchConsole(page);
  await signIn(page, DEMO);
  const first = await page.evaluate((key) => window.sessionStorage.getItem(key), stored);
  expect(first).toBeTruthy();
  expect(await page.evaluate(() => window.localStorage.length)).toBe(0);

  // The timer rotates before expires_in runs out, without a sign of it on screen.
  await expect
    .poll(() => page.evaluate((key) => window.sessionStorage.getItem(key), stored), { timeout: 45_000 })
    .not.toBe(first);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Runs" }).click();
  await expect(page.getByRole("heading", { name: "Runs", exact: true })).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);

  // Someone replays the spent refresh token: the gateway revokes the whole session.
  const replay = await request.post("/v1/auth:refresh", { data: { refreshToken: first } });
  expect(replay.status()).toBe(401);

  // The console's next call is refused, its refresh too: back to sign-in, saying why.
  await nav.getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByText("Your session has ended")).toBeVisible();
  expect(await page.evaluate((key) => window.sessionStorage.getItem(key), stored)).toBeNull();
  console.check();
});
