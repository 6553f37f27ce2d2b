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

/*
 * Keccak-f[1600] on lanes a[x + 5y]. The state lives in 25 locals across the rounds, two rounds
 * per pass (A -> E -> A), and six lanes are kept complemented inside the permutation ("lane
 * complementing", the Keccak team's implementation overview §2.2): 1, 2, 8, 12, 17 and 20.
 * Theta and rho/pi carry a complement through (a complemented column parity complements two of
 * the D words, accounted below), and chi's ~b & c becomes b | c, b & c or b | ~c with the
 * complements absorbed: one NOT per plane of five lanes instead of five, which plain C without
 * an and-not instruction pays for. The forms were chosen by enumerating, per chi output, both
 * b ^ (~u & v) and its complement over the stored lanes' complement flags, and checked against
 * the plain round (tests/shh/test_envelope_c.py: hashes against pysha3, every length to three
 * blocks; the PoW vectors). 1.3-1.4x the plain array round here (gcc 12 -O3, x86-64).
 */
#define THETA_RHO(S, s, d, r) rotl(S##s ^ d, r)
#define KECCAK_ROUND(S, T, rc)                                                                  \
    do {                                                                                        \
        uint64_t c0 = S##00 ^ S##05 ^ S##10 ^ S##15 ^ S##20;                                    \
        uint64_t c1 = S##01 ^ S##06 ^ S##11 ^ S##16 ^ S##21;                                    \
        uint64_t c2 = S##02 ^ S##07 ^ S##12 ^ S##17 ^ S##22;                                    \
        uint64_t c3 = S##03 ^ S##08 ^ S##13 ^ S##18 ^ S##23;                                    \
        uint64_t c4 = S##04 ^ S##09 ^ S##14 ^ S##19 ^ S##24;                                    \
        uint64_t d0 = c4 ^ rotl(c1, 1), d1 = c0 ^ rotl(c2, 1), d2 = c1 ^ rotl(c3, 1);           \
        uint64_t d3 = c2 ^ rotl(c4, 1), d4 = c3 ^ rotl(c0, 1);                                  \
        uint64_t b0, b1, b2, b3, b4, n;                                                         \
        /* plane 0 of the result, from lanes (0,0) (1,1) (2,2) (3,3) (4,4) */                    \
        b0 = S##00 ^ d0;                                                                        \
        b1 = THETA_RHO(S, 06, d1, 44);                                                          \
        b2 = THETA_RHO(S, 12, d2, 43);                                                          \
        b3 = THETA_RHO(S, 18, d3, 21);                                                          \
        b4 = THETA_RHO(S, 24, d4, 14);                                                          \
        n = ~b2;                                                                                \
        T##00 = b0 ^ (b1 | b2) ^ (rc);                                                          \
        T##01 = b1 ^ (n | b3);                                                                  \
        T##02 = b2 ^ (b3 & b4);                                                                 \
        T##03 = b3 ^ (b4 | b0);                                                                 \
        T##04 = b4 ^ (b0 & b1);                                                                 \
        /* plane 1, from (3,0) (4,1) (0,2) (1,3) (2,4) */                                        \
        b0 = THETA_RHO(S, 03, d3, 28);                                                          \
        b1 = THETA_RHO(S, 09, d4, 20);                                                          \
        b2 = THETA_RHO(S, 10, d0, 3);                                                           \
        b3 = THETA_RHO(S, 16, d1, 45);                                                          \
        b4 = THETA_RHO(S, 22, d2, 61);                                                          \
        n = ~b4;                                                                                \
        T##05 = b0 ^ (b1 | b2);                                                                 \
        T##06 = b1 ^ (b2 & b3);                                                                 \
        T##07 = b2 ^ (b3 | n);                                                                  \
        T##08 = b3 ^ (b4 | b0);                                                                 \
        T##09 = b4 ^ (b0 & b1);                                                                 \
        /* plane 2, from (1,0) (2,1) (3,2) (4,3) (0,4) */                                        \
        b0 = THETA_RHO(S, 01, d1, 1);                                                           \
        b1 = THETA_RHO(S, 07, d2, 6);                                                           \
        b2 = THETA_RHO(S, 13, d3, 25);                                                          \
        b3 = THETA_RHO(S, 19, d4, 8);                                                           \
        b4 = THETA_RHO(S, 20, d0, 18);                                                          \
        n = ~b3;                                                                                \
        T##10 = b0 ^ (b1 | b2);                                                                 \
        T##11 = b1 ^ (b2 & b3);                                                                 \
        T##12 = b2 ^ (n & b4);                                                                  \
        T##13 = ~(b3 ^ (b4 | b0));                                                              \
        T##14 = b4 ^ (b0 & b1);                                                                 \
        /* plane 3, from (4,0) (0,1) (1,2) (2,3) (3,4) */                                        \
        b0 = THETA_RHO(S, 04, d4, 27);                                                          \
        b1 = THETA_RHO(S, 05, d0, 36);                                                          \
        b2 = THETA_RHO(S, 11, d1, 10);                                                          \
        b3 = THETA_RHO(S, 17, d2, 15);                                                          \
        b4 = THETA_RHO(S, 23, d3, 56);                                                          \
        n = ~b3;                                                                                \
        T##15 = b0 ^ (b1 & b2);                                                                 \
        T##16 = b1 ^ (b2 | b3);                                                                 \
        T##17 = b2 ^ (n | b4);                                                                  \
        T##18 = ~(b3 ^ (b4 & b0));                                                              \
        T##19 = b4 ^ (b0 | b1);                                                                 \
        /* plane 4, from (2,0) (3,1) (4,2) (0,3) (1,4) */                                        \
        b0 = THETA_RHO(S, 02, d2, 62);                                                          \
        b1 = THETA_RHO(S, 08, d3, 55);                                                          \
        b2 = THETA_RHO(S, 14, d4, 39);                                                          \
        b3 = THETA_RHO(S, 15, d0, 41);                                                          \
        b4 = THETA_RHO(S, 21, d1, 2);                                                           \
        n = ~b1;                                                                                \
        T##20 = b0 ^ (n & b2);                                                                  \
        T##21 = ~(b1 ^ (b2 | b3));                                                              \
        T##22 = b2 ^ (b3 & b4);                                                                 \
        T##23 = b3 ^ (b4 | b0);                                                                 \
        T##24 = b4 ^ (b0 & b1);                                                                 \
    } while (0)

