// Every field of one usage record, in a dialog.
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { CopyButton } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import type { UsageRecord } from '@/lib/api';
import { fmtInt, fmtMs, fmtTime, fmtUsd } from '@/lib/format';
import { RECORD_FIELDS } from './csv';
import { StatusBadge } from './shared';

function Id({ v }: { v: string | null }) {
  return v ? <span className="break-all font-mono text-xs">{v}</span> : <Muted />;
}
function Muted() {
  return <span className="text-muted-foreground">—</span>;
}

export function RecordDialog({ record, onClose }: { record: UsageRecord | null; onClose: () => void }) {
  const { t } = useTranslation(['usage', 'common']);
  const r = record;
  const rows: [string, ReactNode][] = r
    ? [
        ['time', <>{fmtTime(r.time)} <span className="ml-1 font-mono text-xs text-muted-foreground">{r.time}</span></>],
        ['key_name', r.key_name ?? <Muted />],
        ['key_id', <Id v={r.key_id} />],
        ['upstream', r.upstream ?? <Muted />],
        ['upstream_id', <Id v={r.upstream_id} />],
        ['credential_id', <Id v={r.credential_id} />],
        ['model', r.model ? <span className="break-all">{r.model}</span> : <Muted />],
        ['upstream_model', r.upstream_model ? <span className="break-all">{r.upstream_model}</span> : <Muted />],
        ['status', <StatusBadge status={r.status} />],
        ['error_type', r.error_type ? <span className="font-mono text-xs">{r.error_type}</span> : <Muted />],
        ['stream', r.stream ? <Badge variant="outline">{t('log.streamBadge')}</Badge> : t('common:state.no')],
        ['ttfb_ms', <span className="tabular-nums">{fmtMs(r.ttfb_ms)}</span>],
        ['duration_ms', <span className="tabular-nums">{fmtMs(r.duration_ms)}</span>],
        ['input_tokens', <span className="tabular-nums">{fmtInt(r.input_tokens)}</span>],
        ['output_tokens', <span className="tabular-nums">{fmtInt(r.output_tokens)}</span>],
        ['cache_creation_input_tokens', <span className="tabular-nums">{fmtInt(r.cache_creation_input_tokens)}</span>],
        ['cache_read_input_tokens', <span className="tabular-nums">{fmtInt(r.cache_read_input_tokens)}</span>],
        ['cost_usd', <span className="tabular-nums">{fmtUsd(r.cost_usd)}</span>],
      ]
    : [];
  // Fields a newer server may add: shown as they come.
  const extra = r
    ? Object.entries(r).filter(([k]) => !(RECORD_FIELDS as string[]).includes(k))
    : [];

  return (
    <Dialog open={!!r} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-xl" closeLabel={t('common:actions.close')} data-testid="record-dialog">
        <DialogHeader>
          <DialogTitle>{t('details.title')}</DialogTitle>
          <DialogDescription>{t('details.description')}</DialogDescription>
        </DialogHeader>
        {r && (
          <div className="min-w-0 space-y-3">
            <div className="flex items-center gap-2 rounded-md border bg-muted/40 py-1.5 pl-3 pr-1.5">
              <div className="min-w-0 flex-1">
                <div className="text-xs text-muted-foreground">{t('fields.request_id')}</div>
                <div className="break-all font-mono text-sm" data-testid="record-request-id">
                  {r.request_id}
                </div>
              </div>
              <CopyButton text={r.request_id} size="icon" />
            </div>
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
              {rows.map(([k, v]) => (
                <div key={k} className="contents">
                  <dt className="text-muted-foreground">{t(`fields.${k as (typeof RECORD_FIELDS)[number]}`)}</dt>
                  <dd className="min-w-0">{v}</dd>
                </div>
              ))}
              {extra.map(([k, v]) => (
                <div key={k} className="contents">
                  <dt className="font-mono text-xs text-muted-foreground">{k}</dt>
                  <dd className="min-w-0 break-all font-mono text-xs">{v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
                </div>
              ))}
            </dl>
          </div>
        )}
      </DialogContent>
    </Dialog>
  );
}
