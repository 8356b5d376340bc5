// Create / edit dialog of a client key. Creating ends in the "shown once" view of the secret.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Trash2 } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ConfirmAction, Field, Spinner, useErrorToast, FormError } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, Textarea } from '@/components/ui/input';
import { Switch } from '@/components/ui/switch';
import { api, type ClientKey, type Limits } from '@/lib/api';
import { useFieldErrors, type FieldErrors } from '@/lib/form';
import { cn } from '@/lib/utils';
import { CreatedKeyView } from './created';
import { diffLimits, limitsToForm, LimitsFields, parseLimits, type LimitsForm } from './limits';

export const NAME_RE = /^[A-Za-z0-9._@ -]{1,64}$/;

/** ISO time → the value of a datetime-local input, in local time. */
export function isoToLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function daysFromNow(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setSeconds(0, 0);
  return isoToLocalInput(d.toISOString());
}

function parseModels(text: string): { models: string[]; badLine?: number } {
  const models: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = lines[i].trim();
    if (!m) continue;
    if (/\s/.test(m)) return { models, badLine: i + 1 };
    if (!models.includes(m)) models.push(m);
  }
  return { models };
}

interface FormState {
  name: string;
  models: string;
  expires: string;
  enabled: boolean;
  limits: LimitsForm;
}

function initialState(k?: ClientKey, defaults?: Limits): FormState {
  return {
    name: k?.name ?? '',
    models: (k?.allowed_models ?? []).join('\n'),
    expires: isoToLocalInput(k?.expires_at),
    enabled: k?.enabled ?? true,
    limits: limitsToForm(k?.limits ?? defaults),
  };
}

export function KeyDialog({
  open,
  onOpenChange,
  editing,
  defaults,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  /** The key to edit; undefined = create. */
  editing?: ClientKey;
  /** settings.default_limits, prefilled on create. */
  defaults?: Limits;
}) {
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const { t } = useTranslation(['keys', 'common']);
  const setOpen = (o: boolean) => {
    onOpenChange(o);
    if (!o) setCreated(null);
  };
  const close = () => setOpen(false);
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogContent
        className={cn(created ? 'max-w-2xl' : 'max-w-xl')}
        closeLabel={t('common:actions.close')}
        data-testid={created ? 'key-created-dialog' : 'key-dialog'}
        // The secret is shown once: a stray click outside must not throw it away.
        onInteractOutside={(e) => created && e.preventDefault()}
        onEscapeKeyDown={(e) => created && e.preventDefault()}
      >
        {created ? (
          <CreatedKeyView name={created.name} secret={created.key} onDone={close} />
        ) : (
          open && (
            <KeyForm
              key={editing?.id ?? 'new'}
              editing={editing}
              defaults={defaults}
              onCreated={(k) => setCreated(k)}
              onDone={close}
            />
          )
        )}
      </DialogContent>
    </Dialog>
  );
}

