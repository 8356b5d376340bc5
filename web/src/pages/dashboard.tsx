// The landing page: traffic, tokens and cost over the last hour / day / week, errors, latency,
// requests in flight, credential health and the busiest keys and models. Refreshed every 10 s.
import { keepPreviousData, queryOptions, useQuery, type QueryClient } from '@tanstack/react-query';
import { Activity, AlertTriangle, Coins, Gauge, Hash, Timer } from 'lucide-react';
import { lazy, Suspense, useEffect, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { CopyButton, ErrorState, LoadingState, PageHeader, Stat } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Skeleton } from '@/components/ui/skeleton';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type Latency, type List, type Status, type Summary, type SummaryRow, type UsageRecord } from '@/lib/api';
import { fmtCompact, fmtInt, fmtMs, fmtPct, fmtRelative, fmtUsd } from '@/lib/format';
import { cn } from '@/lib/utils';
import type { TimeChart as TimeChartType } from './dashboard/charts';
import { ChartLegend } from './dashboard/legend';
import { HealthCard } from './dashboard/health';
import { seriesFromRecords, seriesFromSummary, type Bucket, type Point } from './dashboard/series';

// recharts is big: the charts load after the numbers (the dashboard itself is in the main bundle).
const TimeChart = lazy(() => import('./dashboard/charts').then((m) => ({ default: m.TimeChart }))) as unknown as typeof TimeChartType;

type Range = 'hour' | 'day' | 'week';
const RANGES: Range[] = ['hour', 'day', 'week'];
const RANGE_MS: Record<Range, number> = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 };
const REFRESH = 10_000;
const RANGE_KEY = 'clove.dashboard.range';
/** The hour range is drawn in 5-minute buckets from the raw records when there are at most this many. */
const HOUR_RECORDS = 2000;

type ErrorCount = Latency['errors'][number];

interface Span {
  from: number;
  to: number;
}
function windowOf(range: Range): Span {
  const to = Date.now();
  return { from: to - RANGE_MS[range], to };
}
const iso = (ms: number) => new Date(ms).toISOString();

function initialRange(): Range {
  try {
    const r = localStorage.getItem(RANGE_KEY);
    if (r === 'hour' || r === 'day' || r === 'week') return r;
  } catch {
    /* storage unavailable */
  }
  return 'day';
}

// The dashboard's first queries, shared with prefetchDashboard() so the first load does not wait
// for React to render before asking the server.
function summaryQuery(range: Range) {
  return queryOptions({
    queryKey: ['dashboard', 'summary', range],
    queryFn: async () => {
      const w = windowOf(range);
      const bucket: Bucket = range === 'week' ? 'day' : 'hour';
      const s = await api.get<Summary>('/usage/summary', { group_by: bucket, from: iso(w.from) });
      return { ...s, ...w, bucket, range };
    },
  });
}
function statusQuery() {
  return queryOptions({ queryKey: ['dashboard', 'status'], queryFn: () => api.get<Status>('/status') });
}
function latencyQuery(range: Range) {
  return queryOptions({
    queryKey: ['dashboard', 'latency', range],
    queryFn: () => {
      const w = windowOf(range);
      return api.get<Latency>('/usage/latency', { from: iso(w.from), to: iso(w.to) });
    },
  });
}

/**
 * Starts the dashboard's requests at once (called before the first render on `/`); resolves when
 * the numbers are in the cache (or failed).
 */
export function prefetchDashboard(client: QueryClient): Promise<void> {
  const range = initialRange();
  void client.prefetchQuery(statusQuery());
  void client.prefetchQuery({ ...latencyQuery(range), retry: false });
  return client.prefetchQuery(summaryQuery(range));
}

