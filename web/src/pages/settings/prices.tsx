// Prices per model pattern: built-in defaults and operator overrides; add / edit (PUT) and
// delete custom prices.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Pencil, Plus, Search, Trash2 } from 'lucide-react';
import { useMemo, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ConfirmAction, EmptyState, ErrorState, Field, LoadingState, Spinner, useErrorToast, FormError } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, type List, type Price } from '@/lib/api';
import { fmtUsd } from '@/lib/format';
import { parseNumberField, useFieldErrors, type FieldErrors } from '@/lib/form';
import { useDesktop } from '../keys/shared';
import { LiveBadge, Section } from './shared';

const PRICE_FIELDS = ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'] as const;
type PriceField = (typeof PRICE_FIELDS)[number];
const LABEL: Record<PriceField, 'input' | 'output' | 'cacheWrite5m' | 'cacheWrite1h' | 'cacheRead'> = {
  input: 'input',
  output: 'output',
  cache_write_5m: 'cacheWrite5m',
  cache_write_1h: 'cacheWrite1h',
  cache_read: 'cacheRead',
};
const FACTOR: Partial<Record<PriceField, string>> = { cache_write_5m: '1.25', cache_write_1h: '2', cache_read: '0.1' };

/** USD per MTok. */
const fmtPrice = (n: number) => fmtUsd(n);

export function PricesTab() {
  const { t } = useTranslation(['settings', 'common']);
  const desktop = useDesktop();
  const [filter, setFilter] = useState('');
  const [dialog, setDialog] = useState<{ open: boolean; price?: Price }>({ open: false });
  const prices = useQuery({ queryKey: ['prices'], queryFn: () => api.get<List<Price>>('/prices') });

  const list = useMemo(() => {
    const q = filter.trim().toLowerCase();
    const all = prices.data?.data ?? [];
    return q ? all.filter((p) => p.model.toLowerCase().includes(q)) : all;
  }, [prices.data, filter]);

  const add = (
    <Button size="sm" onClick={() => setDialog({ open: true })} data-testid="price-new">
      <Plus /> {t('prices.add')}
    </Button>
  );

  let body: React.ReactNode;
  if (prices.isPending) body = <LoadingState rows={6} />;
  else if (prices.isError) body = <ErrorState error={prices.error} onRetry={() => void prices.refetch()} />;
  else if (!prices.data.data.length) body = <EmptyState action={add}>{t('prices.empty')}</EmptyState>;
  else
    body = (
      <div className="grid gap-3">
        <div className="relative max-w-xs">
          <Search className="pointer-events-none absolute left-3 top-1/2 size-4 -translate-y-1/2 text-muted-foreground" />
          <Input className="pl-9" placeholder={t('prices.filter')} aria-label={t('prices.filter')} value={filter} onChange={(e) => setFilter(e.target.value)} />
        </div>
        {!list.length ? (
          <EmptyState>{t('prices.noMatch')}</EmptyState>
        ) : desktop ? (
          <div className="overflow-hidden rounded-lg border">
            <Table>
              <THead>
                <TR className="hover:bg-transparent">
                  <TH>{t('prices.model')}</TH>
                  {PRICE_FIELDS.map((k) => (
                    <TH key={k} className="text-right">
                      {t(`prices.${LABEL[k]}`)}
                    </TH>
                  ))}
                  <TH>{t('prices.source')}</TH>
                  <TH />
                </TR>
              </THead>
              <TBody>
                {list.map((p) => (
                  <TR key={p.model} data-testid="price-row" data-model={p.model} data-source={p.source}>
                    <TD className="font-mono text-xs">{p.model}</TD>
                    {PRICE_FIELDS.map((k) => (
                      <TD key={k} className="text-right tabular-nums">
                        {fmtPrice(p[k])}
                      </TD>
                    ))}
                    <TD>
                      <SourceBadge p={p} />
                    </TD>
                    <TD>
                      <PriceActions p={p} onEdit={() => setDialog({ open: true, price: p })} />
                    </TD>
                  </TR>
                ))}
              </TBody>
            </Table>
          </div>
        ) : (
          <div className="grid gap-2">
            {list.map((p) => (
              <div key={p.model} data-testid="price-row" data-model={p.model} data-source={p.source} className="grid gap-2 rounded-lg border p-3">
                <div className="flex items-start justify-between gap-2">
                  <div className="grid min-w-0 gap-1">
                    <code className="font-mono text-xs [overflow-wrap:anywhere]">{p.model}</code>
                    <SourceBadge p={p} />
                  </div>
                  <PriceActions p={p} onEdit={() => setDialog({ open: true, price: p })} />
                </div>
                <dl className="grid grid-cols-2 gap-x-3 gap-y-1 text-xs">
                  {PRICE_FIELDS.map((k) => (
                    <div key={k} className="flex justify-between gap-2">
                      <dt className="text-muted-foreground">{t(`prices.${LABEL[k]}`)}</dt>
                      <dd className="tabular-nums">{fmtPrice(p[k])}</dd>
                    </div>
                  ))}
                </dl>
              </div>
            ))}
          </div>
        )}
      </div>
    );

  return (
    <Section
      title={t('prices.title')}
      text={
        <>
          {t('prices.text')} <span className="whitespace-nowrap">({t('prices.perMTok')})</span>
        </>
      }
      badge={<LiveBadge />}
      actions={prices.data?.data.length ? add : undefined}
    >
      {body}
      <PriceDialog open={dialog.open} price={dialog.price} onOpenChange={(open) => setDialog((d) => ({ ...d, open }))} />
    </Section>
  );
}

