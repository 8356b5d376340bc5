// The request log: filters (kept in the URL), a table (cards on phones), paging with "Load more",
// auto-refresh of the first page, a details dialog per record and the CSV export.
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { Download, FilterX, RefreshCw, X } from 'lucide-react';
import { memo, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { toast } from 'sonner';
import { EmptyState, ErrorState, LoadingState, Spinner, useErrorToast } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from '@/components/ui/select';
import { Switch } from '@/components/ui/switch';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type ClientKey, type List, type Upstream, type UsageRecord } from '@/lib/api';
import { fmtCompact, fmtInt, fmtMs, fmtUsd } from '@/lib/format';
import { cn } from '@/lib/utils';
import { csvFilename, downloadText, toCsv } from './csv';
import { RecordDialog } from './details';
import {
  filterQuery,
  fmtLogParts,
  fmtLogTime,
  isFiltered,
  LOG_RANGES,
  rangeError,
  readFilters,
  writeFilters,
  STATUS_FILTERS,
  StatusBadge,
  useIsDesktop,
  type LogFilters,
} from './shared';

const PAGE = 50;
const EXPORT_PAGE = 1000;
const EXPORT_MAX = 100_000;
const AUTO_REFRESH = 5_000;
const ALL = '__all';

interface PageParam {
  cursor: string;
  q: Record<string, string>;
}

/**
 * The filters: React state (instant), mirrored into the URL (shareable, Back works). The router
 * applies URL changes in a transition, so the URL is never read back for our own writes; a URL
 * change from elsewhere (a link, a drill-down from the aggregates, Back) replaces the state.
 */
function useUrlFilters(): [LogFilters, (next: (prev: LogFilters) => LogFilters) => void] {
  const [params, setParams] = useSearchParams();
  const search = params.toString();
  const [filters, set] = useState(() => readFilters(params));
  const current = useRef(filters);
  current.current = filters;
  const written = useRef<string[]>([search]);
  useEffect(() => {
    if (written.current.includes(search)) return;
    written.current = [search];
    set(readFilters(new URLSearchParams(search)));
  }, [search]);
  const update = (next: (prev: LogFilters) => LogFilters) => {
    const f = next(current.current);
    current.current = f;
    set(f);
    const n = writeFilters(f, new URLSearchParams(window.location.search));
    written.current = [...written.current.slice(-9), n.toString()];
    setParams(n, { replace: true });
  };
  return [filters, update];
}

