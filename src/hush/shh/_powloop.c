/*
 * The proof-of-work nonce loop in C: hush.shh.pow uses it when it was built, and falls back to
 * the equivalent Python loop otherwise.
 *
 * Keccak-256 with the original (pre-SHA-3) padding, as Ethereum uses it: rate 136 bytes, pad
 * 0x01 ... 0x80. The caller passes the whole 136-byte blocks of the message prefix (absorbed
 * once), the remaining tail, and the 8-byte big-endian nonce goes after the tail; for each
 * nonce only the final block(s) are absorbed. The loop (prefix included) runs without the GIL.
 *
 * Where the CPU has AVX2 (checked at import), four nonces are hashed at once, one per 64-bit
 * lane of 256-bit registers; the scalar loop does the rest and is the fallback. Both give the
 * first matching nonce in order (tests/shh/test_pow.py compares them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_keccak.h"

/* One search: its buffers (held, so they stay put while the GIL is released) and its result. */
typedef struct {
    Py_buffer absorbed, tail, limit;
    unsigned long long start, count;
    int parsed, found;
    uint64_t nonce;
    uint8_t digest[32];
} search_t;

static int parse_search(PyObject *args, search_t *job) {
    if (!PyArg_ParseTuple(args, "y*y*KKy*", &job->absorbed, &job->tail, &job->start, &job->count,
                          &job->limit))
        return -1;
    job->parsed = 1;
    if (job->absorbed.len % RATE != 0 || job->tail.len >= RATE || job->limit.len != 32) {
        PyErr_SetString(PyExc_ValueError, "bad prefix, tail or limit length");
        return -1;
    }
    return 0;
}

