// Client keys: list with usage and spend against budget, create (the secret shown once with
// ready-to-paste snippets), edit limits / models / expiry, enable / disable, delete.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { KeyRound, Pencil, Plus, Search, Trash2 } from 'lucide-react';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ConfirmAction, EmptyState, ErrorState, LoadingState, PageHeader, useErrorToast, useNow } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Switch } from '@/components/ui/switch';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type ClientKey, type List, type Settings } from '@/lib/api';
import { fmtCompact, fmtInt, fmtRelative, fmtTime, fmtUsd } from '@/lib/format';
import { cn } from '@/lib/utils';
import { KeyDialog } from './keys/key-dialog';
import { rateSummary } from './keys/limits';
import { Meter, useDesktop } from './keys/shared';

export default function KeysPage() {
  const { t } = useTranslation(['keys', 'common']);
  const desktop = useDesktop();
  const now = useNow(30_000);
  const [filter, setFilter] = useState('');
  const [dialog, setDialog] = useState<{ open: boolean; editing?: ClientKey }>({ open: false });

  const keys = useQuery({
    queryKey: ['keys'],
    queryFn: () => api.get<List<ClientKey>>('/keys'),
    refetchInterval: 10_000,
  });
  // A new key's limits start from the default limits: prefill them in the create form.
  const settings = useQuery({ queryKey: ['settings'], queryFn: () => api.get<Settings>('/settings'), staleTime: 60_000 });

  const list = useMemo(() => {
    const q = filter.trim().toLowerCase();
    const all = keys.data?.data ?? [];
    return q ? all.filter((k) => k.name.toLowerCase().includes(q) || k.prefix.toLowerCase().includes(q)) : all;
  }, [keys.data, filter]);

  // Keep the key being edited in sync with the list (e.g. after toggling it from the row).
  const editing = dialog.editing ? (keys.data?.data.find((k) => k.id === dialog.editing!.id) ?? dialog.editing) : undefined;

  const newButton = (testId?: string) => (
    <Button data-testid={testId} onClick={() => setDialog({ open: true })}>
      <Plus /> {t('new')}
    </Button>
  );

  let body: React.ReactNode;
  if (keys.isPending) body = <LoadingState rows={5} />;
  else if (keys.isError) body = <ErrorState error={keys.error} onRetry={() => void keys.refetch()} />;
  else if (!keys.data.data.length) body = <EmptyState action={newButton()}>{t('empty')}</EmptyState>;
  else {
    const onEdit = (k: ClientKey) => setDialog({ open: true, editing: k });
    body = (
      <div className="grid gap-3">
        <div className="relative max-w-sm">
          <Search className="pointer-events-none absolute left-3 top-1/2 size-4 -translate-y-1/2 text-muted-foreground" />
          <Input
            className="pl-9"
            placeholder={t('filter')}
            aria-label={t('filter')}
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            data-testid="key-filter"
          />
        </div>
        {!list.length ? (
          <EmptyState>{t('noMatch')}</EmptyState>
        ) : desktop ? (
          <KeyTable keys={list} now={now} onEdit={onEdit} />
        ) : (
          <div className="grid gap-3">
            {list.map((k) => (
              <KeyCard key={k.id} k={k} now={now} onEdit={onEdit} />
            ))}
          </div>
        )}
      </div>
    );
  }

  return (
    <div>
      <PageHeader title={t('title')} description={t('description')} actions={newButton('key-new')} />
      {body}
      <KeyDialog
        open={dialog.open}
        onOpenChange={(open) => setDialog((d) => ({ ...d, open }))}
        editing={editing}
        defaults={settings.data?.default_limits}
      />
    </div>
  );
}

// ---------------------------------------------------------------------------------------------

// `now` (from useNow) only re-renders the list as time passes; the current time is read afresh.
function isExpired(k: ClientKey, now: number) {
  return !!k.expires_at && new Date(k.expires_at).getTime() <= Math.max(now, Date.now());
}

