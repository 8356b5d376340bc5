#!/usr/bin/env node
// Prints the token ids the npm package's own JavaScript tokenizer gives for each argument (or for
// each file named with @path), the way src/clove/tokenizer/bpe_test.cpp's expected values were made:
//   npm run reference -- "Hello, world!" @some/file.txt
// Output per input: the count, then the ids (NFKC-normalized text, special tokens as plain text),
// and the package's own countTokens() for comparison (it treats "<EOT>" etc. as special tokens).
'use strict';
const fs = require('fs');
const { getTokenizer, countTokens } = require('@anthropic-ai/tokenizer');

const tokenizer = getTokenizer();
for (const arg of process.argv.slice(2)) {
  const text = arg.startsWith('@') ? fs.readFileSync(arg.slice(1), 'utf8') : arg;
  const ids = Array.from(tokenizer.encode(text.normalize('NFKC'), [], []));
  console.log(JSON.stringify({ text: text.length > 60 ? text.slice(0, 57) + '...' : text, count: ids.length,
    countTokens: countTokens(text), ids: ids.length > 64 ? undefined : ids }));
}
tokenizer.free();