export function DashboardPage() {
  const { t } = useTranslation(['dashboard', 'common']);
  const [range, setRangeState] = useState<Range>(initialRange);
  const setRange = (r: Range) => {
    setRangeState(r);
    try {
      localStorage.setItem(RANGE_KEY, r);
    } catch {
      /* ignore */
    }
  };

  const summary = useQuery({
    ...summaryQuery(range),
    refetchInterval: REFRESH,
    placeholderData: keepPreviousData,
  });

  const hourRecords = useQuery({
    queryKey: ['dashboard', 'hour-records'],
    queryFn: async () => {
      const w = windowOf('hour');
      const records: UsageRecord[] = [];
      let cursor: string | null = null;
      do {
        const r: List<UsageRecord> = await api.get<List<UsageRecord>>('/usage/requests', {
          from: iso(w.from),
          limit: 1000,
          cursor,
        });
        records.push(...r.data);
        cursor = r.next_cursor ?? null;
      } while (cursor && records.length < HOUR_RECORDS);
      return { records, complete: !cursor, ...w };
    },
    enabled: range === 'hour',
    refetchInterval: REFRESH,
  });

  const status = useQuery({
    ...statusQuery(),
    refetchInterval: REFRESH,
  });

  const latency = useQuery({
    ...latencyQuery(range),
    // An older server has no /usage/latency: stop asking after it failed (the page shows "—").
    refetchInterval: (q) => (q.state.status === 'error' ? false : REFRESH),
    retry: false,
    placeholderData: keepPreviousData,
  });

  if (summary.isPending) {
    return (
      <div>
        <PageHeader title={t('title')} description={t('description')} actions={<RangeSwitch range={range} onChange={setRange} />} />
        <LoadingState rows={8} />
      </div>
    );
  }
  if (summary.isError) {
    return (
      <div>
        <PageHeader title={t('title')} description={t('description')} actions={<RangeSwitch range={range} onChange={setRange} />} />
        <ErrorState error={summary.error} onRetry={() => void summary.refetch()} />
      </div>
    );
  }

  const s = summary.data;
  const totals = s.totals;
  const stale = summary.isPlaceholderData;
  const errorRate = totals.requests > 0 ? totals.errors / totals.requests : null;
  const lat = latency.isError ? null : latency.data;
  const empty = totals.requests === 0;

  let series: Point[] | null;
  let bucket: Bucket = s.bucket;
  if (s.range === 'hour') {
    const h = hourRecords.data;
    if (h?.complete) {
      series = seriesFromRecords(h.records, h.from, h.to, 'minute5');
      bucket = 'minute5';
    } else if (h) series = seriesFromSummary(s.data, s.from, s.to, s.bucket);
    else series = hourRecords.isError ? seriesFromSummary(s.data, s.from, s.to, s.bucket) : null;
  } else series = seriesFromSummary(s.data, s.from, s.to, s.bucket);

  return (
    <div className="space-y-4">
      <PageHeader
        title={t('title')}
        description={t('description')}
        actions={<RangeSwitch range={range} onChange={setRange} />}
      />

      <div className={cn('grid grid-cols-2 gap-3 md:grid-cols-3 2xl:grid-cols-6 [&>div>div]:h-full', stale && 'opacity-60')}>
        <div data-testid="stat-requests" data-value={totals.requests}>
          <Stat
            label={t('stats.requests')}
            // Spaces around the number keep it a separate word in the card's text.
            value={<span data-testid="stat-requests-value">{' '}{fmtInt(totals.requests)}{' '}</span>}
            sub={t(`stats.in.${range}`)}
            icon={<Hash className="size-4" />}
          />
        </div>
        <div data-testid="stat-tokens">
          <Stat
            label={t('stats.tokens')}
            value={
              <span className="text-lg sm:text-xl" title={`${fmtInt(totals.input_tokens)} / ${fmtInt(totals.output_tokens)}`}>
                {fmtCompact(totals.input_tokens)}{' '}
                <span className="text-base font-normal text-muted-foreground">/</span>{' '}
                {fmtCompact(totals.output_tokens)}
              </span>
            }
            sub={t('stats.tokensSub', { n: fmtCompact(totals.cache_read_input_tokens) })}
            icon={<Activity className="size-4" />}
          />
        </div>
        <div data-testid="stat-cost">
          <Stat label={t('stats.cost')} value={fmtUsd(totals.cost_usd)} sub={t(`stats.in.${range}`)} icon={<Coins className="size-4" />} />
        </div>
        <div data-testid="stat-error-rate">
          <Stat
            label={t('stats.errorRate')}
            value={<span className={cn(errorRate && errorRate > 0.05 && 'text-destructive')}>{fmtPct(errorRate)}</span>}
            sub={t('stats.errors', { n: fmtInt(totals.errors) })}
            icon={<AlertTriangle className="size-4" />}
          />
        </div>
        <div data-testid="stat-in-flight" data-value={status.data?.in_flight ?? ''}>
          <Stat
            label={t('stats.inFlight')}
            value={<span data-testid="stat-in-flight-value">{' '}{status.isError ? '—' : status.data ? fmtInt(status.data.in_flight) : '…'}{' '}</span>}
            sub={t('stats.now')}
            icon={<Gauge className="size-4" />}
          />
        </div>
        <div data-testid="stat-ttfb">
          <Stat
            label={t('stats.ttfb')}
            value={fmtMs(lat?.ttfb_ms.p50)}
            sub={t('stats.ttfbSub', { p90: fmtMs(lat?.ttfb_ms.p90), p99: fmtMs(lat?.ttfb_ms.p99) })}
            icon={<Timer className="size-4" />}
          />
        </div>
      </div>

      {empty ? (
        <NoTraffic range={range} />
      ) : (
        <div className={cn('grid gap-4 lg:grid-cols-2', stale && 'opacity-60')}>
          <ChartCard title={t('charts.requests')} className="lg:col-span-2" legend={[
            { label: t('charts.ok'), color: 'var(--chart-1)' },
            { label: t('charts.errors'), color: 'var(--chart-4)' },
          ]}>
            {series ? (
              <TimeChart
                testId="chart-requests"
                data={series}
                bucket={bucket}
                format={(v) => fmtInt(v)}
                axisFormat={(v) => fmtCompact(v)}
                series={[
                  { key: 'ok', label: t('charts.ok'), color: 'var(--chart-1)', stack: 'r' },
                  { key: 'errors', label: t('charts.errors'), color: 'var(--chart-4)', stack: 'r' },
                ]}
                footer={(p) => t('charts.total', { n: fmtInt(p.requests) })}
              />
            ) : (
              <Skeleton className="h-56 w-full" />
            )}
          </ChartCard>
          <ChartCard title={t('charts.tokens')} legend={[
            { label: t('charts.input'), color: 'var(--chart-2)' },
            { label: t('charts.output'), color: 'var(--chart-5)' },
          ]}>
            {series ? (
              <TimeChart
                testId="chart-tokens"
                data={series}
                bucket={bucket}
                kind="bar"
                format={(v) => fmtInt(v)}
                axisFormat={(v) => fmtCompact(v)}
                series={[
                  { key: 'input_tokens', label: t('charts.input'), color: 'var(--chart-2)', stack: 't' },
                  { key: 'output_tokens', label: t('charts.output'), color: 'var(--chart-5)', stack: 't' },
                ]}
                footer={(p) =>
                  t('charts.cache', {
                    read: fmtInt(p.cache_read_input_tokens),
                    write: fmtInt(p.cache_creation_input_tokens),
                  })
                }
              />
            ) : (
              <Skeleton className="h-56 w-full" />
            )}
          </ChartCard>
          <ChartCard title={t('charts.cost')} legend={[{ label: t('charts.costUsd'), color: 'var(--chart-3)' }]}>
            {series ? (
              <TimeChart
                testId="chart-cost"
                data={series}
                bucket={bucket}
                kind="area"
                decimals
                format={(v) => fmtUsd(v)}
                axisFormat={(v) => fmtUsdAxis(v)}
                series={[{ key: 'cost_usd', label: t('charts.costUsd'), color: 'var(--chart-3)' }]}
              />
            ) : (
              <Skeleton className="h-56 w-full" />
            )}
          </ChartCard>
        </div>
      )}

      <div className="grid gap-4 lg:grid-cols-5">
        <div className="min-w-0 lg:col-span-3">
          <HealthCard />
        </div>
        <div className="min-w-0 lg:col-span-2">
          <ErrorsCard
            latency={lat ?? null}
            latencyMissing={latency.isError}
            range={range}
            requests={totals.requests}
            errors={totals.errors}
          />
        </div>
      </div>

      {!empty && (
        <div className="grid gap-4 lg:grid-cols-2">
          <TopCard kind="key" range={range} />
          <TopCard kind="model" range={range} />
        </div>
      )}
    </div>
  );
}

