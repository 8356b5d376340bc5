// Small helpers shared by the client keys and settings pages.
import { useSyncExternalStore, type ReactNode } from 'react';
import { cn } from '@/lib/utils';
import { CopyButton } from '@/components/common';

/** True while the media query matches (re-renders on change). */
export function useMediaQuery(query: string): boolean {
  return useSyncExternalStore(
    (on) => {
      const mq = window.matchMedia(query);
      mq.addEventListener('change', on);
      return () => mq.removeEventListener('change', on);
    },
    () => window.matchMedia(query).matches,
    () => true,
  );
}

/** Desktop layout (tables) from the `md` breakpoint; cards below. Only one of them is rendered. */
export function useDesktop(): boolean {
  return useMediaQuery('(min-width: 768px)');
}

/** A code snippet with a title bar and its own copy button. */
export function CodeBlock({ title, code, copyLabel, testId }: { title: ReactNode; code: string; copyLabel?: string; testId?: string }) {
  return (
    <div className="min-w-0 overflow-hidden rounded-lg border bg-muted/40" data-testid={testId}>
      <div className="flex items-center justify-between gap-2 border-b bg-muted/60 px-3 py-1.5">
        <span className="text-xs font-medium text-muted-foreground">{title}</span>
        <CopyButton text={code} label={copyLabel} />
      </div>
      <pre className="overflow-x-auto p-3 font-mono text-xs leading-relaxed">
        <code>{code}</code>
      </pre>
    </div>
  );
}

/** A thin progress bar: primary, warning from 80 %, destructive at 100 %. */
export function Meter({ value, className, label }: { value: number; className?: string; label?: string }) {
  const pct = Math.max(0, Math.min(1, value));
  const color = value >= 1 ? 'bg-destructive' : value >= 0.8 ? 'bg-warning' : 'bg-primary';
  return (
    <div
      className={cn('h-1.5 w-full overflow-hidden rounded-full bg-foreground/10', className)}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(value * 100)}
    >
      <div className={cn('h-full rounded-full transition-[width]', color)} style={{ width: `${pct * 100}%` }} />
    </div>
  );
}
