// CSV export of usage records (RFC 4180: comma separated, CRLF line ends, fields with a comma, a
// quote or a line break quoted, quotes doubled). The header row holds the records' field names.
import type { UsageRecord } from '@/lib/api';

/** The documented fields of a usage record, in the documented order. */
export const RECORD_FIELDS: (keyof UsageRecord)[] = [
  'request_id',
  'time',
  'key_id',
  'key_name',
  'upstream_id',
  'upstream',
  'credential_id',
  'model',
  'upstream_model',
  'status',
  'error_type',
  'stream',
  'ttfb_ms',
  'duration_ms',
  'input_tokens',
  'output_tokens',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'cost_usd',
];

/** The documented fields, then any other field the server sent (newer servers may add some). */
export function fieldsOf(records: readonly object[]): string[] {
  const out: string[] = [...RECORD_FIELDS];
  const seen = new Set<string>(out);
  for (const r of records.slice(0, 100)) {
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        out.push(k);
      }
    }
  }
  return out;
}

function numberText(n: number): string {
  if (!Number.isFinite(n)) return '';
  const s = String(n);
  if (!/e/i.test(s)) return s;
  // No exponent notation in a spreadsheet cell: 2.5e-7 -> 0.00000025.
  return n.toFixed(20).replace(/\.?0+$/, '');
}

export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'number') s = numberText(v);
  else if (typeof v === 'boolean') s = v ? 'true' : 'false';
  else if (typeof v === 'string') {
    s = v;
    // A text cell starting with = + - @ (or a tab / CR) is a formula to a spreadsheet: model names
    // come from clients, so neutralize it with a leading apostrophe (OWASP "CSV injection").
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  } else s = JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(records: readonly object[], fields = fieldsOf(records)): string {
  const lines = [fields.map(csvCell).join(',')];
  for (const r of records) {
    const row = r as Record<string, unknown>;
    lines.push(fields.map((f) => csvCell(row[f])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** Saves `text` as a file through a temporary <a download>. */
export function downloadText(text: string, filename: string, type = 'text/csv;charset=utf-8') {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** clove-usage-2026-11-27.csv (local date). */
export function csvFilename(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `clove-usage-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}.csv`;
}
