// Small pieces every screen uses: headings that take focus after navigation, errors, status badges, times, JSON.

import type { JsonValue } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useRef, type ReactNode } from "react";
import { describeError } from "../api/errors";

/**
 * The screen's `<h1>`. It takes focus when the screen opens after a navigation, so keyboard and screen-reader users
 * land on the new content instead of staying on the link they followed.
 */
export function PageHeading({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement && document.activeElement !== document.body) ref.current?.focus();
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function ErrorNote({ error, prefix }: { error: unknown; prefix?: string }) {
  if (error === undefined || error === null) return null;
  return (
    <p className="error" role="alert">
      {prefix ? `${prefix}: ` : ""}
      {describeError(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** An enum value's name without its prefix, in lower case: `SYNC_STATUS_RUNNING` → `running`. */
export function enumLabel(names: Record<number, string>, value: number): string {
  const name = names[value] ?? "UNSPECIFIED";
  return name.toLowerCase().replace(/_/g, " ");
}

/** A status shown as text (never by color alone); `tone` picks the color. */
export function Badge({ tone, children }: { tone: "ok" | "warn" | "bad" | "busy" | "idle"; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function When({ ts, empty = "—" }: { ts?: Timestamp; empty?: string }) {
  if (!ts) return <>{empty}</>;
  const date = timestampDate(ts);
  return <time dateTime={date.toISOString()}>{dateFormat.format(date)}</time>;
}

/** JSON, pretty-printed; focusable so a keyboard can scroll it. */
export function Json({ value }: { value: JsonValue | undefined }) {
  return (
    <pre className="json" tabIndex={0}>
      {JSON.stringify(value ?? null, null, 2)}
    </pre>
  );
}
