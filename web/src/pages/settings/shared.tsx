// Building blocks of the settings tabs: the settings query and save mutation, section cards,
// the "applies at once" / "needs a restart" badges and the save bar.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { RotateCcw, RotateCw, Zap } from 'lucide-react';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { Spinner, useErrorToast, FormError } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { api, type Settings } from '@/lib/api';
import type { useFieldErrors } from '@/lib/form';

export function useSettingsQuery() {
  return useQuery({ queryKey: ['settings'], queryFn: () => api.get<Settings>('/settings') });
}

/** PATCH /settings with the changed fields; the answer replaces the cached settings. */
export function useSaveSettings(fe: ReturnType<typeof useFieldErrors>, onSaved: (s: Settings) => void) {
  const { t } = useTranslation(['settings', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  return useMutation({
    mutationFn: (body: Partial<Settings>) => api.patch<Settings>('/settings', body),
    onSuccess: (s) => {
      qc.setQueryData(['settings'], s);
      void qc.invalidateQueries({ queryKey: ['audit'] });
      fe.clear();
      onSaved(s);
      toast.success(t('saved'));
    },
    onError: (e) => {
      if (!fe.fromServer(e)) errorToast(e);
    },
  });
}

export function LiveBadge({ children }: { children?: ReactNode }) {
  const { t } = useTranslation(['settings', 'common']);
  return (
    <Badge variant="success" data-testid="badge-live">
      <Zap />
      {children ?? t('common:live')}
    </Badge>
  );
}

export function RestartBadge() {
  const { t } = useTranslation(['settings', 'common']);
  return (
    <Badge variant="warning" data-testid="badge-restart">
      <RotateCw />
      {t('common:restart')}
    </Badge>
  );
}

export function Section({
  title,
  text,
  badge,
  actions,
  children,
}: {
  title: ReactNode;
  text?: ReactNode;
  badge?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <Card className="min-w-0">
      <CardHeader className="gap-1.5">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <div className="flex flex-wrap items-center gap-2">
            <CardTitle className="text-base">{title}</CardTitle>
            {badge}
          </div>
          {actions}
        </div>
        {text && <CardDescription>{text}</CardDescription>}
      </CardHeader>
      <CardContent className="pt-3 sm:pt-3">{children}</CardContent>
    </Card>
  );
}

/** Save / discard row at the end of a settings form. */
export function SaveBar({ dirty, pending, onReset, error }: { dirty: boolean; pending: boolean; onReset: () => void; error?: string }) {
  const { t } = useTranslation(['settings', 'common']);
  return (
    <div className="grid gap-2">
      <FormError message={error} />
      <div className="flex flex-wrap items-center justify-end gap-2">
        {dirty && <span className="mr-auto text-xs font-medium text-[color-mix(in_oklch,var(--warning),black_35%)] dark:text-warning">{t('unsaved')}</span>}
        {dirty && (
          <Button type="button" variant="ghost" onClick={onReset} disabled={pending}>
            <RotateCcw /> {t('reset')}
          </Button>
        )}
        <Button type="submit" data-testid="settings-save" disabled={pending}>
          {pending && <Spinner />}
          {pending ? t('common:actions.saving') : t('common:actions.save')}
        </Button>
      </div>
    </div>
  );
}
