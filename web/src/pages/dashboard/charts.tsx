// Charts of the dashboard and the usage page (recharts). Colors come from the theme's chart tokens
// and the axes use currentColor / var(--border), so light and dark mode both work.
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
  type TooltipContentProps,
} from 'recharts';
import { fmtCompact } from '@/lib/format';
import { cn } from '@/lib/utils';
import { bucketLabel, tickFormat, type Bucket } from './series';

export interface SeriesDef<T> {
  key: keyof T & string;
  label: string;
  color: string;
  /** Series with the same stack id are stacked. */
  stack?: string;
}

const AXIS_TICK = { fill: 'currentColor', fontSize: 11 };

function TooltipBox({
  title,
  rows,
  footer,
}: {
  title: ReactNode;
  rows: { color: string; label: ReactNode; value: ReactNode }[];
  footer?: ReactNode;
}) {
  return (
    <div className="min-w-40 rounded-md border bg-popover px-3 py-2 text-xs text-popover-foreground shadow-md">
      <div className="mb-1.5 font-medium">{title}</div>
      <div className="grid gap-1">
        {rows.map((r, i) => (
          <div key={i} className="flex items-center gap-2">
            <span className="size-2.5 shrink-0 rounded-sm" style={{ background: r.color }} />
            <span className="text-muted-foreground">{r.label}</span>
            <span className="ml-auto pl-3 font-medium tabular-nums">{r.value}</span>
          </div>
        ))}
      </div>
      {footer && <div className="mt-1.5 border-t pt-1.5 text-muted-foreground">{footer}</div>}
    </div>
  );
}

/**
 * Bars or areas over time buckets (`t`, Unix ms). `format` formats values (axis and tooltip);
 * `footer` adds a line under the tooltip's values for a bucket.
 */
export function TimeChart<T extends { t: number }>({
  data,
  bucket,
  series,
  kind = 'bar',
  format = (v) => fmtCompact(v),
  axisFormat,
  footer,
  decimals = false,
  className,
  testId,
}: {
  data: T[];
  bucket: Bucket;
  series: SeriesDef<T>[];
  kind?: 'bar' | 'area';
  format?: (v: number) => string;
  axisFormat?: (v: number) => string;
  footer?: (row: T) => ReactNode;
  /** Fractional axis ticks (costs). */
  decimals?: boolean;
  className?: string;
  testId?: string;
}) {
  const { i18n } = useTranslation();
  const tick = tickFormat(bucket, i18n.language);
  const title = bucketLabel(bucket, i18n.language);

  const content = ({ active, payload, label }: TooltipContentProps) => {
    if (!active || !payload?.length) return null;
    const row = payload[0]?.payload as T | undefined;
    return (
      <TooltipBox
        title={title(Number(label))}
        rows={series.map((s) => ({ color: s.color, label: s.label, value: format(Number(row?.[s.key] ?? 0)) }))}
        footer={row && footer ? footer(row) : undefined}
      />
    );
  };

  const axes = (
    <>
      <CartesianGrid vertical={false} stroke="var(--border)" strokeDasharray="3 3" />
      <XAxis
        dataKey="t"
        tickFormatter={tick}
        tick={AXIS_TICK}
        stroke="var(--border)"
        tickLine={false}
        minTickGap={18}
        interval="preserveStartEnd"
      />
      <YAxis
        tick={AXIS_TICK}
        stroke="var(--border)"
        tickLine={false}
        axisLine={false}
        width="auto"
        allowDecimals={decimals}
        tickFormatter={axisFormat ?? format}
      />
    </>
  );

  return (
    <div className={cn('h-56 w-full text-muted-foreground', className)} data-testid={testId}>
      <ResponsiveContainer width="100%" height="100%">
        {kind === 'bar' ? (
          <BarChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            {axes}
            <Tooltip content={content} cursor={{ fill: 'var(--muted)', opacity: 0.6 }} isAnimationActive={false} />
            {series.map((s, i) => (
              <Bar
                key={s.key}
                dataKey={s.key as string}
                name={s.label}
                stackId={s.stack}
                fill={s.color}
                maxBarSize={36}
                radius={s.stack && i < series.length - 1 ? 0 : [3, 3, 0, 0]}
                isAnimationActive={false}
              />
            ))}
          </BarChart>
        ) : (
          <AreaChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            {axes}
            <Tooltip content={content} cursor={{ stroke: 'var(--border)' }} isAnimationActive={false} />
            {series.map((s) => (
              <Area
                key={s.key}
                dataKey={s.key as string}
                name={s.label}
                stackId={s.stack}
                type="monotone"
                stroke={s.color}
                fill={s.color}
                fillOpacity={0.25}
                strokeWidth={2}
                isAnimationActive={false}
              />
            ))}
          </AreaChart>
        )}
      </ResponsiveContainer>
    </div>
  );
}

/** Horizontal bars for the top groups (label on the left). */
export function TopBarChart<T extends { name: string }>({
  data,
  dataKey,
  label,
  color = 'var(--chart-1)',
  format = (v) => fmtCompact(v),
  footer,
  testId,
}: {
  data: T[];
  dataKey: keyof T & string;
  label: string;
  color?: string;
  format?: (v: number) => string;
  footer?: (row: T) => ReactNode;
  testId?: string;
}) {
  const content = ({ active, payload }: TooltipContentProps) => {
    if (!active || !payload?.length) return null;
    const row = payload[0]?.payload as T | undefined;
    if (!row) return null;
    return (
      <TooltipBox
        title={row.name}
        rows={[{ color, label, value: format(Number(row[dataKey] ?? 0)) }]}
        footer={footer ? footer(row) : undefined}
      />
    );
  };
  const height = Math.max(120, data.length * 34 + 30);
  return (
    <div className="w-full text-muted-foreground" style={{ height }} data-testid={testId}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 12, bottom: 0, left: 0 }}>
          <CartesianGrid horizontal={false} stroke="var(--border)" strokeDasharray="3 3" />
          <XAxis type="number" tick={AXIS_TICK} stroke="var(--border)" tickLine={false} tickFormatter={format} />
          <YAxis
            type="category"
            dataKey="name"
            tick={AXIS_TICK}
            stroke="var(--border)"
            tickLine={false}
            width={150}
            // Long labels keep both ends: credential hints and model versions differ at the end.
            tickFormatter={(v: string) => (v.length > 24 ? `${v.slice(0, 12)}…${v.slice(-10)}` : v)}
          />
          <Tooltip content={content} cursor={{ fill: 'var(--muted)', opacity: 0.6 }} isAnimationActive={false} />
          <Bar dataKey={dataKey as string} fill={color} radius={[0, 3, 3, 0]} maxBarSize={22} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
