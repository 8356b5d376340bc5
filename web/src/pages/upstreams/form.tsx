// The create / edit dialog of an upstream (one form for both; an edit PATCHes only what changed).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ChevronRight, Plus, X } from 'lucide-react';
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Field, FieldError, Spinner } from '@/components/common';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, Textarea } from '@/components/ui/input';
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from '@/components/ui/select';
import { Switch } from '@/components/ui/switch';
import { api, ApiError, type HealthCheck, type Settings, type Upstream, type UpstreamKind } from '@/lib/api';
import { isHttpUrl, parseIntField, type FieldErrors } from '@/lib/form';
import { fmtMs } from '@/lib/format';
import { cn } from '@/lib/utils';
import { KeyLineProblems, parseKeyLines, upstreamsKey } from './shared';

interface MapRow {
  id: number;
  from: string;
  to: string;
}

interface FormState {
  name: string;
  kind: UpstreamKind;
  base_url: string;
  auth: Upstream['auth'];
  models: string;
  map: MapRow[];
  priority: string;
  weight: string;
  credential_concurrency: string;
  health_check: HealthCheck;
  health_check_interval_ms: string;
  proxy_url: string;
  connect_timeout_ms: string;
  first_byte_timeout_ms: string;
  stream_idle_timeout_ms: string;
  enabled: boolean;
  credentials: string;
}

const DEFAULT_MODELS: Record<UpstreamKind, string> = { anthropic: 'claude-*', openai: '*' };
const TIMEOUTS = ['connect_timeout_ms', 'first_byte_timeout_ms', 'stream_idle_timeout_ms'] as const;
/** Fields that live in the collapsed "Advanced" section: an error there opens it. */
const ADVANCED = new Set<string>(['credential_concurrency', 'health_check', 'health_check_interval_ms', 'proxy_url', ...TIMEOUTS]);
const FIELDS = new Set<string>([
  'name', 'kind', 'base_url', 'auth', 'models', 'model_map', 'priority', 'weight', 'enabled', 'credentials', ...ADVANCED,
]);

/** The input of each field, to focus the first one with an error. */
const INPUT_ID: Record<string, string> = {
  name: 'upstream-name',
  kind: 'upstream-kind',
  base_url: 'upstream-base-url',
  auth: 'upstream-auth',
  models: 'upstream-models',
  model_map: 'upstream-map-add',
  priority: 'upstream-priority',
  weight: 'upstream-weight',
  enabled: 'upstream-enabled',
  credentials: 'upstream-credentials',
  credential_concurrency: 'upstream-concurrency',
  health_check: 'upstream-health-check',
  health_check_interval_ms: 'upstream-health-interval',
  proxy_url: 'upstream-proxy',
  connect_timeout_ms: 'upstream-connect_timeout_ms',
  first_byte_timeout_ms: 'upstream-first_byte_timeout_ms',
  stream_idle_timeout_ms: 'upstream-stream_idle_timeout_ms',
};
const ORDER = Object.keys(INPUT_ID);

/** Focus (and scroll to) the first field with an error, once the Advanced section has rendered. */
function focusFirst(errors: FieldErrors) {
  const first = ORDER.find((k) => errors[k]);
  if (!first) return;
  setTimeout(() => {
    const el = document.getElementById(INPUT_ID[first]) ?? document.querySelector<HTMLElement>(`[data-testid="${INPUT_ID[first]}"]`);
    el?.focus();
    el?.scrollIntoView({ block: 'center' });
  }, 0);
}

let rowId = 0;
const row = (from = '', to = ''): MapRow => ({ id: ++rowId, from, to });

