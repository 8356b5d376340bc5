// The typed client of Clove's admin API (docs/admin-api.md). The admin key lives in session
// storage; a 401 clears it and sends the app back to the login page with a message.

export type Nullable<T> = T | null;

export interface Status {
  version: string;
  started_at: string;
  uptime_s: number;
  in_flight: number;
  database: string;
  schema_version: number;
  usage_queue_depth: number;
  usage_spooled: number;
  usage_written: number;
  credentials?: { valid: number; cooling_down: number; invalid: number; disabled: number };
  listen?: { host: string; port: number; workers: number; data_dir: string; config: Nullable<string> };
}

export type UpstreamKind = 'anthropic' | 'openai';
export type HealthCheck = 'off' | 'models' | 'message';

export interface Upstream {
  id: string;
  name: string;
  kind: UpstreamKind;
  base_url: string;
  auth: 'key' | 'passthrough';
  models: string[];
  model_map: Record<string, string>;
  priority: number;
  weight: number;
  credential_concurrency: number;
  health_check: HealthCheck;
  health_check_interval_ms: number;
  proxy_url: Nullable<string>;
  enabled: boolean;
  connect_timeout_ms: number;
  first_byte_timeout_ms: number;
  stream_idle_timeout_ms: number;
  credentials: { total: number; enabled: number };
  openai?: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export type CredentialState = 'valid' | 'cooling_down' | 'invalid' | 'disabled';

export interface Credential {
  id: string;
  upstream_id: string;
  label: Nullable<string>;
  hint: string;
  enabled: boolean;
  state: CredentialState;
  last_error: Nullable<string>;
  cooldown_until: Nullable<string>;
  last_used_at: Nullable<string>;
  in_flight: number;
  counters: { requests: number; successes: number; failures: number; rate_limited: number };
  created_at: string;
}

export interface AddCredentialResult {
  index: number;
  ok: boolean;
  credential?: Credential;
  error?: string;
}

export interface CredentialTest {
  ok: boolean;
  status: number;
  latency_ms: number;
  message: string;
}

export interface Limits {
  rpm: Nullable<number>;
  tpm: Nullable<number>;
  input_tpm: Nullable<number>;
  output_tpm: Nullable<number>;
  concurrency: Nullable<number>;
  daily_budget_usd: Nullable<number>;
  monthly_budget_usd: Nullable<number>;
  budget_usd: Nullable<number>;
  budget_period: 'total' | 'daily' | 'monthly';
}

export interface ClientKey {
  id: string;
  name: string;
  prefix: string;
  enabled: boolean;
  created_at: string;
  last_used_at: Nullable<string>;
  expires_at: Nullable<string>;
  allowed_models: string[];
  limits: Limits;
  usage: { requests: number; input_tokens: number; output_tokens: number; cost_usd: number };
  spend?: Nullable<{ day_usd: number; month_usd: number; total_usd: number; reserved_usd: number }>;
  key?: string;
}

export interface Settings {
  log_level: string;
  outbound_proxy: Nullable<string>;
  connect_timeout_ms: number;
  first_byte_timeout_ms: number;
  stream_idle_timeout_ms: number;
  usage_retention_days: number;
  max_attempts: number;
  failover_deadline_ms: number;
  cooldown_fallback_ms: number;
  failure_threshold: number;
  failure_cooldown_ms: number;
  sticky_ttl_ms: number;
  first_byte_keepalive_ms: number;
  keepalive_interval_ms: number;
  queue_timeout_ms: number;
  default_limits: Limits;
}

export interface Price {
  model: string;
  input: number;
  output: number;
  cache_write_5m: number;
  cache_write_1h: number;
  cache_read: number;
  source: 'builtin' | 'custom';
}

export interface UsageRecord {
  request_id: string;
  time: string;
  key_id: Nullable<string>;
  key_name: Nullable<string>;
  upstream_id: Nullable<string>;
  upstream: Nullable<string>;
  credential_id: Nullable<string>;
  model: Nullable<string>;
  upstream_model: Nullable<string>;
  status: number;
  error_type: Nullable<string>;
  stream: boolean;
  ttfb_ms: Nullable<number>;
  duration_ms: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
}

export interface SummaryCounters {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_read_share: number;
  cost_usd: number;
}
export interface SummaryRow extends SummaryCounters {
  group: string;
  label?: Nullable<string>;
}
export interface Summary {
  data: SummaryRow[];
  totals: SummaryCounters;
}

export interface Percentiles {
  p50: Nullable<number>;
  p90: Nullable<number>;
  p99: Nullable<number>;
}
export interface Latency {
  count: number;
  sampled: number;
  errors_total: number;
  ttfb_ms: Percentiles;
  duration_ms: Percentiles;
  errors: { type: Nullable<string>; status: number; count: number }[];
  from: string;
  to: string;
}

export interface AuditEntry {
  id: number | string;
  time: string;
  actor: string;
  action: string;
  resource: string;
  resource_id: Nullable<string>;
  detail: unknown;
}

export interface AdminKey {
  id: string;
  name: string;
  prefix: string;
  source: 'env' | 'database';
  /** False for the first-start key while ADMIN_API_KEYS is set (listed, not accepted). */
  active: boolean;
  created_at: Nullable<string>;
  current: boolean;
  key?: string;
}

export interface List<T> {
  data: T[];
  next_cursor?: Nullable<string>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly field?: string;
  readonly requestId?: string;
  constructor(status: number, type: string, message: string, field?: string, requestId?: string) {
    super(message);
    this.status = status;
    this.type = type;
    this.field = field;
    this.requestId = requestId;
  }
}

const KEY = 'clove.adminKey';
export const LOGOUT_EVENT = 'clove:logout';

export const session = {
  get(): string | null {
    return sessionStorage.getItem(KEY);
  },
  set(key: string) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, q?: Query): string {
  if (!q) return path;
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

export async function request<T>(method: string, path: string, body?: unknown, key?: string): Promise<T> {
  const token = key ?? session.get();
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/admin/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e));
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const err = (json as { error?: { type?: string; message?: string; field?: string }; request_id?: string } | null) ?? {};
    const e = new ApiError(
      res.status,
      err.error?.type ?? 'api_error',
      err.error?.message ?? (text || res.statusText),
      err.error?.field,
      err.request_id,
    );
    if (res.status === 401 && !key) {
      session.clear();
      window.dispatchEvent(new CustomEvent(LOGOUT_EVENT, { detail: e.message }));
    }
    throw e;
  }
  return json as T;
}

export const api = {
  get: <T>(path: string, q?: Query) => request<T>('GET', withQuery(path, q)),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  del: (path: string) => request<void>('DELETE', path),
};
