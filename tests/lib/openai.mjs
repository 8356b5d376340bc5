// Helpers for the translation tests (issue 6): config entries for `kind = "openai"` upstreams,
// reading an Anthropic SSE stream back into content blocks, and checks of what reached an
// OpenAI-compatible upstream.

import assert from 'node:assert/strict';
import { defaultConfig, startClove, stopCloveChecked, resetCredentialStates, CLIENT_KEY } from './clove.mjs';
import { startFakeOpenAI } from '../fake_openai/server.mjs';

/** The operator key of the main OpenAI-kind upstream in these tests. */
export const OAI_KEY = 'sk-oai-secret';

/** An `[[upstream]]` entry of kind openai pointing at url (overrides merged in). */
export function openaiUpstreamEntry(url, overrides = {}) {
  return {
    name: 'oai',
    kind: 'openai',
    base_url: url,
    api_key: OAI_KEY,
    models: ['gpt-*', 'qwen*'],
    model_map: { 'claude-oai': 'qwen3' },
    connect_timeout_ms: 5000,
    first_byte_timeout_ms: 600000,
    stream_idle_timeout_ms: 300000,
    ...overrides,
  };
}

/** defaultConfig with exactly these upstream entries. */
export function configWithUpstreams(upstreams, opts = {}) {
  const cfg = defaultConfig('http://127.0.0.1:9', opts);
  cfg.upstream = upstreams;
  return cfg;
}

/**
 * Registers node:test hooks for a test file: one fake OpenAI-compatible upstream and one Clove
 * whose upstreams are upstreamsOf(fake.url) (configWithUpstreams) for the whole file; before each
 * test the credential states in Clove (an upstream 401/429/5xx changes them) and the fake's
 * records and rules are reset. Returns an object whose .fake and .clove are set once the `before`
 * hook ran.
 */
export function useCloveWithFakeOpenAI(hooks, upstreamsOf) {
  const ctx = { fake: null, clove: null };
  hooks.before(async () => {
    ctx.fake = await startFakeOpenAI();
    ctx.clove = await startClove({ config: configWithUpstreams(upstreamsOf(ctx.fake.url)) });
  });
  hooks.after(async () => {
    try {
      if (ctx.clove) await stopCloveChecked(ctx.clove);
    } finally {
      if (ctx.fake) await ctx.fake.close();
    }
  });
  hooks.beforeEach(async () => {
    await resetCredentialStates(ctx.clove);
    ctx.fake.reset();
  });
  return ctx;
}

/** The one chat request the fake OpenAI upstream received (asserts there was exactly one). */
export function onlyChatRequest(fake) {
  const reqs = fake.chatRequests();
  assert.equal(reqs.length, 1, `expected one upstream chat request, got ${reqs.length}: ${reqs.map((r) => r.path)}`);
  return reqs[0];
}

/** Text of an OpenAI message `content` (string, null, or an array of text parts). */
export function oaiText(content) {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && p.type === 'text' ? p.text : '')).join('');
  return '';
}

/**
 * Rebuilds an Anthropic stream from its events (lib/http.mjs request().events): {start (the
 * message_start message), blocks: [{index, type, start (content_block), text, thinking, signature,
 * partialJson, texts (each delta's payload), deltaTypes, stopped}], delta (message_delta data), stopped (message_stop seen),
 * error (data of an `error` event or null), names (event names without ping)}.
 */
export function assembleStream(events) {
  const out = { start: null, blocks: [], delta: null, stopped: false, error: null, names: [] };
  for (const e of events) {
    if (e.event === 'ping' || e.event === undefined) continue;
    out.names.push(e.event);
    const j = e.json ?? {};
    switch (e.event) {
      case 'message_start':
        out.start = j.message;
        break;
      case 'content_block_start':
        out.blocks[j.index] = {
          index: j.index,
          type: j.content_block?.type,
          start: j.content_block,
          text: '',
          thinking: '',
          signature: null,
          partialJson: '',
          texts: [], // each text_delta / thinking_delta / input_json_delta payload, in order
          deltaTypes: [],
          stopped: false,
        };
        break;
      case 'content_block_delta': {
        const b = out.blocks[j.index];
        if (!b) break;
        const d = j.delta ?? {};
        b.deltaTypes.push(d.type);
        if (d.type === 'text_delta') {
          b.text += d.text;
          b.texts.push(d.text);
        } else if (d.type === 'thinking_delta') {
          b.thinking += d.thinking;
          b.texts.push(d.thinking);
        } else if (d.type === 'signature_delta') b.signature = d.signature;
        else if (d.type === 'input_json_delta') {
          b.partialJson += d.partial_json;
          b.texts.push(d.partial_json);
        }
        break;
      }
      case 'content_block_stop':
        if (out.blocks[j.index]) out.blocks[j.index].stopped = true;
        break;
      case 'message_delta':
        out.delta = j;
        break;
      case 'message_stop':
        out.stopped = true;
        break;
      case 'error':
        out.error = j;
        break;
      default:
        break;
    }
  }
  return out;
}

/** The text of all text blocks of an assembled stream. */
export function streamText(asm) {
  return asm.blocks
    .filter((b) => b && b.type === 'text')
    .map((b) => b.text)
    .join('');
}

/**
 * Asserts that an upstream request to an OpenAI-kind upstream carried `Authorization: Bearer key`,
 * JSON content, and no Anthropic header / x-api-key / client key.
 */
export function assertOpenAIUpstreamHeaders(rec, key = OAI_KEY) {
  assert.equal(rec.method, 'POST');
  assert.equal(rec.headers.authorization, `Bearer ${key}`, 'upstream gets the operator key as Bearer');
  assert.equal(rec.headers['x-api-key'], undefined, 'no x-api-key to an OpenAI upstream');
  const anthropicHeaders = Object.keys(rec.headers).filter((k) => k.startsWith('anthropic-'));
  assert.deepEqual(anthropicHeaders, [], `Anthropic headers must not reach an OpenAI upstream: ${anthropicHeaders}`);
  assert.match(String(rec.headers['content-type'] ?? ''), /^application\/json/);
  assert.ok(!JSON.stringify(rec.rawHeaders).includes(CLIENT_KEY), 'client key leaked upstream');
  assert.ok(!rec.body.toString('utf8').includes(CLIENT_KEY), 'client key leaked into the upstream body');
}

/** A tiny valid PNG (1x1, red) as base64. */
export const PNG_1X1_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** The client-visible id Clove gives an upstream tool id that is not ^[A-Za-z0-9_-]+$ (contract). */
export function rewrittenToolId(original) {
  return `toolu_x${Buffer.from(original, 'utf8').toString('hex')}`;
}
