// Usage and logs: the filterable request log (with CSV export) and aggregates with charts.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router';
import { PageHeader } from '@/components/common';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { Aggregates, DEFAULT_AGG, type AggState } from './usage/aggregates';
import { RequestLog } from './usage/log';
import type { LogFilters } from './usage/shared';

type Tab = 'log' | 'aggregates';

export default function UsagePage() {
  const { t } = useTranslation(['usage', 'common']);
  const [params, setParams] = useSearchParams();
  const tab: Tab = params.get('tab') === 'aggregates' ? 'aggregates' : 'log';
  // The aggregates' controls live here so they survive a switch to the log and back.
  const [agg, setAgg] = useState<AggState>(DEFAULT_AGG);

  const setTab = (v: string) => {
    // From the address bar, not the render's params: the router applies URL changes in a
    // transition, so a filter written just before may not have reached this render yet.
    const n = new URLSearchParams(window.location.search);
    if (v === 'aggregates') n.set('tab', v);
    else n.delete('tab');
    setParams(n, { replace: true });
  };

  /** From an aggregate row to the log of its requests (a new history entry: Back returns). */
  const drill = (filters: Partial<LogFilters>) => {
    const n = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) n.set(k, v);
    setParams(n);
  };

  return (
    <div>
      <PageHeader title={t('title')} description={t('description')} />
      <Tabs value={tab} onValueChange={setTab}>
        <TabsList>
          <TabsTrigger value="log" data-testid="usage-tab-log">
            {t('tabs.log')}
          </TabsTrigger>
          <TabsTrigger value="aggregates" data-testid="usage-tab-aggregates">
            {t('tabs.aggregates')}
          </TabsTrigger>
        </TabsList>
        <TabsContent value="log">
          <RequestLog />
        </TabsContent>
        <TabsContent value="aggregates">
          <Aggregates state={agg} onChange={setAgg} onDrill={drill} />
        </TabsContent>
      </Tabs>
    </div>
  );
}
