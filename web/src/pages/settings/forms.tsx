// The editable settings: General, Timeouts & routing, Default limits. Each form sends only the
// fields that changed (PATCH /settings) and shows the server's field errors under the field.
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Field } from '@/components/common';
import { Input } from '@/components/ui/input';
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from '@/components/ui/select';
import type { Settings } from '@/lib/api';
import { fmtInt, fmtMs } from '@/lib/format';
import { parseIntField, useFieldErrors, type FieldErrors } from '@/lib/form';
import { diffLimits, limitsToForm, LimitsFields, parseLimits, type LimitsForm } from '../keys/limits';
import { LiveBadge, SaveBar, Section, useSaveSettings } from './shared';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
type Level = (typeof LEVELS)[number];

/** http://, socks5:// or socks5h:// with a host, optional user:password@ and port; no path, query or fragment. */
export function validProxyUrl(v: string): boolean {
  return /^(http|socks5h?):\/\/[^\s/?#]+\/?$/i.test(v);
}

// ---- General --------------------------------------------------------------------------------

interface GeneralForm {
  log_level: string;
  outbound_proxy: string;
  usage_retention_days: string;
}
const generalForm = (s: Settings): GeneralForm => ({
  log_level: s.log_level,
  outbound_proxy: s.outbound_proxy ?? '',
  usage_retention_days: String(s.usage_retention_days),
});

export function GeneralTab({ settings }: { settings: Settings }) {
  const { t } = useTranslation(['settings', 'common']);
  const fe = useFieldErrors();
  const [f, setF] = useState(() => generalForm(settings));
  const [base, setBase] = useState(settings);
  const save = useSaveSettings(fe, (s) => {
    setBase(s);
    setF(generalForm(s));
  });
  const initial = generalForm(base);
  const dirty = JSON.stringify(f) !== JSON.stringify(initial);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: FieldErrors = {};
    const body: Partial<Settings> = {};
    if (f.log_level !== base.log_level) body.log_level = f.log_level;
    const proxy = f.outbound_proxy.trim();
    if (proxy !== (base.outbound_proxy ?? '')) {
      if (proxy && !validProxyUrl(proxy)) errors.outbound_proxy = t('general.proxyInvalid');
      body.outbound_proxy = proxy || null;
    }
    const r = parseIntField(f.usage_retention_days, 1, 3650);
    if (r.error || r.value === null)
      errors.usage_retention_days =
        r.value === null && !r.error ? t('common:errors.required') : r.error === 'integer' ? t('common:errors.integer') : t('common:errors.range', { min: 1, max: 3650 });
    else if (r.value !== base.usage_retention_days) body.usage_retention_days = r.value;
    fe.set(errors);
    if (Object.keys(errors).length) return;
    if (!Object.keys(body).length) {
      toast.info(t('noChanges'));
      return;
    }
    save.mutate(body);
  };

  const err = fe.errors;
  const masked = f.outbound_proxy.includes(':***@');
  return (
    <form onSubmit={submit} noValidate className="grid gap-4">
      <Section title={t('general.title')} badge={<LiveBadge />}>
        <div className="grid gap-5">
          <Field label={t('general.logLevel')} hint={t('general.logLevelHint')} htmlFor="settings-log-level" error={err.log_level} className="max-w-sm">
            <Select value={f.log_level} onValueChange={(v) => setF({ ...f, log_level: v })}>
              <SelectTrigger id="settings-log-level" data-testid="settings-log-level">
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {LEVELS.map((l) => (
                  <SelectItem key={l} value={l}>
                    {t(`general.levels.${l as Level}`)}
                  </SelectItem>
                ))}
                {!LEVELS.includes(f.log_level as Level) && <SelectItem value={f.log_level}>{f.log_level}</SelectItem>}
              </SelectContent>
            </Select>
          </Field>

          <Field
            label={
              <span className="flex flex-wrap items-center gap-2">
                {t('general.proxy')}
                <span className="text-xs font-normal text-muted-foreground">{t('general.proxyNote')}</span>
              </span>
            }
            htmlFor="settings-proxy"
            error={err.outbound_proxy}
          >
            <Input
              id="settings-proxy"
              data-testid="settings-proxy"
              className="font-mono"
              placeholder="socks5://user:password@127.0.0.1:1080"
              autoComplete="off"
              spellCheck={false}
              value={f.outbound_proxy}
              onChange={(e) => setF({ ...f, outbound_proxy: e.target.value })}
              aria-invalid={!!err.outbound_proxy}
            />
            <p className="text-xs text-muted-foreground">{t('general.proxyHint')}</p>
            {masked && <p className="text-xs text-muted-foreground">{t('general.proxyMasked')}</p>}
          </Field>

          <Field
            label={t('general.retention')}
            hint={
              <>
                {t('general.retentionHint')} <span className="whitespace-nowrap">{t('range', { min: 1, max: fmtInt(3650) })}</span>
              </>
            }
            htmlFor="settings-retention"
            error={err.usage_retention_days}
            className="max-w-sm"
          >
            <div className="flex items-center gap-2">
              <Input
                id="settings-retention"
                data-testid="settings-retention"
                inputMode="numeric"
                className="max-w-32"
                value={f.usage_retention_days}
                onChange={(e) => setF({ ...f, usage_retention_days: e.target.value })}
                aria-invalid={!!err.usage_retention_days}
              />
              <span className="text-sm text-muted-foreground">{t('days')}</span>
            </div>
          </Field>
        </div>
      </Section>
      <SaveBar dirty={dirty} pending={save.isPending} onReset={() => (setF(initial), fe.clear())} error={err.form} />
    </form>
  );
}