function fmtUsdAxis(v: number): string {
  if (v === 0) return '$0';
  if (v < 0.01) return `$${v.toPrecision(1)}`;
  if (v < 1000) return `$${Number(v.toPrecision(2))}`;
  return `$${fmtCompact(v)}`;
}

/** Segmented buttons (plain buttons keep Radix Tabs out of the main bundle). */
function RangeSwitch({ range, onChange }: { range: Range; onChange: (r: Range) => void }) {
  const { t } = useTranslation('dashboard');
  return (
    <div role="group" aria-label={t('range.label')} className="inline-flex h-9 items-center rounded-lg bg-muted p-1 text-muted-foreground">
      {RANGES.map((r) => (
        <button
          key={r}
          type="button"
          aria-pressed={range === r}
          data-state={range === r ? 'active' : 'inactive'}
          data-testid={`range-${r}`}
          onClick={() => onChange(r)}
          className={cn(
            'inline-flex items-center justify-center whitespace-nowrap rounded-md px-3 py-1 text-sm font-medium transition-all',
            'focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring',
            range === r ? 'bg-background text-foreground shadow' : 'hover:text-foreground',
          )}
        >
          {t(`range.${r}`)}
        </button>
      ))}
    </div>
  );
}

function ChartCard({
  title,
  legend,
  className,
  children,
}: {
  title: string;
  legend?: { label: string; color: string }[];
  className?: string;
  children: ReactNode;
}) {
  const painted = useAfterPaint();
  return (
    <Card className={cn('min-w-0', className)}>
      <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
        <CardTitle className="text-sm">{title}</CardTitle>
        {legend && <ChartLegend items={legend} />}
      </CardHeader>
      <CardContent>
        {painted ? <Suspense fallback={<Skeleton className="h-56 w-full" />}>{children}</Suspense> : <Skeleton className="h-56 w-full" />}
      </CardContent>
    </Card>
  );
}

