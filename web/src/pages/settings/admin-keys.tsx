// Admin keys: list (env keys are read-only), create (shown once), delete (the current one logs out).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { AlertTriangle, Plus, Trash2 } from 'lucide-react';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { toast } from 'sonner';
import { ConfirmAction, CopyButton, EmptyState, ErrorState, Field, LoadingState, Spinner, useErrorToast, useNow, FormError } from '@/components/common';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table';
import { api, LOGOUT_EVENT, session, type List } from '@/lib/api';
import { fmtRelative, fmtTime } from '@/lib/format';
import { useFieldErrors } from '@/lib/form';
import { useDesktop } from '../keys/shared';
import { LiveBadge, Section } from './shared';

/** GET /admin-keys item (declared here: the server side is being added alongside this page). */
interface AdminKeyItem {
  id: string;
  name?: string | null;
  prefix: string;
  source: 'env' | 'database' | string;
  active?: boolean;
  created_at: string | null;
  last_used_at?: string | null;
  current: boolean;
  key?: string;
}

export function AdminKeysTab() {
  const { t } = useTranslation(['settings', 'common']);
  const desktop = useDesktop();
  useNow(30_000);
  const [open, setOpen] = useState(false);
  const keys = useQuery({ queryKey: ['admin-keys'], queryFn: () => api.get<List<AdminKeyItem>>('/admin-keys') });

  const newButton = (
    <Button size="sm" data-testid="admin-key-new" onClick={() => setOpen(true)}>
      <Plus /> {t('admin.new')}
    </Button>
  );

  let body: React.ReactNode;
  if (keys.isPending) body = <LoadingState rows={3} />;
  else if (keys.isError) body = <ErrorState error={keys.error} onRetry={() => void keys.refetch()} />;
  else if (!keys.data.data.length) body = <EmptyState>{t('admin.empty')}</EmptyState>;
  else if (desktop)
    body = (
      <div className="overflow-hidden rounded-lg border">
        <Table>
          <THead>
            <TR className="hover:bg-transparent">
              <TH>{t('admin.name')}</TH>
              <TH>{t('admin.prefix')}</TH>
              <TH>{t('admin.source')}</TH>
              <TH>{t('admin.created')}</TH>
              <TH />
            </TR>
          </THead>
          <TBody>
            {keys.data.data.map((k) => (
              <TR key={k.id} data-testid="admin-key-row" data-id={k.id} data-source={k.source} data-current={k.current}>
                <TD>
                  <div className="flex flex-wrap items-center gap-1.5">
                    <span className={k.name ? 'font-medium' : 'text-muted-foreground'}>{k.name || '—'}</span>
                    {k.current && <Badge variant="success">{t('admin.current')}</Badge>}
                  </div>
                </TD>
                <TD>
                  <code className="font-mono text-xs">{k.prefix}…</code>
                </TD>
                <TD>
                  <SourceBadge source={k.source} />
                  {k.active === false && (
                    <Badge variant="warning" className="ml-1" title={t('admin.inactive')}>
                      {t('common:state.disabled')}
                    </Badge>
                  )}
                </TD>
                <TD className="whitespace-nowrap text-xs text-muted-foreground" title={fmtTime(k.created_at)}>
                  {k.created_at ? fmtRelative(k.created_at) : '—'}
                </TD>
                <TD className="text-right">
                  <DeleteAdminKey k={k} />
                </TD>
              </TR>
            ))}
          </TBody>
        </Table>
      </div>
    );
  else
    body = (
      <div className="grid gap-2">
        {keys.data.data.map((k) => (
          <div key={k.id} data-testid="admin-key-row" data-id={k.id} data-source={k.source} data-current={k.current} className="grid gap-2 rounded-lg border p-3">
            <div className="flex items-start justify-between gap-2">
              <div className="grid min-w-0 gap-1">
                <div className="flex flex-wrap items-center gap-1.5">
                  <span className={k.name ? 'font-medium' : 'text-muted-foreground'}>{k.name || '—'}</span>
                  {k.current && <Badge variant="success">{t('admin.current')}</Badge>}
                </div>
                <code className="font-mono text-xs text-muted-foreground">{k.prefix}…</code>
              </div>
              <DeleteAdminKey k={k} />
            </div>
            <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-muted-foreground">
              <SourceBadge source={k.source} />
              {k.active === false && <Badge variant="warning">{t('common:state.disabled')}</Badge>}
              <span title={fmtTime(k.created_at)}>
                {t('admin.created')}: {k.created_at ? fmtRelative(k.created_at) : '—'}
              </span>
            </div>
            {k.source === 'env' && <p className="text-xs text-muted-foreground">{t('admin.envNote')}</p>}
            {k.active === false && <p className="text-xs text-muted-foreground">{t('admin.inactive')}</p>}
          </div>
        ))}
      </div>
    );

  return (
    <Section title={t('admin.title')} text={t('admin.text')} badge={<LiveBadge />} actions={newButton}>
      <div className="grid gap-3">
        {body}
        {desktop && keys.data?.data.some((k) => k.source === 'env') && <p className="text-xs text-muted-foreground">{t('admin.envNote')}</p>}
      </div>
      <CreateAdminKeyDialog open={open} onOpenChange={setOpen} />
    </Section>
  );
}

function SourceBadge({ source }: { source: string }) {
  const { t } = useTranslation(['settings', 'common']);
  if (source === 'env')
    return (
      <Badge variant="outline" className="font-mono">
        {t('admin.sources.env')}
      </Badge>
    );
  return <Badge variant="secondary">{source === 'database' ? t('admin.sources.database') : source}</Badge>;
}

