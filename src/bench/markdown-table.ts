/** A GitHub-flavoured Markdown table with padded columns, readable as plain text in a terminal too. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: "left" | "right";
}

/** `|` would end a cell early; line breaks would end the row. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

export function markdownTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  for (const [i, row] of rows.entries()) {
    if (row.length !== columns.length)
      throw new Error(`table row ${i} has ${row.length} cells for ${columns.length} columns`);
  }
  const cells = rows.map((row) => row.map(escapeCell));
  const headers = columns.map((c) => escapeCell(c.header));
  const widths = columns.map((_, j) => Math.max(3, headers[j].length, ...cells.map((r) => r[j].length)));
  const pad = (text: string, j: number) =>
    columns[j].align === "right" ? text.padStart(widths[j]) : text.padEnd(widths[j]);
  const line = (parts: string[]) => `| ${parts.join(" | ")} |`;
  const rule = columns.map((c, j) =>
    c.align === "right" ? `${"-".repeat(widths[j] - 1)}:` : "-".repeat(widths[j]),
  );
  return [line(headers.map(pad)), line(rule), ...cells.map((row) => line(row.map(pad)))].join("\n");
}
