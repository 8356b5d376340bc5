// The limit fields of a client key, also used for the default limits in Settings: form state,
// validation (docs/admin-api.md#client-keys), the PATCH diff and a one-line summary.
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { Field } from '@/components/common';
import { Input } from '@/components/ui/input';
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from '@/components/ui/select';
import type { Limits } from '@/lib/api';
import { fmtCompact } from '@/lib/format';
import { parseIntField, parseNumberField, type FieldErrors } from '@/lib/form';

export const INT_LIMITS = ['rpm', 'tpm', 'input_tpm', 'output_tpm', 'concurrency'] as const;
export const USD_LIMITS = ['daily_budget_usd', 'monthly_budget_usd', 'budget_usd'] as const;
export type IntLimit = (typeof INT_LIMITS)[number];
export type UsdLimit = (typeof USD_LIMITS)[number];
export type BudgetPeriod = Limits['budget_period'];
/** The `t` of useTranslation(['keys', 'common']). */
export type KeysT = TFunction<readonly ['keys', 'common']>;

const MAX = 1_000_000_000_000;

const TESTID: Record<IntLimit | UsdLimit | 'budget_period', string> = {
  rpm: 'rpm',
  tpm: 'tpm',
  input_tpm: 'input-tpm',
  output_tpm: 'output-tpm',
  concurrency: 'concurrency',
  daily_budget_usd: 'daily-budget',
  monthly_budget_usd: 'monthly-budget',
  budget_usd: 'budget',
  budget_period: 'budget-period',
};

export type LimitsForm = Record<IntLimit | UsdLimit, string> & { budget_period: BudgetPeriod };

export const EMPTY_LIMITS: Limits = {
  rpm: null,
  tpm: null,
  input_tpm: null,
  output_tpm: null,
  concurrency: null,
  daily_budget_usd: null,
  monthly_budget_usd: null,
  budget_usd: null,
  budget_period: 'total',
};

export function limitsToForm(l: Limits | undefined): LimitsForm {
  const s = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  const src = l ?? EMPTY_LIMITS;
  return {
    rpm: s(src.rpm),
    tpm: s(src.tpm),
    input_tpm: s(src.input_tpm),
    output_tpm: s(src.output_tpm),
    concurrency: s(src.concurrency),
    daily_budget_usd: s(src.daily_budget_usd),
    monthly_budget_usd: s(src.monthly_budget_usd),
    budget_usd: s(src.budget_usd),
    budget_period: src.budget_period ?? 'total',
  };
}

/** Validates the form; errors are keyed `${prefix}.${field}` like the server's field paths. */
export function parseLimits(f: LimitsForm, prefix: string, t: KeysT): { limits: Limits; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const limits: Limits = { ...EMPTY_LIMITS, budget_period: f.budget_period };
  for (const k of INT_LIMITS) {
    const r = parseIntField(f[k], 1, MAX);
    if (r.error) errors[`${prefix}.${k}`] = r.error === 'integer' ? t('common:errors.integer') : t('common:errors.range', { min: 1, max: '10¹²' });
    limits[k] = r.value;
  }
  for (const k of USD_LIMITS) {
    const r = parseNumberField(f[k], 0, MAX);
    if (r.error) errors[`${prefix}.${k}`] = r.error === 'number' ? t('common:errors.number') : t('common:errors.range', { min: 0, max: '10¹²' });
    limits[k] = r.value;
  }
  return { limits, errors };
}

/** The fields that differ (null removes a limit), or null when nothing changed. */
export function diffLimits(before: Limits, after: Limits): Partial<Limits> | null {
  const out: Partial<Record<keyof Limits, unknown>> = {};
  for (const k of [...INT_LIMITS, ...USD_LIMITS]) {
    if ((before[k] ?? null) !== (after[k] ?? null)) out[k] = after[k];
  }
  if ((before.budget_period ?? 'total') !== after.budget_period) out.budget_period = after.budget_period;
  return Object.keys(out).length ? (out as Partial<Limits>) : null;
}