static void release_search(search_t *job) {
    if (!job->parsed) return;
    PyBuffer_Release(&job->absorbed);
    PyBuffer_Release(&job->tail);
    PyBuffer_Release(&job->limit);
    job->parsed = 0;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define HUSH_AVX2 1
#include <immintrin.h>

#define V __m256i
#define XOR _mm256_xor_si256
#define ROTL(x, n) _mm256_or_si256(_mm256_slli_epi64((x), (n)), _mm256_srli_epi64((x), 64 - (n)))
/* chi: a ^ (~b & c) */
#define CHI(a, b, c) XOR((a), _mm256_andnot_si256((b), (c)))

/* Keccak-f[1600] on four states at once, lane (x, y) of state k in a[x + 5y][k]: the same steps
   as keccak_f1600. */
__attribute__((target("avx2"))) static void keccak_f1600_x4(V a[LANES]) {
    V b[LANES], c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    for (int round = 0; round < 24; round++) {
        c0 = XOR(XOR(XOR(a[0], a[5]), XOR(a[10], a[15])), a[20]);
        c1 = XOR(XOR(XOR(a[1], a[6]), XOR(a[11], a[16])), a[21]);
        c2 = XOR(XOR(XOR(a[2], a[7]), XOR(a[12], a[17])), a[22]);
        c3 = XOR(XOR(XOR(a[3], a[8]), XOR(a[13], a[18])), a[23]);
        c4 = XOR(XOR(XOR(a[4], a[9]), XOR(a[14], a[19])), a[24]);
        d0 = XOR(c4, ROTL(c1, 1));
        d1 = XOR(c0, ROTL(c2, 1));
        d2 = XOR(c1, ROTL(c3, 1));
        d3 = XOR(c2, ROTL(c4, 1));
        d4 = XOR(c3, ROTL(c0, 1));
        b[0] = XOR(a[0], d0);
        b[10] = ROTL(XOR(a[1], d1), 1);
        b[20] = ROTL(XOR(a[2], d2), 62);
        b[5] = ROTL(XOR(a[3], d3), 28);
        b[15] = ROTL(XOR(a[4], d4), 27);
        b[16] = ROTL(XOR(a[5], d0), 36);
        b[1] = ROTL(XOR(a[6], d1), 44);
        b[11] = ROTL(XOR(a[7], d2), 6);
        b[21] = ROTL(XOR(a[8], d3), 55);
        b[6] = ROTL(XOR(a[9], d4), 20);
        b[7] = ROTL(XOR(a[10], d0), 3);
        b[17] = ROTL(XOR(a[11], d1), 10);
        b[2] = ROTL(XOR(a[12], d2), 43);
        b[12] = ROTL(XOR(a[13], d3), 25);
        b[22] = ROTL(XOR(a[14], d4), 39);
        b[23] = ROTL(XOR(a[15], d0), 41);
        b[8] = ROTL(XOR(a[16], d1), 45);
        b[18] = ROTL(XOR(a[17], d2), 15);
        b[3] = ROTL(XOR(a[18], d3), 21);
        b[13] = ROTL(XOR(a[19], d4), 8);
        b[14] = ROTL(XOR(a[20], d0), 18);
        b[24] = ROTL(XOR(a[21], d1), 2);
        b[9] = ROTL(XOR(a[22], d2), 61);
        b[19] = ROTL(XOR(a[23], d3), 56);
        b[4] = ROTL(XOR(a[24], d4), 14);
        for (int y = 0; y < 25; y += 5) {
            a[y + 0] = CHI(b[y + 0], b[y + 1], b[y + 2]);
            a[y + 1] = CHI(b[y + 1], b[y + 2], b[y + 3]);
            a[y + 2] = CHI(b[y + 2], b[y + 3], b[y + 4]);
            a[y + 3] = CHI(b[y + 3], b[y + 4], b[y + 0]);
            a[y + 4] = CHI(b[y + 4], b[y + 0], b[y + 1]);
        }
        a[0] = XOR(a[0], _mm256_set1_epi64x((long long)round_constants[round]));
    }
}

/* Nonces start .. start + count - count % 4 four at a time; the first match in nonce order, if
   any, goes into job. Returns how many nonces it tried. */
__attribute__((target("avx2"))) static unsigned long long search_x4(
    search_t *job, const uint64_t base[LANES], const uint8_t *final, size_t blocks,
    size_t nonce_offset, const uint8_t *bound) {
    uint8_t copies[4][2 * RATE];
    for (int k = 0; k < 4; k++) memcpy(copies[k], final, blocks * RATE);
    V start[LANES];
    for (int i = 0; i < LANES; i++) start[i] = _mm256_set1_epi64x((long long)base[i]);
    uint64_t nonce = (uint64_t)job->start;
    unsigned long long tried = 0, rounds = job->count / 4;
    for (unsigned long long r = 0; r < rounds; r++, nonce += 4, tried += 4) {
        for (int k = 0; k < 4; k++) {
            uint64_t n = nonce + (uint64_t)k; /* wraps at 2^64 like geth's */
            for (int b = 0; b < 8; b++) copies[k][nonce_offset + b] = (uint8_t)(n >> (56 - 8 * b));
        }
        V s[LANES];
        memcpy(s, start, sizeof s);
        for (size_t block = 0; block < blocks; block++) {
            size_t at = block * RATE;
            for (int i = 0; i < RATE / 8; i++)
                s[i] = XOR(s[i], _mm256_set_epi64x((long long)load_le64(copies[3] + at + 8 * i),
                                                   (long long)load_le64(copies[2] + at + 8 * i),
                                                   (long long)load_le64(copies[1] + at + 8 * i),
                                                   (long long)load_le64(copies[0] + at + 8 * i)));
            keccak_f1600_x4(s);
        }
        uint64_t words[4][4];
        for (int i = 0; i < 4; i++) _mm256_storeu_si256((V *)words[i], s[i]);
        for (int k = 0; k < 4; k++) {
            uint8_t digest[32];
            for (int i = 0; i < 4; i++)
                for (int b = 0; b < 8; b++) digest[8 * i + b] = (uint8_t)(words[i][k] >> (8 * b));
            if (memcmp(digest, bound, 32) < 0) {
                job->found = 1;
                job->nonce = nonce + (uint64_t)k;
                memcpy(job->digest, digest, 32);
                return tried + (unsigned long long)k + 1;
            }
        }
    }
    return tried;
}
#define W __m512i
#define XOR8 _mm512_xor_si512
#define ROTL8(x, n) _mm512_rol_epi64((x), (n))
#define CHI8(a, b, c) _mm512_ternarylogic_epi64((a), (b), (c), 0xD2) /* a ^ (~b & c) */

/* Keccak-f[1600] on eight states at once (AVX-512F: one-instruction rotate, 3-input logic). */
__attribute__((target("avx512f"))) static void keccak_f1600_x8(W a[LANES]) {
    W b[LANES], c0, c1, c2, c3, c4, d0, d1, d2, d3, d4;
    for (int round = 0; round < 24; round++) {
        c0 = XOR8(XOR8(XOR8(a[0], a[5]), XOR8(a[10], a[15])), a[20]);
        c1 = XOR8(XOR8(XOR8(a[1], a[6]), XOR8(a[11], a[16])), a[21]);
        c2 = XOR8(XOR8(XOR8(a[2], a[7]), XOR8(a[12], a[17])), a[22]);
        c3 = XOR8(XOR8(XOR8(a[3], a[8]), XOR8(a[13], a[18])), a[23]);
        c4 = XOR8(XOR8(XOR8(a[4], a[9]), XOR8(a[14], a[19])), a[24]);
        d0 = XOR8(c4, ROTL8(c1, 1));
        d1 = XOR8(c0, ROTL8(c2, 1));
        d2 = XOR8(c1, ROTL8(c3, 1));
        d3 = XOR8(c2, ROTL8(c4, 1));
        d4 = XOR8(c3, ROTL8(c0, 1));
        b[0] = XOR8(a[0], d0);
        b[10] = ROTL8(XOR8(a[1], d1), 1);
        b[20] = ROTL8(XOR8(a[2], d2), 62);
        b[5] = ROTL8(XOR8(a[3], d3), 28);
        b[15] = ROTL8(XOR8(a[4], d4), 27);
        b[16] = ROTL8(XOR8(a[5], d0), 36);
        b[1] = ROTL8(XOR8(a[6], d1), 44);
        b[11] = ROTL8(XOR8(a[7], d2), 6);
        b[21] = ROTL8(XOR8(a[8], d3), 55);
        b[6] = ROTL8(XOR8(a[9], d4), 20);
        b[7] = ROTL8(XOR8(a[10], d0), 3);
        b[17] = ROTL8(XOR8(a[11], d1), 10);
        b[2] = ROTL8(XOR8(a[12], d2), 43);
        b[12] = ROTL8(XOR8(a[13], d3), 25);
        b[22] = ROTL8(XOR8(a[14], d4), 39);
        b[23] = ROTL8(XOR8(a[15], d0), 41);
        b[8] = ROTL8(XOR8(a[16], d1), 45);
        b[18] = ROTL8(XOR8(a[17], d2), 15);
        b[3] = ROTL8(XOR8(a[18], d3), 21);
        b[13] = ROTL8(XOR8(a[19], d4), 8);
        b[14] = ROTL8(XOR8(a[20], d0), 18);
        b[24] = ROTL8(XOR8(a[21], d1), 2);
        b[9] = ROTL8(XOR8(a[22], d2), 61);
        b[19] = ROTL8(XOR8(a[23], d3), 56);
        b[4] = ROTL8(XOR8(a[24], d4), 14);
        for (int y = 0; y < 25; y += 5) {
            a[y + 0] = CHI8(b[y + 0], b[y + 1], b[y + 2]);
            a[y + 1] = CHI8(b[y + 1], b[y + 2], b[y + 3]);
            a[y + 2] = CHI8(b[y + 2], b[y + 3], b[y + 4]);
            a[y + 3] = CHI8(b[y + 3], b[y + 4], b[y + 0]);
            a[y + 4] = CHI8(b[y + 4], b[y + 0], b[y + 1]);
        }
        a[0] = XOR8(a[0], _mm512_set1_epi64((long long)round_constants[round]));
    }
}

/* Nonces start .. start + count - count % 8 eight at a time; the first match in nonce order, if
   any, goes into job. Returns how many nonces it tried. */
__attribute__((target("avx512f"))) static unsigned long long search_x8(
    search_t *job, const uint64_t base[LANES], const uint8_t *final, size_t blocks,
    size_t nonce_offset, const uint8_t *bound) {
    uint8_t copies[8][2 * RATE];
    for (int k = 0; k < 8; k++) memcpy(copies[k], final, blocks * RATE);
    W start[LANES];
    for (int i = 0; i < LANES; i++) start[i] = _mm512_set1_epi64((long long)base[i]);
    uint64_t nonce = (uint64_t)job->start;
    unsigned long long tried = 0, rounds = job->count / 8;
    for (unsigned long long r = 0; r < rounds; r++, nonce += 8, tried += 8) {
        for (int k = 0; k < 8; k++) {
            uint64_t n = nonce + (uint64_t)k; /* wraps at 2^64 like geth's */
            for (int b = 0; b < 8; b++) copies[k][nonce_offset + b] = (uint8_t)(n >> (56 - 8 * b));
        }
        W s[LANES];
        memcpy(s, start, sizeof s);
        for (size_t block = 0; block < blocks; block++) {
            size_t at = block * RATE;
            for (int i = 0; i < RATE / 8; i++)
                s[i] = XOR8(s[i], _mm512_set_epi64((long long)load_le64(copies[7] + at + 8 * i),
                                                 (long long)load_le64(copies[6] + at + 8 * i),
                                                 (long long)load_le64(copies[5] + at + 8 * i),
                                                 (long long)load_le64(copies[4] + at + 8 * i),
                                                 (long long)load_le64(copies[3] + at + 8 * i),
                                                 (long long)load_le64(copies[2] + at + 8 * i),
                                                 (long long)load_le64(copies[1] + at + 8 * i),
                                                 (long long)load_le64(copies[0] + at + 8 * i)));
            keccak_f1600_x8(s);
        }
        uint64_t words[4][8];
        for (int i = 0; i < 4; i++) _mm512_storeu_si512((W *)words[i], s[i]);
        for (int k = 0; k < 8; k++) {
            uint8_t digest[32];
            for (int i = 0; i < 4; i++)
                for (int b = 0; b < 8; b++) digest[8 * i + b] = (uint8_t)(words[i][k] >> (8 * b));
            if (memcmp(digest, bound, 32) < 0) {
                job->found = 1;
                job->nonce = nonce + (uint64_t)k;
                memcpy(job->digest, digest, 32);
                return tried + (unsigned long long)k + 1;
            }
        }
    }
    return tried;
}
#endif

static int use_avx2 = 0; /* set at import where the CPU has AVX2 */
static int use_avx512 = 0; /* ... and AVX-512F: eight at once */

/* The search itself: no Python API, so it runs without the GIL. */
static void run_search(search_t *job) {
    uint64_t base[LANES] = {0};
    for (Py_ssize_t off = 0; off < job->absorbed.len; off += RATE)
        absorb_block(base, (const uint8_t *)job->absorbed.buf + off);

    /* Final block(s): tail, nonce, then the padding, which stays put for every nonce. */
    uint8_t final[2 * RATE] = {0};
    size_t length = (size_t)job->tail.len + 8;
    size_t blocks = length / RATE + 1;
    memcpy(final, job->tail.buf, (size_t)job->tail.len);
    final[length] ^= 0x01;
    final[blocks * RATE - 1] ^= 0x80;
    uint8_t *nonce_at = final + job->tail.len;
    const uint8_t *bound = (const uint8_t *)job->limit.buf;

    uint64_t nonce = (uint64_t)job->start;
    unsigned long long i = 0;
    job->found = 0;
#ifdef HUSH_AVX2
    if (use_avx512) {
        i = search_x8(job, base, final, blocks, (size_t)job->tail.len, bound);
        if (job->found) return;
        nonce += (uint64_t)i;
    } else if (use_avx2) {
        i = search_x4(job, base, final, blocks, (size_t)job->tail.len, bound);
        if (job->found) return;
        nonce += (uint64_t)i;
    }
#endif
    for (; i < job->count; i++, nonce++) { /* wraps at 2^64 like geth's */
        for (int b = 0; b < 8; b++) nonce_at[b] = (uint8_t)(nonce >> (56 - 8 * b));
        uint64_t s[LANES];
        memcpy(s, base, sizeof s);
        for (size_t block = 0; block < blocks; block++) absorb_block(s, final + block * RATE);
        squeeze256(s, job->digest);
        if (memcmp(job->digest, bound, 32) < 0) {
            job->found = 1;
            job->nonce = nonce;
            return;
        }
    }
}

static PyObject *search_result(const search_t *job) {
    if (!job->found) return Py_NewRef(Py_None);
    return Py_BuildValue("(Ky#)", (unsigned long long)job->nonce, (const char *)job->digest,
                         (Py_ssize_t)32);
}

static PyObject *find(PyObject *self, PyObject *args) {
    search_t job = {0};
    PyObject *result = NULL;
    if (parse_search(args, &job) == 0) {
        Py_BEGIN_ALLOW_THREADS
        run_search(&job);
        Py_END_ALLOW_THREADS
        result = search_result(&job);
    }
    release_search(&job);
    return result;
}

/* Several searches in one release of the GIL: a worker thread then needs the GIL once per
   batch of small seals, not once per seal. */
static PyObject *find_many(PyObject *self, PyObject *args) {
    PyObject *items;
    if (!PyArg_ParseTuple(args, "O!", &PyList_Type, &items)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(items);
    search_t *jobs = PyMem_Calloc(n > 0 ? (size_t)n : 1, sizeof(search_t));
    if (jobs == NULL) return PyErr_NoMemory();
    PyObject *results = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "find_many takes a list of tuples");
            goto done;
        }
        if (parse_search(item, &jobs[i]) != 0) goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) run_search(&jobs[i]);
    Py_END_ALLOW_THREADS
    results = PyList_New(n);
    if (results == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *one = search_result(&jobs[i]);
        if (one == NULL) {
            Py_CLEAR(results);
            goto done;
        }
        PyList_SET_ITEM(results, i, one);
    }
