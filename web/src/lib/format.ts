import i18n from './i18n';

const lang = () => i18n.language || 'en';

// Intl formatters are expensive to construct (the first one of a kind loads locale data): one
// per language and options, reused.
const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>();
function cached<T extends Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>(kind: string, make: (l: string) => T, opts = ''): T {
  const key = `${kind}|${lang()}|${opts}`;
  let f = cache.get(key) as T | undefined;
  if (!f) {
    f = make(lang());
    cache.set(key, f);
  }
  return f;
}

// English and Chinese group digits the same way (1,234,567), so the hot formatters below need no
// Intl object: the first Intl.NumberFormat of a page costs tens of milliseconds (locale data).
function group(n: number): string {
  const neg = n < 0;
  const s = String(Math.abs(n));
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return neg ? `-${out}` : out;
}

function fixed(n: number, digits: number): string {
  const [i, f] = Math.abs(n).toFixed(digits).split('.');
  return `${n < 0 && Number(i + (f ?? '')) !== 0 ? '-' : ''}${group(Number(i))}${f ? `.${f}` : ''}`;
}

export function fmtInt(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return group(Math.round(n));
}

export function fmtCompact(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const abs = Math.abs(n);
  const trim = (v: number) => v.toFixed(1).replace(/\.0$/, '');
  if (lang().startsWith('zh')) {
    if (abs >= 1e8) return `${trim(n / 1e8)}亿`;
    if (abs >= 1e4) return `${trim(n / 1e4)}万`;
    return group(Math.round(n));
  }
  if (abs >= 1e12) return `${trim(n / 1e12)}T`;
  if (abs >= 1e9) return `${trim(n / 1e9)}B`;
  if (abs >= 1e6) return `${trim(n / 1e6)}M`;
  if (abs >= 1e3) return `${trim(n / 1e3)}K`;
  return group(Math.round(n));
}

export function fmtUsd(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const digits = n !== 0 && Math.abs(n) < 1 ? 4 : 2;
  let v = fixed(n, digits);
  if (digits > 2) v = v.replace(/(\.\d\d\d*?)0+$/, '$1');
  return v.startsWith('-') ? `-$${v.slice(1)}` : `$${v}`;
}

export function fmtPct(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const v = (n * 100).toFixed(digits).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  return `${v === '-0' ? '0' : v}%`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return fmtDuration(ms / 1000);
}

/** 3725 s → "1h 2m 5s" (compact, language-neutral units). */
export function fmtDuration(seconds: number): string {
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return cached('time', (l) => new Intl.DateTimeFormat(l, { dateStyle: 'medium', timeStyle: 'medium' })).format(d);
}

export function fmtClock(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return cached('clock', (l) => new Intl.DateTimeFormat(l, { hour: '2-digit', minute: '2-digit', second: '2-digit' })).format(d);
}

/** "3 minutes ago" / "in 2 hours" in the UI language. */
export function fmtRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const diff = (t - now) / 1000;
  const rtf = cached('rel', (l) => new Intl.RelativeTimeFormat(l, { numeric: 'auto' }));
  const abs = Math.abs(diff);
  if (abs < 60) return rtf.format(Math.round(diff), 'second');
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  return rtf.format(Math.round(diff / 86400), 'day');
}
