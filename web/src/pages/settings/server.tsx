// Read-only state of the answering process (GET /status), with the restart-only listener.
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ErrorState, LoadingState, Stat, useNow } from '@/components/common';
import { api, type Status } from '@/lib/api';
import { fmtDuration, fmtInt, fmtTime } from '@/lib/format';
import { RestartBadge, Section } from './shared';

export function ServerTab() {
  const { t } = useTranslation(['settings', 'common']);
  const now = useNow(1000);
  const status = useQuery({ queryKey: ['status'], queryFn: () => api.get<Status>('/status'), refetchInterval: 5_000 });

  if (status.isPending) return <LoadingState rows={4} />;
  if (status.isError) return <ErrorState error={status.error} onRetry={() => void status.refetch()} />;
  const s = status.data;
  const started = new Date(s.started_at).getTime();
  const uptime = Number.isFinite(started) ? Math.max(s.uptime_s, (now - started) / 1000) : s.uptime_s;
  const listen = s.listen;

  return (
    <div className="grid gap-4" data-testid="settings-server">
      <Section title={t('server.title')} text={t('server.text')}>
        <div className="grid gap-3 sm:grid-cols-2 xl:grid-cols-4">
          <Stat label={t('server.version')} value={<span data-testid="server-version">{s.version}</span>} />
          <Stat label={t('server.uptime')} value={fmtDuration(uptime)} sub={t('server.startedAt', { time: fmtTime(s.started_at) })} />
          <Stat label={t('server.database')} value={s.database} sub={t('server.schema', { v: s.schema_version })} />
          <Stat label={t('server.inFlight')} value={fmtInt(s.in_flight)} />
        </div>
        <div className="mt-4 grid gap-1.5">
          <div className="text-sm font-medium">{t('server.usageQueue')}</div>
          <dl className="grid grid-cols-3 gap-3 rounded-lg border p-3 text-sm">
            <div>
              <dt className="text-xs text-muted-foreground">{t('server.queueDepth')}</dt>
              <dd className="tabular-nums font-medium">{fmtInt(s.usage_queue_depth)}</dd>
            </div>
            <div>
              <dt className="text-xs text-muted-foreground">{t('server.spooled')}</dt>
              <dd className="tabular-nums font-medium">{fmtInt(s.usage_spooled)}</dd>
            </div>
            <div>
              <dt className="text-xs text-muted-foreground">{t('server.written')}</dt>
              <dd className="tabular-nums font-medium">{fmtInt(s.usage_written)}</dd>
            </div>
          </dl>
        </div>
      </Section>
      <Section title={t('server.listen')} text={t('server.listenText')} badge={<RestartBadge />}>
        {listen ? (
          <dl className="grid gap-3 text-sm sm:grid-cols-2 xl:grid-cols-4" data-testid="server-listen">
            <Item label={t('server.host')} value={listen.host} mono />
            <Item label={t('server.port')} value={String(listen.port)} mono />
            <Item label={t('server.workers')} value={fmtInt(listen.workers)} />
            <Item label={t('server.dataDir')} value={listen.data_dir} mono />
          </dl>
        ) : (
          <p className="text-sm text-muted-foreground">{t('server.notReported')}</p>
        )}
      </Section>
    </div>
  );
}

function Item({ label, value, mono }: { label: string; value: string; mono?: boolean }) {
  return (
    <div className="min-w-0 rounded-lg border p-3">
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className={mono ? 'font-mono text-sm [overflow-wrap:anywhere]' : 'font-medium'}>{value}</dd>
    </div>
  );
}
