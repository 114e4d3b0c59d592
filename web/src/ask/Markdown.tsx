// The small part of Markdown answers use: paragraphs, `- ` lists, `> ` quotes, headings, **bold**, _italic_,
// `code`, and citation markers `[n]` that link to the citation list. Built as React elements: the text of an answer
// (which quotes synced records and documents) is never parsed as HTML.

import { Fragment, type ReactNode } from "react";

type Block = { kind: "p" | "ul" | "quote" | "heading"; lines: string[] };

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const push = (kind: Block["kind"], line: string) => {
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind !== "heading") last.lines.push(line);
    else out.push({ kind, lines: [line] });
  };
  let gap = true;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (!line.trim()) {
      gap = true;
      continue;
    }
    const list = /^\s*[-*]\s+(.*)$/.exec(line);
    const quote = /^>\s?(.*)$/.exec(line);
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (list) push("ul", list[1]);
    else if (quote) push("quote", quote[1]);
    else if (heading) push("heading", heading[1]);
    else if (!gap && out[out.length - 1]?.kind === "p") out[out.length - 1].lines.push(line);
    else out.push({ kind: "p", lines: [line] });
    gap = false;
  }
  return out;
}

const INLINE = /(\*\*[^*]+\*\*|`[^`]+`|\[\d+\]|_[^_\s][^_]*_|\*[^*\s][^*]*\*)/g;

/** Inline marks; `cite(n)` renders the marker of the n-th citation. */
function inline(text: string, cite: (n: number) => ReactNode): ReactNode[] {
  return text.split(INLINE).map((part, i) => {
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) return <strong key={i}>{part.slice(2, -2)}</strong>;
    if (part.startsWith("`") && part.endsWith("`") && part.length > 2) return <code key={i}>{part.slice(1, -1)}</code>;
    const marker = /^\[(\d+)\]$/.exec(part);
    if (marker) return <span key={i}>{cite(Number(marker[1]))}</span>;
    if (/^(_[^_]+_|\*[^*]+\*)$/.test(part) && part.length > 2) return <em key={i}>{part.slice(1, -1)}</em>;
    return part;
  });
}

export function Markdown({ text, cite }: { text: string; cite: (n: number) => ReactNode }) {
  return (
    <>
      {blocks(text).map((block, i) => {
        const lines = (joiner: ReactNode) =>
          block.lines.map((line, j) => (
            <Fragment key={j}>
              {j > 0 && joiner}
              {inline(line, cite)}
            </Fragment>
          ));
        switch (block.kind) {
          case "ul":
            return (
              <ul key={i}>
                {block.lines.map((line, j) => (
                  <li key={j}>{inline(line, cite)}</li>
                ))}
              </ul>
            );
          case "quote":
            return (
              <blockquote key={i}>
                <p>{lines(<br />)}</p>
              </blockquote>
            );
          case "heading":
            return (
              <p key={i} className="md-heading">
                <strong>{inline(block.lines[0], cite)}</strong>
              </p>
            );
          default:
            return <p key={i}>{lines(" ")}</p>;
        }
      })}
    </>
  );
}
