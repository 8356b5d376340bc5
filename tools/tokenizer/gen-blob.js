#!/usr/bin/env node
// Builds the compact vocabulary blob that src/clove/tokenizer embeds (run by CMake at build time).
//
//   node gen-blob.js <claude.json> <out-dir>
//
// Input: the tiktoken-format vocabulary of @anthropic-ai/tokenizer (bpe_ranks in the compressed
// "! <first rank> <base64 token>..." form, pat_str, special_tokens).
// Output, in <out-dir>:
//   claude_bpe.bin      the blob (layout below, little-endian, sections 4-byte aligned)
//   claude_bpe_blob.cpp a C++ source that embeds the blob with `.incbin` and names its SHA-256 in a
//                       string literal (so a compiler cache never reuses an object of an old blob)
//
// Blob layout:
//   "CLVBPE02"                                  magic, 8 bytes
//   u32 n_tokens, first_rank, stage1_len, stage2_len, decomp_count, decomp_bytes, token_bytes,
//       ccc_count, pair_count, 0
//   u16 pairs[n_tokens][2]     token i = bytes(pairs[i][0]) + bytes(pairs[i][1]), both < i;
//                              pairs[i][0] == 0xFFFF: token i is the single byte pairs[i][1]
//   u16 stage1[stage1_len]     code point property table, stage 1: block number of cp >> 7
//   u8  stage2[stage2_len]     stage 2: 128 bytes per block; bits 0-1 pre-tokenizer class (0 other,
//                              1 \p{L}, 2 \p{N}, 3 \p{White_Space}); bit 2 NFKC_QC=No (NFKC changes
//                              the code point on its own); bit 3 NFKC_QC=Maybe (second half of a
//                              canonical composition); bit 4 non-starter (ccc != 0); bit 5 NFKD differs
//   u32 decomp_cp[decomp_count]      code points whose NFKD differs (Hangul syllables excepted), ascending
//   u32 decomp_off[decomp_count + 1] offsets of their NFKD forms (UTF-8) in decomp_utf8
//   u8  decomp_utf8[decomp_bytes]
//   u32 ccc[ccc_count]         (cp << 8 | rank) of every non-starter, ascending; ranks order the
//                              canonical combining classes (1 = lowest), equal class = equal rank
//   u32 pair_first[pair_count], pair_second[pair_count], pair_composite[pair_count]
//                              primary composites (Hangul excepted), ascending by (first, second)
//   u32 fnv1a32 of everything before it
// Node.js has no API for combining classes: they are recovered from canonical reordering
// (NFD of "a" + x + y swaps x and y exactly when ccc(x) > ccc(y) > 0). The Unicode tables come from
// this Node.js's ICU (process.versions.unicode).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const kPatStr =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const kBlock = 128;

function fail(msg) {
  console.error(`gen-blob: ${msg}`);
  process.exit(1);
}

