/*
 * Keccak-f[1600] and a Keccak-256 sponge with the original (pre-SHA-3) padding, as Ethereum
 * uses it: rate 136 bytes, pad 0x01 ... 0x80. Shared by the C parts of hush.shh (the nonce loop
 * in _powloop.c, envelope validation in _envelope.c); no Python API here.
 */
#ifndef HUSH_KECCAK_H
#define HUSH_KECCAK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RATE 136
#define LANES 25

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline uint64_t rotl(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }

/* Keccak-f[1600] on lanes a[x + 5y], unrolled: theta, then rho and pi together, chi, iota. */
static void keccak_f1600(uint64_t a[LANES]) {
    uint64_t b[LANES], c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    for (int round = 0; round < 24; round++) {
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
        d0 = c4 ^ rotl(c1, 1);
        d1 = c0 ^ rotl(c2, 1);
        d2 = c1 ^ rotl(c3, 1);
        d3 = c2 ^ rotl(c4, 1);
        d4 = c3 ^ rotl(c0, 1);
        /* rho rotates lane (x, y) by r[x][y]; pi moves it to (y, 2x + 3y) */
        b[0] = a[0] ^ d0;
        b[10] = rotl(a[1] ^ d1, 1);
        b[20] = rotl(a[2] ^ d2, 62);
        b[5] = rotl(a[3] ^ d3, 28);
        b[15] = rotl(a[4] ^ d4, 27);
        b[16] = rotl(a[5] ^ d0, 36);
        b[1] = rotl(a[6] ^ d1, 44);
        b[11] = rotl(a[7] ^ d2, 6);
        b[21] = rotl(a[8] ^ d3, 55);
        b[6] = rotl(a[9] ^ d4, 20);
        b[7] = rotl(a[10] ^ d0, 3);
        b[17] = rotl(a[11] ^ d1, 10);
        b[2] = rotl(a[12] ^ d2, 43);
        b[12] = rotl(a[13] ^ d3, 25);
        b[22] = rotl(a[14] ^ d4, 39);
        b[23] = rotl(a[15] ^ d0, 41);
        b[8] = rotl(a[16] ^ d1, 45);
        b[18] = rotl(a[17] ^ d2, 15);
        b[3] = rotl(a[18] ^ d3, 21);
        b[13] = rotl(a[19] ^ d4, 8);
        b[14] = rotl(a[20] ^ d0, 18);
        b[24] = rotl(a[21] ^ d1, 2);
        b[9] = rotl(a[22] ^ d2, 61);
        b[19] = rotl(a[23] ^ d3, 56);
        b[4] = rotl(a[24] ^ d4, 14);
        for (int y = 0; y < 25; y += 5) {
            a[y + 0] = b[y + 0] ^ (~b[y + 1] & b[y + 2]);
            a[y + 1] = b[y + 1] ^ (~b[y + 2] & b[y + 3]);
            a[y + 2] = b[y + 2] ^ (~b[y + 3] & b[y + 4]);
            a[y + 3] = b[y + 3] ^ (~b[y + 4] & b[y + 0]);
            a[y + 4] = b[y + 4] ^ (~b[y + 0] & b[y + 1]);
        }
        a[0] ^= round_constants[round];
    }
}

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline void absorb_block(uint64_t s[LANES], const uint8_t *block) {
    for (int i = 0; i < RATE / 8; i++) s[i] ^= load_le64(block + 8 * i);
    keccak_f1600(s);
}

static inline void squeeze256(const uint64_t s[LANES], uint8_t out[32]) {
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) out[8 * i + b] = (uint8_t)(s[i] >> (8 * b));
}

/* A running Keccak-256: whole blocks are absorbed straight from the input, the rest buffered. */
typedef struct {
    uint64_t s[LANES];
    uint8_t buf[RATE];
    size_t fill;
} keccak_ctx;

static inline void keccak_init(keccak_ctx *ctx) {
    memset(ctx->s, 0, sizeof ctx->s);
    ctx->fill = 0;
}

static inline void keccak_update(keccak_ctx *ctx, const uint8_t *data, size_t length) {
    if (ctx->fill) {
        size_t take = RATE - ctx->fill < length ? RATE - ctx->fill : length;
        memcpy(ctx->buf + ctx->fill, data, take);
        ctx->fill += take;
        data += take;
        length -= take;
        if (ctx->fill < RATE) return;
        absorb_block(ctx->s, ctx->buf);
        ctx->fill = 0;
    }
    for (; length >= RATE; data += RATE, length -= RATE) absorb_block(ctx->s, data);
    memcpy(ctx->buf, data, length);
    ctx->fill = length;
}

static inline void keccak_final(keccak_ctx *ctx, uint8_t out[32]) {
    memset(ctx->buf + ctx->fill, 0, RATE - ctx->fill);
    ctx->buf[ctx->fill] ^= 0x01;
    ctx->buf[RATE - 1] ^= 0x80;
    absorb_block(ctx->s, ctx->buf);
    squeeze256(ctx->s, out);
}

#endif
