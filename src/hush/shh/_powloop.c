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