/**
 * False until the frame after the first paint: the numbers show first, then the charts (whose
 * library is loaded and evaluated only then) take the main thread.
 */
let chartsReady = false;
function useAfterPaint(): boolean {
  const [ready, setReady] = useState(chartsReady);
  useEffect(() => {
    if (ready) return;
    let id = requestAnimationFrame(() => {
      id = requestAnimationFrame(() => {
        chartsReady = true;
        setReady(true);
      });
    });
    return () => cancelAnimationFrame(id);
  }, [ready]);
  return ready;
}

/** No request in the range: either no traffic at all yet (how to start) or just a quiet period. */
function NoTraffic({ range }: { range: Range }) {
  const { t } = useTranslation(['dashboard', 'common']);
  const latest = useQuery({
    queryKey: ['dashboard', 'latest'],
    queryFn: () => api.get<List<UsageRecord>>('/usage/requests', { limit: 1 }),
    refetchInterval: REFRESH,
  });
  if (latest.isPending) return <Skeleton className="h-40 w-full" />;
  const last = latest.data?.data[0];
  const base = window.location.origin;
  return (
    <Card data-testid="dashboard-empty">
      <CardContent className="flex flex-col items-center gap-3 p-8 text-center sm:p-10">
        <div className="flex size-12 items-center justify-center rounded-full bg-primary/10 text-primary">
          <Activity className="size-6" />
        </div>
        {last ? (
          <>
            <div className="text-base font-medium">{t(`empty.quiet.${range}`)}</div>
            <p className="max-w-md text-sm text-muted-foreground">{t('empty.lastRequest', { when: fmtRelative(last.time) })}</p>
            <Button asChild variant="outline" size="sm">
              <Link to="/usage">{t('empty.openLog')}</Link>
            </Button>
          </>
        ) : (
          <>
            <div className="text-base font-medium">{t('empty.title')}</div>
            <p className="max-w-lg text-sm text-muted-foreground">{t('empty.body')}</p>
            <div className="flex max-w-full items-center gap-2 rounded-md border bg-muted/50 py-1 pl-3 pr-1 font-mono text-xs">
              <span className="truncate">ANTHROPIC_BASE_URL={base}</span>
              <CopyButton text={base} size="icon" label={t('empty.copyUrl')} />
            </div>
            <div className="flex flex-wrap justify-center gap-2">
              <Button asChild size="sm">
                <Link to="/keys">{t('empty.createKey')}</Link>
              </Button>
              <Button asChild variant="outline" size="sm">
                <Link to="/upstreams">{t('empty.upstreams')}</Link>
              </Button>
            </div>
          </>
        )}
      </CardContent>
    </Card>
  );
}