done:
    for (Py_ssize_t i = 0; i < n; i++) release_search(&jobs[i]);
    PyMem_Free(jobs);
    return results;
}

static PyObject *lanes(PyObject *self, PyObject *unused) {
    return PyLong_FromLong(use_avx512 ? 8 : use_avx2 ? 4 : 1);
}

/* The widest of 8 (AVX-512F), 4 (AVX2) and 1 (scalar) lanes, at most `wanted`, the CPU has. */
static PyObject *set_lanes(PyObject *self, PyObject *arg) {
    long wanted = PyLong_AsLong(arg);
    if (wanted == -1 && PyErr_Occurred()) return NULL;
    PyObject *before = lanes(self, NULL);
    use_avx2 = use_avx512 = 0;
#ifdef HUSH_AVX2
    __builtin_cpu_init();
    use_avx512 = wanted >= 8 && __builtin_cpu_supports("avx512f");
    use_avx2 = !use_avx512 && wanted >= 4 && __builtin_cpu_supports("avx2");
#endif
    return before;
}

static PyMethodDef methods[] = {
    {"set_lanes", set_lanes, METH_O,
     "set_lanes(n) -> int\n\nHash up to n nonces at once: 8 where the CPU has AVX-512F, 4 with "
     "AVX2, else 1 (the scalar loop); the widest is the default. Returns the previous width."},
    {"lanes", lanes, METH_NOARGS, "lanes() -> int\n\nNonces hashed at once: 8, 4 or 1."},
    {"find", find, METH_VARARGS,
     "find(absorbed, tail, start, count, limit) -> (nonce, digest) | None\n\n"
     "The first nonce from start (count tries, wrapping at 2^64) whose keccak256(absorbed + "
     "tail + nonce_be8) is below limit (32 bytes, big-endian)."},
    {"find_many", find_many, METH_VARARGS,
     "find_many([(absorbed, tail, start, count, limit), ...]) -> [(nonce, digest) | None, ...]\n\n"
     "find for each tuple, in order, in one release of the GIL."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_powloop", NULL, -1, methods};

PyMODINIT_FUNC PyInit__powloop(void) {
#ifdef HUSH_AVX2
    __builtin_cpu_init();
    use_avx512 = __builtin_cpu_supports("avx512f");
    use_avx2 = !use_avx512 && __builtin_cpu_supports("avx2");
#endif
    return PyModule_Create(&module);
}
