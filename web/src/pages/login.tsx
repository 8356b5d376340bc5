import { KeyRound } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { Spinner } from '@/components/common';
import { LanguageSwitch, ThemeSwitch } from '@/components/layout';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { ApiError, request, session, type Status } from '@/lib/api';

export function LoginPage() {
  const { t } = useTranslation(['login', 'common']);
  const navigate = useNavigate();
  const location = useLocation();
  const state = (location.state ?? {}) as { reason?: string; from?: string };
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (session.get() && !state.reason) return <Navigate to={state.from ?? '/'} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError(t('common:errors.required'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await request<Status>('GET', '/status', undefined, k);
      session.set(k);
      navigate(state.from && state.from !== '/login' ? state.from : '/', { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) setError(t('tooMany'));
      else setError(t('invalid', { message: err instanceof Error ? err.message : String(err) }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="flex min-h-screen flex-col">
      <div className="flex justify-end gap-1 p-3">
        <LanguageSwitch />
        <ThemeSwitch />
      </div>
      <div className="flex flex-1 items-start justify-center px-3 pt-[8vh]">
        <Card className="w-full max-w-md">
          <CardHeader>
            <div className="mb-2 flex items-center gap-2">
              <img src="/favicon.svg" alt="" className="size-9" />
              <span className="text-lg font-semibold">Clove</span>
            </div>
            <CardTitle className="text-xl">{t('title')}</CardTitle>
            <CardDescription>{t('subtitle')}</CardDescription>
          </CardHeader>
          <CardContent>
            <form onSubmit={submit} className="grid gap-4" noValidate>
              {state.reason && !error && (
                <p role="alert" data-testid="logout-reason" className="rounded-md bg-warning/15 p-3 text-sm">
                  {t('loggedOut', { message: state.reason })}
                </p>
              )}
              <div className="grid gap-1.5">
                <Label htmlFor="admin-key">{t('key')}</Label>
                <Input
                  id="admin-key"
                  type="password"
                  autoComplete="current-password"
                  placeholder={t('placeholder')}
                  value={key}
                  onChange={(e) => setKey(e.target.value)}
                  aria-invalid={!!error}
                  autoFocus
                />
                {error && (
                  <p role="alert" className="text-sm text-destructive" data-testid="login-error">
                    {error}
                  </p>
                )}
              </div>
              <Button type="submit" disabled={busy} data-testid="login-submit">
                {busy ? <Spinner /> : <KeyRound />}
                {busy ? t('checking') : t('submit')}
              </Button>
              <p className="text-xs text-muted-foreground">{t('sessionNote')}</p>
            </form>
          </CardContent>
        </Card>
      </div>
    </div>
  );
}