function initial(u?: Upstream): FormState {
  if (!u) {
    return {
      name: '',
      kind: 'anthropic',
      base_url: '',
      auth: 'key',
      models: DEFAULT_MODELS.anthropic,
      map: [],
      priority: '0',
      weight: '1',
      credential_concurrency: '0',
      health_check: 'off',
      health_check_interval_ms: '60000',
      proxy_url: '',
      connect_timeout_ms: '',
      first_byte_timeout_ms: '',
      stream_idle_timeout_ms: '',
      enabled: true,
      credentials: '',
    };
  }
  return {
    name: u.name,
    kind: u.kind,
    base_url: u.base_url,
    auth: u.auth,
    models: u.models.join('\n'),
    map: Object.entries(u.model_map ?? {}).map(([f, t]) => row(f, t)),
    priority: String(u.priority),
    weight: String(u.weight),
    credential_concurrency: String(u.credential_concurrency),
    health_check: u.health_check,
    health_check_interval_ms: String(u.health_check_interval_ms),
    proxy_url: u.proxy_url ?? '',
    connect_timeout_ms: String(u.connect_timeout_ms),
    first_byte_timeout_ms: String(u.first_byte_timeout_ms),
    stream_idle_timeout_ms: String(u.stream_idle_timeout_ms),
    enabled: u.enabled,
    credentials: '',
  };
}

export function splitModels(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function isProxyUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return ['http:', 'socks5:', 'socks5h:'].includes(u.protocol) && !!u.hostname && !u.search && !u.hash && (u.pathname === '' || u.pathname === '/');
  } catch {
    return false;
  }
}

