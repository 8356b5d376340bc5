// Small pieces shared by the upstream list, the detail page and the dialogs.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { useErrorToast } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { api, type Credential, type CredentialState, type Upstream } from '@/lib/api';
import { cn } from '@/lib/utils';

export const upstreamsKey = ['upstreams'] as const;
export const upstreamKey = (id: string) => ['upstreams', id] as const;
export const credentialsKey = (id: string) => ['upstreams', id, 'credentials'] as const;

/** PATCH an upstream's `enabled`, with the list and the detail refreshed after. */
export function useToggleUpstream() {
  const { t } = useTranslation('upstreams');
  const qc = useQueryClient();
  const onError = useErrorToast();
  return useMutation({
    mutationFn: ({ id, enabled }: { id: string; enabled: boolean; name: string }) =>
      api.patch<Upstream>(`/upstreams/${id}`, { enabled }),
    onSuccess: (u) => {
      qc.setQueryData(upstreamKey(u.id), u);
      toast.success(u.enabled ? t('list.enabledToast', { name: u.name }) : t('list.disabledToast', { name: u.name }));
      void qc.invalidateQueries({ queryKey: upstreamsKey });
    },
    onError,
  });
}

export function KindBadge({ kind }: { kind: Upstream['kind'] }) {
  return (
    <Badge variant={kind === 'openai' ? 'secondary' : 'default'} className="font-mono" data-testid="upstream-kind-badge">
      {kind}
    </Badge>
  );
}

export function AuthBadge({ auth }: { auth: Upstream['auth'] }) {
  return (
    <Badge variant="outline" className="font-mono">
      {auth}
    </Badge>
  );
}

/** Model globs as small monospace chips; at most `max` of them, then "+n". */
export function ModelChips({
  models,
  max = 3,
  className,
  chipClassName,
}: {
  models: string[];
  max?: number;
  className?: string;
  chipClassName?: string;
}) {
  const shown = models.slice(0, max);
  const rest = models.length - shown.length;
  return (
    <div className={cn('flex flex-wrap gap-1', className)} title={models.join(', ')}>
      {shown.map((m) => (
        <code key={m} className={cn('max-w-[12rem] truncate rounded bg-muted px-1.5 py-0.5 text-xs', chipClassName)}>
          {m}
        </code>
      ))}
      {rest > 0 && <span className="text-xs text-muted-foreground">+{rest}</span>}
    </div>
  );
}

const dot: Record<CredentialState, string> = {
  valid: 'bg-success',
  cooling_down: 'bg-warning',
  invalid: 'bg-destructive',
  disabled: 'bg-muted-foreground/50',
};
const ORDER: CredentialState[] = ['valid', 'cooling_down', 'invalid', 'disabled'];

/** Counts of credentials per state: "● 3  ● 1  ● 0" with the state name on hover. */
export function HealthSummary({ credentials }: { credentials: Credential[] }) {
  const { t } = useTranslation(['upstreams', 'common']);
  const counts: Record<CredentialState, number> = { valid: 0, cooling_down: 0, invalid: 0, disabled: 0 };
  for (const c of credentials) counts[c.state] += 1;
  return (
    <div className="flex flex-wrap items-center gap-x-2.5 gap-y-1 text-xs tabular-nums" data-testid="upstream-health">
      {ORDER.filter((s) => counts[s] > 0 || s === 'valid').map((s) => (
        <span
          key={s}
          className={cn('inline-flex items-center gap-1', counts[s] === 0 && 'text-muted-foreground')}
          title={t(`common:credState.${s}`)}
          data-state={s}
          data-count={counts[s]}
        >
          <span className={cn('size-2 rounded-full', dot[s])} />
          {counts[s]}
          <span className="sr-only">{t(`common:credState.${s}`)}</span>
        </span>
      ))}
    </div>
  );
}

/** A key as Clove accepts it: 8–512 printable ASCII characters without spaces. */
export type KeyProblem = 'tooShort' | 'tooLong' | 'badChars';
export function keyProblem(k: string): KeyProblem | null {
  if (!/^[\x21-\x7e]*$/.test(k)) return 'badChars';
  if (k.length < 8) return 'tooShort';
  if (k.length > 512) return 'tooLong';
  return null;
}

export interface KeyLine {
  line: number; // 1-based line in the textarea
  key: string;
  problem: KeyProblem | null;
  duplicateOf: number | null; // line of the first occurrence
}

/** Non-blank lines of a "one key per line" textarea, each checked. */
export function parseKeyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const key = raw.trim();
    if (!key) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i + 1);
    out.push({ line: i + 1, key, problem: keyProblem(key), duplicateOf: first ?? null });
  });
  return out;
}

/** Lists the bad lines of a key textarea (never the keys themselves). */
export function KeyLineProblems({ lines }: { lines: KeyLine[] }) {
  const { t } = useTranslation('upstreams');
  const bad = lines.filter((l) => l.problem || l.duplicateOf);
  if (bad.length === 0) return null;
  return (
    <ul className="grid grid-cols-1 gap-0.5 text-xs" data-testid="cred-bad-lines">
      {bad.slice(0, 8).map((l) => (
        <li key={l.line} className={l.problem ? 'text-destructive' : 'text-muted-foreground'}>
          {l.problem
            ? t('keys.badLine', { line: l.line, reason: t(`keys.${l.problem}`, { length: l.key.length }) })
            : t('keys.duplicateLine', { line: l.line, first: l.duplicateOf })}
        </li>
      ))}
      {bad.length > 8 && <li className="text-muted-foreground">{t('keys.moreBad', { n: bad.length - 8 })}</li>}
    </ul>
  );
}