function SourceBadge({ p }: { p: Price }) {
  const { t } = useTranslation(['settings', 'common']);
  return p.source === 'custom' ? (
    <Badge variant="default" className="w-fit">
      {t('prices.custom')}
    </Badge>
  ) : (
    <Badge variant="secondary" className="w-fit">
      {t('prices.builtin')}
    </Badge>
  );
}

function PriceActions({ p, onEdit }: { p: Price; onEdit: () => void }) {
  const { t } = useTranslation(['settings', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  const del = useMutation({
    mutationFn: () => api.del(`/prices/${encodeURIComponent(p.model)}`),
    onSuccess: () => {
      toast.success(t('prices.deleted', { model: p.model }));
      void qc.invalidateQueries({ queryKey: ['prices'] });
      void qc.invalidateQueries({ queryKey: ['audit'] });
    },
    onError: errorToast,
  });
  return (
    <div className="flex shrink-0 items-center justify-end gap-1">
      <Button variant="ghost" size="icon" onClick={onEdit} aria-label={t('prices.editAria', { model: p.model })} title={t('common:actions.edit')} data-testid="price-edit">
        <Pencil />
      </Button>
      {p.source === 'custom' && (
        <ConfirmAction
          title={t('prices.deleteTitle', { model: p.model })}
          description={t('prices.deleteText')}
          onConfirm={() => del.mutate()}
          trigger={(open) => (
            <Button
              variant="ghost"
              size="icon"
              className="text-destructive hover:text-destructive"
              onClick={open}
              disabled={del.isPending}
              aria-label={t('prices.deleteAria', { model: p.model })}
              title={t('common:actions.delete')}
              data-testid="price-delete"
            >
              <Trash2 />
            </Button>
          )}
        />
      )}
    </div>
  );
}

function PriceDialog({ open, price, onOpenChange }: { open: boolean; price?: Price; onOpenChange: (o: boolean) => void }) {
  const { t } = useTranslation(['settings', 'common']);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent closeLabel={t('common:actions.close')} data-testid="price-dialog">
        {open && <PriceForm key={price?.model ?? 'new'} price={price} onDone={() => onOpenChange(false)} />}
      </DialogContent>
    </Dialog>
  );
}

function PriceForm({ price, onDone }: { price?: Price; onDone: () => void }) {
  const { t } = useTranslation(['settings', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  const fe = useFieldErrors();
  const [model, setModel] = useState(price?.model ?? '');
  const [v, setV] = useState<Record<PriceField, string>>(() =>
    Object.fromEntries(PRICE_FIELDS.map((k) => [k, price ? String(price[k]) : ''])) as Record<PriceField, string>,
  );
  const save = useMutation({
    mutationFn: (x: { model: string; body: Record<string, number> }) => api.put<Price>(`/prices/${encodeURIComponent(x.model)}`, x.body),
    onSuccess: (p) => {
      toast.success(t('prices.saved', { model: p.model }));
      void qc.invalidateQueries({ queryKey: ['prices'] });
      void qc.invalidateQueries({ queryKey: ['audit'] });
      onDone();
    },
    onError: (e) => {
      if (!fe.fromServer(e)) errorToast(e);
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: FieldErrors = {};
    const m = model.trim();
    if (!m) errors.model = t('common:errors.required');
    else if (/\s/.test(m)) errors.model = t('prices.modelInvalid');
    const body: Record<string, number> = {};
    for (const k of PRICE_FIELDS) {
      const r = parseNumberField(v[k], 0, 1_000_000);
      if (r.error) errors[k] = r.error === 'number' ? t('common:errors.number') : t('common:errors.range', { min: 0, max: '1,000,000' });
      else if (r.value === null) {
        if (k === 'input' || k === 'output') errors[k] = t('common:errors.required');
      } else body[k] = r.value;
    }
    fe.set(errors);
    if (Object.keys(errors).length) return;
    save.mutate({ model: m, body });
  };

  return (
    <form onSubmit={submit} noValidate className="grid min-w-0 gap-4">
      <DialogHeader>
        <DialogTitle className="leading-snug [overflow-wrap:anywhere]">{price ? t('prices.editTitle', { model: price.model }) : t('prices.addTitle')}</DialogTitle>
        <DialogDescription>{t('prices.dialogText')}</DialogDescription>
      </DialogHeader>
      <Field label={t('prices.model')} hint={t('prices.modelHint')} htmlFor="price-model" error={fe.errors.model}>
        <Input
          id="price-model"
          data-testid="price-model"
          className="font-mono"
          value={model}
          readOnly={!!price}
          disabled={!!price}
          autoFocus={!price}
          placeholder="claude-sonnet-4-5*"
          onChange={(e) => setModel(e.target.value)}
          aria-invalid={!!fe.errors.model}
        />
      </Field>
      <div className="grid gap-3 sm:grid-cols-2">
        {PRICE_FIELDS.map((k) => (
          <Field
            key={k}
            label={`${t(`prices.${LABEL[k]}`)} (${t('prices.perMTok')})`}
            htmlFor={`price-${k}`}
            error={fe.errors[k]}
            hint={FACTOR[k] ? t('prices.derived', { factor: FACTOR[k] }) : undefined}
            className="content-start"
          >
            <div className="relative">
              <span className="pointer-events-none absolute left-3 top-1/2 -translate-y-1/2 text-sm text-muted-foreground">$</span>
              <Input
                id={`price-${k}`}
                data-testid={`price-${k.replace(/_/g, '-')}`}
                inputMode="decimal"
                className="pl-6"
                value={v[k]}
                onChange={(e) => setV({ ...v, [k]: e.target.value })}
                aria-invalid={!!fe.errors[k]}
              />
            </div>
          </Field>
        ))}
      </div>
      <FormError message={fe.errors.form} />
      <DialogFooter>
        <Button type="button" variant="outline" onClick={onDone}>
          {t('common:actions.cancel')}
        </Button>
        <Button type="submit" data-testid="price-save" disabled={save.isPending}>
          {save.isPending && <Spinner />}
          {save.isPending ? t('common:actions.saving') : t('common:actions.save')}
        </Button>
      </DialogFooter>
    </form>
  );
}
