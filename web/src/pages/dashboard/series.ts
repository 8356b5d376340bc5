// Time series of usage counters: buckets from /usage/summary (hour, day) or from raw records
// (5-minute buckets), with the missing buckets filled with zeros so a chart's x-axis is continuous.
// No recharts here: the usage page shares these helpers.
import type { SummaryCounters, SummaryRow, UsageRecord } from '@/lib/api';

export type Bucket = 'minute5' | 'hour' | 'day';

export const BUCKET_MS: Record<Bucket, number> = {
  minute5: 5 * 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export interface Point {
  /** Bucket start, Unix ms. */
  t: number;
  requests: number;
  errors: number;
  /** requests - errors (for stacked bars). */
  ok: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
}

function empty(t: number): Point {
  return {
    t,
    requests: 0,
    errors: 0,
    ok: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cost_usd: 0,
  };
}

/** Bucket start of `ms` (buckets are aligned to UTC, like the server's rollups). */
export function bucketStart(ms: number, bucket: Bucket): number {
  const w = BUCKET_MS[bucket];
  return Math.floor(ms / w) * w;
}

/** Every bucket from the one holding `from` to the one holding `to`, zeros where `points` has none. */
export function fillBuckets(points: Map<number, Point>, from: number, to: number, bucket: Bucket): Point[] {
  const w = BUCKET_MS[bucket];
  const out: Point[] = [];
  let last = bucketStart(to, bucket);
  for (const t of points.keys()) last = Math.max(last, t);
  // Never more than a few thousand bars, whatever the inputs.
  let t = Math.max(bucketStart(from, bucket), last - 5000 * w);
  for (; t <= last; t += w) out.push(points.get(t) ?? empty(t));
  return out;
}

function add(p: Point, c: Partial<SummaryCounters> & { requests: number; errors: number }) {
  p.requests += c.requests;
  p.errors += c.errors;
  p.ok = p.requests - p.errors;
  p.input_tokens += c.input_tokens ?? 0;
  p.output_tokens += c.output_tokens ?? 0;
  p.cache_creation_input_tokens += c.cache_creation_input_tokens ?? 0;
  p.cache_read_input_tokens += c.cache_read_input_tokens ?? 0;
  p.cost_usd += c.cost_usd ?? 0;
}

/** Series from the rows of /usage/summary?group_by=hour|day. */
export function seriesFromSummary(rows: SummaryRow[], from: number, to: number, bucket: Bucket): Point[] {
  const m = new Map<number, Point>();
  for (const r of rows) {
    const ms = Date.parse(r.group);
    if (Number.isNaN(ms)) continue;
    const t = bucketStart(ms, bucket);
    const p = m.get(t) ?? empty(t);
    add(p, r);
    m.set(t, p);
  }
  return fillBuckets(m, from, to, bucket);
}

/** Series from raw usage records (any bucket width). */
export function seriesFromRecords(records: UsageRecord[], from: number, to: number, bucket: Bucket): Point[] {
  const m = new Map<number, Point>();
  for (const r of records) {
    const ms = Date.parse(r.time);
    if (Number.isNaN(ms) || ms < from) continue;
    const t = bucketStart(ms, bucket);
    const p = m.get(t) ?? empty(t);
    add(p, { ...r, requests: 1, errors: r.status >= 400 ? 1 : 0 });
    m.set(t, p);
  }
  return fillBuckets(m, from, to, bucket);
}

/** Tick label of a bucket start in the UI language (day buckets are UTC days). */
export function tickFormat(bucket: Bucket, lang: string): (t: number) => string {
  const f =
    bucket === 'day'
      ? new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', timeZone: 'UTC' })
      : new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
  return (t) => f.format(new Date(t));
}

/** Tooltip title of a bucket: its full start (and end for sub-day buckets). */
export function bucketLabel(bucket: Bucket, lang: string): (t: number) => string {
  if (bucket === 'day') {
    const f = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' });
    return (t) => `${f.format(new Date(t))} (UTC)`;
  }
  const start = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const end = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
  return (t) => `${start.format(new Date(t))} – ${end.format(new Date(t + BUCKET_MS[bucket]))}`;
}
