// Credential health over every upstream: counts per state and the credentials that need attention
// (cooling down with a live countdown, invalid with their last error).
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { ArrowRight, ShieldCheck } from 'lucide-react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { Countdown, ErrorState, LoadingState, StateBadge } from '@/components/common';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { api, type Credential, type CredentialState, type List, type Upstream } from '@/lib/api';
import { fmtInt } from '@/lib/format';
import { cn } from '@/lib/utils';

const STATES: CredentialState[] = ['valid', 'cooling_down', 'invalid', 'disabled'];

const tone: Record<CredentialState, string> = {
  valid: 'text-success',
  cooling_down: 'text-[color-mix(in_oklch,var(--warning),black_35%)] dark:text-warning',
  invalid: 'text-destructive',
  disabled: 'text-muted-foreground',
};
const dot: Record<CredentialState, string> = {
  valid: 'bg-success',
  cooling_down: 'bg-warning',
  invalid: 'bg-destructive',
  disabled: 'bg-muted-foreground/60',
};

const REFRESH = 10_000;
const MAX_LISTED = 8;

export function HealthCard() {
  const { t } = useTranslation(['dashboard', 'common']);
  const qc = useQueryClient();
  const upstreams = useQuery({
    queryKey: ['dashboard', 'upstreams'],
    queryFn: () => api.get<List<Upstream>>('/upstreams'),
    refetchInterval: REFRESH,
  });
  const list = upstreams.data?.data ?? [];
  const creds = useQueries({
    queries: list.map((u) => ({
      queryKey: ['dashboard', 'credentials', u.id],
      queryFn: () => api.get<List<Credential>>(`/upstreams/${encodeURIComponent(u.id)}/credentials`),
      refetchInterval: REFRESH,
    })),
  });

  const names = new Map(list.map((u) => [u.id, u.name]));
  const all: Credential[] = creds.flatMap((q) => q.data?.data ?? []);
  const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<CredentialState, number>;
  for (const c of all) counts[c.state] = (counts[c.state] ?? 0) + 1;
  const attention = [
    ...all
      .filter((c) => c.state === 'cooling_down')
      .sort((a, b) => Date.parse(a.cooldown_until ?? '') - Date.parse(b.cooldown_until ?? '')),
    ...all.filter((c) => c.state === 'invalid'),
  ];
  const failed = creds.filter((q) => q.isError).length;

  let body;
  if (upstreams.isPending || creds.some((q) => q.isPending)) body = <LoadingState rows={2} />;
  else if (upstreams.isError) body = <ErrorState error={upstreams.error} onRetry={() => void upstreams.refetch()} />;
  else if (list.length === 0)
    body = (
      <div className="rounded-lg border border-dashed p-5 text-center text-sm text-muted-foreground">
        {t('health.noUpstreams')}{' '}
        <Link to="/upstreams" className="font-medium text-primary hover:underline">
          {t('health.addUpstream')}
        </Link>
      </div>
    );
  else
    body = (
      <>
        <div className="grid grid-cols-2 gap-2 sm:grid-cols-4">
          {STATES.map((s) => (
            <div
              key={s}
              className="rounded-lg border bg-background/50 px-3 py-2.5"
              data-testid={`health-${s}`}
              data-count={counts[s]}
            >
              <div className="flex items-center gap-1.5 text-xs font-medium text-muted-foreground">
                <span className={cn('size-2 rounded-full', dot[s])} />
                {t(`common:credState.${s}`)}
              </div>
              <div className={cn('mt-0.5 text-2xl font-semibold tabular-nums', counts[s] > 0 ? tone[s] : 'text-muted-foreground/60')}>
                {fmtInt(counts[s])}
              </div>
            </div>
          ))}
        </div>
        {failed > 0 && <p className="mt-2 text-xs text-destructive">{t('health.partial', { n: failed })}</p>}
        {all.length === 0 ? (
          <p className="mt-3 text-sm text-muted-foreground">
            {t('health.noCredentials')}{' '}
            <Link to="/upstreams" className="font-medium text-primary hover:underline">
              {t('health.manage')}
            </Link>
          </p>
        ) : attention.length === 0 ? (
          <p className="mt-3 flex items-center gap-2 text-sm text-muted-foreground">
            <ShieldCheck className="size-4 text-success" />
            {t('health.allGood')}
          </p>
        ) : (
          <div className="mt-3">
            <div className="mb-1.5 text-xs font-medium text-muted-foreground">{t('health.attention')}</div>
            <ul className="divide-y rounded-lg border">
              {attention.slice(0, MAX_LISTED).map((c) => (
                <li key={c.id} className="flex flex-wrap items-center gap-x-3 gap-y-1 px-3 py-2 text-sm" data-testid="attention-credential">
                  <StateBadge state={c.state} />
                  <div className="min-w-0 flex-1 basis-48">
                    <div className="truncate">
                      <span className="font-medium">{names.get(c.upstream_id) ?? c.upstream_id}</span>
                      <span className="mx-1.5 text-muted-foreground">/</span>
                      {c.label && <span className="mr-1.5">{c.label}</span>}
                      <span className="font-mono text-xs text-muted-foreground">{c.hint}</span>
                    </div>
                    {c.last_error && (
                      <div className="truncate text-xs text-muted-foreground" title={c.last_error}>
                        {c.last_error}
                      </div>
                    )}
                  </div>
                  <div className="ml-auto flex items-center gap-3">
                  {c.state === 'cooling_down' && c.cooldown_until && (
                    <span className="text-xs text-muted-foreground">
                      {t('health.backIn')}{' '}
                      <span className="font-medium text-foreground">
                        <Countdown
                          until={c.cooldown_until}
                          onDone={() => void qc.invalidateQueries({ queryKey: ['dashboard', 'credentials', c.upstream_id] })}
                        />
                      </span>
                    </span>
                  )}
                  <Link
                    to={`/upstreams/${encodeURIComponent(c.upstream_id)}`}
                    className="inline-flex items-center gap-1 text-xs font-medium text-primary hover:underline"
                    data-testid="attention-link"
                  >
                    {t('health.open')}
                    <ArrowRight className="size-3" />
                  </Link>
                  </div>
                </li>
              ))}
            </ul>
            {attention.length > MAX_LISTED && (
              <Link to="/upstreams" className="mt-2 inline-block text-xs font-medium text-primary hover:underline">
                {t('health.more', { n: attention.length - MAX_LISTED })}
              </Link>
            )}
          </div>
        )}
      </>
    );

  return (
    <Card data-testid="health-summary">
      <CardHeader>
        <CardTitle>{t('health.title')}</CardTitle>
        <CardDescription>{t('health.description', { n: fmtInt(all.length), u: fmtInt(list.length) })}</CardDescription>
      </CardHeader>
      <CardContent>{body}</CardContent>
    </Card>
  );
}
