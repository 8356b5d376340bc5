// Aggregates: /usage/summary grouped by key, upstream, credential, model, hour or day over a range,
// as a table with a totals row and a chart (top groups, or a time chart for hour / day).
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { EmptyState, ErrorState, LoadingState, Spinner } from '@/components/common';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from '@/components/ui/select';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { Tabs, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { api, type Credential, type List, type Summary, type SummaryCounters, type SummaryRow, type Upstream } from '@/lib/api';
import { fmtCompact, fmtInt, fmtPct, fmtUsd } from '@/lib/format';
import { cn } from '@/lib/utils';
import { TimeChart, TopBarChart } from '../dashboard/charts';
import { ChartLegend } from '../dashboard/legend';
import { BUCKET_MS, bucketLabel, seriesFromSummary } from '../dashboard/series';
import { fromLocalInput, rangeError, REL_MS, toLocalInput, useIsDesktop, type LogFilters, type RelRange } from './shared';

export type AggGroup = 'key' | 'upstream' | 'credential' | 'model' | 'hour' | 'day';
export const AGG_GROUPS: AggGroup[] = ['key', 'upstream', 'credential', 'model', 'hour', 'day'];
export type AggRange = RelRange | 'custom';
export const AGG_RANGES: AggRange[] = ['hour', 'day', 'week', 'month', 'custom'];
export type AggMetric = 'requests' | 'cost';

export interface AggState {
  group: AggGroup;
  range: AggRange;
  from: string;
  to: string;
  metric: AggMetric;
}

export const DEFAULT_AGG: AggState = { group: 'key', range: 'day', from: '', to: '', metric: 'requests' };

const TOP_N = 10;
const isTime = (g: AggGroup): g is 'hour' | 'day' => g === 'hour' || g === 'day';

export function Aggregates({
  state,
  onChange,
  onDrill,
}: {
  state: AggState;
  onChange: (s: AggState) => void;
  onDrill: (filters: Partial<LogFilters>) => void;
}) {
  const { t, i18n } = useTranslation(['usage', 'common']);
  const desktop = useIsDesktop();
  const set = (patch: Partial<AggState>) => onChange({ ...state, ...patch });

  const badOrder = state.range === 'custom' ? rangeError(state.from, state.to) : null;
  const needFrom = state.range === 'custom' && fromLocalInput(state.from) === null;

  const q = useQuery({
    queryKey: ['usage', 'summary', state.group, state.range, state.from, state.to],
    queryFn: async () => {
      const now = Date.now();
      let from: number;
      let to: number | null = null;
      if (state.range === 'custom') {
        from = fromLocalInput(state.from) ?? now - REL_MS.day;
        to = fromLocalInput(state.to);
      } else from = now - REL_MS[state.range];
      const s = await api.get<Summary>('/usage/summary', {
        group_by: state.group,
        from: new Date(from).toISOString(),
        to: to === null ? undefined : new Date(to).toISOString(),
      });
      return { ...s, fromMs: from, toMs: to ?? now, group: state.group };
    },
    enabled: !badOrder && !needFrom,
    placeholderData: keepPreviousData,
    refetchInterval: state.range === 'custom' ? false : 30_000,
  });

  // Credentials have no name of their own: "upstream / label or hint".
  const credNames = useQuery({
    queryKey: ['usage', 'credential-names'],
    queryFn: async () => {
      const ups = await api.get<List<Upstream>>('/upstreams');
      const lists = await Promise.all(
        ups.data.map((u) =>
          api
            .get<List<Credential>>(`/upstreams/${encodeURIComponent(u.id)}/credentials`)
            .then((l) => l.data.map((c) => [c.id, `${u.name} / ${c.label || c.hint}`] as const))
            .catch(() => []),
        ),
      );
      return new Map<string, string>(lists.flat());
    },
    enabled: state.group === 'credential',
    staleTime: 60_000,
  });

  const data = q.data;
  const group = data?.group ?? state.group;
  const labelOf = (r: SummaryRow) => {
    if (isTime(group)) return bucketLabel(group, i18n.language)(Date.parse(r.group));
    if (group === 'credential' && !r.label) return credNames.data?.get(r.group) ?? (r.group || '—');
    return r.label || r.group || '—';
  };
  const metricOf = (r: SummaryCounters) => (state.metric === 'cost' ? r.cost_usd : r.requests);
  const rows = [...(data?.data ?? [])].sort((a, b) =>
    isTime(group) ? Date.parse(b.group) - Date.parse(a.group) : metricOf(b) - metricOf(a) || b.requests - a.requests,
  );

  const drill = (r: SummaryRow) => {
    if (!r.group) return;
    if (group === 'key') onDrill({ key_id: r.group });
    else if (group === 'upstream') onDrill({ upstream_id: r.group });
    else if (group === 'credential') onDrill({ credential_id: r.group });
    else if (group === 'model') onDrill({ model: r.group });
    else {
      const start = Date.parse(r.group);
      onDrill({ range: 'custom', from: toLocalInput(start), to: toLocalInput(start + BUCKET_MS[group]) });
    }
  };

  let chart = null;
  if (data && rows.length > 0) {
    if (isTime(group)) {
      const series = seriesFromSummary(data.data, data.fromMs, data.toMs, group);
      chart =
        state.metric === 'requests' ? (
          <>
            <ChartLegend
              items={[
                { label: t('agg.ok'), color: 'var(--chart-1)' },
                { label: t('agg.errors'), color: 'var(--chart-4)' },
              ]}
            />
            <TimeChart
              testId="agg-chart"
              data={series}
              bucket={group}
              className="h-64"
              format={(v) => fmtInt(v)}
              axisFormat={(v) => fmtCompact(v)}
              series={[
                { key: 'ok', label: t('agg.ok'), color: 'var(--chart-1)', stack: 'r' },
                { key: 'errors', label: t('agg.errors'), color: 'var(--chart-4)', stack: 'r' },
              ]}
            />
          </>
        ) : (
          <TimeChart
            testId="agg-chart"
            data={series}
            bucket={group}
            className="h-64"
            decimals
            format={(v) => fmtUsd(v)}
            series={[{ key: 'cost_usd', label: t('columns.cost'), color: 'var(--chart-3)' }]}
          />
        );
    } else {
      const top = rows.slice(0, TOP_N).map((r) => ({ name: labelOf(r), value: metricOf(r), requests: r.requests, cost: r.cost_usd }));
      chart = (
        <TopBarChart
          testId="agg-chart"
          data={top}
          dataKey="value"
          label={state.metric === 'cost' ? t('columns.cost') : t('agg.requests')}
          color={state.metric === 'cost' ? 'var(--chart-3)' : 'var(--chart-1)'}
          format={state.metric === 'cost' ? (v) => fmtUsd(v) : (v) => fmtCompact(v)}
          footer={(r) =>
            state.metric === 'cost'
              ? t('agg.tipRequests', { n: fmtInt(r.requests) })
              : t('agg.tipCost', { v: fmtUsd(r.cost) })
          }
        />
      );
    }
  }

  return (
    <div className="space-y-3">
      <Card>
        <CardContent className="grid gap-3 p-3 sm:grid-cols-2 sm:p-4 lg:grid-cols-4">
          <div className="grid min-w-0 content-start gap-1.5">
            <Label htmlFor="agg-group" className="text-xs text-muted-foreground">
              {t('agg.groupBy')}
            </Label>
            <Select value={state.group} onValueChange={(v) => set({ group: v as AggGroup })}>
              <SelectTrigger id="agg-group" data-testid="agg-group">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {AGG_GROUPS.map((g) => (
                  <SelectItem key={g} value={g}>
                    {t(`agg.groups.${g}`)}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </div>
          <div className="grid min-w-0 content-start gap-1.5">
            <Label htmlFor="agg-range" className="text-xs text-muted-foreground">
              {t('filters.range')}
            </Label>
            <Select
              value={state.range}
              onValueChange={(v) => {
                const range = v as AggRange;
                // A custom range starts from the relative one it replaces.
                if (range === 'custom' && !state.from) {
                  const now = Date.now();
                  const span = state.range === 'custom' ? REL_MS.day : REL_MS[state.range];
                  set({ range, from: toLocalInput(now - span), to: '' });
                } else set({ range });
              }}
            >
              <SelectTrigger id="agg-range" data-testid="agg-range">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {AGG_RANGES.map((r) => (
                  <SelectItem key={r} value={r}>
                    {t(`agg.ranges.${r}`)}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </div>
          {state.range === 'custom' && (
            <>
              <div className="grid min-w-0 content-start gap-1.5">
                <Label htmlFor="agg-from" className="text-xs text-muted-foreground">
                  {t('filters.from')}
                </Label>
                <Input
                  id="agg-from"
                  data-testid="agg-from"
                  type="datetime-local"
                  className="min-w-0"
                  value={state.from}
                  aria-invalid={needFrom || !!badOrder}
                  onChange={(e) => set({ from: e.target.value })}
                />
                {needFrom && <p className="text-xs text-destructive">{t('common:errors.required')}</p>}
              </div>
              <div className="grid min-w-0 content-start gap-1.5">
                <Label htmlFor="agg-to" className="text-xs text-muted-foreground">
                  {t('filters.to')}
                </Label>
                <Input
                  id="agg-to"
                  data-testid="agg-to"
                  type="datetime-local"
                  className="min-w-0"
                  value={state.to}
                  aria-invalid={!!badOrder}
                  onChange={(e) => set({ to: e.target.value })}
                />
                {badOrder ? (
                  <p className="text-xs text-destructive">{t('filters.rangeOrder')}</p>
                ) : (
                  <p className="text-xs text-muted-foreground">{t('agg.toHint')}</p>
                )}
              </div>
            </>
          )}
        </CardContent>
      </Card>

      {badOrder || needFrom ? null : q.isPending ? (
        <LoadingState rows={6} />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState>{t('agg.empty')}</EmptyState>
      ) : (
        <div className={cn('space-y-3', q.isPlaceholderData && 'opacity-60')}>
          <Card className="min-w-0">
            <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
              <CardTitle className="flex items-center gap-2 text-sm">
                {isTime(group) ? t('agg.overTime') : t('agg.top', { n: Math.min(TOP_N, rows.length) })}
                {q.isFetching && <Spinner />}
              </CardTitle>
              <Tabs value={state.metric} onValueChange={(v) => set({ metric: v as AggMetric })}>
                <TabsList className="h-8">
                  <TabsTrigger value="requests" className="text-xs" data-testid="agg-metric-requests">
                    {t('agg.requests')}
                  </TabsTrigger>
                  <TabsTrigger value="cost" className="text-xs" data-testid="agg-metric-cost">
                    {t('columns.cost')}
                  </TabsTrigger>
                </TabsList>
              </Tabs>
            </CardHeader>
            <CardContent className="space-y-2">{chart}</CardContent>
          </Card>

          {desktop ? (
            <Card className="overflow-hidden">
              <Table data-testid="agg-table">
                <THead>
                  <TR className="hover:bg-transparent">
                    <TH>{t(`agg.groups.${group}`)}</TH>
                    <TH className="text-right">{t('agg.requests')}</TH>
                    <TH className="text-right">{t('agg.errors')}</TH>
                    <TH className="text-right">{t('agg.input')}</TH>
                    <TH className="text-right">{t('agg.output')}</TH>
                    <TH className="text-right">{t('agg.cacheWrite')}</TH>
                    <TH className="text-right">{t('agg.cacheRead')}</TH>
                    <TH className="text-right">{t('agg.cacheShare')}</TH>
                    <TH className="text-right">{t('columns.cost')}</TH>
                  </TR>
                </THead>
                <TBody>
                  {rows.map((r) => (
                    <TR
                      key={r.group}
                      className="cursor-pointer"
                      data-testid="agg-row"
                      data-group={r.group}
                      title={t('agg.drill')}
                      onClick={() => drill(r)}
                    >
                      <TD className="max-w-64">
                        <div className="truncate font-medium">{labelOf(r)}</div>
                        {!isTime(group) && labelOf(r) !== r.group && r.group && (
                          <div className="truncate font-mono text-[11px] text-muted-foreground">{r.group}</div>
                        )}
                      </TD>
                      <CountCells r={r} />
                    </TR>
                  ))}
                  <TR className="bg-muted/50 font-medium hover:bg-muted/50" data-testid="agg-totals">
                    <TD>{t('agg.total')}</TD>
                    <CountCells r={data!.totals} />
                  </TR>
                </TBody>
              </Table>
            </Card>
          ) : (
            <ul className="space-y-2" data-testid="agg-cards">
              {rows.map((r) => (
                <li
                  key={r.group}
                  data-testid="agg-row"
                  data-group={r.group}
                  className="cursor-pointer rounded-xl border bg-card p-3 text-sm shadow-sm"
                  onClick={() => drill(r)}
                >
                  <AggCard label={labelOf(r)} r={r} />
                </li>
              ))}
              <li className="rounded-xl border bg-muted/50 p-3 text-sm" data-testid="agg-totals">
                <AggCard label={t('agg.total')} r={data!.totals} />
              </li>
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

function CountCells({ r }: { r: SummaryCounters }) {
  return (
    <>
      <TD className="text-right tabular-nums">{fmtInt(r.requests)}</TD>
      <TD className={cn('text-right tabular-nums', r.errors > 0 && 'text-destructive')}>{fmtInt(r.errors)}</TD>
      <TD className="text-right tabular-nums">{fmtInt(r.input_tokens)}</TD>
      <TD className="text-right tabular-nums">{fmtInt(r.output_tokens)}</TD>
      <TD className="text-right tabular-nums">{fmtInt(r.cache_creation_input_tokens)}</TD>
      <TD className="text-right tabular-nums">{fmtInt(r.cache_read_input_tokens)}</TD>
      <TD className="text-right tabular-nums">{fmtPct(r.cache_read_share)}</TD>
      <TD className="text-right tabular-nums">{fmtUsd(r.cost_usd)}</TD>
    </>
  );
}

function AggCard({ label, r }: { label: string; r: SummaryCounters }) {
  const { t } = useTranslation('usage');
  return (
    <>
      <div className="flex items-center gap-2">
        <span className="min-w-0 flex-1 truncate font-medium">{label}</span>
        <span className="shrink-0 tabular-nums">{fmtUsd(r.cost_usd)}</span>
      </div>
      <div className="mt-1 flex flex-wrap gap-x-3 text-xs tabular-nums text-muted-foreground">
        <span>{t('agg.cardRequests', { n: fmtInt(r.requests) })}</span>
        <span className={cn(r.errors > 0 && 'text-destructive')}>{t('agg.cardErrors', { n: fmtInt(r.errors) })}</span>
        <span>{t('log.tokensShort', { in: fmtInt(r.input_tokens), out: fmtInt(r.output_tokens) })}</span>
      </div>
      <div className="mt-0.5 text-xs tabular-nums text-muted-foreground">
        {t('agg.cardCache', {
          read: fmtInt(r.cache_read_input_tokens),
          write: fmtInt(r.cache_creation_input_tokens),
          share: fmtPct(r.cache_read_share),
        })}
      </div>
    </>
  );
}