// ---- Timeouts & routing ---------------------------------------------------------------------

const TIMEOUT_FIELDS = [
  { name: 'connect_timeout_ms', min: 1, max: 3_600_000, ms: true },
  { name: 'first_byte_timeout_ms', min: 1, max: 3_600_000, ms: true },
  { name: 'stream_idle_timeout_ms', min: 1, max: 3_600_000, ms: true },
] as const;
const ROUTING_FIELDS = [
  { name: 'max_attempts', min: 1, max: 10, ms: false },
  { name: 'failover_deadline_ms', min: 1, max: 3_600_000, ms: true },
  { name: 'cooldown_fallback_ms', min: 1, max: 86_400_000, ms: true },
  { name: 'failure_threshold', min: 1, max: 1000, ms: false },
  { name: 'failure_cooldown_ms', min: 1, max: 86_400_000, ms: true },
  { name: 'sticky_ttl_ms', min: 1, max: 86_400_000, ms: true },
  { name: 'first_byte_keepalive_ms', min: 50, max: 3_600_000, ms: true },
  { name: 'keepalive_interval_ms', min: 50, max: 3_600_000, ms: true },
  { name: 'queue_timeout_ms', min: 0, max: 600_000, ms: true },
] as const;
const ALL_FIELDS = [...TIMEOUT_FIELDS, ...ROUTING_FIELDS];
type NumName = (typeof ALL_FIELDS)[number]['name'];
type NumSpec = (typeof ALL_FIELDS)[number];

const numForm = (s: Settings) => Object.fromEntries(ALL_FIELDS.map((d) => [d.name, String(s[d.name])])) as Record<NumName, string>;

