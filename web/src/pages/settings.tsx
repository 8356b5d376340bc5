// Settings: general (log level, outbound proxy, retention), timeouts & routing, default limits,
// prices, admin keys, server state (restart-only listener) and the audit log.
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { ErrorState, LoadingState, PageHeader } from '@/components/common';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { AdminKeysTab } from './settings/admin-keys';
import { AuditTab } from './settings/audit';
import { GeneralTab, LimitsTab, RoutingTab } from './settings/forms';
import { PricesTab } from './settings/prices';
import { ServerTab } from './settings/server';
import { useSettingsQuery } from './settings/shared';

const TABS = ['general', 'routing', 'limits', 'prices', 'admin', 'server', 'audit'] as const;
type Tab = (typeof TABS)[number];

export default function SettingsPage() {
  const { t } = useTranslation(['settings', 'common']);
  const [params, setParams] = useSearchParams();
  const tab: Tab = TABS.includes(params.get('tab') as Tab) ? (params.get('tab') as Tab) : 'general';
  const settings = useSettingsQuery();

  const settingsBody = (render: (s: NonNullable<typeof settings.data>) => React.ReactNode) =>
    settings.isPending ? (
      <LoadingState rows={6} />
    ) : settings.isError ? (
      <ErrorState error={settings.error} onRetry={() => void settings.refetch()} />
    ) : (
      render(settings.data)
    );

  return (
    <div>
      <PageHeader title={t('title')} description={t('description')} />
      <Tabs
        value={tab}
        onValueChange={(v) =>
          setParams(
            (p) => {
              const n = new URLSearchParams(p);
              if (v === 'general') n.delete('tab');
              else n.set('tab', v);
              return n;
            },
            { replace: true },
          )
        }
      >
        <TabsList className="h-auto w-full flex-wrap justify-start sm:w-auto">
          {TABS.map((k) => (
            <TabsTrigger key={k} value={k} data-testid={`settings-tab-${k}`}>
              {t(`tabs.${k}`)}
            </TabsTrigger>
          ))}
        </TabsList>
        <TabsContent value="general">{settingsBody((s) => <GeneralTab settings={s} />)}</TabsContent>
        <TabsContent value="routing">{settingsBody((s) => <RoutingTab settings={s} />)}</TabsContent>
        <TabsContent value="limits">{settingsBody((s) => <LimitsTab settings={s} />)}</TabsContent>
        <TabsContent value="prices">
          <PricesTab />
        </TabsContent>
        <TabsContent value="admin">
          <AdminKeysTab />
        </TabsContent>
        <TabsContent value="server">
          <ServerTab />
        </TabsContent>
        <TabsContent value="audit">
          <AuditTab />
        </TabsContent>
      </Tabs>
    </div>
  );
}