function KeyForm({
  editing,
  defaults,
  onCreated,
  onDone,
}: {
  editing?: ClientKey;
  defaults?: Limits;
  onCreated: (k: { name: string; key: string }) => void;
  onDone: () => void;
}) {
  const { t } = useTranslation(['keys', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  const fe = useFieldErrors();
  const [f, setF] = useState<FormState>(() => initialState(editing, defaults));
  const initial = useState(() => initialState(editing, defaults))[0];
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((s) => ({ ...s, [k]: v }));

  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      editing ? api.patch<ClientKey>(`/keys/${editing.id}`, body) : api.post<ClientKey>('/keys', body),
    onSuccess: (k) => {
      void qc.invalidateQueries({ queryKey: ['keys'] });
      if (editing) {
        toast.success(t('form.saved', { name: k.name }));
        onDone();
      } else {
        onCreated({ name: k.name, key: k.key ?? '' });
      }
    },
    onError: (e) => {
      if (!fe.fromServer(e)) errorToast(e);
    },
  });

  const del = useMutation({
    mutationFn: () => api.del(`/keys/${editing!.id}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['keys'] });
      toast.success(t('deleted', { name: editing!.name }));
      onDone();
    },
    onError: errorToast,
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: FieldErrors = {};
    const name = f.name.trim();
    if (!name) errors.name = t('common:errors.required');
    else if (!NAME_RE.test(name)) errors.name = t('form.nameInvalid');
    const { models, badLine } = parseModels(f.models);
    if (badLine) errors.allowed_models = t('form.modelsInvalid', { line: badLine });
    let expiresAt: string | null = null;
    if (f.expires.trim()) {
      const d = new Date(f.expires);
      if (Number.isNaN(d.getTime())) errors.expires_at = t('form.expiresInvalid');
      else {
        expiresAt = d.toISOString();
        if (f.expires !== initial.expires && d.getTime() <= Date.now()) errors.expires_at = t('form.expiresPast');
      }
    }
    const lim = parseLimits(f.limits, 'limits', t);
    Object.assign(errors, lim.errors);
    fe.set(errors);
    if (Object.keys(errors).length) return;

    // The form starts from the limits shown (the key's, or the defaults a new key starts from):
    // only what the operator changed is sent.
    const changed = diffLimits(parseLimits(initial.limits, 'limits', t).limits, lim.limits);
    if (!editing) {
      const body: Record<string, unknown> = { name };
      if (models.length) body.allowed_models = models;
      if (expiresAt) body.expires_at = expiresAt;
      if (changed) body.limits = changed;
      save.mutate(body);
      return;
    }
    const body: Record<string, unknown> = {};
    if (name !== editing.name) body.name = name;
    if (f.enabled !== editing.enabled) body.enabled = f.enabled;
    if (f.expires !== initial.expires) body.expires_at = expiresAt;
    if (JSON.stringify(models) !== JSON.stringify(editing.allowed_models)) body.allowed_models = models;
    if (changed) body.limits = changed;
    if (!Object.keys(body).length) {
      toast.info(t('form.noChanges'));
      onDone();
      return;
    }
    save.mutate(body);
  };

  const err = fe.errors;
  return (
    <form onSubmit={submit} noValidate className="grid min-w-0 gap-5">
      <DialogHeader>
        <DialogTitle>{editing ? t('form.editTitle', { name: editing.name }) : t('form.createTitle')}</DialogTitle>
        <DialogDescription>{editing ? t('form.editText') : t('form.createText')}</DialogDescription>
      </DialogHeader>

      {editing && (
        <div className="flex flex-wrap items-center justify-between gap-3 rounded-lg border p-3">
          <div className="min-w-0">
            <div className="text-xs text-muted-foreground">{t('form.prefix')}</div>
            <code className="font-mono text-sm">{editing.prefix}…</code>
          </div>
          <label className="flex items-center gap-2 text-sm font-medium">
            <Switch checked={f.enabled} onCheckedChange={(v) => set('enabled', v)} data-testid="key-enabled" />
            {t('form.enabled')}
          </label>
          <p className="w-full text-xs text-muted-foreground">{t('form.enabledHint')}</p>
        </div>
      )}

      <Field label={t('form.name')} hint={t('form.nameHint')} htmlFor="key-name" error={err.name}>
        <Input
          id="key-name"
          data-testid="key-name"
          value={f.name}
          maxLength={64}
          autoComplete="off"
          autoFocus={!editing}
          onChange={(e) => set('name', e.target.value)}
          aria-invalid={!!err.name}
        />
      </Field>

      <Field label={t('form.models')} hint={t('form.modelsHint')} htmlFor="key-models" error={err.allowed_models}>
        <Textarea
          id="key-models"
          data-testid="key-models"
          rows={3}
          placeholder={'claude-sonnet-4-5*\nclaude-haiku-*'}
          value={f.models}
          onChange={(e) => set('models', e.target.value)}
          aria-invalid={!!err.allowed_models}
          spellCheck={false}
        />
      </Field>

      <Field label={t('form.expires')} hint={t('form.expiresHint')} htmlFor="key-expires" error={err.expires_at}>
        <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
          <Input
            id="key-expires"
            data-testid="key-expires"
            type="datetime-local"
            className="sm:max-w-60"
            value={f.expires}
            onChange={(e) => set('expires', e.target.value)}
            aria-invalid={!!err.expires_at}
          />
          <div className="flex flex-wrap gap-1">
            <Button type="button" variant="ghost" size="sm" onClick={() => set('expires', '')}>
              {t('form.never')}
            </Button>
            <Button type="button" variant="ghost" size="sm" onClick={() => set('expires', daysFromNow(30))}>
              {t('form.days', { n: 30 })}
            </Button>
            <Button type="button" variant="ghost" size="sm" onClick={() => set('expires', daysFromNow(90))}>
              {t('form.days', { n: 90 })}
            </Button>
            <Button type="button" variant="ghost" size="sm" onClick={() => set('expires', daysFromNow(365))}>
              {t('form.year')}
            </Button>
          </div>
        </div>
      </Field>

      <LimitsFields
        value={f.limits}
        onChange={(v) => set('limits', v)}
        errors={err}
        prefix="limits"
        testIdPrefix="key"
        idPrefix="key-limit"
      />
      {!editing && <p className="-mt-2 text-xs text-muted-foreground">{t('form.defaultsNote')}</p>}

      <FormError message={err.form} />

      <DialogFooter className="sm:justify-between">
        {editing ? (
          <ConfirmAction
            title={t('deleteTitle', { name: editing.name })}
            description={t('deleteText')}
            onConfirm={() => del.mutate()}
            trigger={(openConfirm) => (
              <Button type="button" variant="ghost" className="text-destructive hover:text-destructive" onClick={openConfirm} data-testid="key-dialog-delete">
                <Trash2 /> {t('form.deleteKey')}
              </Button>
            )}
          />
        ) : (
          <span />
        )}
        <div className="flex flex-col-reverse gap-2 sm:flex-row">
          <Button type="button" variant="outline" onClick={onDone}>
            {t('common:actions.cancel')}
          </Button>
          <Button type="submit" data-testid="key-save" disabled={save.isPending}>
            {save.isPending && <Spinner />}
            {save.isPending ? t('common:actions.saving') : editing ? t('common:actions.save') : t('form.create')}
          </Button>
        </div>
      </DialogFooter>
    </form>
  );
}