export function RequestLog() {
  const { t } = useTranslation(['usage', 'common']);
  const errorToast = useErrorToast();
  const [f, setFilters] = useUrlFilters();
  const desktop = useIsDesktop();
  const [auto, setAuto] = useState(true);
  const [selected, setSelected] = useState<UsageRecord | null>(null);
  const [exported, setExported] = useState<number | null>(null);
  const cancelExport = useRef(false);

  const setFilter = (patch: Partial<LogFilters>) =>
    setFilters((prev) => {
      const next = { ...prev, ...patch };
      if (patch.range && patch.range !== 'custom') {
        next.from = '';
        next.to = '';
      }
      return next;
    });
  const clearFilters = () => setFilters(() => readFilters(new URLSearchParams()));

  // The model filter is typed: applied after a pause.
  const [model, setModel] = useState(f.model);
  useEffect(() => setModel(f.model), [f.model]);
  useEffect(() => {
    if (model === f.model) return;
    const id = setTimeout(() => setFilter({ model }), 400);
    return () => clearTimeout(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model]);

  const keys = useQuery({ queryKey: ['usage', 'keys'], queryFn: () => api.get<List<ClientKey>>('/keys'), staleTime: 60_000 });
  const upstreams = useQuery({
    queryKey: ['usage', 'upstreams'],
    queryFn: () => api.get<List<Upstream>>('/upstreams'),
    staleTime: 60_000,
  });

  const badRange = f.range === 'custom' ? rangeError(f.from, f.to) : null;
  const log = useInfiniteQuery({
    queryKey: ['usage', 'requests', f],
    initialPageParam: null as PageParam | null,
    queryFn: async ({ pageParam }) => {
      // Later pages keep the first page's window; the first page's relative range ends now.
      const q = pageParam?.q ?? filterQuery(f);
      const page = await api.get<List<UsageRecord>>('/usage/requests', { ...q, limit: PAGE, cursor: pageParam?.cursor });
      return { data: page.data, next: page.next_cursor ?? null, q };
    },
    getNextPageParam: (last): PageParam | undefined => (last.next ? { cursor: last.next, q: last.q } : undefined),
    enabled: !badRange,
    refetchInterval: (query) => (auto && (query.state.data?.pages.length ?? 0) <= 1 ? AUTO_REFRESH : false),
    placeholderData: keepPreviousData,
  });

  const pages = log.data?.pages;
  const rows = useMemo(() => {
    const seen = new Set<string>();
    const out: UsageRecord[] = [];
    for (const p of pages ?? []) {
      for (const r of p.data) {
        if (seen.has(r.request_id)) continue;
        seen.add(r.request_id);
        out.push(r);
      }
    }
    return out;
  }, [pages]);

  const runExport = async () => {
    const q = filterQuery(f);
    const all: UsageRecord[] = [];
    let cursor: string | null = null;
    cancelExport.current = false;
    setExported(0);
    try {
      do {
        const page: List<UsageRecord> = await api.get<List<UsageRecord>>('/usage/requests', {
          ...q,
          limit: EXPORT_PAGE,
          cursor,
        });
        all.push(...page.data);
        cursor = page.next_cursor ?? null;
        setExported(all.length);
        if (cancelExport.current) return;
      } while (cursor && all.length < EXPORT_MAX);
      const out = all.slice(0, EXPORT_MAX);
      downloadText(toCsv(out), csvFilename());
      if (cursor) toast.warning(t('export.truncated', { n: fmtInt(out.length) }));
      else toast.success(t('export.done', { n: fmtInt(out.length) }));
    } catch (e) {
      errorToast(e);
    } finally {
      setExported(null);
    }
  };

  const keyOptions = keys.data?.data ?? [];
  const upstreamOptions = upstreams.data?.data ?? [];
  const filtered = isFiltered(f);

  return (
    <div className="space-y-3">
      <Card>
        <CardContent className="grid grid-cols-2 gap-3 p-3 sm:p-4 md:grid-cols-3 xl:grid-cols-5" data-testid="log-filters">
          <FilterField label={t('filters.key')} id="filter-key">
            <Select value={f.key_id || ALL} onValueChange={(v) => setFilter({ key_id: v === ALL ? '' : v })}>
              <SelectTrigger id="filter-key" data-testid="filter-key">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                <SelectItem value={ALL}>{t('filters.allKeys')}</SelectItem>
                {f.key_id && !keyOptions.some((k) => k.id === f.key_id) && <SelectItem value={f.key_id}>{f.key_id}</SelectItem>}
                {keyOptions.map((k) => (
                  <SelectItem key={k.id} value={k.id}>
                    {k.name}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </FilterField>
          <FilterField label={t('filters.upstream')} id="filter-upstream">
            <Select value={f.upstream_id || ALL} onValueChange={(v) => setFilter({ upstream_id: v === ALL ? '' : v })}>
              <SelectTrigger id="filter-upstream" data-testid="filter-upstream">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                <SelectItem value={ALL}>{t('filters.allUpstreams')}</SelectItem>
                {f.upstream_id && !upstreamOptions.some((u) => u.id === f.upstream_id) && (
                  <SelectItem value={f.upstream_id}>{f.upstream_id}</SelectItem>
                )}
                {upstreamOptions.map((u) => (
                  <SelectItem key={u.id} value={u.id}>
                    {u.name}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </FilterField>
          <FilterField label={t('filters.model')} id="filter-model" className="col-span-2 md:col-span-1">
            <Input
              id="filter-model"
              data-testid="filter-model"
              value={model}
              placeholder={t('filters.modelPlaceholder')}
              onChange={(e) => setModel(e.target.value)}
              onKeyDown={(e) => e.key === 'Enter' && setFilter({ model })}
            />
          </FilterField>
          <FilterField label={t('filters.status')} id="filter-status">
            <Select value={f.status} onValueChange={(v) => setFilter({ status: v as LogFilters['status'] })}>
              <SelectTrigger id="filter-status" data-testid="filter-status">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {STATUS_FILTERS.map((s) => (
                  <SelectItem key={s} value={s} data-testid={`status-${s}`}>
                    {t(`filters.statuses.${s}`)}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </FilterField>
          <FilterField label={t('filters.range')} id="filter-range">
            <Select value={f.range} onValueChange={(v) => setFilter({ range: v as LogFilters['range'] })}>
              <SelectTrigger id="filter-range" data-testid="filter-range">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {LOG_RANGES.map((r) => (
                  <SelectItem key={r} value={r}>
                    {t(`filters.ranges.${r}`)}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </FilterField>
          {f.range === 'custom' && (
            <>
              <FilterField label={t('filters.from')} id="filter-from" className="col-span-2 sm:col-span-1">
                <Input
                  id="filter-from"
                  data-testid="filter-from"
                  type="datetime-local"
                  className="min-w-0"
                  value={f.from}
                  aria-invalid={!!badRange}
                  onChange={(e) => setFilter({ from: e.target.value })}
                />
              </FilterField>
              <FilterField
                label={t('filters.to')}
                id="filter-to"
                className="col-span-2 sm:col-span-1"
                error={badRange ? t('filters.rangeOrder') : undefined}
              >
                <Input
                  id="filter-to"
                  data-testid="filter-to"
                  type="datetime-local"
                  className="min-w-0"
                  value={f.to}
                  aria-invalid={!!badRange}
                  onChange={(e) => setFilter({ to: e.target.value })}
                />
              </FilterField>
            </>
          )}
        </CardContent>
      </Card>

      <div className="flex flex-wrap items-center gap-2">
        <div className="flex min-w-0 flex-wrap items-center gap-2 text-sm text-muted-foreground">
          <span data-testid="log-count">{t('log.shown', { n: fmtInt(rows.length) })}</span>
          {log.isFetching && <Spinner />}
          {f.credential_id && (
            <Badge variant="outline" className="gap-1.5 py-1">
              {t('filters.credential', { id: f.credential_id })}
              <button
                type="button"
                className="rounded-sm opacity-70 hover:opacity-100"
                aria-label={t('filters.removeCredential')}
                onClick={() => setFilter({ credential_id: '' })}
              >
                <X />
              </button>
            </Badge>
          )}
          {filtered && (
            <Button variant="ghost" size="sm" onClick={clearFilters} data-testid="clear-filters">
              <FilterX /> {t('filters.clear')}
            </Button>
          )}
        </div>
        <div className="ml-auto flex flex-wrap items-center gap-2">
          <label className="flex items-center gap-2 text-sm" htmlFor="auto-refresh">
            <Switch id="auto-refresh" data-testid="auto-refresh" checked={auto} onCheckedChange={setAuto} />
            {t('log.autoRefresh')}
          </label>
          <Button variant="outline" size="sm" onClick={() => void log.refetch()} disabled={!!badRange}>
            <RefreshCw /> {t('common:actions.refresh')}
          </Button>
          {exported !== null ? (
            <>
              <Button variant="outline" size="sm" disabled data-testid="export-csv">
                <Spinner /> {t('export.progress', { n: fmtInt(exported) })}
              </Button>
              <Button variant="ghost" size="sm" onClick={() => (cancelExport.current = true)} data-testid="export-cancel">
                {t('common:actions.cancel')}
              </Button>
            </>
          ) : (
            <Button variant="outline" size="sm" onClick={() => void runExport()} disabled={!!badRange} data-testid="export-csv">
              <Download /> {t('common:actions.export')}
            </Button>
          )}
        </div>
      </div>

      {badRange ? (
        <EmptyState>{t('filters.rangeOrder')}</EmptyState>
      ) : log.isPending ? (
        <LoadingState rows={8} />
      ) : log.isError && rows.length === 0 ? (
        <ErrorState error={log.error} onRetry={() => void log.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState
          action={
            filtered ? (
              <Button variant="outline" size="sm" onClick={clearFilters}>
                <FilterX /> {t('filters.clear')}
              </Button>
            ) : undefined
          }
        >
          {filtered ? t('log.emptyFiltered') : t('log.empty')}
        </EmptyState>
      ) : (
        <div className={cn('space-y-3', log.isPlaceholderData && 'opacity-60')}>
          {desktop ? <LogTable rows={rows} onOpen={setSelected} /> : <LogCards rows={rows} onOpen={setSelected} />}
          {log.isError && <ErrorState error={log.error} onRetry={() => void log.refetch()} />}
          {log.hasNextPage ? (
            <div className="flex justify-center">
              <Button
                variant="outline"
                onClick={() => void log.fetchNextPage()}
                disabled={log.isFetchingNextPage}
                data-testid="load-more"
              >
                {log.isFetchingNextPage && <Spinner />}
                {t('common:actions.more')}
              </Button>
            </div>
          ) : (
            <p className="text-center text-xs text-muted-foreground">{t('log.end')}</p>
          )}
        </div>
      )}
      <RecordDialog record={selected} onClose={() => setSelected(null)} />
    </div>
  );
}

function FilterField({
  label,
  id,
  error,
  className,
  children,
}: {
  label: string;
  id: string;
  error?: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className={cn('grid min-w-0 content-start gap-1.5', className)}>
      <Label htmlFor={id} className="text-xs text-muted-foreground">
        {label}
      </Label>
      {children}
      {error && <p className="text-xs text-destructive">{error}</p>}
    </div>
  );
}

/** A clickable row or card (also with Enter / Space); `role` only where it does not replace a table row's. */
function rowProps(r: UsageRecord, onOpen: (r: UsageRecord) => void, role?: 'button') {
  return {
    'data-testid': 'log-row',
    'data-request-id': r.request_id,
    'data-status': r.status,
    tabIndex: 0,
    role,
    onClick: () => onOpen(r),
    onKeyDown: (e: KeyboardEvent) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        onOpen(r);
      }
    },
  };
}

function StreamBadge({ stream }: { stream: boolean }) {
  const { t } = useTranslation('usage');
  return stream ? (
    <Badge variant="outline" className="text-[11px]">
      {t('log.streamBadge')}
    </Badge>
  ) : (
    <span className="text-xs text-muted-foreground">{t('log.jsonBadge')}</span>
  );
}

function CacheLine({ r }: { r: UsageRecord }) {
  const { t } = useTranslation('usage');
  if (!r.cache_read_input_tokens && !r.cache_creation_input_tokens) return null;
  return (
    <div
      className="text-[11px] text-muted-foreground"
      title={t('log.cacheLine', { read: fmtInt(r.cache_read_input_tokens), write: fmtInt(r.cache_creation_input_tokens) })}
    >
      {t('log.cacheShort', { read: fmtCompact(r.cache_read_input_tokens), write: fmtCompact(r.cache_creation_input_tokens) })}
    </div>
  );
}

function LogRow({ r, onOpen }: { r: UsageRecord; onOpen: (r: UsageRecord) => void }) {
  const when = fmtLogParts(r.time);
  return (
    <TR className="cursor-pointer focus-visible:bg-muted/60 focus-visible:outline-none" {...rowProps(r, onOpen)}>
      <TD className="whitespace-nowrap tabular-nums" title={r.time}>
        <div>{when.time}</div>
        <div className="text-[11px] text-muted-foreground">{when.date}</div>
      </TD>
      <TD className="max-w-32 truncate" title={r.key_id ?? undefined}>
        {r.key_name ?? <span className="text-muted-foreground">—</span>}
      </TD>
      <TD className="max-w-48">
        <div className="truncate" title={r.model ?? undefined}>
          {r.model ?? <span className="text-muted-foreground">—</span>}
        </div>
        {r.upstream_model && r.upstream_model !== r.model && (
          <div className="truncate text-[11px] text-muted-foreground" title={r.upstream_model}>
            → {r.upstream_model}
          </div>
        )}
      </TD>
      <TD className="max-w-32 truncate" title={r.upstream_id ?? undefined}>
        {r.upstream ?? <span className="text-muted-foreground">—</span>}
      </TD>
      <TD>
        <StatusBadge status={r.status} />
        {r.error_type && (
          <div className="mt-0.5 max-w-36 truncate text-[11px] text-muted-foreground" title={r.error_type}>
            {r.error_type}
          </div>
        )}
      </TD>
      <TD>
        <StreamBadge stream={r.stream} />
      </TD>
      <TD className="whitespace-nowrap text-right tabular-nums">
        {fmtInt(r.input_tokens)} / {fmtInt(r.output_tokens)}
        <CacheLine r={r} />
      </TD>
      <TD className="whitespace-nowrap text-right tabular-nums">{fmtMs(r.ttfb_ms)}</TD>
      <TD className="whitespace-nowrap text-right tabular-nums">{fmtMs(r.duration_ms)}</TD>
      <TD className="whitespace-nowrap text-right tabular-nums">{fmtUsd(r.cost_usd)}</TD>
    </TR>
  );
}

const LogTable = memo(function LogTable({ rows, onOpen }: { rows: UsageRecord[]; onOpen: (r: UsageRecord) => void }) {
  const { t } = useTranslation('usage');
  return (
    <Card className="overflow-hidden">
      <Table data-testid="log-table" className="[&_td]:px-2 [&_th]:px-2 [&_td:first-child]:pl-3 [&_th:first-child]:pl-3 [&_td:last-child]:pr-3 [&_th:last-child]:pr-3">
        <THead>
          <TR className="hover:bg-transparent">
            <TH>{t('columns.time')}</TH>
            <TH>{t('columns.key')}</TH>
            <TH>{t('columns.model')}</TH>
            <TH>{t('columns.upstream')}</TH>
            <TH>{t('columns.status')}</TH>
            <TH>{t('columns.stream')}</TH>
            <TH className="text-right">{t('columns.tokens')}</TH>
            <TH className="text-right">{t('columns.ttfb')}</TH>
            <TH className="text-right">{t('columns.duration')}</TH>
            <TH className="text-right">{t('columns.cost')}</TH>
          </TR>
        </THead>
        <TBody>
          {rows.map((r) => (
            <LogRow key={r.request_id} r={r} onOpen={onOpen} />
          ))}
        </TBody>
      </Table>
    </Card>
  );
});

const LogCards = memo(function LogCards({ rows, onOpen }: { rows: UsageRecord[]; onOpen: (r: UsageRecord) => void }) {
  const { t } = useTranslation('usage');
  return (
    <ul className="space-y-2" data-testid="log-cards">
      {rows.map((r) => (
        <li
          key={r.request_id}
          className="cursor-pointer rounded-xl border bg-card p-3 text-sm shadow-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
          {...rowProps(r, onOpen, 'button')}
        >
          <div className="flex items-center gap-2">
            <StatusBadge status={r.status} />
            {r.stream && <StreamBadge stream />}
            <span className="min-w-0 flex-1 truncate font-medium">{r.model ?? '—'}</span>
            <span className="shrink-0 tabular-nums">{fmtUsd(r.cost_usd)}</span>
          </div>
          <div className="mt-1 truncate text-xs text-muted-foreground">
            {fmtLogTime(r.time)} · {r.key_name ?? '—'} · {r.upstream ?? '—'}
          </div>
          <div className="mt-1 flex flex-wrap gap-x-3 text-xs tabular-nums text-muted-foreground">
            <span>{t('log.tokensShort', { in: fmtInt(r.input_tokens), out: fmtInt(r.output_tokens) })}</span>
            <span>{t('log.ttfbShort', { v: fmtMs(r.ttfb_ms) })}</span>
            <span>{t('log.durationShort', { v: fmtMs(r.duration_ms) })}</span>
          </div>
          {r.error_type && <div className="mt-1 font-mono text-[11px] text-destructive">{r.error_type}</div>}
        </li>
      ))}
    </ul>
  );
});
