import { useState } from 'react';
import { ApiError } from './api';

export type FieldErrors = Record<string, string>;

/**
 * Field errors of a form: client-side validation fills them before sending, and a 400 from the
 * server with an `error.field` path lands on that field (the rest goes to `form`).
 */
export function useFieldErrors() {
  const [errors, setErrors] = useState<FieldErrors>({});
  return {
    errors,
    set: setErrors,
    clear: () => setErrors({}),
    /** Maps a server error to its field; returns true when it was a field error. */
    fromServer(e: unknown, aliases: Record<string, string> = {}): boolean {
      if (e instanceof ApiError && e.field) {
        const top = e.field.replace(/\[\d+\]$/, '');
        const key = aliases[e.field] ?? aliases[top] ?? (e.field in aliases ? aliases[e.field] : top);
        setErrors({ [key]: e.message });
        return true;
      }
      if (e instanceof ApiError) {
        setErrors({ form: e.message });
        return false;
      }
      setErrors({ form: e instanceof Error ? e.message : String(e) });
      return false;
    },
  };
}

/** Parses an optional integer field: '' → null; otherwise an integer within [min, max] or an error key. */
export function parseIntField(v: string, min: number, max: number): { value: number | null; error?: 'integer' | 'range' } {
  const s = v.trim();
  if (s === '') return { value: null };
  if (!/^-?\d+$/.test(s)) return { value: null, error: 'integer' };
  const n = Number(s);
  if (n < min || n > max) return { value: null, error: 'range' };
  return { value: n };
}

export function parseNumberField(v: string, min: number, max: number): { value: number | null; error?: 'number' | 'range' } {
  const s = v.trim();
  if (s === '') return { value: null };
  const n = Number(s);
  if (!Number.isFinite(n)) return { value: null, error: 'number' };
  if (n < min || n > max) return { value: null, error: 'range' };
  return { value: n };
}

export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash;
  } catch {
    return false;
  }
}
