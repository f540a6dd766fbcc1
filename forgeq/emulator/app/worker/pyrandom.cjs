'use strict';
// Python's `random`, in JavaScript: MT19937 seeded exactly as CPython's random.seed(str) (version 2:
// the string's UTF-8 bytes followed by their SHA-512, read as one big-endian integer), and random()
// built from two 32-bit draws as CPython's genrand_res53 does. The worker installs it as
// Math.random, seeded per attempt with the string the engine seeds Python's `random` with, so a
// JavaScript handler draws the very numbers its Python port draws under the same --seed.
const { createHash } = require('node:crypto');

class PythonRandom {
  constructor(text) {
    const a = Buffer.from(String(text), 'utf8');
    let bytes = Buffer.concat([a, createHash('sha512').update(a).digest()]);
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    bytes = bytes.subarray(start);
    const pad = (4 - (bytes.length % 4)) % 4;
    const full = Buffer.concat([Buffer.alloc(pad), bytes]);
    const words = full.length / 4;
    const key = new Array(words);
    for (let i = 0; i < words; i++) key[i] = full.readUInt32BE(full.length - 4 * (i + 1));
    this.mt = new Uint32Array(624);
    this.index = 625;
    this.initByArray(key.length ? key : [0]);
  }
  initGenrand(s) {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = 624;
  }
  initByArray(key) {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1, j = 0;
    for (let k = Math.max(624, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++; j++;
      if (i >= 624) { mt[0] = mt[623]; i = 1; }
      if (j >= key.length) j = 0;
    }
    for (let k = 623; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= 624) { mt[0] = mt[623]; i = 1; }
    }
    mt[0] = 0x80000000;
  }
  uint32() {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
  random() {
    const a = this.uint32() >>> 5, b = this.uint32() >>> 6;
    return (a * 67108864 + b) * (1 / 9007199254740992);
  }
}
module.exports = { PythonRandom };
