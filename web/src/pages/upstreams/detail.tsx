// /upstreams/:id — the settings of one upstream and its credentials (live state).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowLeft, Pencil, Trash2 } from 'lucide-react';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useParams } from 'react-router';
import { toast } from 'sonner';
import { ConfirmAction, ErrorState, LoadingState, Spinner, useErrorToast } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardHeader, CardTitle } from '@/components/ui/card';
import { Switch } from '@/components/ui/switch';
import { api, ApiError, type List, type Upstream } from '@/lib/api';
import { fmtInt, fmtMs, fmtTime } from '@/lib/format';
import { CredentialsSection } from './credentials';
import { UpstreamDialog } from './form';
import { AuthBadge, KindBadge, ModelChips, upstreamKey, upstreamsKey, useToggleUpstream } from './shared';

export function UpstreamDetail() {
  const { id = '' } = useParams();
  const { t } = useTranslation(['upstreams', 'common']);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const onError = useErrorToast();
  const [editing, setEditing] = useState(false);
  const toggle = useToggleUpstream();
  const q = useQuery({
    queryKey: upstreamKey(id),
    queryFn: () => api.get<Upstream>(`/upstreams/${id}`),
    // The credential counts in the header follow the live credentials list.
    refetchInterval: 10_000,
  });
  const del = useMutation({
    mutationFn: () => api.del(`/upstreams/${id}`),
    onSuccess: () => {
      toast.success(t('detail.deleted', { name: q.data?.name ?? id }));
      // Drop it from the cached list at once (no request for its credentials), then leave.
      qc.setQueryData<List<Upstream>>(upstreamsKey, (l) => (l ? { ...l, data: l.data.filter((x) => x.id !== id) } : l));
      navigate('/upstreams', { replace: true });
      // Forget it once the page has unmounted (removing it while mounted would fetch it again).
      setTimeout(() => qc.removeQueries({ queryKey: upstreamKey(id) }), 1000);
      void qc.invalidateQueries({ queryKey: upstreamsKey, exact: true });
    },
    onError,
  });

  const back = (
    <Button variant="ghost" size="sm" asChild className="-ml-2 mb-2 text-muted-foreground">
      <Link to="/upstreams" data-testid="upstream-back">
        <ArrowLeft /> {t('detail.back')}
      </Link>
    </Button>
  );

  if (q.isPending) {
    return (
      <div>
        {back}
        <LoadingState rows={6} />
      </div>
    );
  }
  if (q.isError) {
    const notFound = q.error instanceof ApiError && q.error.status === 404;
    return (
      <div className="grid grid-cols-1 gap-3">
        {back}
        <ErrorState error={notFound ? new Error(t('detail.notFound')) : q.error} onRetry={notFound ? undefined : () => void q.refetch()} />
      </div>
    );
  }
  const u = q.data;

  return (
    <div className="grid grid-cols-1 gap-5" data-testid="upstream-detail" data-name={u.name}>
      <div>
        {back}
        <div className="flex flex-col gap-3 sm:flex-row sm:items-start sm:justify-between">
          <div className="min-w-0">
            <div className="flex flex-wrap items-center gap-2">
              <h1 className="max-w-full truncate text-2xl font-semibold tracking-tight" title={u.name}>
                {u.name}
              </h1>
              <KindBadge kind={u.kind} />
              {!u.enabled && <span className="rounded-full bg-secondary px-2 py-0.5 text-xs text-secondary-foreground">{t('common:state.disabled')}</span>}
            </div>
            <p className="mt-1 truncate font-mono text-sm text-muted-foreground" title={u.base_url}>
              {u.base_url}
            </p>
          </div>
          <div className="flex flex-wrap items-center gap-2">
            <label className="mr-1 flex items-center gap-2 text-sm">
              <Switch
                checked={u.enabled}
                disabled={toggle.isPending}
                data-testid="upstream-enabled"
                aria-label={t('list.enabled')}
                onCheckedChange={(v) => toggle.mutate({ id: u.id, enabled: v, name: u.name })}
              />
              {u.enabled ? t('common:state.enabled') : t('common:state.disabled')}
            </label>
            <Button variant="outline" data-testid="upstream-edit" onClick={() => setEditing(true)}>
              <Pencil /> {t('common:actions.edit')}
            </Button>
            <ConfirmAction
              title={t('detail.deleteTitle', { name: u.name })}
              description={t('detail.deleteDesc', { n: u.credentials.total })}
              onConfirm={() => del.mutate()}
              trigger={(open) => (
                <Button variant="outline" className="text-destructive hover:text-destructive" data-testid="upstream-delete" disabled={del.isPending} onClick={open}>
                  {del.isPending ? <Spinner /> : <Trash2 />} {t('common:actions.delete')}
                </Button>
              )}
            />
          </div>
        </div>
      </div>

      <Settings u={u} />
      <CredentialsSection upstream={u} />
      <UpstreamDialog open={editing} onOpenChange={setEditing} upstream={u} onSaved={(nu) => qc.setQueryData(upstreamKey(nu.id), nu)} />
    </div>
  );
}