/** "models[1]" → "models", "model_map.x" → "model_map", "credentials[2]" → "credentials". */
function fieldOf(path: string): string {
  return path.split(/[.[]/)[0];
}

export function UpstreamDialog({
  open,
  onOpenChange,
  upstream,
  onSaved,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  upstream?: Upstream;
  onSaved?: (u: Upstream) => void;
}) {
  const { t } = useTranslation(['upstreams', 'common']);
  const qc = useQueryClient();
  const editing = !!upstream;
  const [f, setF] = useState<FormState>(() => initial(upstream));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [advanced, setAdvanced] = useState(false);

  // A fresh form every time the dialog opens (and for the upstream it edits).
  useEffect(() => {
    if (open) {
      setF(initial(upstream));
      setErrors({});
      setAdvanced(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, upstream?.id]);

  // The global defaults, shown as placeholders of a new upstream's empty timeouts.
  const settings = useQuery({
    queryKey: ['settings'],
    queryFn: () => api.get<Settings>('/settings'),
    enabled: open && !editing,
    staleTime: 60_000,
  });

  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => {
    setF((s) => ({ ...s, [k]: v }));
    const ek = k === 'map' ? 'model_map' : (k as string);
    if (errors[ek]) setErrors(({ [ek]: _, ...rest }) => rest);
  };

  const keyLines = useMemo(() => parseKeyLines(f.credentials), [f.credentials]);

  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      editing ? api.patch<Upstream>(`/upstreams/${upstream!.id}`, body) : api.post<Upstream>('/upstreams', body),
    onSuccess: (u) => {
      void qc.invalidateQueries({ queryKey: upstreamsKey });
      if (editing) toast.success(t('form.saved', { name: u.name }));
      else if (u.credentials?.total) toast.success(t('form.createdWith', { name: u.name, n: u.credentials.total }));
      else toast.success(t('form.created', { name: u.name }));
      onOpenChange(false);
      onSaved?.(u);
    },
    onError: (e) => {
      if (e instanceof ApiError && e.field) {
        const key = fieldOf(e.field);
        if (FIELDS.has(key)) {
          setErrors({ [key]: e.message });
          if (ADVANCED.has(key)) setAdvanced(true);
          focusFirst({ [key]: e.message });
          return;
        }
      }
      setErrors({ form: e instanceof ApiError && e.status === 0 ? t('common:errors.network', { message: e.message }) : (e as Error).message });
    },
  });

  /** Client-side checks; returns the full body, or null with the errors set. */
  const validate = (): Record<string, unknown> | null => {
    const err: FieldErrors = {};
    const body: Record<string, unknown> = {};
    const name = f.name.trim();
    if (!name) err.name = t('common:errors.required');
    else if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) err.name = t('form.nameInvalid');
    body.name = name;
    body.kind = f.kind;
    const base = f.base_url.trim().replace(/\/+$/, '');
    if (!base) err.base_url = t('common:errors.required');
    else if (!isHttpUrl(base)) err.base_url = t('common:errors.url');
    body.base_url = base;
    body.auth = f.auth;
    const models = splitModels(f.models);
    if (models.length === 0) err.models = t('form.modelsRequired');
    body.models = models;
    const map: Record<string, string> = {};
    for (const r of f.map) {
      const from = r.from.trim();
      const to = r.to.trim();
      if (!from && !to) continue;
      if (!from || !to) err.model_map = t('form.mapIncomplete');
      else if (from in map) err.model_map = t('form.mapDuplicate', { name: from });
      else map[from] = to;
    }
    body.model_map = map;
    const ints: [keyof FormState & string, number, number, boolean][] = [
      ['priority', -1000, 1000, true],
      ['weight', 1, 1000, true],
      ['credential_concurrency', 0, 100000, true],
      ['health_check_interval_ms', 1000, 86400000, f.health_check !== 'off'],
      ...TIMEOUTS.map((k) => [k, 1, 3600000, editing] as [keyof FormState & string, number, number, boolean]),
    ];
    for (const [k, min, max, required] of ints) {
      const r = parseIntField(f[k] as string, min, max);
      if (r.error === 'integer') err[k] = t('common:errors.integer');
      else if (r.error === 'range') err[k] = t('common:errors.range', { min, max });
      else if (r.value === null) {
        if (required) err[k] = t('common:errors.required');
      } else body[k] = r.value;
    }
    body.health_check = f.health_check;
    const proxy = f.proxy_url.trim();
    if (proxy === '') body.proxy_url = null;
    else if (proxy === 'direct') body.proxy_url = 'direct';
    else if (!isProxyUrl(proxy)) err.proxy_url = t('form.proxyInvalid');
    else body.proxy_url = proxy;
    body.enabled = f.enabled;
    if (!editing) {
      const bad = keyLines.filter((l) => l.problem);
      if (bad.length) err.credentials = t('form.credentialsBad', { n: bad.length });
      const keys = [...new Set(keyLines.map((l) => l.key))];
      if (keys.length) body.credentials = keys;
    }
    setErrors(err);
    if (Object.keys(err).length) {
      if (Object.keys(err).some((k) => ADVANCED.has(k))) setAdvanced(true);
      focusFirst(err);
      return null;
    }
    return body;
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = validate();
    if (!body) return;
    if (!editing) {
      save.mutate(body);
      return;
    }
    // PATCH only what differs from the upstream as loaded.
    const u = upstream!;
    const changed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) {
      const before = (u as unknown as Record<string, unknown>)[k];
      if (JSON.stringify(before ?? null) !== JSON.stringify(v)) changed[k] = v;
    }
    if (Object.keys(changed).length === 0) {
      toast.info(t('form.noChanges'));
      onOpenChange(false);
      return;
    }
    save.mutate(changed);
  };

  const defaults = settings.data;
  const intervalMs = parseIntField(f.health_check_interval_ms, 1000, 86400000).value;

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent className="max-w-2xl" closeLabel={t('common:actions.close')} data-testid="upstream-dialog">
        <DialogHeader>
          <DialogTitle>{editing ? t('form.editTitle', { name: upstream!.name }) : t('form.createTitle')}</DialogTitle>
          <DialogDescription>{editing ? t('form.editDesc') : t('form.createDesc')}</DialogDescription>
        </DialogHeader>
        <form onSubmit={submit} noValidate className="grid grid-cols-1 gap-4">
          <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
            <Field label={t('form.name')} htmlFor="upstream-name" hint={t('form.nameHint')} error={errors.name}>
              <Input
                id="upstream-name"
                data-testid="upstream-name"
                value={f.name}
                autoComplete="off"
                aria-invalid={!!errors.name}
                placeholder="anthropic-main"
                onChange={(e) => set('name', e.target.value)}
              />
            </Field>
            <Field label={t('form.kind')} htmlFor="upstream-kind" hint={t(`form.kindHint.${f.kind}`)} error={errors.kind}>
              <Select
                value={f.kind}
                onValueChange={(v) => {
                  const kind = v as UpstreamKind;
                  setF((s) => ({
                    ...s,
                    kind,
                    // Follow the kind's default model globs while the field still holds the other default.
                    models: !editing && s.models.trim() === DEFAULT_MODELS[s.kind] ? DEFAULT_MODELS[kind] : s.models,
                  }));
                }}
              >
                <SelectTrigger id="upstream-kind" data-testid="upstream-kind" aria-invalid={!!errors.kind}>
                  <SelectValue />
                </SelectTrigger>
                <SelectContent>
                  <SelectItem value="anthropic" data-testid="upstream-kind-anthropic">
                    anthropic
                  </SelectItem>
                  <SelectItem value="openai" data-testid="upstream-kind-openai">
                    openai
                  </SelectItem>
                </SelectContent>
              </Select>
            </Field>
          </div>

          <Field label={t('form.baseUrl')} htmlFor="upstream-base-url" hint={t('form.baseUrlHint')} error={errors.base_url}>
            <Input
              id="upstream-base-url"
              data-testid="upstream-base-url"
              value={f.base_url}
              inputMode="url"
              autoComplete="off"
              spellCheck={false}
              aria-invalid={!!errors.base_url}
              placeholder={f.kind === 'openai' ? 'https://api.openai.com' : 'https://api.anthropic.com'}
              onChange={(e) => set('base_url', e.target.value)}
            />
          </Field>

          <Field label={t('form.auth')} htmlFor="upstream-auth" hint={t(`auth.${f.auth}Hint`)} error={errors.auth}>
            <Select value={f.auth} onValueChange={(v) => set('auth', v as Upstream['auth'])}>
              <SelectTrigger id="upstream-auth" data-testid="upstream-auth" aria-invalid={!!errors.auth}>
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                <SelectItem value="key" data-testid="upstream-auth-key">
                  key
                </SelectItem>
                <SelectItem value="passthrough" data-testid="upstream-auth-passthrough">
                  passthrough
                </SelectItem>
              </SelectContent>
            </Select>
          </Field>

          <Field label={t('form.models')} htmlFor="upstream-models" hint={t('form.modelsHint')} error={errors.models}>
            <Textarea
              id="upstream-models"
              data-testid="upstream-models"
              rows={3}
              value={f.models}
              spellCheck={false}
              aria-invalid={!!errors.models}
              onChange={(e) => set('models', e.target.value)}
            />
          </Field>

          <div className="grid grid-cols-1 gap-1.5">
            <div className="flex items-center justify-between gap-2">
              <span className="text-sm font-medium">{t('form.modelMap')}</span>
              <Button
                variant="outline"
                size="sm"
                data-testid="upstream-map-add"
                onClick={() => set('map', [...f.map, row()])}
              >
                <Plus /> {t('form.addMapping')}
              </Button>
            </div>
            {f.map.length === 0 ? (
              <p className="text-xs text-muted-foreground">{t('form.modelMapEmpty')}</p>
            ) : (
              <div className="grid grid-cols-1 gap-2">
                {f.map.map((r, i) => (
                  <div key={r.id} className="flex items-center gap-2" data-testid="upstream-map-row">
                    <Input
                      aria-label={t('form.mapFrom')}
                      placeholder={t('form.mapFrom')}
                      className="min-w-0 flex-1 font-mono"
                      value={r.from}
                      spellCheck={false}
                      onChange={(e) => set('map', f.map.map((x, j) => (j === i ? { ...x, from: e.target.value } : x)))}
                    />
                    <span className="text-muted-foreground" aria-hidden>
                      →
                    </span>
                    <Input
                      aria-label={t('form.mapTo')}
                      placeholder={t('form.mapTo')}
                      className="min-w-0 flex-1 font-mono"
                      value={r.to}
                      spellCheck={false}
                      onChange={(e) => set('map', f.map.map((x, j) => (j === i ? { ...x, to: e.target.value } : x)))}
                    />
                    <Button
                      variant="ghost"
                      size="icon"
                      className="shrink-0"
                      aria-label={t('form.removeMapping')}
                      title={t('form.removeMapping')}
                      onClick={() => set('map', f.map.filter((_, j) => j !== i))}
                    >
                      <X />
                    </Button>
                  </div>
                ))}
              </div>
            )}
            {errors.model_map ? <FieldError message={errors.model_map} /> : <p className="text-xs text-muted-foreground">{t('form.modelMapHint')}</p>}
          </div>

          <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
            <Field label={t('form.priority')} htmlFor="upstream-priority" hint={t('form.priorityHint')} error={errors.priority}>
              <Input
                id="upstream-priority"
                data-testid="upstream-priority"
                inputMode="numeric"
                value={f.priority}
                aria-invalid={!!errors.priority}
                onChange={(e) => set('priority', e.target.value)}
              />
            </Field>
            <Field label={t('form.weight')} htmlFor="upstream-weight" hint={t('form.weightHint')} error={errors.weight}>
              <Input
                id="upstream-weight"
                data-testid="upstream-weight"
                inputMode="numeric"
                value={f.weight}
                aria-invalid={!!errors.weight}
                onChange={(e) => set('weight', e.target.value)}
              />
            </Field>
          </div>

          <div className="flex items-start justify-between gap-4 rounded-lg border p-3">
            <div className="grid grid-cols-1 gap-0.5">
              <label htmlFor="upstream-enabled" className="text-sm font-medium">
                {t('form.enabled')}
              </label>
              <p className="text-xs text-muted-foreground">{t('form.enabledHint')}</p>
            </div>
            <Switch id="upstream-enabled" data-testid="upstream-enabled-input" checked={f.enabled} onCheckedChange={(v) => set('enabled', v)} />
          </div>

          {!editing && (
            <Field
              label={t('form.credentials')}
              htmlFor="upstream-credentials"
              hint={f.auth === 'passthrough' ? t('form.credentialsPassthrough') : t('form.credentialsHint')}
              error={errors.credentials}
            >
              <Textarea
                id="upstream-credentials"
                data-testid="upstream-credentials"
                rows={3}
                value={f.credentials}
                autoComplete="off"
                spellCheck={false}
                placeholder={'sk-ant-…\nsk-ant-…'}
                aria-invalid={!!errors.credentials}
                onChange={(e) => set('credentials', e.target.value)}
              />
              <KeyLineProblems lines={keyLines} />
            </Field>
          )}

          <div className="rounded-lg border">
            <button
              type="button"
              className="flex w-full items-center gap-2 rounded-lg px-3 py-2.5 text-left text-sm font-medium hover:bg-muted/50"
              aria-expanded={advanced}
              data-testid="upstream-advanced"
              onClick={() => setAdvanced((a) => !a)}
            >
              <ChevronRight className={cn('size-4 transition-transform', advanced && 'rotate-90')} />
              {t('form.advanced')}
              <span className="ml-auto truncate text-xs font-normal text-muted-foreground">{t('form.advancedHint')}</span>
            </button>
            {advanced && (
              <div className="grid grid-cols-1 gap-4 border-t p-3">
                <Field
                  label={t('form.concurrency')}
                  htmlFor="upstream-concurrency"
                  hint={t('form.concurrencyHint')}
                  error={errors.credential_concurrency}
                >
                  <Input
                    id="upstream-concurrency"
                    inputMode="numeric"
                    value={f.credential_concurrency}
                    aria-invalid={!!errors.credential_concurrency}
                    onChange={(e) => set('credential_concurrency', e.target.value)}
                  />
                </Field>
                <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
                  <Field
                    label={t('form.healthCheck')}
                    htmlFor="upstream-health-check"
                    hint={t(`form.healthCheckHint.${f.health_check}`)}
                    error={errors.health_check}
                  >
                    <Select value={f.health_check} onValueChange={(v) => set('health_check', v as HealthCheck)}>
                      <SelectTrigger id="upstream-health-check" data-testid="upstream-health-check">
                        <SelectValue />
                      </SelectTrigger>
                      <SelectContent>
                        {(['off', 'models', 'message'] as const).map((h) => (
                          <SelectItem key={h} value={h}>
                            {t(`form.healthCheckOption.${h}`)}
                          </SelectItem>
                        ))}
                      </SelectContent>
                    </Select>
                  </Field>
                  <Field
                    label={t('form.healthInterval')}
                    htmlFor="upstream-health-interval"
                    hint={intervalMs !== null ? t('form.every', { value: fmtMs(intervalMs) }) : t('form.msRange', { min: 1000, max: 86400000 })}
                    error={errors.health_check_interval_ms}
                  >
                    <Input
                      id="upstream-health-interval"
                      inputMode="numeric"
                      value={f.health_check_interval_ms}
                      disabled={f.health_check === 'off'}
                      aria-invalid={!!errors.health_check_interval_ms}
                      onChange={(e) => set('health_check_interval_ms', e.target.value)}
                    />
                  </Field>
                </div>
                {f.health_check !== 'off' && f.auth === 'passthrough' && (
                  <p className="-mt-2 text-xs text-muted-foreground">{t('form.healthPassthrough')}</p>
                )}
                <Field label={t('form.proxy')} htmlFor="upstream-proxy" hint={t('form.proxyHint')} error={errors.proxy_url}>
                  <Input
                    id="upstream-proxy"
                    data-testid="upstream-proxy"
                    value={f.proxy_url}
                    autoComplete="off"
                    spellCheck={false}
                    placeholder={t('form.proxyPlaceholder')}
                    aria-invalid={!!errors.proxy_url}
                    onChange={(e) => set('proxy_url', e.target.value)}
                  />
                </Field>
                <div className="grid grid-cols-1 gap-4 sm:grid-cols-3">
                  {TIMEOUTS.map((k) => {
                    const v = parseIntField(f[k], 1, 3600000).value;
                    const def = defaults?.[k];
                    return (
                      <Field
                        key={k}
                        label={t(`form.${k}`)}
                        htmlFor={`upstream-${k}`}
                        hint={
                          v !== null
                            ? fmtMs(v)
                            : def !== undefined
                              ? t('form.timeoutDefault', { value: fmtMs(def) })
                              : t('form.msRange', { min: 1, max: 3600000 })
                        }
                        error={errors[k]}
                      >
                        <Input
                          id={`upstream-${k}`}
                          inputMode="numeric"
                          value={f[k]}
                          placeholder={def !== undefined ? String(def) : undefined}
                          aria-invalid={!!errors[k]}
                          onChange={(e) => set(k, e.target.value)}
                        />
                      </Field>
                    );
                  })}
                </div>
              </div>
            )}
          </div>

          {errors.form && (
            <p role="alert" className="rounded-md border border-destructive/40 bg-destructive/5 px-3 py-2 text-sm text-destructive" data-testid="upstream-form-error">
              {errors.form}
            </p>
          )}

          <DialogFooter>
            <Button variant="outline" disabled={save.isPending} onClick={() => onOpenChange(false)}>
              {t('common:actions.cancel')}
            </Button>
            <Button type="submit" data-testid="upstream-save" disabled={save.isPending}>
              {save.isPending && <Spinner />}
              {save.isPending ? t('common:actions.saving') : editing ? t('common:actions.save') : t('common:actions.create')}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
