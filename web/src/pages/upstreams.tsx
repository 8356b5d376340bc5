// Upstreams: the list (`/upstreams`) and one upstream with its credentials (`/upstreams/:id`).
import { useQuery } from '@tanstack/react-query';
import { AlertTriangle, ChevronRight, Pencil, Plus } from 'lucide-react';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Route, Routes } from 'react-router';
import { EmptyState, ErrorState, LoadingState, PageHeader } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Switch } from '@/components/ui/switch';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type List, type Upstream } from '@/lib/api';
import { fmtInt } from '@/lib/format';
import { useCredentials, useWide } from './upstreams/credentials';
import { UpstreamDetail } from './upstreams/detail';
import { UpstreamDialog } from './upstreams/form';
import { AuthBadge, HealthSummary, KindBadge, ModelChips, upstreamsKey, useToggleUpstream } from './upstreams/shared';

export default function UpstreamsPage() {
  return (
    <Routes>
      <Route index element={<UpstreamList />} />
      <Route path=":id" element={<UpstreamDetail />} />
    </Routes>
  );
}

function UpstreamList() {
  const { t } = useTranslation(['upstreams', 'common']);
  const wide = useWide();
  const [dialog, setDialog] = useState<{ upstream?: Upstream } | null>(null);
  const q = useQuery({
    queryKey: upstreamsKey,
    queryFn: () => api.get<List<Upstream>>('/upstreams'),
    refetchInterval: 15_000,
  });
  const list = q.data?.data ?? [];
  const create = () => setDialog({});
  const edit = (u: Upstream) => setDialog({ upstream: u });

  return (
    <div>
      <PageHeader
        title={t('title')}
        description={t('description')}
        actions={
          <Button data-testid="upstream-new" onClick={create}>
            <Plus /> {t('new')}
          </Button>
        }
      />
      {q.isPending ? (
        <LoadingState rows={5} />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : list.length === 0 ? (
        <EmptyState
          action={
            <Button onClick={create} data-testid="upstream-new-empty">
              <Plus /> {t('new')}
            </Button>
          }
        >
          {t('empty')}
        </EmptyState>
      ) : wide ? (
        <Card className="overflow-hidden">
          <Table>
            <THead>
              <TR className="hover:bg-transparent">
                <TH>{t('list.name')}</TH>
                <TH>{t('list.baseUrl')}</TH>
                <TH>{t('list.models')}</TH>
                <TH className="text-right whitespace-normal" title={`${t('list.priority')} / ${t('list.weight')}`}>
                  {t('list.priorityWeight')}
                </TH>
                <TH>{t('list.authCredentials')}</TH>
                <TH>{t('list.enabled')}</TH>
                <TH>
                  <span className="sr-only">{t('list.actions')}</span>
                </TH>
              </TR>
            </THead>
            <TBody>
              {list.map((u) => (
                <TR key={u.id} data-testid="upstream-row" data-name={u.name} data-id={u.id} className={u.enabled ? undefined : 'text-muted-foreground'}>
                  <TD className="max-w-[13rem] 2xl:max-w-[18rem]">
                    <div className="flex min-w-0 items-center gap-2">
                      <Link to={`/upstreams/${u.id}`} className="min-w-0 truncate font-medium hover:underline" title={u.name} data-testid="upstream-link">
                        {u.name}
                      </Link>
                      <span className="shrink-0">
                        <KindBadge kind={u.kind} />
                      </span>
                    </div>
                  </TD>
                  <TD className="max-w-[12rem] 2xl:max-w-[16rem]">
                    <span className="block truncate font-mono text-xs" title={u.base_url}>
                      {u.base_url}
                    </span>
                  </TD>
                  <TD className="max-w-[11rem]">
                    <ModelChips models={u.models} max={2} chipClassName="max-w-[9rem]" />
                  </TD>
                  <TD className="text-right whitespace-nowrap tabular-nums" data-testid="upstream-priority-weight">
                    {u.priority}
                    <span className="text-muted-foreground"> / </span>
                    {u.weight}
                  </TD>
                  <TD>
                    <div className="flex items-start gap-2">
                      <span title={t(`auth.${u.auth}Short`)}>
                        <AuthBadge auth={u.auth} />
                      </span>
                      <CredentialSummary u={u} compact />
                    </div>
                  </TD>
                  <TD>
                    <EnabledSwitch u={u} />
                  </TD>
                  <TD className="text-right whitespace-nowrap">
                    <Button variant="ghost" size="icon" className="size-8" aria-label={t('common:actions.edit')} title={t('common:actions.edit')} onClick={() => edit(u)}>
                      <Pencil />
                    </Button>
                    <Button variant="ghost" size="icon" className="size-8" asChild>
                      <Link to={`/upstreams/${u.id}`} aria-label={t('list.open', { name: u.name })} title={t('list.open', { name: u.name })}>
                        <ChevronRight />
                      </Link>
                    </Button>
                  </TD>
                </TR>
              ))}
            </TBody>
          </Table>
        </Card>
      ) : (
        <div className="grid grid-cols-1 gap-3">
          {list.map((u) => (
            <UpstreamCard key={u.id} u={u} onEdit={() => edit(u)} />
          ))}
        </div>
      )}
      <UpstreamDialog open={!!dialog} onOpenChange={(o) => !o && setDialog(null)} upstream={dialog?.upstream} />
    </div>
  );
}

function EnabledSwitch({ u }: { u: Upstream }) {
  const { t } = useTranslation('upstreams');
  const toggle = useToggleUpstream();
  return (
    <Switch
      checked={u.enabled}
      disabled={toggle.isPending}
      data-testid="upstream-enabled"
      aria-label={t('list.enableUpstream', { name: u.name })}
      onCheckedChange={(v) => toggle.mutate({ id: u.id, enabled: v, name: u.name })}
    />
  );
}

/** "2 / 3 enabled" and the per-state counts (from the live credentials list). */
function CredentialSummary({ u, compact }: { u: Upstream; compact?: boolean }) {
  const { t } = useTranslation('upstreams');
  if (u.auth === 'passthrough') {
    // In the table the "passthrough" badge beside it says it already.
    if (compact) return null;
    return <span className="whitespace-nowrap text-xs text-muted-foreground">{t('list.passthrough')}</span>;
  }
  if (u.credentials.total === 0) {
    return (
      <span className="inline-flex items-center gap-1 whitespace-nowrap text-xs text-destructive" data-testid="upstream-no-credentials">
        <AlertTriangle className="size-3.5" /> {t('list.noCredentials')}
      </span>
    );
  }
  return (
    <div className="grid grid-cols-1 gap-1">
      <span className="whitespace-nowrap text-xs text-muted-foreground tabular-nums">
        {t('list.credentialCount', { enabled: fmtInt(u.credentials.enabled), total: fmtInt(u.credentials.total) })}
      </span>
      <LiveHealth id={u.id} />
    </div>
  );
}

function LiveHealth({ id }: { id: string }) {
  const q = useCredentials(id, 5000);
  if (!q.data) return null;
  return <HealthSummary credentials={q.data.data} />;
}

function UpstreamCard({ u, onEdit }: { u: Upstream; onEdit: () => void }) {
  const { t } = useTranslation(['upstreams', 'common']);
  return (
    <Card className="grid grid-cols-1 gap-3 p-4" data-testid="upstream-row" data-name={u.name} data-id={u.id}>
      <div className="flex items-start justify-between gap-3">
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-2">
            <Link to={`/upstreams/${u.id}`} className="max-w-full truncate font-medium hover:underline" title={u.name} data-testid="upstream-link">
              {u.name}
            </Link>
            <KindBadge kind={u.kind} />
            <AuthBadge auth={u.auth} />
          </div>
          <p className="mt-1 truncate font-mono text-xs text-muted-foreground" title={u.base_url}>
            {u.base_url}
          </p>
        </div>
        <EnabledSwitch u={u} />
      </div>
      <ModelChips models={u.models} max={4} />
      <div className="flex flex-wrap items-center gap-x-4 gap-y-1 text-xs text-muted-foreground">
        <span>
          {t('list.priority')} <span className="font-medium text-foreground tabular-nums">{u.priority}</span>
        </span>
        <span>
          {t('list.weight')} <span className="font-medium text-foreground tabular-nums">{u.weight}</span>
        </span>
      </div>
      <div className="flex items-end justify-between gap-3 border-t pt-3">
        <CredentialSummary u={u} />
        <div className="flex shrink-0 gap-1.5">
          <Button variant="outline" size="sm" onClick={onEdit}>
            <Pencil /> {t('common:actions.edit')}
          </Button>
          <Button variant="outline" size="sm" asChild>
            <Link to={`/upstreams/${u.id}`}>
              {t('list.details')} <ChevronRight />
            </Link>
          </Button>
        </div>
      </div>
    </Card>
  );
}
