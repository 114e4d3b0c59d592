// Renders the PNG icons the manifest names from the SVGs in public/icons, with the system's Chromium (the PNGs are
// committed; run this after changing an SVG): node scripts/icons.mjs
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const jobs = [
  ["icon.svg", "icon-192.png", 192],
  ["icon.svg", "icon-512.png", 512],
  ["icon-maskable.svg", "icon-maskable-512.png", 512],
];
const browser = await chromium.launch({ executablePath });
try {
  for (const [svg, png, size] of jobs) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    const source = readFileSync(new URL(`../public/icons/${svg}`, import.meta.url), "utf8");
    await page.setContent(
      `<html><body style="margin:0;background:transparent"><img style="width:${size}px;height:${size}px;display:block" src="data:image/svg+xml;base64,${Buffer.from(source).toString("base64")}"></body></html>`,
    );
    await page.locator("img").screenshot({ path: new URL(`../public/icons/${png}`, import.meta.url).pathname, omitBackground: true });
    await page.close();
    console.log(`public/icons/${png}`);
  }
} finally {
  await browser.close();
}