function DeleteAdminKey({ k }: { k: AdminKeyItem }) {
  const { t } = useTranslation(['settings', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  const del = useMutation({
    mutationFn: () => api.del(`/admin-keys/${encodeURIComponent(k.id)}`),
    onSuccess: () => {
      toast.success(t('admin.deleted'));
      if (k.current) {
        // This session's key is gone: back to the login page.
        session.clear();
        window.dispatchEvent(new CustomEvent(LOGOUT_EVENT, { detail: t('admin.loggedOut') }));
        return;
      }
      void qc.invalidateQueries({ queryKey: ['admin-keys'] });
      void qc.invalidateQueries({ queryKey: ['audit'] });
    },
    onError: errorToast,
  });
  if (k.source === 'env')
    return (
      <Button variant="ghost" size="icon" disabled title={t('admin.envNote')} aria-label={t('admin.envNote')} data-testid="admin-key-delete">
        <Trash2 />
      </Button>
    );
  return (
    <ConfirmAction
      title={t('admin.deleteTitle', { prefix: k.prefix })}
      description={
        k.current ? (
          <span className="flex gap-2 font-medium text-destructive">
            <AlertTriangle className="mt-0.5 size-4 shrink-0" />
            {t('admin.deleteCurrent')}
          </span>
        ) : (
          t('admin.deleteText')
        )
      }
      onConfirm={() => del.mutate()}
      trigger={(open) => (
        <Button
          variant="ghost"
          size="icon"
          className="text-destructive hover:text-destructive"
          onClick={open}
          disabled={del.isPending}
          title={t('common:actions.delete')}
          aria-label={t('admin.deleteAria', { prefix: k.prefix })}
          data-testid="admin-key-delete"
        >
          <Trash2 />
        </Button>
      )}
    />
  );
}

function CreateAdminKeyDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const { t } = useTranslation(['settings', 'common']);
  const [created, setCreated] = useState<string | null>(null);
  const setOpen = (o: boolean) => {
    onOpenChange(o);
    if (!o) setCreated(null);
  };
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogContent
        closeLabel={t('common:actions.close')}
        data-testid="admin-key-dialog"
        onInteractOutside={(e) => created && e.preventDefault()}
        onEscapeKeyDown={(e) => created && e.preventDefault()}
      >
        {created ? (
          <>
            <DialogHeader>
              <DialogTitle>{t('admin.createdTitle')}</DialogTitle>
              <DialogDescription>{t('admin.createdText')}</DialogDescription>
            </DialogHeader>
            <div className="flex min-w-0 flex-col gap-2 sm:flex-row">
              <code data-testid="admin-key-secret" className="min-w-0 flex-1 select-all break-all rounded-md border bg-muted px-3 py-2 font-mono text-sm">
                {created}
              </code>
              <CopyButton text={created} />
            </div>
            <div role="alert" className="flex gap-2 rounded-md border border-warning/50 bg-warning/10 p-3 text-sm">
              <AlertTriangle className="mt-0.5 size-4 shrink-0 text-warning" />
              <span>{t('admin.warning')}</span>
            </div>
            <DialogFooter>
              <Button data-testid="admin-key-done" onClick={() => setOpen(false)}>
                {t('common:actions.done')}
              </Button>
            </DialogFooter>
          </>
        ) : (
          open && <CreateAdminKeyForm onCreated={setCreated} onCancel={() => setOpen(false)} />
        )}
      </DialogContent>
    </Dialog>
  );
}

function CreateAdminKeyForm({ onCreated, onCancel }: { onCreated: (key: string) => void; onCancel: () => void }) {
  const { t } = useTranslation(['settings', 'common']);
  const qc = useQueryClient();
  const errorToast = useErrorToast();
  const fe = useFieldErrors();
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: (body: { name?: string }) => api.post<AdminKeyItem>('/admin-keys', body),
    onSuccess: (k) => {
      void qc.invalidateQueries({ queryKey: ['admin-keys'] });
      void qc.invalidateQueries({ queryKey: ['audit'] });
      onCreated(k.key ?? '');
    },
    onError: (e) => {
      if (!fe.fromServer(e)) errorToast(e);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!/^[A-Za-z0-9._@ -]{1,64}$/.test(n)) {
      fe.set({ name: t('admin.nameInvalid') });
      return;
    }
    fe.clear();
    create.mutate({ name: n });
  };
  return (
    <form onSubmit={submit} noValidate className="grid gap-4">
      <DialogHeader>
        <DialogTitle>{t('admin.createTitle')}</DialogTitle>
        <DialogDescription>{t('admin.createText')}</DialogDescription>
      </DialogHeader>
      <Field label={t('admin.name')} hint={t('admin.nameHint')} htmlFor="admin-key-name" error={fe.errors.name}>
        <Input
          id="admin-key-name"
          data-testid="admin-key-name"
          value={name}
          maxLength={64}
          autoFocus
          autoComplete="off"
          onChange={(e) => setName(e.target.value)}
          aria-invalid={!!fe.errors.name}
        />
      </Field>
      <FormError message={fe.errors.form} />
      <DialogFooter>
        <Button type="button" variant="outline" onClick={onCancel}>
          {t('common:actions.cancel')}
        </Button>
        <Button type="submit" data-testid="admin-key-save" disabled={create.isPending}>
          {create.isPending && <Spinner />}
          {t('admin.create')}
        </Button>
      </DialogFooter>
    </form>
  );
}
