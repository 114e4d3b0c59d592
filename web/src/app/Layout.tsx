// The frame around every screen once signed in: a skip link, the banner with the workspace and the user, the
// navigation (a menu button on narrow screens), and the screen itself in `<main>`. Screens other than the overview
// are loaded on first visit (code-split), so the first load carries only the sign-in form and the frame.

import { lazy, Suspense, useEffect, useState, type ComponentType } from "react";
import { roleName } from "../session/roles";
import { useMe, useServices } from "./context";
import { Link, useLocation } from "./router";

const Overview = lazy(() => import("../screens/Overview"));
const Ask = lazy(() => import("../screens/Ask"));
const Connections = lazy(() => import("../screens/Connections"));
const OAuthCallback = lazy(() => import("../screens/OAuthCallback"));
const Syncs = lazy(() => import("../screens/Syncs"));
const Records = lazy(() => import("../screens/Records"));
const Runs = lazy(() => import("../screens/Runs"));
const RunDetail = lazy(() => import("../screens/RunDetail"));
const Audit = lazy(() => import("../screens/Audit"));
const Settings = lazy(() => import("../screens/Settings"));
const NotFound = lazy(() => import("../screens/NotFound"));

/** The navigation, in order. */
export const NAV: { href: string; label: string }[] = [
  { href: "/", label: "Overview" },
  { href: "/ask", label: "Ask" },
  { href: "/connections", label: "Connections" },
  { href: "/syncs", label: "Syncs" },
  { href: "/records", label: "Records" },
  { href: "/runs", label: "Runs" },
  { href: "/audit", label: "Audit log" },
  { href: "/settings", label: "Settings" },
];

/** The screen for a path, and its parameter. */
export function route(path: string): { screen: ComponentType<{ param: string }>; param: string } {
  const runDetail = /^\/runs\/([^/]+)$/.exec(path);
  if (runDetail) return { screen: RunDetail, param: decodeURIComponent(runDetail[1]) };
  const table: Record<string, ComponentType<{ param: string }>> = {
    "/": Overview,
    "/ask": Ask,
    "/connections": Connections,
    "/oauth/callback": OAuthCallback,
    "/syncs": Syncs,
    "/records": Records,
    "/runs": Runs,
    "/audit": Audit,
    "/settings": Settings,
  };
  return { screen: table[path.replace(/\/+$/, "") || "/"] ?? NotFound, param: "" };
}

function isCurrent(href: string, path: string): boolean {
  return href === "/" ? path === "/" : path === href || path.startsWith(`${href}/`);
}

export function Layout() {
  const { session } = useServices();
  const me = useMe();
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const { screen: Screen, param } = route(path);

  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    const label = NAV.find((n) => isCurrent(n.href, path))?.label;
    document.title = label ? `${label} · Switchboard` : "Switchboard";
  }, [path]);

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="banner">
        <Link href="/" className="brand">
          <img src="/icons/icon.svg" alt="" width="28" height="28" />
          <span>Switchboard</span>
        </Link>
        <p className="who">
          <span className="tenant">{me.whoami.tenant?.displayName || me.whoami.tenant?.slug}</span>
          <span className="user">
            {me.whoami.user?.email} · <span data-testid="role">{roleName(me.role)}</span>
          </span>
        </p>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          Menu
        </button>
        <button type="button" className="signout" onClick={() => void session.signOut()}>
          Sign out
        </button>
      </header>
      <nav id="nav" aria-label="Main" className={menuOpen ? "nav open" : "nav"}>
        <ul>
          {NAV.map((item) => (
            <li key={item.href}>
              <Link href={item.href} aria-current={isCurrent(item.href, path) ? "page" : undefined}>
                {item.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Suspense
          fallback={
            <p className="muted" role="status">
              Loading…
            </p>
          }
        >
          <Screen key={path} param={param} />
        </Suspense>
      </main>
    </>
  );
}