function Settings({ u }: { u: Upstream }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const map = Object.entries(u.model_map ?? {});
  const item = (label: string, value: ReactNode, wide?: boolean) => (
    <div className={wide ? 'sm:col-span-2 lg:col-span-3' : undefined}>
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className="mt-0.5 min-w-0 break-words text-sm">{value}</dd>
    </div>
  );
  const proxy = u.proxy_url === null ? t('detail.proxyGlobal') : u.proxy_url === 'direct' ? t('detail.proxyDirect') : <code className="font-mono text-xs">{u.proxy_url}</code>;
  const openaiFlags = u.kind === 'openai' && u.openai ? Object.entries(u.openai) : [];
  return (
    <Card>
      <CardHeader>
        <CardTitle>{t('detail.settings')}</CardTitle>
      </CardHeader>
      <CardContent>
        <dl className="grid grid-cols-1 gap-x-6 gap-y-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="upstream-settings">
          {item(t('form.auth'), (
            <span className="flex flex-wrap items-center gap-2">
              <AuthBadge auth={u.auth} />
              <span className="text-xs text-muted-foreground">{t(`auth.${u.auth}Short`)}</span>
            </span>
          ))}
          {item(t('list.priorityWeight'), <span className="tabular-nums">{t('detail.priorityWeight', { priority: u.priority, weight: u.weight })}</span>)}
          {item(
            t('form.concurrency'),
            u.credential_concurrency ? t('detail.perCredential', { n: fmtInt(u.credential_concurrency) }) : t('common:state.unlimited'),
          )}
          {item(t('form.models'), <ModelChips models={u.models} max={20} />)}
          {item(
            t('form.modelMap'),
            map.length === 0 ? (
              <span className="text-muted-foreground">{t('common:state.none')}</span>
            ) : (
              <ul className="grid grid-cols-1 gap-0.5">
                {map.map(([from, to]) => (
                  <li key={from} className="font-mono text-xs">
                    {from} <span className="text-muted-foreground">→</span> {to}
                  </li>
                ))}
              </ul>
            ),
          )}
          {item(
            t('form.healthCheck'),
            u.health_check === 'off'
              ? t('form.healthCheckOption.off')
              : t('detail.healthEvery', { mode: t(`form.healthCheckOption.${u.health_check}`), every: fmtMs(u.health_check_interval_ms) }),
          )}
          {item(t('form.proxy'), proxy)}
          {item(
            t('detail.timeouts'),
            <ul className="grid grid-cols-1 gap-0.5 tabular-nums">
              <li>{t('detail.connect', { value: fmtMs(u.connect_timeout_ms) })}</li>
              <li>{t('detail.firstByte', { value: fmtMs(u.first_byte_timeout_ms) })}</li>
              <li>{t('detail.idle', { value: fmtMs(u.stream_idle_timeout_ms) })}</li>
            </ul>,
          )}
          {item(t('detail.updated'), <span title={fmtTime(u.created_at)}>{fmtTime(u.updated_at)}</span>)}
          {openaiFlags.length > 0 &&
            item(
              t('detail.openai'),
              <div className="flex flex-wrap gap-1">
                {openaiFlags.map(([k, v]) => (
                  <code key={k} className="rounded bg-muted px-1.5 py-0.5 text-xs">
                    {k}={typeof v === 'object' ? JSON.stringify(v) : String(v)}
                  </code>
                ))}
              </div>,
              true,
            )}
        </dl>
      </CardContent>
    </Card>
  );
}
