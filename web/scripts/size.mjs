// What the browser downloads, gzipped: the first load (index.html's entry chunk, its static imports and CSS: the
// sign-in screen) and the dashboard after signing in (plus the Overview chunk and its imports), from the build's
// manifest. Run after `npm run build`: node scripts/size.mjs
import { readFileSync } from "node:fs";
import { brotliCompressSync, gzipSync } from "node:zlib";

const dist = new URL("../dist/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL(".vite/manifest.json", dist), "utf8"));

/** The chunk `key` and everything it imports statically. */
function closure(key, seen = new Set()) {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const dep of manifest[key].imports ?? []) closure(dep, seen);
  return seen;
}

function files(keys) {
  const js = new Set();
  const css = new Set();
  for (const key of keys) {
    js.add(manifest[key].file);
    for (const c of manifest[key].css ?? []) css.add(c);
  }
  return { js: [...js], css: [...css] };
}

function measure(list) {
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  for (const file of list) {
    const bytes = readFileSync(new URL(file, dist));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
    brotli += brotliCompressSync(bytes).length;
  }
  return { files: list.length, raw, gzip, brotli };
}

const entry = Object.keys(manifest).find((k) => manifest[k].isEntry && k.endsWith("index.html"));
const first = closure(entry);
const overview = Object.keys(manifest).find((k) => k.endsWith("screens/Overview.tsx"));
const dashboard = closure(overview, new Set(first));
const allJs = Object.values(manifest).filter((c) => c.file.endsWith(".js") && !c.file.startsWith("sw")).map((c) => c.file);

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const rows = [
  ["first load (sign-in): JS", measure(files(first).js)],
  ["first load (sign-in): CSS", measure(files(first).css)],
  ["after sign-in (overview): JS", measure(files(dashboard).js)],
  ["every screen: JS", measure([...new Set(allJs)])],
];
console.log("| what | files | raw | gzip -9 | brotli |");
console.log("|---|---|---|---|---|");
for (const [what, m] of rows) console.log(`| ${what} | ${m.files} | ${kb(m.raw)} | ${kb(m.gzip)} | ${kb(m.brotli)} |`);
