// Minimal, strict SSE parsing helpers for tests (the Anthropic framing: `event:` + `data:` lines).

/**
 * Incremental SSE parser. feed(text) returns the events completed by that text.
 * Each event: {event, data (string), json (parsed or undefined), raw (the event's text)}.
 */
export class SseParser {
  constructor() {
    this.buf = '';
  }

  feed(text) {
    this.buf += text;
    const out = [];
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this.buf);
      if (!m) break;
      const raw = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      const ev = parseEventBlock(raw);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** Whatever is left unterminated at the end of the stream. */
  rest() {
    return this.buf;
  }
}

export function parseEventBlock(raw) {
  let event;
  const data = [];
  let any = false;
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    any = true;
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!any) return null;
  const d = data.join('\n');
  let json;
  try {
    json = d ? JSON.parse(d) : undefined;
  } catch {
    json = undefined;
  }
  return { event, data: d, json, raw };
}

/** Parses a whole SSE body into events. */
export function parseSse(text) {
  const p = new SseParser();
  const events = p.feed(text);
  const tail = p.rest();
  if (tail.trim()) {
    const ev = parseEventBlock(tail);
    if (ev) events.push({ ...ev, unterminated: true });
  }
  return events;
}

/** Event names, skipping nothing. */
export function eventNames(events) {
  return events.map((e) => e.event);
}

/**
 * Checks the Anthropic ordering grammar of a complete stream; returns a list of problems (empty = ok).
 * message_start first; blocks start/delta/stop with indexes 0,1,2..; message_delta; message_stop last.
 */
export function grammarProblems(events, { allowError = false } = {}) {
  const problems = [];
  const evs = events.filter((e) => e.event !== 'ping');
  if (!evs.length) return ['no events'];
  for (const e of events) {
    if (!e.event) problems.push(`event without an event: line: ${e.raw}`);
    else if (e.json && e.json.type !== e.event) problems.push(`event ${e.event} has data.type ${e.json && e.json.type}`);
    if (e.json === undefined) problems.push(`event ${e.event} data is not JSON: ${e.data}`);
  }
  if (evs[0].event !== 'message_start') problems.push(`first event is ${evs[0].event}`);
  let expectIndex = 0;
  let open = null;
  let sawDelta = false;
  let ended = false;
  for (const e of evs.slice(1)) {
    const j = e.json || {};
    if (ended) problems.push(`event ${e.event} after message_stop`);
    switch (e.event) {
      case 'content_block_start':
        if (open !== null) problems.push(`block ${j.index} starts while ${open} is open`);
        if (j.index !== expectIndex) problems.push(`block index ${j.index}, expected ${expectIndex}`);
        if (sawDelta) problems.push('content_block_start after message_delta');
        open = j.index;
        break;
      case 'content_block_delta':
        if (open !== j.index) problems.push(`delta for ${j.index} while ${open} open`);
        break;
      case 'content_block_stop':
        if (open !== j.index) problems.push(`stop for ${j.index} while ${open} open`);
        open = null;
        expectIndex++;
        break;
      case 'message_delta':
        if (open !== null) problems.push('message_delta with an open block');
        sawDelta = true;
        break;
      case 'message_stop':
        if (!sawDelta) problems.push('message_stop without message_delta');
        ended = true;
        break;
      case 'error':
        if (!allowError) problems.push(`error event: ${e.data}`);
        ended = true;
        break;
      default:
        break;
    }
  }
  if (!ended) problems.push('stream did not end with message_stop or error');
  return problems;
}
