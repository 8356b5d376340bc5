// Row 2 — request smuggling and framing.
//
// Each vector is a raw byte sequence sent on a fresh TCP connection to Clove. Apart from the
// framing defect under test, every vector is a valid `POST /v1/messages` with a valid client key
// and a valid JSON body, so a rejection can only come from framing.
//
// Pass line for every vector: exactly one response, its status is in the vector's allowed set
// (400 unless documented otherwise), Clove closes the connection (FIN or RST) within 1 s, and the
// fake upstream receives 0 requests (not even the smuggled second request of the pipelined
// vectors). The positive controls (RFC-valid framing that must be accepted, relayed once and
// answered 200) keep the suite honest: a gateway that rejects everything fails them.
//
// Status choices (RFC 9112 / RFC 9110):
//   400  every malformed or ambiguous framing (RFC 9112 §6.3 "MUST respond with 400 and close";
//        §5.1 whitespace before colon "MUST reject with 400"; §3.2 Host rules "MUST respond 400").
//   501  also accepted where the defect is only an unknown transfer coding (RFC 9112 §6.1: "SHOULD
//        respond with 501"), as long as chunked is final or there is no chunked at all.
//   413  also accepted for numbers too large to represent (Content-Length or chunk size overflow,
//        oversized chunk-size line), since "too large" is a truthful reading of them.
// Whitespace and case around Transfer-Encoding, decided per RFC 9112 / 9110:
//   "Transfer-Encoding : chunked", "Transfer-Encoding\t: chunked"  whitespace before the colon:
//        MUST be rejected with 400 (9112 §5.1)                          → vectors te-11, te-12, smug-7
//   "Transfer-Encoding:\tchunked\t"  OWS (SP or HTAB) around a value is not part of it (9110 §5.5)
//        → valid, must be accepted                                      → control ok-4
//   "Transfer-Encoding: Chunked"  coding names are case-insensitive (9112 §7) → valid, control ok-3
//   "transfer-encoding:chunked"  field names are case-insensitive, OWS optional → valid, control ok-5
//   "Transfer-Encoding: \x0bchunked"  VT is not OWS, the value is no coding → 400 (te-13)
//   "Transfer-Encoding:\r\n chunked"  obs-fold → 400 by Clove policy (fold-1, smug-8)
// Clove policy (stricter than the RFC, per the design notes) rejects obs-fold, bare LF line
// endings, whitespace-prefixed header lines and request trailers: the RFC allows either
// rejecting or repairing them, and rejecting removes differentials with a front proxy.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fake_upstream/server.mjs';
import { startClove } from '../lib/clove.mjs';
import {
  makeRow,
  rawExchange,
  parseResponses,
  anthropicErrorProblem,
  printable,
  messagesHead,
  chunked,
  MESSAGE_BODY,
  sleep,
} from './_lib.mjs';

const row = makeRow('row 2 (smuggling and framing)');
const VECTOR_TIMEOUT_MS = 1000;

let fake;
let clove;
before(async () => {
  fake = await startFakeUpstream();
  clove = await startClove({ fakeUrl: fake.url });
});
after(async () => {
  if (clove) await clove.stop('SIGTERM', 3000);
  if (fake) await fake.close();
});

const B = MESSAGE_BODY;
const BL = Buffer.byteLength(B);
const CH = chunked(B);
const H = messagesHead();
const H10 = messagesHead({ version: 'HTTP/1.0' });
const hx = (n) => n.toString(16);
// A complete, valid second request: processed only if the first one's framing was misread.
const SECOND = messagesHead() + `Content-Length: ${BL}\r\n\r\n` + B;
const withHead = (head, framing, body) => head + framing.map((l) => l + '\r\n').join('') + '\r\n' + body;

const P400 = [400];
const P400_501 = [400, 501];
const P400_413 = [400, 413];