/** "60 rpm · 100K tpm · 4 at once", or null when there is no rate limit. */
export function rateSummary(l: Limits, t: KeysT): string | null {
  const parts: string[] = [];
  for (const k of INT_LIMITS) {
    const v = l[k];
    if (v !== null && v !== undefined) parts.push(t(`summary.${k}`, { n: fmtCompact(v) }));
  }
  return parts.length ? parts.join(' · ') : null;
}

export function LimitsFields({
  value,
  onChange,
  errors,
  prefix,
  testIdPrefix,
  idPrefix,
}: {
  value: LimitsForm;
  onChange: (v: LimitsForm) => void;
  errors: FieldErrors;
  /** Error key prefix, the server's field path: `limits` or `default_limits`. */
  prefix: string;
  /** data-testid prefix: `key` → `key-rpm`, `key-daily-budget`… */
  testIdPrefix: string;
  idPrefix: string;
}) {
  const { t } = useTranslation(['keys', 'common']);
  const set = (k: keyof LimitsForm, v: string) => onChange({ ...value, [k]: v } as LimitsForm);
  const usdHint: Record<UsdLimit, string> = {
    daily_budget_usd: t('limits.dayHint'),
    monthly_budget_usd: t('limits.monthHint'),
    budget_usd: t('limits.budgetHint'),
  };
  return (
    <div className="grid gap-5">
      <fieldset className="grid min-w-0 gap-3">
        <legend className="mb-1 text-sm font-semibold">{t('form.limits')}</legend>
        <p className="-mt-1 text-xs text-muted-foreground">{t('form.limitsHint')}</p>
        <div className="grid gap-3 sm:grid-cols-2">
          {INT_LIMITS.map((k) => (
            <Field key={k} className="content-start" label={t(`limits.${k}`)} htmlFor={`${idPrefix}-${k}`} error={errors[`${prefix}.${k}`]}>
              <Input
                id={`${idPrefix}-${k}`}
                data-testid={`${testIdPrefix}-${TESTID[k]}`}
                inputMode="numeric"
                placeholder={t('limits.unlimited')}
                value={value[k]}
                onChange={(e) => set(k, e.target.value)}
                aria-invalid={!!errors[`${prefix}.${k}`]}
              />
            </Field>
          ))}
        </div>
      </fieldset>
      <fieldset className="grid min-w-0 gap-3">
        <legend className="mb-1 text-sm font-semibold">{t('form.budgets')}</legend>
        <p className="-mt-1 text-xs text-muted-foreground">{t('form.budgetsHint')}</p>
        <div className="grid gap-3 sm:grid-cols-2">
          {USD_LIMITS.map((k) => (
            <Field
              key={k}
              className="content-start"
              label={t(`limits.${k}`)}
              hint={usdHint[k]}
              htmlFor={`${idPrefix}-${k}`}
              error={errors[`${prefix}.${k}`]}
            >
              <div className="relative">
                <span className="pointer-events-none absolute left-3 top-1/2 -translate-y-1/2 text-sm text-muted-foreground">$</span>
                <Input
                  id={`${idPrefix}-${k}`}
                  data-testid={`${testIdPrefix}-${TESTID[k]}`}
                  inputMode="decimal"
                  className="pl-6"
                  placeholder={t('limits.none')}
                  value={value[k]}
                  onChange={(e) => set(k, e.target.value)}
                  aria-invalid={!!errors[`${prefix}.${k}`]}
                />
              </div>
            </Field>
          ))}
          <Field className="content-start" label={t('limits.budget_period')} htmlFor={`${idPrefix}-budget_period`} error={errors[`${prefix}.budget_period`]}>
            <Select value={value.budget_period} onValueChange={(v) => set('budget_period', v)}>
              <SelectTrigger id={`${idPrefix}-budget_period`} data-testid={`${testIdPrefix}-${TESTID.budget_period}`}>
                <SelectValue />
              </SelectTrigger>
              <SelectContent>
                {(['total', 'daily', 'monthly'] as const).map((p) => (
                  <SelectItem key={p} value={p}>
                    {t(`limits.period.${p}`)}
                  </SelectItem>
                ))}
              </SelectContent>
            </Select>
          </Field>
        </div>
      </fieldset>
    </div>
  );
}