function useToggle() {
  const { t } = useTranslation(['keys', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  return useMutation({
    mutationFn: (v: { k: ClientKey; enabled: boolean }) => api.patch<ClientKey>(`/keys/${v.k.id}`, { enabled: v.enabled }),
    onMutate: async ({ k, enabled }) => {
      await qc.cancelQueries({ queryKey: ['keys'] });
      const prev = qc.getQueryData<List<ClientKey>>(['keys']);
      if (prev) qc.setQueryData<List<ClientKey>>(['keys'], { ...prev, data: prev.data.map((x) => (x.id === k.id ? { ...x, enabled } : x)) });
      return { prev };
    },
    onError: (e, _v, ctx) => {
      if (ctx?.prev) qc.setQueryData(['keys'], ctx.prev);
      errorToast(e);
    },
    onSuccess: (k) => toast.success(k.enabled ? t('toggled.on', { name: k.name }) : t('toggled.off', { name: k.name })),
    onSettled: () => void qc.invalidateQueries({ queryKey: ['keys'] }),
  });
}

function useDelete() {
  const { t } = useTranslation(['keys', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  return useMutation({
    mutationFn: (k: ClientKey) => api.del(`/keys/${k.id}`),
    onSuccess: (_r, k) => {
      toast.success(t('deleted', { name: k.name }));
      void qc.invalidateQueries({ queryKey: ['keys'] });
    },
    onError: errorToast,
  });
}

function NameCell({ k, now }: { k: ClientKey; now: number }) {
  const { t } = useTranslation(['keys', 'common']);
  return (
    <div className="min-w-0">
      <div className="flex flex-wrap items-center gap-1.5">
        <span className="font-medium [overflow-wrap:anywhere]">{k.name}</span>
        {isExpired(k, now) && (
          <Badge variant="destructive" data-testid="key-expired">
            {t('expired')}
          </Badge>
        )}
        {!k.enabled && <Badge variant="secondary">{t('disabled')}</Badge>}
      </div>
      <code className="font-mono text-xs text-muted-foreground" data-testid="key-prefix">
        {k.prefix}…
      </code>
    </div>
  );
}

function Models({ models }: { models: string[] }) {
  const { t } = useTranslation(['keys', 'common']);
  if (!models.length) return <span className="text-xs text-muted-foreground">{t('allModels')}</span>;
  const shown = models.slice(0, 3);
  return (
    <div className="flex max-w-64 flex-wrap gap-1" title={models.join('\n')}>
      {shown.map((m) => (
        <Badge key={m} variant="outline" className="font-mono font-normal">
          {m}
        </Badge>
      ))}
      {models.length > shown.length && <Badge variant="secondary">{t('moreModels', { n: models.length - shown.length })}</Badge>}
    </div>
  );
}

function LimitsSummary({ k }: { k: ClientKey }) {
  const { t } = useTranslation(['keys', 'common']);
  const s = rateSummary(k.limits, t);
  return <span className={cn('text-xs', !s && 'text-muted-foreground')}>{s ?? t('common:state.unlimited')}</span>;
}

function Usage({ k }: { k: ClientKey }) {
  const { t } = useTranslation(['keys', 'common']);
  return (
    <div className="grid gap-0.5 text-xs tabular-nums" data-testid="key-usage">
      <span>{t('usage.requests', { n: fmtInt(k.usage.requests) })}</span>
      <span className="text-muted-foreground">
        {t('usage.tokens', { input: fmtCompact(k.usage.input_tokens), output: fmtCompact(k.usage.output_tokens) })}
      </span>
      <span className="font-medium">{t('usage.cost', { cost: fmtUsd(k.usage.cost_usd) })}</span>
    </div>
  );
}

/** Budgets of a key with what it spent in each period. */
function budgetsOf(k: ClientKey): { id: string; label: 'day' | 'month' | 'total' | 'daily' | 'monthly'; limit: number; spent: number | null }[] {
  const l = k.limits;
  const sp = k.spend;
  const out: ReturnType<typeof budgetsOf> = [];
  if (l.daily_budget_usd !== null && l.daily_budget_usd !== undefined)
    out.push({ id: 'day', label: 'day', limit: l.daily_budget_usd, spent: sp?.day_usd ?? null });
  if (l.monthly_budget_usd !== null && l.monthly_budget_usd !== undefined)
    out.push({ id: 'month', label: 'month', limit: l.monthly_budget_usd, spent: sp?.month_usd ?? null });
  if (l.budget_usd !== null && l.budget_usd !== undefined) {
    const p = l.budget_period ?? 'total';
    const spent = p === 'daily' ? (sp?.day_usd ?? null) : p === 'monthly' ? (sp?.month_usd ?? null) : (sp?.total_usd ?? k.usage.cost_usd);
    out.push({ id: 'budget', label: p, limit: l.budget_usd, spent });
  }
  return out;
}

function Budgets({ k }: { k: ClientKey }) {
  const { t } = useTranslation(['keys', 'common']);
  const items = budgetsOf(k);
  if (!items.length)
    return (
      <div className="grid gap-0.5 text-xs">
        <span className="text-muted-foreground">{t('budget.none')}</span>
        <span className="tabular-nums">{t('budget.spent', { cost: fmtUsd(k.spend?.total_usd ?? k.usage.cost_usd) })}</span>
      </div>
    );
  return (
    <div className="grid min-w-40 gap-2" data-testid="key-budgets">
      {items.map((b) => {
        const ratio = b.spent === null ? 0 : b.limit > 0 ? b.spent / b.limit : b.spent > 0 ? 1 : 0;
        const label = t(`budget.${b.label}`);
        return (
          <div key={b.id} className="grid gap-1" data-budget={b.id}>
            <div className="flex items-baseline justify-between gap-2 text-xs">
              <span className="whitespace-nowrap text-muted-foreground">{label}</span>
              <span className={cn('whitespace-nowrap tabular-nums', ratio >= 1 && 'font-medium text-destructive')} title={b.spent === null ? t('budget.unknown') : undefined}>
                {b.spent === null ? '—' : fmtUsd(b.spent)} / {fmtUsd(b.limit)}
              </span>
            </div>
            <Meter value={ratio} label={label} />
          </div>
        );
      })}
    </div>
  );
}

function Activity({ k, now }: { k: ClientKey; now: number }) {
  const { t } = useTranslation(['keys', 'common']);
  const expired = isExpired(k, now);
  return (
    <div className="grid gap-0.5 text-xs">
      <span title={fmtTime(k.created_at)} className="text-muted-foreground">
        {t('created', { time: fmtRelative(k.created_at) })}
      </span>
      <span title={k.last_used_at ? fmtTime(k.last_used_at) : undefined}>
        {k.last_used_at ? t('lastUsed', { time: fmtRelative(k.last_used_at) }) : <span className="text-muted-foreground">{t('neverUsed')}</span>}
      </span>
      <span title={k.expires_at ? fmtTime(k.expires_at) : undefined} className={cn(expired ? 'text-destructive' : 'text-muted-foreground')}>
        {k.expires_at ? t(expired ? 'expiredAt' : 'expires', { time: fmtRelative(k.expires_at) }) : t('noExpiry')}
      </span>
    </div>
  );
}

function Toggle({ k }: { k: ClientKey }) {
  const { t } = useTranslation(['keys', 'common']);
  const toggle = useToggle();
  return (
    <Switch
      data-testid="key-toggle"
      checked={k.enabled}
      disabled={toggle.isPending}
      aria-label={t('toggleAria', { name: k.name })}
      onCheckedChange={(enabled) => toggle.mutate({ k, enabled })}
    />
  );
}

function RowActions({ k, onEdit }: { k: ClientKey; onEdit: (k: ClientKey) => void }) {
  const { t } = useTranslation(['keys', 'common']);
  const del = useDelete();
  return (
    <div className="flex items-center justify-end gap-0.5">
      <Button variant="ghost" size="icon" data-testid="key-edit" aria-label={t('editAria', { name: k.name })} title={t('common:actions.edit')} onClick={() => onEdit(k)}>
        <Pencil />
      </Button>
      <ConfirmAction
        title={t('deleteTitle', { name: k.name })}
        description={t('deleteText')}
        onConfirm={() => del.mutate(k)}
        trigger={(open) => (
          <Button
            variant="ghost"
            size="icon"
            className="text-destructive hover:text-destructive"
            data-testid="key-delete"
            aria-label={t('deleteAria', { name: k.name })}
            title={t('common:actions.delete')}
            onClick={open}
            disabled={del.isPending}
          >
            <Trash2 />
          </Button>
        )}
      />
    </div>
  );
}

function KeyTable({ keys, now, onEdit }: { keys: ClientKey[]; now: number; onEdit: (k: ClientKey) => void }) {
  const { t } = useTranslation(['keys', 'common']);
  return (
    <Card className="overflow-hidden">
      <Table>
        <THead>
          <TR className="hover:bg-transparent">
            <TH className="pl-4 pr-2">{t('col.name')}</TH>
            <TH className="px-2">{t('col.enabled')}</TH>
            <TH className="px-2">{t('col.access')}</TH>
            <TH className="px-2">{t('col.usage')}</TH>
            <TH className="px-2">{t('col.budget')}</TH>
            <TH className="px-2">{t('col.activity')}</TH>
            <TH className="px-2 text-right">
              <span className="sr-only">{t('col.actions')}</span>
            </TH>
          </TR>
        </THead>
        <TBody>
          {keys.map((k) => (
            <TR key={k.id} data-testid="key-row" data-name={k.name} data-enabled={k.enabled} className={cn('align-top', !k.enabled && 'opacity-70')}>
              <TD className="min-w-32 max-w-48 pl-4 pr-2">
                <NameCell k={k} now={now} />
              </TD>
              <TD className="px-2">
                <Toggle k={k} />
              </TD>
              <TD className="max-w-56 px-2">
                <div className="grid gap-1.5">
                  <Models models={k.allowed_models} />
                  <LimitsSummary k={k} />
                </div>
              </TD>
              <TD className="whitespace-nowrap px-2">
                <Usage k={k} />
              </TD>
              <TD className="px-2">
                <Budgets k={k} />
              </TD>
              <TD className="whitespace-nowrap px-2">
                <Activity k={k} now={now} />
              </TD>
              <TD className="pl-0 pr-2">
                <RowActions k={k} onEdit={onEdit} />
              </TD>
            </TR>
          ))}
        </TBody>
      </Table>
    </Card>
  );
}

function KeyCard({ k, now, onEdit }: { k: ClientKey; now: number; onEdit: (k: ClientKey) => void }) {
  const { t } = useTranslation(['keys', 'common']);
  return (
    <Card data-testid="key-row" data-name={k.name} data-enabled={k.enabled} className="grid min-w-0 gap-3 p-4">
      <div className="flex items-start justify-between gap-3">
        <div className="flex min-w-0 items-start gap-2">
          <KeyRound className="mt-0.5 size-4 shrink-0 text-muted-foreground" />
          <NameCell k={k} now={now} />
        </div>
        <Toggle k={k} />
      </div>
      <div className="grid grid-cols-[auto_1fr] items-start gap-x-3 gap-y-2 text-sm">
        <span className="text-xs text-muted-foreground">{t('col.models')}</span>
        <Models models={k.allowed_models} />
        <span className="text-xs text-muted-foreground">{t('col.limits')}</span>
        <LimitsSummary k={k} />
        <span className="text-xs text-muted-foreground">{t('col.usage')}</span>
        <Usage k={k} />
      </div>
      <Budgets k={k} />
      <div className="flex items-end justify-between gap-2 border-t pt-3">
        <Activity k={k} now={now} />
        <RowActions k={k} onEdit={onEdit} />
      </div>
    </Card>
  );
}