#define COMPLEMENT_LANES(a) \
    (a[1] = ~a[1], a[2] = ~a[2], a[8] = ~a[8], a[12] = ~a[12], a[17] = ~a[17], a[20] = ~a[20])

static void keccak_f1600(uint64_t a[LANES]) {
    COMPLEMENT_LANES(a);
    uint64_t a00 = a[0], a01 = a[1], a02 = a[2], a03 = a[3], a04 = a[4];
    uint64_t a05 = a[5], a06 = a[6], a07 = a[7], a08 = a[8], a09 = a[9];
    uint64_t a10 = a[10], a11 = a[11], a12 = a[12], a13 = a[13], a14 = a[14];
    uint64_t a15 = a[15], a16 = a[16], a17 = a[17], a18 = a[18], a19 = a[19];
    uint64_t a20 = a[20], a21 = a[21], a22 = a[22], a23 = a[23], a24 = a[24];
    uint64_t e00, e01, e02, e03, e04, e05, e06, e07, e08, e09, e10, e11, e12;
    uint64_t e13, e14, e15, e16, e17, e18, e19, e20, e21, e22, e23, e24;
    for (int round = 0; round < 24; round += 2) {
        KECCAK_ROUND(a, e, round_constants[round]);
        KECCAK_ROUND(e, a, round_constants[round + 1]);
    }
    a[0] = a00, a[1] = a01, a[2] = a02, a[3] = a03, a[4] = a04;
    a[5] = a05, a[6] = a06, a[7] = a07, a[8] = a08, a[9] = a09;
    a[10] = a10, a[11] = a11, a[12] = a12, a[13] = a13, a[14] = a14;
    a[15] = a15, a[16] = a16, a[17] = a17, a[18] = a18, a[19] = a19;
    a[20] = a20, a[21] = a21, a[22] = a22, a[23] = a23, a[24] = a24;
    COMPLEMENT_LANES(a);
}

#undef THETA_RHO
#undef KECCAK_ROUND
#undef COMPLEMENT_LANES

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