/** @type {{id:string, name:string, why:string, req:string|string[], allow:number[]}[]} */
const VECTORS = [
  // --- Content-Length together with Transfer-Encoding --------------------------------------
  { id: 'cl-te-1', name: 'Content-Length then Transfer-Encoding: chunked', why: '9112 §6.1: CL+TE → reject or TE-only, then close; Clove rejects',
    req: withHead(H, [`Content-Length: ${CH.length}`, 'Transfer-Encoding: chunked'], CH), allow: P400 },
  { id: 'cl-te-2', name: 'Transfer-Encoding: chunked then Content-Length', why: 'same, other order',
    req: withHead(H, ['Transfer-Encoding: chunked', `Content-Length: ${CH.length}`], CH), allow: P400 },
  { id: 'cl-te-3', name: 'Transfer-Encoding: gzip + Content-Length (Beast 1.81 gap)', why: '9112 §6.3: TE without final chunked → 400 + close',
    req: withHead(H, ['Transfer-Encoding: gzip', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'cl-te-4', name: 'Content-Length + Transfer-Encoding: gzip', why: 'same, other order',
    req: withHead(H, [`Content-Length: ${BL}`, 'Transfer-Encoding: gzip'], B), allow: P400 },
  { id: 'cl-te-5', name: 'Content-Length: 0 + Transfer-Encoding: chunked', why: 'CL+TE with a zero CL',
    req: withHead(H, ['Content-Length: 0', 'Transfer-Encoding: chunked'], CH), allow: P400 },
  // --- Transfer-Encoding values ----------------------------------------------------------------
  { id: 'te-1', name: 'Transfer-Encoding: gzip (no chunked)', why: '9112 §6.3: chunked not final → 400 (501 tolerated: unknown coding)',
    req: withHead(H, ['Transfer-Encoding: gzip'], B), allow: P400_501 },
  { id: 'te-2', name: 'Transfer-Encoding: chunked, gzip', why: '9112 §6.3: chunked not final → MUST 400 + close',
    req: withHead(H, ['Transfer-Encoding: chunked, gzip'], CH), allow: P400 },
  { id: 'te-3', name: 'Transfer-Encoding: gzip, chunked', why: '9112 §6.1: coding not understood → 501 (or 400); body is not gzip',
    req: withHead(H, ['Transfer-Encoding: gzip, chunked'], CH), allow: P400_501 },
  { id: 'te-4', name: 'Transfer-Encoding: identity', why: 'identity is no longer a transfer coding; chunked not final → 400',
    req: withHead(H, ['Transfer-Encoding: identity'], B), allow: P400_501 },
  { id: 'te-5', name: 'Transfer-Encoding: identity + Content-Length', why: 'TE present (not chunked) + CL',
    req: withHead(H, ['Transfer-Encoding: identity', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'te-6', name: 'duplicate Transfer-Encoding: chunked lines', why: '= "chunked, chunked": chunked applied twice (9112 §7) → 400',
    req: withHead(H, ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], CH), allow: P400 },
  { id: 'te-7', name: 'Transfer-Encoding: chunked, chunked', why: 'chunked applied twice → 400',
    req: withHead(H, ['Transfer-Encoding: chunked, chunked'], CH), allow: P400 },
  { id: 'te-8', name: 'Transfer-Encoding: chunked + Transfer-Encoding: identity', why: '= "chunked, identity": chunked not final → 400',
    req: withHead(H, ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], CH), allow: P400 },
  { id: 'te-9', name: 'Transfer-Encoding: xchunked', why: 'unknown coding, not chunked → 400/501',
    req: withHead(H, ['Transfer-Encoding: xchunked'], CH), allow: P400_501 },
  { id: 'te-10', name: 'Transfer-Encoding: chunked;foo=bar', why: 'chunked takes no parameters; not exactly chunked → 400/501',
    req: withHead(H, ['Transfer-Encoding: chunked;foo=bar'], CH), allow: P400_501 },
  { id: 'te-11', name: 'Transfer-Encoding : chunked (space before colon)', why: '9112 §5.1: whitespace between name and colon → MUST 400',
    req: withHead(H, ['Transfer-Encoding : chunked'], CH), allow: P400 },
  { id: 'te-12', name: 'Transfer-Encoding\\t: chunked (tab before colon)', why: '9112 §5.1 → MUST 400',
    req: withHead(H, ['Transfer-Encoding\t: chunked'], CH), allow: P400 },
  { id: 'te-13', name: 'Transfer-Encoding: \\x0bchunked (vertical tab)', why: 'VT is not OWS: value is not a token → 400',
    req: withHead(H, ['Transfer-Encoding: \x0bchunked'], CH), allow: P400_501 },
  { id: 'te-14', name: 'Transfer-Encoding: "chunked" (quoted)', why: 'quoted string is not a coding token → 400/501',
    req: withHead(H, ['Transfer-Encoding: "chunked"'], CH), allow: P400_501 },
  { id: 'te-15', name: 'HTTP/1.0 + Transfer-Encoding: chunked', why: '9112 §6.1: TE in HTTP/1.0 → faulty framing; Clove rejects',
    req: withHead(H10, ['Transfer-Encoding: chunked'], CH), allow: P400 },
  { id: 'te-16', name: 'HTTP/1.0 + Transfer-Encoding: chunked + Content-Length', why: '9112 §6.1 "even if a Content-Length is present"',
    req: withHead(H10, ['Transfer-Encoding: chunked', `Content-Length: ${CH.length}`], CH), allow: P400 },
  // --- obs-fold and header-line syntax ----------------------------------------------------------
  { id: 'fold-1', name: 'obs-fold on Transfer-Encoding', why: 'Clove rejects obs-fold (9112 §5.2 allows reject)',
    req: withHead(H, ['Transfer-Encoding:', ' chunked'], CH), allow: P400 },
  { id: 'fold-2', name: 'obs-fold continuation (space) of a harmless header', why: 'obs-fold → 400 (Clove policy)',
    req: withHead(H, ['x-note: a', ' b', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'fold-3', name: 'obs-fold continuation (tab)', why: 'obs-fold → 400',
    req: withHead(H, ['x-note: a', '\tb', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'fold-4', name: 'whitespace-prefixed first header line hiding Transfer-Encoding', why: '9112 §2.2: reject or ignore; Clove rejects',
    req: `POST /v1/messages HTTP/1.1\r\n Transfer-Encoding: chunked\r\n` + H.split('\r\n').slice(1).join('\r\n') + `Content-Length: ${CH.length}\r\n\r\n` + CH, allow: P400 },
  { id: 'hdr-1', name: 'Content-Length : N (space before colon)', why: '9112 §5.1 → MUST 400',
    req: withHead(H, [`Content-Length : ${BL}`], B), allow: P400 },
  { id: 'hdr-2', name: 'header line without a colon', why: 'not a field line → 400',
    req: withHead(H, ['x-note value', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'hdr-3', name: 'space inside a header name', why: 'field-name is a token → 400',
    req: withHead(H, ['x note: a', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'hdr-4', name: 'invalid character in a header name (x(note))', why: 'field-name is a token → 400',
    req: withHead(H, ['x(note): a', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'hdr-5', name: 'NUL in a header value', why: '9110 §5.5: NUL → reject (Clove never repairs)',
    req: withHead(H, ['x-note: a\x00b', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'hdr-6', name: 'NUL in a header name', why: 'not a token → 400',
    req: withHead(H, ['x-no\x00te: a', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'hdr-7', name: 'empty header name (": a")', why: 'field-name must be non-empty → 400',
    req: withHead(H, [': a', `Content-Length: ${BL}`], B), allow: P400 },
  // --- line endings ------------------------------------------------------------------------------
  { id: 'eol-1', name: 'all line endings bare LF', why: 'Clove rejects bare LF (9112 §2.2 MAY accept)',
    req: withHead(H, [`Content-Length: ${BL}`], B).replace(/\r\n/g, '\n'), allow: P400 },
  { id: 'eol-2', name: 'one header line ending in bare LF', why: 'mixed line endings → 400',
    req: H + 'x-note: a\n' + `Content-Length: ${BL}\r\n\r\n` + B, allow: P400 },
  { id: 'eol-3', name: 'bare LF hides Transfer-Encoding inside another header', why: 'a lenient parser sees TE; strict one does not → 400',
    req: H + 'x-note: a\nTransfer-Encoding: chunked\r\n' + `Content-Length: ${CH.length}\r\n\r\n` + CH, allow: P400 },
  { id: 'eol-4', name: 'bare CR inside a header value', why: '9112 §2.2: bare CR invalid → 400',
    req: withHead(H, ['x-note: a\rb', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'eol-5', name: 'bare CR as a line terminator before Content-Length', why: 'bare CR → 400',
    req: H + `x-note: a\rContent-Length: ${BL}\r\n\r\n` + B, allow: P400 },
  { id: 'eol-6', name: 'request line ending in bare LF', why: 'bare LF → 400',
    req: 'POST /v1/messages HTTP/1.1\n' + H.split('\r\n').slice(1).join('\r\n') + `Content-Length: ${BL}\r\n\r\n` + B, allow: P400 },
  // --- Content-Length values ---------------------------------------------------------------------
  { id: 'cl-1', name: 'two Content-Length lines with different values', why: '9112 §6.3 item 5 → 400',
    req: withHead(H, [`Content-Length: ${BL}`, `Content-Length: ${BL + 1}`], B + ' '), allow: P400 },
  { id: 'cl-2', name: 'Content-Length list with different values', why: '9112 §6.3 item 5 → 400',
    req: withHead(H, [`Content-Length: ${BL}, ${BL + 1}`], B + ' '), allow: P400 },
  { id: 'cl-3', name: 'Content-Length: +N', why: 'CL = 1*DIGIT → 400',
    req: withHead(H, [`Content-Length: +${BL}`], B), allow: P400 },
  { id: 'cl-4', name: 'Content-Length: -1', why: 'CL = 1*DIGIT → 400',
    req: withHead(H, ['Content-Length: -1'], B), allow: P400 },
  { id: 'cl-5', name: 'Content-Length: 99999999999999999999 (uint64 overflow)', why: 'overflow → 400 (413 tolerated)',
    req: withHead(H, ['Content-Length: 99999999999999999999'], B), allow: P400_413 },
  { id: 'cl-6', name: 'Content-Length: 0x5e (hex)', why: 'CL = 1*DIGIT → 400',
    req: withHead(H, [`Content-Length: 0x${hx(BL)}`], B), allow: P400 },
  { id: 'cl-7', name: 'Content-Length with an inner space ("N N")', why: 'not 1*DIGIT → 400',
    req: withHead(H, [`Content-Length: ${BL} ${BL}`], B), allow: P400 },
  { id: 'cl-8', name: 'empty Content-Length', why: 'invalid CL → 400',
    req: withHead(H, ['Content-Length:'], B), allow: P400 },
  { id: 'cl-9', name: 'Content-Length: Nabc (trailing garbage)', why: 'invalid CL → 400',
    req: withHead(H, [`Content-Length: ${BL}abc`], B), allow: P400 },
  { id: 'cl-10', name: 'Content-Length: N.0', why: 'invalid CL → 400',
    req: withHead(H, [`Content-Length: ${BL}.0`], B), allow: P400 },
  // --- chunked body syntax -----------------------------------------------------------------------
  { id: 'chunk-1', name: 'chunk size "zz"', why: 'chunk-size = 1*HEXDIG → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `zz\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-2', name: 'chunk size "-1"', why: '→ 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `-1\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-3', name: 'chunk size overflow (21 hex digits)', why: 'overflow → 400 (413 tolerated)',
    req: withHead(H, ['Transfer-Encoding: chunked'], `1ffffffffffffffffffff\r\n${B}\r\n0\r\n\r\n`), allow: P400_413 },
  { id: 'chunk-4', name: 'chunk size "0x5e"', why: 'not HEXDIG only → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `0x${hx(BL)}\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-5', name: 'chunk size with a leading space', why: '→ 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], ` ${hx(BL)}\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-6', name: 'chunk extension of 5 KiB', why: 'Clove caps chunk-ext at 4 KiB → 400 (413 tolerated)',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)};a=${'x'.repeat(5 * 1024)}\r\n${B}\r\n0\r\n\r\n`), allow: P400_413 },
  { id: 'chunk-7', name: 'chunk extension of 1 MiB (oversized chunk header line)', why: 'bounded buffer: → 400 (413 tolerated), no growth',
    req: [withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)};a=`), ...Array.from({ length: 16 }, () => 'y'.repeat(64 * 1024)), `\r\n${B}\r\n0\r\n\r\n`],
    allow: P400_413 },
  { id: 'chunk-8', name: 'chunk size with 70 000 leading zeros (oversized line)', why: 'oversized chunk-size line → 400 (413 tolerated)',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${'0'.repeat(70000)}${hx(BL)}\r\n${B}\r\n0\r\n\r\n`), allow: P400_413 },
  { id: 'chunk-9', name: 'many chunk extensions totalling 8 KiB (;a;a;a…)', why: 'chunk-ext > 4 KiB → 400 (413 tolerated)',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}${';a'.repeat(4096)}\r\n${B}\r\n0\r\n\r\n`), allow: P400_413 },
  { id: 'chunk-10', name: 'lone LF inside a chunk extension (Kestrel CVE-2025-55315)', why: 'bare LF → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)};a=b\nc\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-11', name: 'chunk-size line ending in bare LF', why: 'bare LF → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-12', name: 'chunk data longer than its size (no CRLF after data)', why: '→ 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL - 4)}\r\n${B}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-13', name: 'chunk data followed by bare LF', why: 'bare LF → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}\r\n${B}\n0\r\n\r\n`), allow: P400 },
  { id: 'chunk-14', name: 'last chunk terminated by bare LFs ("0\\n\\n")', why: 'bare LF → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}\r\n${B}\r\n0\n\n`), allow: P400 },
  { id: 'chunk-15', name: 'request trailer field', why: 'Clove rejects request trailers (policy)',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}\r\n${B}\r\n0\r\nx-trailer: a\r\n\r\n`), allow: P400 },
  { id: 'chunk-16', name: 'Content-Length in the trailer', why: 'trailer framing fields → 400',
    req: withHead(H, ['Transfer-Encoding: chunked'], `${hx(BL)}\r\n${B}\r\n0\r\nContent-Length: 5\r\n\r\n`), allow: P400 },
  // --- request line -------------------------------------------------------------------------------
  { id: 'rl-1', name: 'invalid method token "P@ST"', why: 'method = token → 400',
    req: withHead(H.replace(/^POST/, 'P@ST'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-2', name: 'method with an inner space "PO ST"', why: 'malformed request line → 400',
    req: withHead(H.replace(/^POST/, 'PO ST'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-3', name: 'absolute-form junk "http://[::1/v1/messages"', why: 'invalid URI → 400',
    req: withHead(H.replace('/v1/messages', 'http://[::1/v1/messages'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-4', name: 'absolute-form with an invalid scheme "ht!tp://"', why: 'invalid URI → 400',
    req: withHead(H.replace('/v1/messages', 'ht!tp://127.0.0.1/v1/messages'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-5', name: 'NUL in the request target', why: 'invalid target → 400',
    req: withHead(H.replace('/v1/messages', '/v1/mess\x00ages'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-6', name: 'extra token in the request line', why: 'malformed request line → 400',
    req: withHead(H.replace('/v1/messages', '/v1/messages junk'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-7', name: 'version "HTTP/1.1x"', why: 'malformed HTTP-version → 400',
    req: withHead(H.replace('HTTP/1.1', 'HTTP/1.1x'), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'rl-8', name: 'version "http/1.1" (lower case)', why: 'HTTP-name is case-sensitive (9112 §2.3) → 400',
    req: withHead(H.replace('HTTP/1.1', 'http/1.1'), [`Content-Length: ${BL}`], B), allow: P400 },
  // --- Host ---------------------------------------------------------------------------------------
  { id: 'host-1', name: 'HTTP/1.1 without Host', why: '9112 §3.2 → MUST 400',
    req: withHead(messagesHead({ host: null }), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'host-2', name: 'two Host lines (same value)', why: '9112 §3.2 → MUST 400',
    req: withHead(H, ['Host: 127.0.0.1', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'host-3', name: 'two Host lines (different values)', why: '9112 §3.2 → MUST 400',
    req: withHead(H, ['Host: evil.example', `Content-Length: ${BL}`], B), allow: P400 },
  { id: 'host-4', name: 'Host with userinfo "a@127.0.0.1"', why: 'invalid Host value (9112 §3.2) → 400',
    req: withHead(messagesHead({ host: 'a@127.0.0.1' }), [`Content-Length: ${BL}`], B), allow: P400 },
  { id: 'host-5', name: 'Host with a space "127.0.0.1 x"', why: 'invalid Host value → 400',
    req: withHead(messagesHead({ host: '127.0.0.1 x' }), [`Content-Length: ${BL}`], B), allow: P400 },
  // --- pipelined smuggling: a complete second request hides behind ambiguous framing --------------
  { id: 'smug-1', name: 'CL.TE: CL covers "0 chunk + second request"', why: 'CL+TE → 400; second request never processed',
    req: (() => { const body = '0\r\n\r\n' + SECOND; return withHead(H, [`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked'], body); })(), allow: P400 },
  { id: 'smug-2', name: 'TE.CL: chunk carries the second request, CL: 3', why: 'CL+TE → 400',
    req: withHead(H, ['Transfer-Encoding: chunked', 'Content-Length: 3'], `${hx(SECOND.length)}\r\n${SECOND}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'smug-3', name: 'TE: gzip + CL, second request after the CL body', why: 'TE not chunked → 400 + close (Beast 1.81 gap)',
    req: withHead(H, ['Transfer-Encoding: gzip', `Content-Length: ${BL}`], B + SECOND), allow: P400 },
  { id: 'smug-4', name: 'conflicting Content-Length, second request in the gap', why: '→ 400 + close',
    req: withHead(H, [`Content-Length: ${BL}`, `Content-Length: ${BL + SECOND.length}`], B + SECOND), allow: P400 },
  { id: 'smug-5', name: 'HTTP/1.0 chunked, second request after the last chunk', why: '9112 §6.1 → 400 + close',
    req: withHead(H10, ['Transfer-Encoding: chunked'], CH + SECOND), allow: P400 },
  { id: 'smug-6', name: 'TE chunked + TE x + CL, second request after the chunks', why: '"chunked, x" not final → 400',
    req: (() => { const body = CH + SECOND; return withHead(H, ['Transfer-Encoding: chunked', 'Transfer-Encoding: x', `Content-Length: ${body.length}`], body); })(), allow: P400 },
  { id: 'smug-7', name: '"Transfer-Encoding : chunked" + CL, second request inside the chunks', why: '9112 §5.1 → 400',
    req: withHead(H, ['Transfer-Encoding : chunked', 'Content-Length: 3'], `${hx(SECOND.length)}\r\n${SECOND}\r\n0\r\n\r\n`), allow: P400 },
  { id: 'smug-8', name: 'obs-folded TE + CL, second request after the chunks', why: 'obs-fold → 400',
    req: (() => { const body = CH + SECOND; return withHead(H, ['Transfer-Encoding:', ' chunked', `Content-Length: ${body.length}`], body); })(), allow: P400 },
];

// --- positive controls: RFC-valid framing that must be accepted -----------------------------------
const CLOSE = 'Connection: close';
const CONTROLS = [
  { id: 'ok-1', name: 'plain Content-Length', req: withHead(H, [`Content-Length: ${BL}`, CLOSE], B), upstream: 1 },
  { id: 'ok-2', name: 'Transfer-Encoding: chunked', req: withHead(H, ['Transfer-Encoding: chunked', CLOSE], CH), upstream: 1 },
  { id: 'ok-3', name: 'Transfer-Encoding: Chunked (coding names are case-insensitive, 9112 §7)', req: withHead(H, ['Transfer-Encoding: Chunked', CLOSE], CH), upstream: 1 },
  { id: 'ok-4', name: 'Transfer-Encoding:\\tchunked\\t (OWS may be HTAB, 9110 §5.5)', req: withHead(H, ['Transfer-Encoding:\tchunked\t', CLOSE], CH), upstream: 1 },
  { id: 'ok-5', name: 'transfer-encoding:chunked (lower-case name, no OWS)', req: withHead(H, ['transfer-encoding:chunked', CLOSE], CH), upstream: 1 },
  { id: 'ok-6', name: 'chunk extension ";a=b" (must be ignored, 9112 §7.1.1)', req: withHead(H, ['Transfer-Encoding: chunked', CLOSE], `${hx(BL)};a=b\r\n${B}\r\n0\r\n\r\n`), upstream: 1 },
  { id: 'ok-7', name: 'Content-Length:\\tN (tab OWS)', req: withHead(H, [`Content-Length:\t${BL}`, CLOSE], B), upstream: 1 },
  { id: 'ok-9', name: 'absolute-form target http://127.0.0.1/v1/messages (9112 §3.2.2: a server MUST accept it)', req: withHead(H.replace('/v1/messages', 'http://127.0.0.1/v1/messages'), [`Content-Length: ${BL}`, CLOSE], B), upstream: 1 },
  { id: 'ok-8', name: 'two pipelined requests on one connection', req: withHead(H, [`Content-Length: ${BL}`], B) + withHead(H, [`Content-Length: ${BL}`, CLOSE], B), upstream: 2, responses: 2 },
];

function describe(v, r, resps, upstream) {
  const reqText = Array.isArray(v.req) ? v.req.join('') : v.req;
  return (
    `\n  vector ${v.id}: ${v.name} (${v.why ?? 'control'})` +
    `\n  request: ${printable(reqText, 700)}` +
    `\n  response: ${printable(r.data, 500)}` +
    `\n  statuses: ${JSON.stringify(resps.map((x) => x.status))}, connection ${r.closed ? `closed (${r.how}${r.error ? ' ' + r.error : ''})` : 'left open'}` +
    `, upstream requests: ${upstream}`
  );
}

const shapeProblems = [];
let plainControlOk = false; // the plain Content-Length control proves the setup works
let controlUpstream = 0; // upstream requests caused by the controls (whatever their outcome)

for (const v of CONTROLS.slice(0, 2)) {
  row.check(`control ${v.id}: ${v.name} → 200, relayed`, async () => {
    await runControl(v);
    if (v.id === 'ok-1') plainControlOk = true;
  });
}

for (const v of VECTORS) {
  row.check(`${v.id}: ${v.name} → ${v.allow.join('/')} + close, 0 upstream`, async () => {
    const before = fake.requests.length;
    const r = await rawExchange(clove.port, v.req, { timeoutMs: VECTOR_TIMEOUT_MS });
    await sleep(30);
    const upstream = fake.requests.length - before;
    const resps = parseResponses(r.data);
    const info = describe(v, r, resps, upstream);
    assert.equal(resps.length, 1, `expected exactly one response${info}`);
    assert.ok(v.allow.includes(resps[0].status), `status ${resps[0].status} not in ${v.allow}${info}`);
    assert.ok(r.closed, `Clove did not close the connection within ${VECTOR_TIMEOUT_MS} ms${info}`);
    assert.equal(upstream, 0, `the fake upstream received ${upstream} request(s)${info}`);
    const problem = anthropicErrorProblem(resps[0].body, resps[0].headers);
    if (problem) shapeProblems.push(`${v.id}: ${problem}`);
  });
}

for (const v of CONTROLS.slice(2)) {
  row.check(`control ${v.id}: ${v.name} → 200, relayed`, () => runControl(v));
}

row.check('every framing rejection is an Anthropic error JSON (contract)', () => {
  assert.deepEqual(shapeProblems, [], `vectors answered without an Anthropic error body:\n  ${shapeProblems.join('\n  ')}`);
});

row.check('no upstream request at all besides the controls (even late); Clove still alive and serving', async () => {
  await sleep(200);
  const got = fake.requests.length;
  assert.equal(clove.exitInfo, null, `Clove exited: ${JSON.stringify(clove.exitInfo)}`);
  assert.ok(plainControlOk, 'the plain Content-Length control failed, so the vectors proved nothing');
  assert.equal(got, controlUpstream, `fake upstream saw ${got} requests, the controls account for ${controlUpstream}: ${JSON.stringify(fake.requests.map((r) => r.url))}`);
  const r = await rawExchange(clove.port, withHead(H, [`Content-Length: ${BL}`, CLOSE], B), { timeoutMs: 3000 });
  assert.equal(parseResponses(r.data)[0]?.status, 200, `final request: ${printable(r.data, 300)}`);
});

async function runControl(v) {
  const before = fake.requests.length;
  const r = await rawExchange(clove.port, v.req, { timeoutMs: 3000 });
  await sleep(30);
  const upstream = fake.requests.length - before;
  controlUpstream += upstream;
  const resps = parseResponses(r.data);
  const info = describe(v, r, resps, upstream);
  assert.equal(resps.length, v.responses ?? 1, `response count${info}`);
  for (const x of resps) assert.equal(x.status, 200, `status${info}`);
  assert.equal(upstream, v.upstream, `upstream requests${info}`);
  for (const x of fake.requests.slice(before)) {
    let j = null;
    try {
      j = JSON.parse(x.body.toString('utf8'));
    } catch {
      /* reported below */
    }
    assert.deepEqual(j?.messages, JSON.parse(B).messages, `the upstream received a different body ${printable(x.body ?? '')}${info}`);
  }
}
