// Seeded pseudo-random numbers so that every test run with the same --seed produces the same
// telemetry content, ids included; Math.random would make failures impossible to reproduce.
'use strict';

const crypto = require('crypto');

class Rng {
    /** The seed may be any string; it is hashed into the 128-bit state of xoshiro128**. */
    constructor(seed) {
        const h = crypto.createHash('sha256').update(String(seed)).digest();
        this.s = [h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12)];
        if (this.s.every((v) => v === 0)) {
            this.s[0] = 1;
        }
    }

    /** Next unsigned 32-bit value. */
    u32() {
        const s = this.s;
        const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
        const t = (s[1] << 9) >>> 0;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] = (s[2] ^ t) >>> 0;
        s[3] = rotl(s[3] >>> 0, 11);
        s[0] >>>= 0;
        s[1] >>>= 0;
        return result;
    }

    /** Uniform float in [0, 1). */
    float() {
        return this.u32() / 4294967296;
    }

    /** Uniform integer in [lo, hi] (both inclusive, |range| < 2^32). */
    int(lo, hi) {
        return lo + Math.floor(this.float() * (hi - lo + 1));
    }

    pick(list) {
        return list[this.int(0, list.length - 1)];
    }

    /** n random bytes as lowercase hex, never all zero (all-zero ids are invalid in OTLP). */
    hex(n) {
        for (;;) {
            const b = Buffer.alloc(n);
            for (let i = 0; i < n; i++) {
                b[i] = this.u32() & 0xff;
            }
            if (b.some((v) => v !== 0)) {
                return b.toString('hex');
            }
        }
    }
}

function rotl(x, k) {
    return ((x << k) | (x >>> (32 - k))) >>> 0;
}

module.exports = { Rng };
