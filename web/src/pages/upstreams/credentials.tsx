// The credentials of one upstream: live table (cards on phones), per-credential actions, and the
// dialogs to add keys (one or many) and to rename one.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { CheckCircle2, FlaskConical, KeyRound, Pencil, Plus, Power, PowerOff, RotateCcw, ShieldCheck, Trash2, XCircle } from 'lucide-react';
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ConfirmAction, Countdown, EmptyState, ErrorState, Field, FieldError, LoadingState, Spinner, StateBadge, useErrorToast } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, Textarea } from '@/components/ui/input';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, ApiError, type AddCredentialResult, type Credential, type CredentialTest, type List, type Summary, type SummaryRow, type Upstream } from '@/lib/api';
import { fmtClock, fmtCompact, fmtInt, fmtMs, fmtRelative, fmtTime, fmtUsd } from '@/lib/format';
import { cn } from '@/lib/utils';
import { credentialsKey, KeyLineProblems, parseKeyLines, upstreamsKey } from './shared';

/** True at and above Tailwind's `md` breakpoint: one layout is rendered, not both. */
export function useWide(query = '(min-width: 768px)'): boolean {
  const [wide, setWide] = useState(() => matchMedia(query).matches);
  useEffect(() => {
    const mq = matchMedia(query);
    const on = () => setWide(mq.matches);
    on();
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, [query]);
  return wide;
}

export function useCredentials(upstreamId: string, refetchInterval = 3000) {
  return useQuery({
    queryKey: credentialsKey(upstreamId),
    queryFn: () => api.get<List<Credential>>(`/upstreams/${upstreamId}/credentials`),
    refetchInterval,
  });
}

export function CredentialsSection({ upstream }: { upstream: Upstream }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const q = useCredentials(upstream.id);
  const wide = useWide();
  const [adding, setAdding] = useState(false);
  const passthrough = upstream.auth === 'passthrough';
  const creds = q.data?.data ?? [];

  return (
    <Card data-testid="credentials">
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-3">
        <div className="grid grid-cols-1 gap-1">
          <CardTitle className="flex items-center gap-2">
            <KeyRound className="size-4 text-muted-foreground" />
            {t('cred.title')}
            {q.data && <span className="text-sm font-normal text-muted-foreground tabular-nums">({creds.length})</span>}
          </CardTitle>
          <CardDescription>{passthrough ? t('cred.passthroughShort') : t('cred.description')}</CardDescription>
        </div>
        {!passthrough && (
          <Button data-testid="cred-add" onClick={() => setAdding(true)}>
            <Plus /> {t('cred.add')}
          </Button>
        )}
      </CardHeader>
      <CardContent className="grid grid-cols-1 gap-3">
        {passthrough && (
          <div className="flex gap-3 rounded-lg border bg-muted/40 p-3 text-sm" data-testid="cred-passthrough">
            <ShieldCheck className="mt-0.5 size-4 shrink-0 text-muted-foreground" />
            <p className="text-muted-foreground">{t('cred.passthroughNote')}</p>
          </div>
        )}
        {q.isPending ? (
          <LoadingState rows={3} />
        ) : q.isError ? (
          <ErrorState error={q.error} onRetry={() => void q.refetch()} />
        ) : creds.length === 0 ? (
          passthrough ? null : (
            <EmptyState
              action={
                <Button variant="outline" onClick={() => setAdding(true)}>
                  <Plus /> {t('cred.add')}
                </Button>
              }
            >
              {t('cred.empty')}
            </EmptyState>
          )
        ) : wide ? (
          <CredentialTable creds={creds} upstreamId={upstream.id} onDone={() => void q.refetch()} />
        ) : (
          <div className="grid grid-cols-1 gap-3">
            {creds.map((c) => (
              <CredentialCard key={c.id} cred={c} upstreamId={upstream.id} onDone={() => void q.refetch()} />
            ))}
          </div>
        )}
      </CardContent>
      <AddCredentialsDialog open={adding} onOpenChange={setAdding} upstream={upstream} />
    </Card>
  );
}

function CredentialName({ cred, onEdit }: { cred: Credential; onEdit?: () => void }) {
  const { t } = useTranslation('upstreams');
  return (
    <div className="min-w-0">
      <div className="flex items-center gap-1">
        <span className={cn('truncate font-medium', !cred.label && 'font-normal italic text-muted-foreground')} title={cred.label || undefined}>
          {cred.label || t('cred.noLabel')}
        </span>
        {onEdit && (
          <Button
            variant="ghost"
            size="icon"
            className="size-6 shrink-0 text-muted-foreground"
            aria-label={t('cred.editLabel')}
            title={t('cred.editLabel')}
            data-testid="cred-edit-label"
            onClick={onEdit}
          >
            <Pencil className="size-3.5!" />
          </Button>
        )}
      </div>
      <code className="block truncate font-mono text-xs text-muted-foreground" data-testid="cred-hint">
        {cred.hint}
      </code>
    </div>
  );
}

/** The state badge, and for a cooling credential the live countdown and the absolute end. */
function CredentialState({ cred, onDone }: { cred: Credential; onDone: () => void }) {
  const { t } = useTranslation('upstreams');
  return (
    <div className="grid justify-items-start gap-1">
      <StateBadge state={cred.state} />
      {cred.state === 'cooling_down' && cred.cooldown_until && (
        <span className="grid text-xs text-muted-foreground" title={fmtTime(cred.cooldown_until)} data-testid="cred-cooldown">
          <span className="whitespace-nowrap">
            {t('cred.resetsPrefix')}
            <span className="font-medium text-foreground">
              <Countdown until={cred.cooldown_until} onDone={onDone} />
            </span>
            {t('cred.resetsSuffix')}
          </span>
          <span className="whitespace-nowrap">{t('cred.until', { time: fmtClock(cred.cooldown_until) })}</span>
        </span>
      )}
    </div>
  );
}

function LastError({ error, className }: { error: string | null; className?: string }) {
  if (!error) return <span className="text-muted-foreground">—</span>;
  return (
    <span className={cn('text-xs text-destructive', className)} title={error} data-testid="cred-error">
      {error}
    </span>
  );
}

/** Tokens and cost per credential over the last 24 hours (from the usage records). */
function useCredentialUsage() {
  return useQuery({
    queryKey: ['upstreams', 'credential-usage'],
    queryFn: async () => {
      const s = await api.get<Summary>('/usage/summary', {
        group_by: 'credential',
        from: new Date(Date.now() - 86_400_000).toISOString(),
      });
      return new Map(s.data.map((r) => [r.group, r]));
    },
    refetchInterval: 10_000,
  });
}

function CredentialUsage({ row }: { row: SummaryRow | undefined }) {
  const { t } = useTranslation('upstreams');
  if (!row) return <span className="text-xs text-muted-foreground">—</span>;
  const tokens = row.input_tokens + row.output_tokens + row.cache_creation_input_tokens + row.cache_read_input_tokens;
  return (
    <span
      className="whitespace-nowrap text-xs tabular-nums"
      data-testid="cred-usage"
      title={t('cred.usageTitle', {
        requests: fmtInt(row.requests),
        input: fmtInt(row.input_tokens),
        output: fmtInt(row.output_tokens),
        cacheRead: fmtInt(row.cache_read_input_tokens),
        cost: fmtUsd(row.cost_usd),
      })}
    >
      {fmtCompact(tokens)} <span className="text-muted-foreground">tok</span> · {fmtUsd(row.cost_usd)}
    </span>
  );
}

function Counters({ c }: { c: Credential['counters'] }) {
  const { t } = useTranslation('upstreams');
  const items: [string, number, string][] = [
    [t('cred.requests'), c.requests, ''],
    [t('cred.successes'), c.successes, c.successes ? 'text-success' : ''],
    [t('cred.failures'), c.failures, c.failures ? 'text-destructive' : ''],
    [t('cred.rateLimited'), c.rate_limited, c.rate_limited ? 'text-[color-mix(in_oklch,var(--warning),black_35%)] dark:text-warning' : ''],
  ];
  return (
    <div className="flex items-center gap-1 text-xs tabular-nums" data-testid="cred-counters">
      {items.map(([label, n, cls], i) => (
        <span key={label} className="inline-flex items-center gap-1">
          {i > 0 && <span className="text-muted-foreground/60">/</span>}
          <span className={cls} title={`${label}: ${fmtInt(n)}`}>
            {fmtInt(n)}
          </span>
        </span>
      ))}
    </div>
  );
}

function CredentialTable({ creds, upstreamId, onDone }: { creds: Credential[]; upstreamId: string; onDone: () => void }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const usage = useCredentialUsage();
  const [editing, setEditing] = useState<Credential | null>(null);
  return (
    <>
      <Table>
        <THead>
          <TR className="hover:bg-transparent">
            <TH>{t('cred.credential')}</TH>
            <TH>{t('cred.state')}</TH>
            <TH>{t('cred.lastError')}</TH>
            <TH>{t('cred.lastUsed')}</TH>
            <TH className="text-right">{t('cred.inFlight')}</TH>
            <TH title={`${t('cred.countersTitle')}. ${t('cred.usage24hTitle')}`}>{t('cred.counters')}</TH>
            <TH className="text-right">
              <span className="sr-only">{t('cred.actions')}</span>
            </TH>
          </TR>
        </THead>
        <TBody>
          {creds.map((c) => (
            <TR key={c.id} data-testid="cred-row" data-id={c.id} data-state={c.state}>
              <TD className="max-w-[12rem]">
                <CredentialName cred={c} onEdit={() => setEditing(c)} />
              </TD>
              <TD>
                <CredentialState cred={c} onDone={onDone} />
              </TD>
              <TD className="max-w-[12rem] lg:max-w-[15rem]">
                <LastError error={c.last_error} className="block truncate" />
              </TD>
              <TD className="whitespace-nowrap text-xs text-muted-foreground" title={c.last_used_at ? fmtTime(c.last_used_at) : undefined}>
                {c.last_used_at ? fmtRelative(c.last_used_at) : t('common:state.never')}
              </TD>
              <TD className="text-right tabular-nums">{fmtInt(c.in_flight)}</TD>
              <TD>
                <Counters c={c.counters} />
                <div className="mt-0.5 whitespace-nowrap text-muted-foreground" title={t('cred.usage24hTitle')}>
                  <CredentialUsage row={usage.data?.get(c.id)} />
                  <span className="ml-1 text-[11px]">{t('cred.in24h')}</span>
                </div>
              </TD>
              <TD>
                <CredentialActions cred={c} upstreamId={upstreamId} compact />
              </TD>
            </TR>
          ))}
        </TBody>
      </Table>
      <LabelDialog cred={editing} upstreamId={upstreamId} onClose={() => setEditing(null)} />
    </>
  );
}

function CredentialCard({ cred, upstreamId, onDone }: { cred: Credential; upstreamId: string; onDone: () => void }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const usage = useCredentialUsage();
  const [editing, setEditing] = useState(false);
  const c = cred.counters;
  const stat = (label: string, value: ReactNode) => (
    <div className="grid grid-cols-1 gap-0.5">
      <span className="text-[11px] text-muted-foreground">{label}</span>
      <span className="text-sm font-medium tabular-nums">{value}</span>
    </div>
  );
  return (
    <div className="grid grid-cols-1 gap-3 rounded-lg border p-3" data-testid="cred-row" data-id={cred.id} data-state={cred.state}>
      <div className="flex items-start justify-between gap-2">
        <CredentialName cred={cred} onEdit={() => setEditing(true)} />
        <CredentialState cred={cred} onDone={onDone} />
      </div>
      {cred.last_error && <LastError error={cred.last_error} className="line-clamp-2 break-words" />}
      <div className="grid grid-cols-3 gap-2">
        {stat(t('cred.lastUsed'), <span className="text-xs">{cred.last_used_at ? fmtRelative(cred.last_used_at) : t('common:state.never')}</span>)}
        {stat(t('cred.inFlight'), fmtInt(cred.in_flight))}
        {stat(t('cred.requests'), fmtInt(c.requests))}
        {stat(t('cred.successes'), fmtInt(c.successes))}
        {stat(t('cred.failures'), fmtInt(c.failures))}
        {stat(t('cred.rateLimited'), fmtInt(c.rate_limited))}
      </div>
      <div className="flex items-center justify-between gap-2">
        <span className="text-[11px] text-muted-foreground">{t('cred.usage24h')}</span>
        <CredentialUsage row={usage.data?.get(cred.id)} />
      </div>
      <CredentialActions cred={cred} upstreamId={upstreamId} />
      <LabelDialog cred={editing ? cred : null} upstreamId={upstreamId} onClose={() => setEditing(false)} />
    </div>
  );
}

function CredentialActions({ cred, upstreamId, compact }: { cred: Credential; upstreamId: string; compact?: boolean }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const qc = useQueryClient();
  const onError = useErrorToast();
  const refresh = () => qc.invalidateQueries({ queryKey: credentialsKey(upstreamId) });
  const refreshAll = () => qc.invalidateQueries({ queryKey: upstreamsKey });

  const test = useMutation({
    mutationFn: () => api.post<CredentialTest>(`/credentials/${cred.id}/test`),
    onSuccess: (r) => {
      const description = r.message;
      if (r.ok) toast.success(t('cred.testOk', { status: r.status, latency: fmtMs(r.latency_ms) }), { description });
      else if (r.status) toast.error(t('cred.testFailed', { status: r.status, latency: fmtMs(r.latency_ms) }), { description });
      else toast.error(t('cred.testUnreachable'), { description });
      void refresh();
    },
    onError,
  });
  const patch = useMutation({
    mutationFn: (body: { enabled: boolean }) => api.patch<Credential>(`/credentials/${cred.id}`, body),
    onSuccess: (_c, body) => {
      toast.success(body.enabled ? (cred.enabled ? t('cred.resetDone') : t('cred.enabledDone')) : t('cred.disabledDone'));
      void refreshAll();
    },
    onError,
  });
  const del = useMutation({
    mutationFn: () => api.del(`/credentials/${cred.id}`),
    onSuccess: () => {
      toast.success(t('cred.deleted', { hint: cred.hint }));
      void refreshAll();
    },
    onError,
  });

  const canReset = cred.enabled && (cred.state === 'invalid' || cred.state === 'cooling_down' || !!cred.last_error);
  const busy = test.isPending || patch.isPending || del.isPending;
  const btn = (props: {
    testid: string;
    label: string;
    icon: ReactNode;
    onClick: () => void;
    pending?: boolean;
    destructive?: boolean;
    iconOnly?: boolean;
  }) => (
    <Button
      variant={compact ? 'ghost' : 'outline'}
      size={compact || props.iconOnly ? 'icon' : 'sm'}
      className={cn(
        compact && 'size-8',
        !compact && props.iconOnly && 'ml-auto size-8',
        props.destructive && 'text-destructive hover:text-destructive',
      )}
      data-testid={props.testid}
      aria-label={props.label}
      title={props.label}
      disabled={busy}
      onClick={props.onClick}
    >
      {props.pending ? <Spinner /> : props.icon}
      {!compact && !props.iconOnly && props.label}
    </Button>
  );

  return (
    <div className={cn('flex flex-wrap items-center gap-1.5', compact && 'justify-end gap-0.5 flex-nowrap')}>
      {btn({ testid: 'cred-test', label: t('cred.test'), icon: <FlaskConical />, onClick: () => test.mutate(), pending: test.isPending })}
      {canReset &&
        btn({
          testid: 'cred-reset',
          label: t('cred.reset'),
          icon: <RotateCcw />,
          onClick: () => patch.mutate({ enabled: true }),
          pending: patch.isPending && patch.variables?.enabled === true && cred.enabled,
        })}
      {btn({
        testid: 'cred-toggle',
        label: cred.enabled ? t('common:actions.disable') : t('common:actions.enable'),
        icon: cred.enabled ? <PowerOff /> : <Power />,
        onClick: () => patch.mutate({ enabled: !cred.enabled }),
        pending: patch.isPending && patch.variables?.enabled === !cred.enabled,
      })}
      <ConfirmAction
        title={t('cred.deleteTitle', { hint: cred.hint })}
        description={t('cred.deleteDesc')}
        onConfirm={() => del.mutate()}
        trigger={(open) =>
          btn({ testid: 'cred-delete', label: t('common:actions.delete'), icon: <Trash2 />, onClick: open, pending: del.isPending, destructive: true, iconOnly: true })
        }
      />
    </div>
  );
}

function LabelDialog({ cred, upstreamId, onClose }: { cred: Credential | null; upstreamId: string; onClose: () => void }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const qc = useQueryClient();
  const [label, setLabel] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (cred) {
      setLabel(cred.label ?? '');
      setError(null);
    }
  }, [cred]);
  const save = useMutation({
    mutationFn: (l: string) => api.patch<Credential>(`/credentials/${cred!.id}`, { label: l }),
    onSuccess: () => {
      toast.success(t('cred.labelSaved'));
      void qc.invalidateQueries({ queryKey: credentialsKey(upstreamId) });
      onClose();
    },
    onError: (e) => setError(e instanceof Error ? e.message : String(e)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const l = label.trim();
    if (l.length > 200) {
      setError(t('cred.labelTooLong', { max: 200 }));
      return;
    }
    if (l === (cred?.label ?? '')) {
      onClose();
      return;
    }
    save.mutate(l);
  };
  return (
    <Dialog open={!!cred} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-sm" closeLabel={t('common:actions.close')}>
        <DialogHeader>
          <DialogTitle>{t('cred.editLabel')}</DialogTitle>
          <DialogDescription>
            <code className="font-mono">{cred?.hint}</code>
          </DialogDescription>
        </DialogHeader>
        <form onSubmit={submit} className="grid grid-cols-1 gap-4" noValidate>
          <Field label={t('cred.label')} htmlFor="cred-label-edit" hint={t('cred.labelHint')} error={error}>
            <Input id="cred-label-edit" data-testid="cred-label-edit" value={label} autoFocus onChange={(e) => setLabel(e.target.value)} />
          </Field>
          <DialogFooter>
            <Button variant="outline" onClick={onClose}>
              {t('common:actions.cancel')}
            </Button>
            <Button type="submit" disabled={save.isPending} data-testid="cred-label-save">
              {save.isPending && <Spinner />}
              {t('common:actions.save')}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

interface AddResult extends AddCredentialResult {
  line: number;
}

export function AddCredentialsDialog({
  open,
  onOpenChange,
  upstream,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  upstream: Upstream;
}) {
  const { t } = useTranslation(['upstreams', 'common']);
  const qc = useQueryClient();
  const [keys, setKeys] = useState('');
  const [label, setLabel] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [results, setResults] = useState<AddResult[] | null>(null);
  const lines = useMemo(() => parseKeyLines(keys), [keys]);
  const bad = lines.filter((l) => l.problem).length;

  const reset = () => {
    setKeys('');
    setLabel('');
    setError(null);
    setResults(null);
  };
  useEffect(() => {
    if (open) reset();
  }, [open]);

  const add = useMutation({
    mutationFn: (body: { keys: string[]; label?: string }) =>
      api.post<{ data: AddCredentialResult[] }>(`/upstreams/${upstream.id}/credentials`, body),
    onSuccess: (r) => {
      const byIndex = lines.map((l) => l.line);
      setResults(r.data.map((x) => ({ ...x, line: byIndex[x.index] ?? x.index + 1 })));
      setKeys(''); // the secrets leave the page as soon as they are stored
      void qc.invalidateQueries({ queryKey: upstreamsKey });
    },
    onError: (e) => {
      if (e instanceof ApiError && e.status === 0) setError(t('common:errors.network', { message: e.message }));
      else setError(e instanceof Error ? e.message : String(e));
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (lines.length === 0) {
      setError(t('add.none'));
      return;
    }
    if (bad) {
      setError(t('add.fixLines', { n: bad }));
      return;
    }
    if (lines.length > 1000) {
      setError(t('add.tooMany', { max: 1000 }));
      return;
    }
    setError(null);
    const l = label.trim();
    add.mutate({ keys: lines.map((x) => x.key), ...(l ? { label: l } : {}) });
  };

  const okCount = results?.filter((r) => r.ok).length ?? 0;
  // "duplicate of cred_…" names the stored credential by id: show its masked hint instead.
  const duplicateText = (error?: string) => {
    const m = /^duplicate of (cred_[A-Za-z0-9]+)$/.exec(error ?? '');
    if (!m) return error;
    const known = [
      ...(results ?? []).flatMap((r) => (r.credential ? [r.credential] : [])),
      ...(qc.getQueryData<List<Credential>>(credentialsKey(upstream.id))?.data ?? []),
    ].find((c) => c.id === m[1]);
    return known ? t('add.duplicate', { hint: known.hint }) : error;
  };

  return (
    <Dialog open={open} onOpenChange={(o) => !add.isPending && onOpenChange(o)}>
      <DialogContent className="max-w-xl" closeLabel={t('common:actions.close')} data-testid="cred-add-dialog">
        <DialogHeader>
          <DialogTitle>{results ? t('add.resultsTitle') : t('add.title', { name: upstream.name })}</DialogTitle>
          <DialogDescription>{t('add.neverShown')}</DialogDescription>
        </DialogHeader>
        {results ? (
          <div className="grid grid-cols-1 gap-4">
            <p className="text-sm" data-testid="cred-add-summary">
              {t('add.summary', { ok: okCount, failed: results.length - okCount })}
            </p>
            <ul className="grid max-h-[50vh] gap-1.5 overflow-y-auto">
              {results.map((r) => (
                <li
                  key={r.index}
                  data-testid="cred-add-result"
                  data-ok={r.ok ? 'true' : 'false'}
                  className={cn(
                    'flex items-start gap-2 rounded-md border px-3 py-2 text-sm',
                    r.ok ? 'border-success/30 bg-success/5' : 'border-destructive/30 bg-destructive/5',
                  )}
                >
                  {r.ok ? <CheckCircle2 className="mt-0.5 size-4 shrink-0 text-success" /> : <XCircle className="mt-0.5 size-4 shrink-0 text-destructive" />}
                  <span className="shrink-0 text-muted-foreground tabular-nums">{t('add.line', { line: r.line })}</span>
                  <span className="min-w-0 break-words">
                    {r.ok ? (
                      <>
                        {t('add.added')} <code className="font-mono">{r.credential?.hint}</code>
                      </>
                    ) : (
                      <span className="text-destructive" title={r.error}>
                        {duplicateText(r.error)}
                      </span>
                    )}
                  </span>
                </li>
              ))}
            </ul>
            <DialogFooter>
              <Button variant="outline" onClick={reset} data-testid="cred-add-more">
                <Plus /> {t('add.more')}
              </Button>
              <Button data-testid="cred-add-done" onClick={() => onOpenChange(false)}>
                {t('common:actions.done')}
              </Button>
            </DialogFooter>
          </div>
        ) : (
          <form onSubmit={submit} noValidate className="grid grid-cols-1 gap-4">
            <Field label={t('add.label')} htmlFor="cred-label" hint={t('add.labelHint')}>
              <Input id="cred-label" data-testid="cred-label" value={label} autoComplete="off" onChange={(e) => setLabel(e.target.value)} />
            </Field>
            <Field
              label={t('add.keys')}
              htmlFor="cred-keys"
              hint={lines.length ? t('add.count', { n: lines.length }) : t('add.keysHint')}
            >
              <Textarea
                id="cred-keys"
                data-testid="cred-keys"
                rows={6}
                value={keys}
                autoComplete="off"
                spellCheck={false}
                placeholder={'sk-ant-api03-…\nsk-ant-api03-…'}
                aria-invalid={bad > 0}
                onChange={(e) => {
                  setKeys(e.target.value);
                  setError(null);
                }}
              />
              <KeyLineProblems lines={lines} />
            </Field>
            <FieldError message={error} />
            <DialogFooter>
              <Button variant="outline" disabled={add.isPending} onClick={() => onOpenChange(false)}>
                {t('common:actions.cancel')}
              </Button>
              <Button type="submit" data-testid="cred-add-submit" disabled={add.isPending || lines.length === 0}>
                {add.isPending && <Spinner />}
                {t('add.submit', { n: lines.length })}
              </Button>
            </DialogFooter>
          </form>
        )}
      </DialogContent>
    </Dialog>
  );
}
