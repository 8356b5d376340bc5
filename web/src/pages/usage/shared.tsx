// Pieces shared by the request log and the aggregates: filters in the URL, time ranges, the status
// badge and the phone/desktop switch.
import { useSyncExternalStore } from 'react';
import { Badge } from '@/components/ui/badge';
import i18n from '@/lib/i18n';

/** True at the `md` breakpoint and up (tables); below it the pages render cards. */
const MD = '(min-width: 768px)';
export function useIsDesktop(): boolean {
  return useSyncExternalStore(
    (on) => {
      const mq = matchMedia(MD);
      mq.addEventListener('change', on);
      return () => mq.removeEventListener('change', on);
    },
    () => matchMedia(MD).matches,
    () => true,
  );
}

export type RelRange = 'hour' | 'day' | 'week' | 'month';
export const REL_MS: Record<RelRange, number> = {
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
  month: 30 * 86_400_000,
};

/** A `datetime-local` value (local time, minutes) of a time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Unix ms of a `datetime-local` value, null when empty or invalid. */
export function fromLocalInput(v: string): number | null {
  if (!v) return null;
  const ms = new Date(v).getTime();
  return Number.isNaN(ms) ? null : ms;
}

// ---- request log filters (kept in the URL so links can open a filtered log) ----

export type LogRange = 'all' | 'hour' | 'day' | 'week' | 'custom';
export const LOG_RANGES: LogRange[] = ['all', 'hour', 'day', 'week', 'custom'];
export const STATUS_FILTERS = ['all', '2xx', '4xx', '5xx', 'error', '429'] as const;
export type StatusFilter = (typeof STATUS_FILTERS)[number];

export interface LogFilters {
  key_id: string;
  upstream_id: string;
  credential_id: string;
  model: string;
  status: StatusFilter;
  range: LogRange;
  /** datetime-local values, for range = custom */
  from: string;
  to: string;
}

export const FILTER_PARAMS = ['key_id', 'upstream_id', 'credential_id', 'model', 'status', 'range', 'from', 'to'] as const;

export function readFilters(p: URLSearchParams): LogFilters {
  const status = p.get('status') ?? 'all';
  const range = p.get('range') ?? '';
  const from = p.get('from') ?? '';
  const to = p.get('to') ?? '';
  return {
    key_id: p.get('key_id') ?? '',
    upstream_id: p.get('upstream_id') ?? '',
    credential_id: p.get('credential_id') ?? '',
    model: p.get('model') ?? '',
    status: (STATUS_FILTERS as readonly string[]).includes(status) ? (status as StatusFilter) : 'all',
    range: (LOG_RANGES as string[]).includes(range) ? (range as LogRange) : from || to ? 'custom' : 'all',
    from,
    to,
  };
}

/** The URL parameters of the filters over `base` (its other parameters, e.g. the tab, are kept). */
export function writeFilters(f: LogFilters, base: URLSearchParams): URLSearchParams {
  const n = new URLSearchParams(base);
  for (const k of FILTER_PARAMS) n.delete(k);
  if (f.key_id) n.set('key_id', f.key_id);
  if (f.upstream_id) n.set('upstream_id', f.upstream_id);
  if (f.credential_id) n.set('credential_id', f.credential_id);
  if (f.model) n.set('model', f.model);
  if (f.status !== 'all') n.set('status', f.status);
  if (f.range !== 'all') n.set('range', f.range);
  if (f.range === 'custom') {
    if (f.from) n.set('from', f.from);
    if (f.to) n.set('to', f.to);
  }
  return n;
}

export function isFiltered(f: LogFilters): boolean {
  return !!(f.key_id || f.upstream_id || f.credential_id || f.model || f.status !== 'all' || f.range !== 'all');
}

/** The query parameters of /usage/requests for the filters (relative ranges end now). */
export function filterQuery(f: LogFilters, now = Date.now()): Record<string, string> {
  const q: Record<string, string> = {};
  if (f.key_id) q.key_id = f.key_id;
  if (f.upstream_id) q.upstream_id = f.upstream_id;
  if (f.credential_id) q.credential_id = f.credential_id;
  if (f.model.trim()) q.model = f.model.trim();
  if (f.status !== 'all') q.status = f.status;
  if (f.range === 'hour' || f.range === 'day' || f.range === 'week') q.from = new Date(now - REL_MS[f.range]).toISOString();
  if (f.range === 'custom') {
    const from = fromLocalInput(f.from);
    const to = fromLocalInput(f.to);
    if (from !== null) q.from = new Date(from).toISOString();
    if (to !== null) q.to = new Date(to).toISOString();
  }
  return q;
}

/** An error key when the custom range is backwards. */
export function rangeError(from: string, to: string): 'rangeOrder' | null {
  const a = fromLocalInput(from);
  const b = fromLocalInput(to);
  return a !== null && b !== null && a >= b ? 'rangeOrder' : null;
}

// ---- formatting ----

/** "Nov 27, 15:17:38" in the UI language (the year only when it is not this year). */
export function fmtLogTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return formatter(sameYear ? 'dateTime' : 'dateTimeYear', {
    year: sameYear ? undefined : 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(d);
}

/** Time of day ("15:17:38") and date ("Nov 27") of a record, for the two lines of the log's time cell. */
export function fmtLogParts(iso: string): { time: string; date: string } {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return { time: iso, date: '' };
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return {
    time: formatter('time', { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(d),
    date: formatter(sameYear ? 'date' : 'dateYear', { year: sameYear ? undefined : 'numeric', month: 'short', day: 'numeric' }).format(d),
  };
}

// Intl formatters are costly to build and a log renders hundreds of times: one per language and use.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(use: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${i18n.language || 'en'}|${use}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(i18n.language || 'en', options);
    formatters.set(key, f);
  }
  return f;
}

export function statusVariant(status: number): 'success' | 'warning' | 'destructive' | 'secondary' {
  if (status >= 200 && status < 400) return 'success';
  if (status === 429 || (status >= 400 && status < 500)) return 'warning';
  if (status >= 500) return 'destructive';
  return 'secondary';
}

export function StatusBadge({ status }: { status: number }) {
  return (
    <Badge variant={statusVariant(status)} className="tabular-nums" data-testid="status-badge">
      {status || '—'}
    </Badge>
  );
}
