// The audit log (GET /audit), newest first, paged with next_cursor.
import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { EmptyState, ErrorState, LoadingState, Spinner } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type AuditEntry, type List } from '@/lib/api';
import { fmtTime } from '@/lib/format';
import { useDesktop } from '../keys/shared';
import { Section } from './shared';

const PAGE = 50;

function compact(detail: unknown): string {
  if (detail === null || detail === undefined) return '';
  if (typeof detail === 'object' && !Array.isArray(detail) && Object.keys(detail as object).length === 0) return '';
  try {
    return JSON.stringify(detail);
  } catch {
    return String(detail);
  }
}

const actionVariant = (a: string) => (a === 'delete' ? 'destructive' : a === 'create' ? 'success' : 'secondary') as 'destructive' | 'success' | 'secondary';

export function AuditTab() {
  const { t } = useTranslation(['settings', 'common']);
  const desktop = useDesktop();
  const audit = useInfiniteQuery({
    queryKey: ['audit'],
    queryFn: ({ pageParam }) => api.get<List<AuditEntry>>('/audit', { limit: PAGE, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  let body: React.ReactNode;
  if (audit.isPending) body = <LoadingState rows={6} />;
  else if (audit.isError) body = <ErrorState error={audit.error} onRetry={() => void audit.refetch()} />;
  else {
    const rows = audit.data.pages.flatMap((p) => p.data);
    if (!rows.length) body = <EmptyState>{t('audit.empty')}</EmptyState>;
    else
      body = (
        <div className="grid gap-3">
          {desktop ? (
            <div className="overflow-hidden rounded-lg border">
              <Table className="table-fixed">
                <colgroup>
                  <col className="w-40" />
                  <col className="w-32" />
                  <col className="w-20" />
                  <col className="w-24" />
                  <col className="w-36" />
                  <col />
                </colgroup>
                <THead>
                  <TR className="hover:bg-transparent">
                    <TH>{t('audit.time')}</TH>
                    <TH>{t('audit.actor')}</TH>
                    <TH>{t('audit.action')}</TH>
                    <TH>{t('audit.resource')}</TH>
                    <TH>{t('audit.resourceId')}</TH>
                    <TH>{t('audit.detail')}</TH>
                  </TR>
                </THead>
                <TBody>
                  {rows.map((r) => (
                    <TR key={String(r.id)} data-testid="audit-row" className="align-top">
                      <TD className="text-xs tabular-nums">{fmtTime(r.time)}</TD>
                      <TD className="truncate font-mono text-xs" title={r.actor}>
                        {r.actor}
                      </TD>
                      <TD>
                        <Badge variant={actionVariant(r.action)}>{r.action}</Badge>
                      </TD>
                      <TD className="text-xs">{r.resource}</TD>
                      <TD className="truncate font-mono text-xs" title={r.resource_id ?? undefined}>
                        {r.resource_id ?? '—'}
                      </TD>
                      <TD>
                        <Detail detail={r.detail} />
                      </TD>
                    </TR>
                  ))}
                </TBody>
              </Table>
            </div>
          ) : (
            <div className="grid gap-2">
              {rows.map((r) => (
                <div key={String(r.id)} data-testid="audit-row" className="grid min-w-0 gap-1.5 rounded-lg border p-3 text-xs">
                  <div className="flex flex-wrap items-center gap-2">
                    <Badge variant={actionVariant(r.action)}>{r.action}</Badge>
                    <span className="font-medium">{r.resource}</span>
                    <span className="ml-auto tabular-nums text-muted-foreground">{fmtTime(r.time)}</span>
                  </div>
                  {r.resource_id && <code className="font-mono [overflow-wrap:anywhere]">{r.resource_id}</code>}
                  <div className="font-mono text-muted-foreground [overflow-wrap:anywhere]">{r.actor}</div>
                  <Detail detail={r.detail} />
                </div>
              ))}
            </div>
          )}
          <div className="flex justify-center">
            {audit.hasNextPage ? (
              <Button variant="outline" onClick={() => void audit.fetchNextPage()} disabled={audit.isFetchingNextPage} data-testid="audit-more">
                {audit.isFetchingNextPage && <Spinner />}
                {t('common:actions.more')}
              </Button>
            ) : (
              <span className="text-xs text-muted-foreground">{t('audit.end')}</span>
            )}
          </div>
        </div>
      );
  }

  return (
    <Section
      title={t('audit.title')}
      text={t('audit.text')}
      actions={
        <Button variant="ghost" size="sm" onClick={() => void audit.refetch()} disabled={audit.isFetching}>
          {audit.isFetching && !audit.isFetchingNextPage ? <Spinner /> : null}
          {t('common:actions.refresh')}
        </Button>
      }
    >
      {body}
    </Section>
  );
}

function Detail({ detail }: { detail: unknown }) {
  const { t } = useTranslation(['settings', 'common']);
  const [open, setOpen] = useState(false);
  const text = compact(detail);
  if (!text) return <span className="text-xs text-muted-foreground">—</span>;
  const long = text.length > 120;
  return (
    <div className="grid min-w-0 gap-1">
      <code className={`font-mono text-xs text-muted-foreground [overflow-wrap:anywhere] ${open || !long ? '' : 'line-clamp-2'}`} title={long && !open ? text : undefined}>
        {text}
      </code>
      {long && (
        <button type="button" className="w-fit text-xs text-primary hover:underline" onClick={() => setOpen(!open)}>
          {open ? t('audit.collapse') : t('audit.expand')}
        </button>
      )}
    </div>
  );
}