export function RoutingTab({ settings }: { settings: Settings }) {
  const { t } = useTranslation(['settings', 'common']);
  const fe = useFieldErrors();
  const [f, setF] = useState(() => numForm(settings));
  const [base, setBase] = useState(settings);
  const save = useSaveSettings(fe, (s) => {
    setBase(s);
    setF(numForm(s));
  });
  const initial = numForm(base);
  const dirty = JSON.stringify(f) !== JSON.stringify(initial);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errors: FieldErrors = {};
    const body: Record<string, number> = {};
    for (const d of ALL_FIELDS) {
      const r = parseIntField(f[d.name], d.min, d.max);
      if (r.error || r.value === null) {
        errors[d.name] =
          !r.error ? t('common:errors.required') : r.error === 'integer' ? t('common:errors.integer') : t('common:errors.range', { min: fmtInt(d.min), max: fmtInt(d.max) });
      } else if (r.value !== base[d.name]) body[d.name] = r.value;
    }
    fe.set(errors);
    if (Object.keys(errors).length) return;
    if (!Object.keys(body).length) {
      toast.info(t('noChanges'));
      return;
    }
    save.mutate(body as Partial<Settings>);
  };

  const field = (d: NumSpec) => {
    const v = f[d.name];
    const n = Number(v);
    const approx = d.ms && v.trim() !== '' && Number.isFinite(n) && n >= 1000 ? t('approx', { value: fmtMs(n) }) : null;
    const off = d.name === 'queue_timeout_ms' && v.trim() === '0' ? t('off') : null;
    const id = `settings-${d.name.replace(/_/g, '-')}`;
    return (
      <Field
        key={d.name}
        className="content-start"
        label={t(`fields.${d.name}.label`)}
        htmlFor={id}
        error={fe.errors[d.name]}
        hint={
          <>
            {t(`fields.${d.name}.hint`)}{' '}
            <span className="whitespace-nowrap">{t('range', { min: fmtInt(d.min), max: fmtInt(d.max) })}</span>
          </>
        }
      >
        <div className="flex items-center gap-2">
          <Input
            id={id}
            data-testid={id}
            inputMode="numeric"
            className="max-w-40"
            value={v}
            onChange={(e) => setF({ ...f, [d.name]: e.target.value })}
            aria-invalid={!!fe.errors[d.name]}
          />
          {d.ms && <span className="text-sm text-muted-foreground">{t('ms')}</span>}
          {(approx || off) && <span className="text-xs tabular-nums text-muted-foreground">{off ?? approx}</span>}
        </div>
      </Field>
    );
  };

  return (
    <form onSubmit={submit} noValidate className="grid gap-4">
      <Section title={t('timeouts.title')} text={t('timeouts.text')} badge={<LiveBadge />}>
        <div className="grid gap-5 md:grid-cols-2 xl:grid-cols-3">{TIMEOUT_FIELDS.map(field)}</div>
      </Section>
      <Section title={t('routing.title')} text={t('routing.text')} badge={<LiveBadge />}>
        <div className="grid gap-5 md:grid-cols-2 xl:grid-cols-3">{ROUTING_FIELDS.map(field)}</div>
      </Section>
      <SaveBar dirty={dirty} pending={save.isPending} onReset={() => (setF(initial), fe.clear())} error={fe.errors.form} />
    </form>
  );
}

// ---- Default limits -------------------------------------------------------------------------

export function LimitsTab({ settings }: { settings: Settings }) {
  const { t } = useTranslation(['settings', 'common']);
  const { t: tk } = useTranslation(['keys', 'common']);
  const fe = useFieldErrors();
  const [f, setF] = useState<LimitsForm>(() => limitsToForm(settings.default_limits));
  const [base, setBase] = useState(settings);
  const save = useSaveSettings(fe, (s) => {
    setBase(s);
    setF(limitsToForm(s.default_limits));
  });
  const initial = limitsToForm(base.default_limits);
  const dirty = JSON.stringify(f) !== JSON.stringify(initial);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const { limits, errors } = parseLimits(f, 'default_limits', tk);
    fe.set(errors);
    if (Object.keys(errors).length) return;
    const changed = diffLimits(base.default_limits, limits);
    if (!changed) {
      toast.info(t('noChanges'));
      return;
    }
    save.mutate({ default_limits: changed as Settings['default_limits'] });
  };

  return (
    <form onSubmit={submit} noValidate className="grid gap-4">
      <Section title={t('limits.title')} text={t('limits.text')} badge={<LiveBadge />}>
        <LimitsFields value={f} onChange={setF} errors={fe.errors} prefix="default_limits" testIdPrefix="settings-limit" idPrefix="settings-limit" />
      </Section>
      <SaveBar dirty={dirty} pending={save.isPending} onReset={() => (setF(initial), fe.clear())} error={fe.errors.form} />
    </form>
  );
}