function main() {
  const [input, outDir] = process.argv.slice(2);
  if (!input || !outDir) fail('usage: node gen-blob.js <claude.json> <out-dir>');
  let vocab;
  try {
    vocab = JSON.parse(fs.readFileSync(input, 'utf8'));
  } catch (e) {
    fail(`cannot read ${input}: ${e.message}`);
  }
  // The pre-tokenizer is hand-written for exactly this pattern (src/clove/tokenizer/bpe.cpp).
  if (vocab.pat_str !== kPatStr) fail(`unexpected pat_str ${JSON.stringify(vocab.pat_str)}`);
  const parts = String(vocab.bpe_ranks).split(/\s+/).filter((s) => s.length > 0);
  if (parts[0] !== '!' || !/^\d+$/.test(parts[1])) fail('bpe_ranks is not in the "! <rank> ..." form');
  const firstRank = Number(parts[1]);
  const tokens = parts.slice(2).map((b) => Buffer.from(b, 'base64'));
  const n = tokens.length;
  if (n === 0 || n >= 0xffff) fail(`unsupported vocabulary size ${n}`);

  // Every token longer than one byte as two earlier tokens (any split works: only bytes matter).
  const index = new Map();
  const pairs = new Uint16Array(n * 2);
  let tokenBytes = 0;
  tokens.forEach((t, i) => {
    const key = t.toString('latin1');
    if (index.has(key)) fail(`duplicate token at rank ${firstRank + i}`);
    tokenBytes += t.length;
    if (t.length === 1) {
      pairs[2 * i] = 0xffff;
      pairs[2 * i + 1] = t[0];
    } else {
      let found = false;
      for (let k = 1; k < t.length && !found; k++) {
        const l = index.get(key.slice(0, k));
        const r = index.get(key.slice(k));
        if (l !== undefined && r !== undefined) {
          pairs[2 * i] = l;
          pairs[2 * i + 1] = r;
          found = true;
        }
      }
      if (!found) fail(`token at rank ${firstRank + i} is not two earlier tokens`);
    }
    index.set(key, i);
  });
  for (let b = 0; b < 256; b++) {
    if (!index.has(String.fromCharCode(b))) fail(`byte ${b} has no token`);
  }

  // Per code point: pre-tokenizer class and normalization properties.
  const reL = /^\p{L}$/u;
  const reN = /^\p{N}$/u;
  const reS = /^\p{White_Space}$/u;
  const isHangulSyllable = (cp) => cp >= 0xac00 && cp <= 0xd7a3;
  const props = new Uint8Array(0x110000);
  const decomp = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;  // surrogates: never decoded from valid UTF-8
    const s = String.fromCodePoint(cp);
    let c = reL.test(s) ? 1 : reN.test(s) ? 2 : reS.test(s) ? 3 : 0;
    if (s.normalize('NFKC') !== s) c |= 4;
    const nfkd = s.normalize('NFKD');
    if (nfkd !== s && !isHangulSyllable(cp)) {
      c |= 32;
      decomp.push([cp, Buffer.from(nfkd, 'utf8')]);
    }
    props[cp] = c;
  }
  // Combining classes, as ranks (see the header).
  const swapped = (x, y) => ('a' + x + y).normalize('NFD') === 'a' + y + x;
  const nonStarters = [];
  for (let cp = 0x80; cp < 0x110000; cp++) {
    if ((cp >= 0xd800 && cp < 0xe000) || (props[cp] & 32)) continue;
    const s = String.fromCodePoint(cp);
    if (s.normalize('NFD') !== s) continue;
    // ccc in (0, 230): moves before U+0301 (ccc 230); ccc >= 230 (or 1): U+0334 (ccc 1) moves before it.
    if (swapped('\u0301', s) || swapped(s, '\u0334')) nonStarters.push(s);
  }
  const cmp = (x, y) => (swapped(x, y) ? 1 : swapped(y, x) ? -1 : 0);
  nonStarters.sort(cmp);
  const ccc = [];
  let rank = 0;
  nonStarters.forEach((s, i) => {
    if (i === 0 || cmp(nonStarters[i - 1], s) !== 0) rank++;
    const cp = s.codePointAt(0);
    props[cp] |= 16;
    ccc.push(cp * 256 + rank);
  });
  if (rank > 255) fail('more than 255 combining classes');
  ccc.sort((a, b) => a - b);
  // Primary composites: P is one when NFC keeps it and NFD splits it; its pair is (NFC of the
  // decomposition without its last mark, that mark), checked by composing it back.
  const pairList = [];
  for (let cp = 0x80; cp < 0x110000; cp++) {
    if ((cp >= 0xd800 && cp < 0xe000) || isHangulSyllable(cp)) continue;
    const s = String.fromCodePoint(cp);
    const d = s.normalize('NFD');
    if (d === s || s.normalize('NFC') !== s) continue;
    const parts = [...d];
    const second = parts.pop();
    const first = parts.join('').normalize('NFC');
    if ([...first].length !== 1 || (first + second).normalize('NFC') !== s) fail(`no pair for U+${cp.toString(16)}`);
    pairList.push([first.codePointAt(0), second.codePointAt(0), cp]);
    props[second.codePointAt(0)] |= 8;
  }
  for (let cp = 0x1161; cp <= 0x1175; cp++) props[cp] |= 8;  // Hangul V jamo (L + V)
  for (let cp = 0x11a8; cp <= 0x11c2; cp++) props[cp] |= 8;  // Hangul T jamo (LV + T)
  pairList.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

  const blockIds = new Map();
  const stage1 = new Uint16Array(0x110000 / kBlock);
  const stage2Blocks = [];
  for (let b = 0; b < stage1.length; b++) {
    const block = Buffer.from(props.subarray(b * kBlock, (b + 1) * kBlock));
    const key = block.toString('latin1');
    let id = blockIds.get(key);
    if (id === undefined) {
      id = stage2Blocks.length;
      blockIds.set(key, id);
      stage2Blocks.push(block);
    }
    stage1[b] = id;
  }
  const stage2 = Buffer.concat(stage2Blocks);
  const decompCp = new Uint32Array(decomp.map(([cp]) => cp));
  const decompOff = new Uint32Array(decomp.length + 1);
  let off = 0;
  decomp.forEach(([, bytes], i) => {
    decompOff[i] = off;
    off += bytes.length;
  });
  decompOff[decomp.length] = off;
  const decompUtf8 = Buffer.concat(decomp.map(([, bytes]) => bytes));

  const header = Buffer.alloc(8 + 10 * 4);
  header.write('CLVBPE02', 0, 'latin1');
  [n, firstRank, stage1.length, stage2.length, decomp.length, decompUtf8.length, tokenBytes, ccc.length,
    pairList.length, 0].forEach((v, i) => header.writeUInt32LE(v, 8 + 4 * i));
  const le = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
  const pad4 = (buf) => (buf.length % 4 ? Buffer.concat([buf, Buffer.alloc(4 - (buf.length % 4))]) : buf);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) fail('big-endian hosts are not supported');
  const body = Buffer.concat([
    header,
    pad4(le(pairs)),
    pad4(le(stage1)),
    pad4(stage2),
    le(decompCp),
    le(decompOff),
    pad4(decompUtf8),
    le(new Uint32Array(ccc)),
    le(new Uint32Array(pairList.map((p) => p[0]))),
    le(new Uint32Array(pairList.map((p) => p[1]))),
    le(new Uint32Array(pairList.map((p) => p[2]))),
  ]);
  let h = 0x811c9dc5;
  for (const byte of body) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(h, 0);
  const blob = Buffer.concat([body, trailer]);

  const binPath = path.resolve(outDir, 'claude_bpe.bin');
  if (/["\\\n]/.test(binPath)) fail(`unsupported characters in the output path ${binPath}`);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(binPath, blob);
  const sha = crypto.createHash('sha256').update(blob).digest('hex');
  const cpp = `// Generated by tools/tokenizer/gen-blob.js from ${path.basename(input)}; do not edit.
#include <string_view>

#include "clove/tokenizer/bpe.hpp"

// The blob is assembled into .rodata with .incbin; the SHA-256 below is a string literal so that a
// compiler cache sees a different translation unit whenever the blob changes.
__asm__(
    ".pushsection .rodata\\n"
    ".balign 16\\n"
    ".globl clove_bpe_blob_begin\\n"
    ".hidden clove_bpe_blob_begin\\n"
    "clove_bpe_blob_begin:\\n"
    ".incbin \\"${binPath}\\"\\n"
    ".globl clove_bpe_blob_end\\n"
    ".hidden clove_bpe_blob_end\\n"
    "clove_bpe_blob_end:\\n"
    ".popsection\\n");

extern "C" const unsigned char clove_bpe_blob_begin[] __attribute__((visibility("hidden")));
extern "C" const unsigned char clove_bpe_blob_end[] __attribute__((visibility("hidden")));

namespace clove::tokenizer::detail {

/// The embedded vocabulary blob (${blob.length} bytes, sha256 ${sha}).
std::string_view EmbeddedBlob() {
    static constexpr const char* kSha256 = "${sha}";
    (void)kSha256;
    return {reinterpret_cast<const char*>(clove_bpe_blob_begin),
            static_cast<std::string_view::size_type>(clove_bpe_blob_end - clove_bpe_blob_begin)};
}

}  // namespace clove::tokenizer::detail
`;
  fs.writeFileSync(path.resolve(outDir, 'claude_bpe_blob.cpp'), cpp);
  console.log(
    `gen-blob: ${n} tokens (ranks ${firstRank}..${firstRank + n - 1}), ${stage2Blocks.length} property blocks, ` +
      `${decomp.length} decompositions, ${ccc.length} non-starters (${rank} classes), ${pairList.length} ` +
      `compositions, Unicode ${process.versions.unicode}, blob ${blob.length} bytes`,
  );
}

main();
