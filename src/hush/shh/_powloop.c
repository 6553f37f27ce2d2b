/*
 * The proof-of-work nonce loop in C: hush.shh.pow uses it when it was built, and falls back to
 * the equivalent Python loop otherwise.
 *
 * Keccak-256 with the original (pre-SHA-3) padding, as Ethereum uses it: rate 136 bytes, pad
 * 0x01 ... 0x80. The caller passes the whole 136-byte blocks of the message prefix (absorbed
 * once), the remaining tail, and the 8-byte big-endian nonce goes after the tail; for each
 * nonce only the final block(s) are absorbed. The loop (prefix included) runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static void absorb_block(uint64_t s[LANES], const uint8_t *block) {
    for (int i = 0; i < RATE / 8; i++) s[i] ^= load_le64(block + 8 * i);
    keccak_f1600(s);
}

static void squeeze256(const uint64_t s[LANES], uint8_t out[32]) {
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++) out[8 * i + b] = (uint8_t)(s[i] >> (8 * b));
}

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
    job->found = 0;
    for (unsigned long long i = 0; i < job->count; i++, nonce++) { /* wraps at 2^64 like geth's */
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

static PyMethodDef methods[] = {
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

PyMODINIT_FUNC PyInit__powloop(void) { return PyModule_Create(&module); }