/** Latency percentiles and the error types of the range. */
function ErrorsCard({
  latency,
  latencyMissing,
  range,
  requests,
  errors,
}: {
  latency: Latency | null;
  latencyMissing: boolean;
  range: Range;
  requests: number;
  errors: number;
}) {
  const { t } = useTranslation(['dashboard', 'common']);
  // Without /usage/latency the error types are counted from the error records themselves.
  const fallback = useQuery({
    queryKey: ['dashboard', 'error-records', range],
    queryFn: async () => {
      const w = windowOf(range);
      const r = await api.get<List<UsageRecord>>('/usage/requests', { status: 'error', from: iso(w.from), limit: 1000 });
      const m = new Map<string, ErrorCount>();
      for (const x of r.data) {
        const k = `${x.error_type}:${x.status}`;
        const e = m.get(k) ?? { type: x.error_type, status: x.status, count: 0 };
        e.count += 1;
        m.set(k, e);
      }
      return [...m.values()];
    },
    enabled: latencyMissing && errors > 0,
    refetchInterval: REFRESH,
    placeholderData: keepPreviousData,
  });
  const types: ErrorCount[] = [...((latencyMissing ? fallback.data : latency?.errors) ?? [])].sort((a, b) => b.count - a.count);
  const max = Math.max(1, ...types.map((x) => x.count));
  const typeTotal = types.reduce((n, x) => n + x.count, 0);
  const rate = requests > 0 ? errors / requests : null;

  const pct = (p: 'p50' | 'p90' | 'p99', k: 'ttfb_ms' | 'duration_ms') => fmtMs(latency?.[k][p]);

  return (
    <Card className="h-full" data-testid="errors-card">
      <CardHeader>
        <CardTitle>{t('errors.title')}</CardTitle>
        <CardDescription>
          {t('errors.rate', { rate: fmtPct(rate), n: fmtInt(errors), total: fmtInt(requests) })}
        </CardDescription>
      </CardHeader>
      <CardContent className="space-y-4">
        <div>
          <table className="w-full text-sm" data-testid="latency-table">
            <thead>
              <tr className="text-xs text-muted-foreground">
                <th className="py-1 text-left font-medium" />
                <th className="py-1 text-right font-medium">p50</th>
                <th className="py-1 text-right font-medium">p90</th>
                <th className="py-1 text-right font-medium">p99</th>
              </tr>
            </thead>
            <tbody className="tabular-nums">
              <tr className="border-t">
                <td className="py-1.5 text-muted-foreground">{t('errors.ttfb')}</td>
                <td className="py-1.5 text-right">{pct('p50', 'ttfb_ms')}</td>
                <td className="py-1.5 text-right">{pct('p90', 'ttfb_ms')}</td>
                <td className="py-1.5 text-right">{pct('p99', 'ttfb_ms')}</td>
              </tr>
              <tr className="border-t">
                <td className="py-1.5 text-muted-foreground">{t('errors.duration')}</td>
                <td className="py-1.5 text-right">{pct('p50', 'duration_ms')}</td>
                <td className="py-1.5 text-right">{pct('p90', 'duration_ms')}</td>
                <td className="py-1.5 text-right">{pct('p99', 'duration_ms')}</td>
              </tr>
            </tbody>
          </table>
          {latencyMissing && <p className="mt-1 text-xs text-muted-foreground">{t('errors.latencyMissing')}</p>}
          {latency && latency.sampled < latency.count && (
            <p className="mt-1 text-xs text-muted-foreground">{t('errors.sampled', { n: fmtInt(latency.sampled) })}</p>
          )}
        </div>
        <div>
          <div className="mb-2 text-xs font-medium text-muted-foreground">{t('errors.types')}</div>
          {errors === 0 ? (
            <p className="text-sm text-muted-foreground">{t('errors.none')}</p>
          ) : types.length === 0 ? (
            fallback.isPending && latencyMissing ? (
              <Skeleton className="h-16 w-full" />
            ) : (
              <p className="text-sm text-muted-foreground">—</p>
            )
          ) : (
            <ul className="space-y-2" data-testid="error-types">
              {types.slice(0, 8).map((x) => (
                <li key={`${x.type}:${x.status}`} data-testid="error-type" data-type={x.type ?? ''} data-status={x.status} data-count={x.count}>
                  <div className="flex items-baseline justify-between gap-2 text-sm">
                    <span className="min-w-0 truncate">
                      <span className="font-mono text-xs">{x.type ?? t('errors.noType')}</span>
                      {x.status > 0 && (
                        <span className="ml-1.5 text-xs tabular-nums text-muted-foreground">{x.status}</span>
                      )}
                    </span>
                    <span className="shrink-0 tabular-nums">
                      {fmtInt(x.count)}
                      <span className="ml-1.5 text-xs text-muted-foreground">{fmtPct(x.count / typeTotal, 0)}</span>
                    </span>
                  </div>
                  <div className="mt-1 h-1.5 overflow-hidden rounded-full bg-muted">
                    <div className="h-full rounded-full bg-destructive/70" style={{ width: `${(x.count / max) * 100}%` }} />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </div>
      </CardContent>
    </Card>
  );
}

/** The five busiest keys or models of the range. */
function TopCard({ kind, range }: { kind: 'key' | 'model'; range: Range }) {
  const { t } = useTranslation(['dashboard', 'common']);
  const q = useQuery({
    queryKey: ['dashboard', 'top', kind, range],
    queryFn: () => api.get<Summary>('/usage/summary', { group_by: kind, from: iso(windowOf(range).from) }),
    refetchInterval: REFRESH,
    placeholderData: keepPreviousData,
  });
  const rows: SummaryRow[] = [...(q.data?.data ?? [])].sort((a, b) => b.requests - a.requests || b.cost_usd - a.cost_usd).slice(0, 5);
  const link = (r: SummaryRow) =>
    kind === 'key' ? `/usage?key_id=${encodeURIComponent(r.group)}` : `/usage?model=${encodeURIComponent(r.group)}`;
  return (
    <Card className="min-w-0" data-testid={kind === 'key' ? 'top-keys' : 'top-models'}>
      <CardHeader>
        <CardTitle>{t(kind === 'key' ? 'top.keys' : 'top.models')}</CardTitle>
      </CardHeader>
      <CardContent className="px-0 sm:px-0">
        {q.isPending ? (
          <LoadingState rows={3} className="px-4" />
        ) : q.isError ? (
          <div className="px-4">
            <ErrorState error={q.error} onRetry={() => void q.refetch()} />
          </div>
        ) : rows.length === 0 ? (
          <p className="px-5 text-sm text-muted-foreground">{t('top.none')}</p>
        ) : (
          <Table>
            <THead>
              <TR className="hover:bg-transparent">
                <TH className="pl-4 sm:pl-5">{t(kind === 'key' ? 'top.key' : 'top.model')}</TH>
                <TH className="text-right">{t('top.requests')}</TH>
                <TH className="hidden text-right sm:table-cell">{t('top.tokens')}</TH>
                <TH className="pr-4 text-right sm:pr-5">{t('top.cost')}</TH>
              </TR>
            </THead>
            <TBody>
              {rows.map((r) => (
                <TR key={r.group} data-testid="top-row" data-group={r.group}>
                  <TD className="max-w-48 pl-4 sm:pl-5">
                    <Link to={link(r)} className="block truncate font-medium hover:text-primary hover:underline" title={r.label ?? r.group}>
                      {r.label ?? r.group}
                    </Link>
                    {r.errors > 0 && (
                      <div className="text-xs text-muted-foreground">{t('top.errors', { n: fmtInt(r.errors) })}</div>
                    )}
                  </TD>
                  <TD className="text-right tabular-nums">{fmtInt(r.requests)}</TD>
                  <TD className="hidden text-right tabular-nums sm:table-cell" title={`${fmtInt(r.input_tokens)} / ${fmtInt(r.output_tokens)}`}>
                    {fmtCompact(r.input_tokens + r.output_tokens)}
                  </TD>
                  <TD className="pr-4 text-right tabular-nums sm:pr-5">{fmtUsd(r.cost_usd)}</TD>
                </TR>
              ))}
            </TBody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}
