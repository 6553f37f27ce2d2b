/*
 * Envelope validation in C (whisper-v6.md §1.1, §1.4, §1.5): one call decodes an envelope's RLP,
 * hashes it and computes geth 1.9's proof-of-work input, and a run of them over a `messages`
 * packet. hush.shh.envelope uses it when it was built and falls back to Python otherwise.
 *
 * Only the common, well-formed shape is decoded here, exactly what envelope.py's `_decode_fast`
 * accepts (canonical lengths and integers, a 4-byte topic, exactly five items). Anything else
 * returns None (or ends the run) so that the Python reference decoder produces geth's decision
 * and its exact error: the C code never rejects, it only declines. Differential tests
 * (tests/shh/test_envelope_c.py) hold both paths to the same results.
 *
 * The result is an Envelope built here (hush.shh.envelope binds its class and slot names at
 * import): its nine slots filled directly, as decode_python's object.__setattr__ calls would.
 *
 * Per envelope: hash = keccak256(raw); short = a fresh list header over the first four items'
 * encodings; PoW digest = keccak256(short || nonce_be8); the PoW is then 2^bits / len(short) /
 * (ttl + diff), left to Python (two double divisions, and diff depends on the clock).
 *
 * The receive path of a `messages` packet takes two more calls (hush.node.pool_keeper.ingest):
 * `check_run`, geth's whole-packet check before anything is added, which only parses; and
 * `copies_run`, which looks each envelope's encoding up in the pool's CopyIndex (hashed where it
 * lies in the packet, no object made) and answers a plain copy of a pooled one with its entry (a
 * relaying node gets most envelopes five or six times: no PoW digest, no Envelope), stopping at
 * the first envelope that is not one, decoded in full.
 * It declines exactly as `decode` does, and leaves to Python's `add` every copy that
 * EnvelopePool.pooled_copy would (and a few more: see plain_copy).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "structmember.h"

#include "_keccak.h"

#ifndef T_OBJECT_EX
#define T_OBJECT_EX 16
#endif

/* A hint that an address will be read soon (it never faults): at a pool's scale the receive
   path's reads miss the caches, and a few issued together overlap. */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

/* Envelopes at least this big are hashed without the GIL. */
#define NOGIL_BYTES 32768

typedef struct {
    uint64_t expiry, ttl, nonce;
    size_t topic_at, data_start, data_stop, head;
} fields_t;

/* A canonical RLP integer of at most max_length bytes at *pos; 0 if it isn't one. */
static int uint_at(const uint8_t *raw, size_t size, size_t *pos, size_t max_length, uint64_t *out) {
    uint8_t first = raw[*pos];
    if (first < 0x80) {
        if (first == 0) return 0; /* 0x00 is a non-canonical zero */
        *out = first;
        *pos += 1;
        return 1;
    }
    size_t length = first - 0x80u;
    if (length > max_length || *pos + 1 + length > size) return 0;
    uint64_t value = 0;
    for (size_t i = 0; i < length; i++) value = (value << 8) | raw[*pos + 1 + i];
    if (length > 0 && (raw[*pos + 1] == 0 || (length == 1 && value < 0x80))) return 0;
    *out = value;
    *pos += 1 + length;
    return 1;
}

/* The fields of a well-formed envelope spanning raw[0:size], or 0 to defer to Python. */
static int decode_fast(const uint8_t *raw, size_t size, fields_t *f) {
    if (size < 12) return 0;
    uint8_t first = raw[0];
    if (first < 0xC0) return 0;
    size_t pos;
    uint64_t length;
    if (first <= 0xF7) {
        pos = 1;
        length = first - 0xC0u;
    } else {
        pos = (size_t)first - 0xF6u;
        if (pos > 9 || raw[1] == 0) return 0;
        length = 0;
        for (size_t i = 1; i < pos; i++) length = (length << 8) | raw[i];
        if (length < 56) return 0;
    }
    if (pos > size || length != size - pos || pos + 10 > size) return 0;
    f->head = pos;
    if (!uint_at(raw, size, &pos, 4, &f->expiry)) return 0;
    if (!uint_at(raw, size, &pos, 4, &f->ttl)) return 0;
    if (pos + 6 > size || raw[pos] != 0x84) return 0;
    f->topic_at = pos + 1;
    pos += 5;
    uint8_t marker = raw[pos];
    size_t start;
    uint64_t data_length;
    if (marker < 0x80) {
        start = pos;
        data_length = 1;
    } else if (marker <= 0xB7) {
        start = pos + 1;
        data_length = marker - 0x80u;
        if (data_length == 1 && start < size && raw[start] < 0x80) return 0;
    } else if (marker <= 0xBF) {
        start = pos + 1 + (marker - 0xB7u);
        if (start > size || raw[pos + 1] == 0) return 0;
        data_length = 0;
        for (size_t i = pos + 1; i < start; i++) data_length = (data_length << 8) | raw[i];
        if (data_length < 56) return 0;
    } else {
        return 0;
    }
    if (start >= size || data_length >= size - start) return 0; /* the nonce must follow */
    size_t stop = start + (size_t)data_length;
    f->data_start = start;
    f->data_stop = stop;
    pos = stop;
    if (!uint_at(raw, size, &pos, 8, &f->nonce) || pos != size) return 0;
    return 1;
}

static int leading_zero_bits(const uint8_t digest[32]) {
    int bits = 0;
    for (int i = 0; i < 32; i++) {
        uint8_t b = digest[i];
        if (b == 0) {
            bits += 8;
            continue;
        }
        while (!(b & 0x80)) {
            bits++;
            b <<= 1;
        }
        return bits;
    }
    return bits;
}

static void hash_of(const uint8_t *raw, size_t size, uint8_t hash[32]) {
    keccak_ctx ctx;
    keccak_init(&ctx);
    keccak_update(&ctx, raw, size);
    keccak_final(&ctx, hash);
}

/* The PoW digest's leading zero bits and the short RLP's size (whisper-v6.md §1.5). */
static void pow_digest(const uint8_t *raw, const fields_t *f, int *bits, size_t *short_size) {
    size_t payload = f->data_stop - f->head;
    uint8_t header[9];
    size_t header_length;
    if (payload < 56) {
        header[0] = (uint8_t)(0xC0 + payload);
        header_length = 1;
    } else {
        size_t n = 0;
        for (size_t v = payload; v; v >>= 8) n++;
        header[0] = (uint8_t)(0xF7 + n);
        for (size_t i = 0; i < n; i++) header[1 + i] = (uint8_t)(payload >> (8 * (n - 1 - i)));
        header_length = 1 + n;
    }
    uint8_t nonce[8], digest[32];
    for (int b = 0; b < 8; b++) nonce[b] = (uint8_t)(f->nonce >> (56 - 8 * b));
    keccak_ctx ctx;
    keccak_init(&ctx);
    keccak_update(&ctx, header, header_length);
    keccak_update(&ctx, raw + f->head, payload);
    keccak_update(&ctx, nonce, 8);
    keccak_final(&ctx, digest);
    *bits = leading_zero_bits(digest);
    *short_size = header_length + payload;
}

/* The envelope hash, and the PoW digest's leading zero bits and short-RLP size. */
static void digests(const uint8_t *raw, size_t size, const fields_t *f, uint8_t hash[32],
                    int *bits, size_t *short_size) {
    hash_of(raw, size, hash);
    pow_digest(raw, f, bits, short_size);
}

/* The bound Envelope class and the offsets of its slots, in this order: expiry, ttl, topic,
   data, nonce, _encoded, _hash, _pow_bits, _short_size. */
#define SLOTS 9
static PyTypeObject *envelope_type = NULL;
static Py_ssize_t slot_offsets[SLOTS];

/* The offsets of `names` (a tuple of n slot names) in `type`; -1 and a TypeError if any is not
   an object slot of it. */
static int find_slots(PyTypeObject *type, PyObject *names, Py_ssize_t n, Py_ssize_t *offsets) {
    if (PyTuple_GET_SIZE(names) != n) {
        PyErr_Format(PyExc_TypeError, "expected %zd slot names", n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descr = PyDict_GetItemWithError(type->tp_dict, PyTuple_GET_ITEM(names, i));
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "not a slot of the class");
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || member->offset <= 0 ||
            member->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize) {
            PyErr_SetString(PyExc_TypeError, "not an object slot");
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

static PyObject *bind(PyObject *self, PyObject *args) {
    PyObject *cls, *names;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &names)) return NULL;
    Py_ssize_t offsets[SLOTS];
    if (find_slots((PyTypeObject *)cls, names, SLOTS, offsets) != 0) return NULL;
    memcpy(slot_offsets, offsets, sizeof offsets);
    Py_XSETREF(envelope_type, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

/* The Envelope of the fields f of raw[0:size] (`owner` when it is all of it), its hash given as
   `hash` (a new reference, stolen); NULL on error. */
static PyObject *build(PyObject *owner, const uint8_t *raw, size_t size, Py_ssize_t raw_at,
                       const fields_t *f, PyObject *hash, int bits, size_t short_size) {
    PyObject *values[SLOTS] = {
        PyLong_FromUnsignedLongLong(f->expiry),
        PyLong_FromUnsignedLongLong(f->ttl),
        PyBytes_FromStringAndSize((const char *)raw + f->topic_at, 4),
        PyBytes_FromStringAndSize((const char *)raw + f->data_start,
                                  (Py_ssize_t)(f->data_stop - f->data_start)),
        PyLong_FromUnsignedLongLong(f->nonce),
        raw_at == 0 && (size_t)PyBytes_GET_SIZE(owner) == size
            ? Py_NewRef(owner)
            : PyBytes_FromStringAndSize((const char *)raw, (Py_ssize_t)size),
        hash,
        PyLong_FromLong(bits),
        PyLong_FromSize_t(short_size),
    };
    PyObject *envelope = NULL;
    int failed = 0;
    for (int i = 0; i < SLOTS; i++) failed |= values[i] == NULL;
    if (!failed) envelope = envelope_type->tp_alloc(envelope_type, 0);
    if (envelope == NULL) {
        for (int i = 0; i < SLOTS; i++) Py_XDECREF(values[i]);
        return NULL;
    }
    for (int i = 0; i < SLOTS; i++) *(PyObject **)((char *)envelope + slot_offsets[i]) = values[i];
    return envelope;
}

static int bound(void) {
    if (envelope_type != NULL) return 1;
    PyErr_SetString(PyExc_RuntimeError, "_envelope: no Envelope class bound");
    return 0;
}

/* The Envelope for raw[0:size] (`owner` when it is all of it), None to defer, NULL on error. */
static PyObject *validate(PyObject *owner, const uint8_t *raw, size_t size, Py_ssize_t raw_at) {
    if (!bound()) return NULL;
    fields_t f;
    if (!decode_fast(raw, size, &f)) return Py_NewRef(Py_None);
    uint8_t hash[32];
    int bits;
    size_t short_size;
    if (size >= NOGIL_BYTES) { /* `owner` is an immutable bytes object the caller holds */
        Py_BEGIN_ALLOW_THREADS
        digests(raw, size, &f, hash, &bits, &short_size);
        Py_END_ALLOW_THREADS
    } else {
        digests(raw, size, &f, hash, &bits, &short_size);
    }
    PyObject *hash_bytes = PyBytes_FromStringAndSize((const char *)hash, 32);
    if (hash_bytes == NULL) return NULL;
    return build(owner, raw, size, raw_at, &f, hash_bytes, bits, short_size);
}

static PyObject *decode(PyObject *self, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "decode takes bytes");
        return NULL;
    }
    return validate(arg, (const uint8_t *)PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg), 0);
}

/* The end of the list item at pos (within stop), if its header is a plain canonical list
   header; 0 to let Python's RLP decoder judge it. */
static size_t list_item_end(const uint8_t *data, size_t pos, size_t stop) {
    uint8_t first = data[pos];
    if (first < 0xC0) return 0;
    size_t start;
    uint64_t length;
    if (first <= 0xF7) {
        start = pos + 1;
        length = first - 0xC0u;
    } else {
        size_t n = first - 0xF7u;
        start = pos + 1 + n;
        if (start > stop || data[pos + 1] == 0) return 0;
        length = 0;
        for (size_t i = pos + 1; i < start; i++) length = (length << 8) | data[i];
        if (length < 56) return 0;
    }
    if (start > stop || length > stop - start) return 0;
    return start + (size_t)length;
}

static PyObject *decode_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "decode_run(payload: bytes, pos, stop, limit)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    PyObject *payload = args[0];
    Py_ssize_t size = PyBytes_GET_SIZE(payload);
    if (pos < 0 || stop < pos || stop > size || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "decode_run: bad bounds");
        return NULL;
    }
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(payload);
    PyObject *decoded = PyList_New(0);
    if (decoded == NULL) return NULL;
    while (pos < stop && PyList_GET_SIZE(decoded) < limit) {
        size_t end = list_item_end(data, (size_t)pos, (size_t)stop);
        if (end == 0) break;
        PyObject *one = validate(payload, data + pos, end - (size_t)pos, pos);
        if (one == NULL) {
            Py_DECREF(decoded);
            return NULL;
        }
        if (one == Py_None) {
            Py_DECREF(one);
            break;
        }
        int appended = PyList_Append(decoded, one);
        Py_DECREF(one);
        if (appended != 0) {
            Py_DECREF(decoded);
            return NULL;
        }
        pos = (Py_ssize_t)end;
    }
    return Py_BuildValue("(Nn)", decoded, pos);
}

/* Bounds of a run over a list's payload: (payload: bytes, pos, stop, limit), checked. */
static int run_bounds(PyObject *const *args, const char *usage, Py_ssize_t *pos, Py_ssize_t *stop,
                      Py_ssize_t *limit) {
    if (!PyBytes_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s", usage);
        return 0;
    }
    *pos = PyLong_AsSsize_t(args[1]);
    *stop = PyLong_AsSsize_t(args[2]);
    *limit = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return 0;
    if (*pos < 0 || *stop < *pos || *stop > PyBytes_GET_SIZE(args[0]) || *limit < 0) {
        PyErr_SetString(PyExc_ValueError, "bad bounds");
        return 0;
    }
    return 1;
}

/* check_run: decode_run's first half, no hashing (geth decodes a whole packet before it adds
   any envelope: this is that check for the items the C part accepts). */
static PyObject *check_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char usage[] = "check_run(payload: bytes, pos, stop, limit)";
    Py_ssize_t pos, stop, limit, count = 0;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    if (!run_bounds(args, usage, &pos, &stop, &limit)) return NULL;
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(args[0]);
    fields_t f;
    while (pos < stop && count < limit) {
        size_t end = list_item_end(data, (size_t)pos, (size_t)stop);
        if (end == 0 || !decode_fast(data + pos, end - (size_t)pos, &f)) break;
        pos = (Py_ssize_t)end;
        count++;
    }
    return Py_BuildValue("(nn)", count, pos);
}

/* The pool's entry class (hush.shh.pool_entry.PooledEnvelope) and its slots, in this order:
   pow, hash, knowers, source, _bucket, raw, _home; and its buckets' class (Bucket), whose `rank`
   slot mark_known_by reads. */
#define ENTRY_SLOTS 7
static PyTypeObject *entry_type = NULL, *bucket_type = NULL;
static Py_ssize_t entry_offsets[ENTRY_SLOTS], bucket_rank_offset;
#define entry_pow_offset (entry_offsets[0])
#define ENTRY_SLOT(entry, i) (*(PyObject **)((char *)(entry) + entry_offsets[i]))
#define ENTRY_RAW 5
#define ENTRY_HOME 6

static PyObject *bind_entry(PyObject *self, PyObject *args) {
    PyObject *cls, *names, *bucket_cls, *bucket_names;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyType_Type, &cls, &PyTuple_Type, &names,
                          &PyType_Type, &bucket_cls, &PyTuple_Type, &bucket_names))
        return NULL;
    Py_ssize_t offsets[ENTRY_SLOTS], rank_offset;
    if (find_slots((PyTypeObject *)cls, names, ENTRY_SLOTS, offsets) != 0) return NULL;
    if (find_slots((PyTypeObject *)bucket_cls, bucket_names, 1, &rank_offset) != 0) return NULL;
    memcpy(entry_offsets, offsets, sizeof offsets);
    bucket_rank_offset = rank_offset;
    Py_XSETREF(entry_type, (PyTypeObject *)Py_NewRef(cls));
    Py_XSETREF(bucket_type, (PyTypeObject *)Py_NewRef(bucket_cls));
    Py_RETURN_NONE;
}

/* A batch's charges summed per key before they reach a dict: most batches have few distinct
   sources and ranks. Up to TALLY_KEYS keys; -1 when full (the caller charges the dict itself). */
#define TALLY_KEYS 8
typedef struct {
    int count;
    PyObject *keys[TALLY_KEYS]; /* borrowed: the batch's entries and buckets hold them */
    Py_ssize_t marks[TALLY_KEYS];
} tally_t;

static int tally(tally_t *t, PyObject *key) {
    for (int i = 0; i < t->count; i++) {
        if (t->keys[i] == key) { /* the same object (an entry's source, a bucket's rank) */
            t->marks[i]++;
            return 0;
        }
    }
    if (t->count == TALLY_KEYS) return -1;
    t->keys[t->count] = key;
    t->marks[t->count++] = 1;
    return 0;
}

/* dict[key] += amount, for a key that must be there (a KeyError if it isn't); -1 on error. */
static int add_to(PyObject *dict, PyObject *key, PyObject *amount) {
    PyObject *value = PyDict_GetItemWithError(dict, key); /* borrowed */
    if (value == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "mark_known_by: not accounted");
        return -1;
    }
    PyObject *sum = PyNumber_Add(value, amount);
    if (sum == NULL) return -1;
    int failed = PyDict_SetItem(dict, key, sum);
    Py_DECREF(sum);
    return failed;
}

/* dict[key] += marks * cost for each key of the tally; -1 on error. */
static int charge_tally(PyObject *dict, const tally_t *t, PyObject *cost) {
    for (int i = 0; i < t->count; i++) {
        PyObject *marks = PyLong_FromSsize_t(t->marks[i]);
        PyObject *amount = marks == NULL ? NULL : PyNumber_Multiply(marks, cost);
        Py_XDECREF(marks);
        int failed = amount == NULL || add_to(dict, t->keys[i], amount) != 0;
        Py_XDECREF(amount);
        if (failed) return -1;
    }
    return 0;
}

/* mark_known_by(known, pooled, entries, usage, rank_bytes, cost, pinned) -> int
   EnvelopePool.mark_known_by's loop: each entry (of the bound class) still in the pool (its
   `_home` is `pooled`, the pool's dict by hash: the pool sets it on insert and clears it on
   removal, so this is `pooled.get(entry.hash) is entry` without the look-up) whose hash is not
   in `known` goes into `known` (one look-up: setdefault); its knowers grow by one, and
   `usage[source]` and, unless its bucket's rank is `pinned`, `rank_bytes[rank]` by `cost`
   (summed per source and per rank over the batch, then charged). Returns how many were new (the
   caller adds them to bytes_used). */
static PyObject *mark_known_by(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static PyObject *rank_name = NULL, *one = NULL;
    if (nargs != 7 || !PyDict_Check(args[0]) || !PyDict_Check(args[1]) || !PyDict_Check(args[3]) ||
        !PyDict_Check(args[4]) || entry_type == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "mark_known_by(known: dict, pooled: dict, entries, usage: dict, "
                        "rank_bytes: dict, cost, pinned), after bind_entry");
        return NULL;
    }
    if (rank_name == NULL && (rank_name = PyUnicode_InternFromString("rank")) == NULL) return NULL;
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) return NULL;
    PyObject *known = args[0], *pooled = args[1], *usage = args[3], *rank_bytes = args[4];
    PyObject *cost = args[5], *pinned = args[6];
    /* A snapshot holding every entry (and so its source and bucket) until the charges are made. */
    PyObject *items = PySequence_Tuple(args[2]);
    if (items == NULL) return NULL;
    tally_t sources = {0}, ranks = {0};
    Py_ssize_t added = 0, count = PyTuple_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < count && i < 8; i++) PREFETCH(PyTuple_GET_ITEM(items, i));
    for (Py_ssize_t i = 0; i < count; i++) {
        /* Prefetch (hints only) the entry 8 ahead, and the hash and bucket of the one 4 ahead. */
        if (i + 8 < count) {
            PyObject *later = PyTuple_GET_ITEM(items, i + 8);
            PREFETCH(later);
            PREFETCH((char *)later + 64);
        }
        if (i + 4 < count) {
            PyObject *soon = PyTuple_GET_ITEM(items, i + 4);
            if (Py_IS_TYPE(soon, entry_type)) {
                PREFETCH(ENTRY_SLOT(soon, 1));
                PREFETCH(ENTRY_SLOT(soon, 4));
            }
        }
        PyObject *entry = PyTuple_GET_ITEM(items, i);
        if (!Py_IS_TYPE(entry, entry_type)) {
            PyErr_SetString(PyExc_TypeError, "mark_known_by: not a pooled entry");
            goto error;
        }
        PyObject *hash = ENTRY_SLOT(entry, 1), *knowers = ENTRY_SLOT(entry, 2);
        PyObject *source = ENTRY_SLOT(entry, 3), *bucket = ENTRY_SLOT(entry, 4);
        if (hash == NULL || knowers == NULL || source == NULL || bucket == NULL) {
            PyErr_SetString(PyExc_AttributeError, "mark_known_by: an entry slot is unset");
            goto error;
        }
        if (ENTRY_SLOT(entry, ENTRY_HOME) != pooled) continue; /* not (or no longer) pooled */
        if (bucket == Py_None) {
            PyErr_SetString(PyExc_AssertionError, "mark_known_by: a pooled entry has no bucket");
            goto error;
        }
        /* Only bytes keys and ints below: nothing here runs Python code or frees an entry. */
        Py_ssize_t before = PyDict_GET_SIZE(known);
        if (PyDict_SetDefault(known, hash, Py_None) == NULL) goto error; /* borrowed */
        if (PyDict_GET_SIZE(known) == before) continue;                  /* known already */
        PyObject *more = PyNumber_Add(knowers, one);
        if (more == NULL) goto error;
        ENTRY_SLOT(entry, 2) = more;
        Py_DECREF(knowers);
        added++;
        if (tally(&sources, source) != 0 && add_to(usage, source, cost) != 0) goto error;
        PyObject *rank;
        if (Py_IS_TYPE(bucket, bucket_type)) {
            rank = *(PyObject **)((char *)bucket + bucket_rank_offset);
            if (rank == NULL) {
                PyErr_SetString(PyExc_AttributeError, "mark_known_by: a bucket has no rank");
                goto error;
            }
            Py_INCREF(rank);
        } else if ((rank = PyObject_GetAttr(bucket, rank_name)) == NULL) {
            goto error;
        }
        int is_pinned = PyObject_RichCompareBool(rank, pinned, Py_EQ);
        int failed = is_pinned < 0 ||
                     (!is_pinned && tally(&ranks, rank) != 0 && add_to(rank_bytes, rank, cost) != 0);
        Py_DECREF(rank); /* the bucket's slot holds it */
        if (failed) goto error;
    }
    if (charge_tally(usage, &sources, cost) != 0 || charge_tally(rank_bytes, &ranks, cost) != 0)
        goto error;
    Py_DECREF(items);
    return PyLong_FromSsize_t(added);
error:
    Py_DECREF(items);
    return NULL;
}

/* CopyIndex: the pool's entries by their encoding, for copies_run. An open-addressing table
   (linear probing, backward-shift deletion, at most 2/3 full) of 16-byte slots: the low 32 bits
   of the SipHash of the entry's `raw` (hash(raw)'s; they also give the slot's home), the entry's
   PoW rounded down to a float, and the entry (a strong reference). A copy is found by hashing
   its bytes where they lie in the packet (no bytes object made) and a memcmp against each
   candidate entry's own `raw`: a colliding hash only costs another memcmp (and the SipHash key
   is the process's secret). The rounded PoW answers "at least the minimum?" without reading the
   entry's float, except where rounding makes it unsure. Entries of the bound class only; one
   whose `raw` is not bytes or whose `pow` is not a float is not indexed (its copies take `add`'s
   path). The table is PyMem memory, which tracemalloc sees (24-48 B per entry). */
typedef struct {
    uint32_t hash;
    float pow; /* <= the entry's PoW (NaN if it is NaN) */
    PyObject *entry; /* NULL: free */
} index_slot_t;

typedef struct {
    PyObject_HEAD Py_ssize_t mask; /* capacity - 1; capacity 0 before the first add */
    Py_ssize_t used;
    index_slot_t *slots;
} IndexObject;

#define INDEX_MIN 8

static PyTypeObject IndexType;

/* Put (hash, entry, pow) into a table with room, entry's reference moved in. */
static void index_place(index_slot_t *slots, Py_ssize_t mask, index_slot_t slot) {
    Py_ssize_t i = (Py_ssize_t)(slot.hash & (size_t)mask);
    while (slots[i].entry != NULL) i = (i + 1) & mask;
    slots[i] = slot;
}

/* Move every slot into a fresh table of `capacity` (a power of two > used, at most 2^32: the
   home comes from 32 bits); -1 on MemoryError. */
static int index_resize(IndexObject *self, Py_ssize_t capacity) {
    if ((uint64_t)capacity > ((uint64_t)1 << 32)) return -1;
    index_slot_t *slots = PyMem_Calloc((size_t)capacity, sizeof(index_slot_t));
    if (slots == NULL) return -1;
    if (self->slots != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++)
            if (self->slots[i].entry != NULL) index_place(slots, capacity - 1, self->slots[i]);
        PyMem_Free(self->slots);
    }
    self->slots = slots;
    self->mask = capacity - 1;
    return 0;
}

/* The encoding and PoW of an indexable entry; 0 if it isn't one. */
static int index_key(PyObject *entry, const char **raw, Py_ssize_t *size, double *pow) {
    if (entry_type == NULL || !Py_IS_TYPE(entry, entry_type)) return 0;
    PyObject *bytes = ENTRY_SLOT(entry, ENTRY_RAW), *value = ENTRY_SLOT(entry, 0);
    if (bytes == NULL || !PyBytes_CheckExact(bytes) || value == NULL || !PyFloat_CheckExact(value))
        return 0;
    *raw = PyBytes_AS_STRING(bytes);
    *size = PyBytes_GET_SIZE(bytes);
    *pow = PyFloat_AS_DOUBLE(value);
    return 1;
}

/* The low 32 bits of hash(raw). */
static uint32_t index_hash(const void *raw, Py_ssize_t size) {
    return (uint32_t)(size_t)_Py_HashBytes(raw, size);
}

/* A float no greater than pow (NaN stays NaN). */
static float pow_floor(double pow) {
    float low = (float)pow;
    if ((double)low > pow) low = nextafterf(low, -INFINITY);
    return low;
}

/* The slot of `entry` (by identity), or -1. */
static Py_ssize_t index_find_entry(IndexObject *self, PyObject *entry, uint32_t hash) {
    if (self->slots == NULL) return -1;
    Py_ssize_t i = (Py_ssize_t)(hash & (size_t)self->mask);
    for (; self->slots[i].entry != NULL; i = (i + 1) & self->mask)
        if (self->slots[i].entry == entry) return i;
    return -1;
}

static PyObject *index_add(IndexObject *self, PyObject *entry) {
    const char *raw;
    Py_ssize_t size;
    double pow;
    if (!index_key(entry, &raw, &size, &pow)) Py_RETURN_NONE; /* not indexed: `add` judges */
    uint32_t hash = index_hash(raw, size);
    if (index_find_entry(self, entry, hash) >= 0) Py_RETURN_NONE;
    if (3 * (self->used + 1) > 2 * (self->mask + 1)) {
        Py_ssize_t capacity = self->slots == NULL ? INDEX_MIN : 2 * (self->mask + 1);
        if (index_resize(self, capacity) != 0) return PyErr_NoMemory();
    }
    index_place(self->slots, self->mask, (index_slot_t){hash, pow_floor(pow), Py_NewRef(entry)});
    self->used++;
    Py_RETURN_NONE;
}

static PyObject *index_discard(IndexObject *self, PyObject *entry) {
    if (self->slots == NULL) Py_RETURN_NONE;
    PyObject *bytes = entry_type != NULL && Py_IS_TYPE(entry, entry_type)
                          ? ENTRY_SLOT(entry, ENTRY_RAW)
                          : NULL;
    Py_ssize_t i = -1;
    if (bytes != NULL && PyBytes_CheckExact(bytes))
        i = index_find_entry(self, entry, index_hash(PyBytes_AS_STRING(bytes),
                                                      PyBytes_GET_SIZE(bytes)));
    /* Not where its bytes say (never so for the pool's entries: their `raw` and `pow` are set
       once; an entry of whatever else was never added): look at every slot, so that no entry
       the pool let go of can stay here and be found. */
    for (Py_ssize_t j = 0; i < 0 && j <= self->mask; j++)
        if (self->slots[j].entry == entry) i = j;
    if (i < 0) Py_RETURN_NONE;
    index_slot_t *slots = self->slots;
    Py_ssize_t mask = self->mask;
    PyObject *gone = slots[i].entry;
    /* Backward shift: pull each later slot of the run back unless its home lies in (i, j]. */
    for (Py_ssize_t j = (i + 1) & mask; slots[j].entry != NULL; j = (j + 1) & mask) {
        Py_ssize_t home = (Py_ssize_t)(slots[j].hash & (size_t)mask);
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        slots[i] = slots[j];
        i = j;
    }
    slots[i].entry = NULL;
    self->used--;
    if (self->mask + 1 > INDEX_MIN && 8 * self->used < self->mask + 1 &&
        index_resize(self, (self->mask + 1) / 2) != 0)
        PyErr_Clear(); /* no memory to shrink into: keep the bigger table */
    Py_DECREF(gone); /* last: the table is consistent if this frees the entry */
    Py_RETURN_NONE;
}

/* The indexed entry whose encoding is raw[0:size] (its index_hash `hash`), or NULL; *low is its
   PoW rounded down. */
static PyObject *index_lookup(IndexObject *self, const uint8_t *raw, size_t size, uint32_t hash,
                              float *low) {
    if (self->used == 0) return NULL;
    index_slot_t *slots = self->slots;
    for (Py_ssize_t i = (Py_ssize_t)(hash & (size_t)self->mask); slots[i].entry != NULL;
         i = (i + 1) & self->mask) {
        if (slots[i].hash != hash) continue;
        PyObject *bytes = ENTRY_SLOT(slots[i].entry, ENTRY_RAW); /* indexed: bytes, set */
        if ((size_t)PyBytes_GET_SIZE(bytes) == size &&
            memcmp(PyBytes_AS_STRING(bytes), raw, size) == 0) {
            *low = slots[i].pow;
            return slots[i].entry;
        }
    }
    return NULL;
}

/* entry.pow >= min_pow (as `not entry.pow < min_pow`: NaN passes, as in pooled_copy), on the
   rounded-down PoW where that settles it, else on the entry's float (exact float: indexed). */
static int pow_enough(PyObject *entry, float low, double min_pow) {
    if ((double)low >= min_pow) return 1;
    return !(PyFloat_AS_DOUBLE(ENTRY_SLOT(entry, 0)) < min_pow);
}

static PyObject *index_get(IndexObject *self, PyObject *raw) {
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "CopyIndex.get takes bytes");
        return NULL;
    }
    float low;
    const char *bytes = PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    PyObject *entry = index_lookup(self, (const uint8_t *)bytes, (size_t)size,
                                   index_hash(bytes, size), &low);
    return Py_NewRef(entry != NULL ? entry : Py_None);
}

static PyObject *index_entries(IndexObject *self, PyObject *unused) {
    PyObject *list = PyList_New(0);
    if (list == NULL || self->slots == NULL) return list;
    for (Py_ssize_t i = 0; i <= self->mask; i++) {
        if (self->slots[i].entry != NULL && PyList_Append(list, self->slots[i].entry) != 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

/* copies_run's look-ahead: at a pool's scale every look-up misses the caches three times in a
   row (the slot, the entry, its encoding), so the next few items are hashed first and what their
   look-ups will read is prefetched in three rounds, their misses overlapping. Hints only: the
   look-ups themselves run as before, in order, on the hashes kept here. A run stops at the first
   item that is not a plain copy, and the items looked at beyond it are hashed again by the next
   call: so a call looks 2 items ahead at first, then twice as many after each window it used up
   (to AHEAD), and what it hashes in vain is at most what it used plus 2 (a packet of nothing but
   new envelopes: each hashed twice, beside its keccak). Items over AHEAD_BYTES are left out. */
#define AHEAD 8
#define AHEAD_BYTES 4096
typedef struct {
    Py_ssize_t pos; /* where the item starts */
    uint32_t hash;  /* its index_hash */
} ahead_t;

static int index_prefetch(IndexObject *self, const uint8_t *data, size_t pos, size_t stop,
                          Py_ssize_t room, ahead_t *ahead) {
    int n = 0;
    index_slot_t *slots = self->slots;
    Py_ssize_t mask = self->mask;
    while (n < AHEAD && n < room && pos < stop) {
        size_t end = list_item_end(data, pos, stop);
        if (end == 0 || end - pos > AHEAD_BYTES) break;
        uint32_t hash = index_hash(data + pos, (Py_ssize_t)(end - pos));
        ahead[n].pos = (Py_ssize_t)pos;
        ahead[n].hash = hash;
        PREFETCH(&slots[hash & (size_t)mask]);
        n++;
        pos = end;
    }
    PyObject *candidates[AHEAD];
    for (int k = 0; k < n; k++) {
        candidates[k] = NULL;
        for (Py_ssize_t i = (Py_ssize_t)(ahead[k].hash & (size_t)mask); slots[i].entry != NULL;
             i = (i + 1) & mask) {
            if (slots[i].hash == ahead[k].hash) {
                candidates[k] = slots[i].entry;
                PREFETCH(&ENTRY_SLOT(candidates[k], ENTRY_RAW));
                break;
            }
        }
    }
    for (int k = 0; k < n; k++) {
        if (candidates[k] == NULL) continue;
        const char *raw = (const char *)ENTRY_SLOT(candidates[k], ENTRY_RAW);
        for (int line = 0; line < 8; line++) PREFETCH(raw + 64 * line);
    }
    return n;
}

static int index_traverse(IndexObject *self, visitproc visit, void *arg) {
    if (self->slots != NULL)
        for (Py_ssize_t i = 0; i <= self->mask; i++) Py_VISIT(self->slots[i].entry);
    return 0;
}

static int index_clear(IndexObject *self) {
    index_slot_t *slots = self->slots;
    Py_ssize_t capacity = self->mask + 1;
    self->slots = NULL;
    self->mask = -1;
    self->used = 0;
    if (slots != NULL) {
        for (Py_ssize_t i = 0; i < capacity; i++) Py_XDECREF(slots[i].entry);
        PyMem_Free(slots);
    }
    return 0;
}

static void index_dealloc(IndexObject *self) {
    PyObject_GC_UnTrack(self);
    index_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *index_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "CopyIndex() takes no arguments");
        return NULL;
    }
    IndexObject *self = (IndexObject *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->mask = -1;
    return (PyObject *)self;
}

static Py_ssize_t index_length(IndexObject *self) { return self->used; }

static PyObject *index_capacity(IndexObject *self, void *closure) {
    return PyLong_FromSsize_t(self->mask + 1);
}

static PyMethodDef index_methods[] = {
    {"add", (PyCFunction)index_add, METH_O,
     "add(entry) -> None\n\nIndex a pooled entry by its encoding (once; not one of the bound "
     "class with a bytes `raw` and a float `pow`: not at all)."},
    {"discard", (PyCFunction)index_discard, METH_O,
     "discard(entry) -> None\n\nForget an entry, if indexed."},
    {"get", (PyCFunction)index_get, METH_O,
     "get(raw) -> entry | None\n\nThe indexed entry whose encoding is raw."},
    {"entries", (PyCFunction)index_entries, METH_NOARGS,
     "entries() -> [entry, ...]\n\nEvery indexed entry, in table order."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef index_getset[] = {
    {"capacity", (getter)index_capacity, NULL, "Slots allocated.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods index_as_sequence = {.sq_length = (lenfunc)index_length};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hush.shh._envelope.CopyIndex",
    .tp_basicsize = sizeof(IndexObject),
    .tp_dealloc = (destructor)index_dealloc,
    .tp_as_sequence = &index_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "CopyIndex(): pooled entries by their encoding, for copies_run.",
    .tp_traverse = (traverseproc)index_traverse,
    .tp_clear = (inquiry)index_clear,
    .tp_methods = index_methods,
    .tp_getset = index_getset,
    .tp_new = index_new,
};

/* Whether `add(envelope, now)` would answer DUPLICATE for this copy of the pooled `entry`, judged
   as EnvelopePool.pooled_copy does (expiry and sent, size, minimum PoW, bloom) but on the entry's
   stored PoW (`low`, rounded down, then its float if need be), which is at most the copy's (it
   was computed with a diff >= 0): 0 leaves the verdict to `add`. `bloom` is the node's 64 bytes,
   or NULL for a full node. */
static int plain_copy(PyObject *entry, float low, const uint8_t *raw, const fields_t *f,
                      long long now, Py_ssize_t max_size, double min_pow, const uint8_t *bloom) {
    if ((long long)f->expiry < now) return 0;
    if ((long long)((f->expiry - f->ttl) & 0xFFFFFFFFu) > now) return 0;
    if ((Py_ssize_t)(f->data_stop - f->data_start) > max_size - 20) return 0;
    if (!pow_enough(entry, low, min_pow)) return 0;
    if (bloom != NULL) { /* topic_to_bloom: three bits, each byte assigned, not ORed (geth) */
        const uint8_t *topic = raw + f->topic_at;
        uint8_t sample[64] = {0};
        for (int j = 0; j < 3; j++) {
            int index = topic[j] + ((topic[3] & (1 << j)) ? 256 : 0);
            sample[index / 8] = (uint8_t)(1 << (index % 8));
        }
        for (int j = 0; j < 3; j++) {
            int at = (topic[j] + ((topic[3] & (1 << j)) ? 256 : 0)) / 8;
            if ((sample[at] & bloom[at]) != sample[at]) return 0;
        }
    }
    return 1;
}

/* copies_run(payload, pos, stop, limit, entries, now, max_size, min_pow, bloom)
     -> ([entry, ...], pos, Envelope | None)
   From pos, at most `limit` list items: each envelope's entry in `entries` (the pool's
   CopyIndex, or None: no copies); a plain copy of a pooled one (see plain_copy) costs that and
   nothing more. Stops after the first that is not, returned as its Envelope (decode's, its hash
   reused), or before an item that decode or a plain list header declines (then None, pos at that
   item). */
static PyObject *copies_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    static const char usage[] =
        "copies_run(payload: bytes, pos, stop, limit, entries: CopyIndex | None, now, max_size, "
        "min_pow, bloom: bytes | None)";
    Py_ssize_t pos, stop, limit, count = 0;
    if (nargs != 9 || !(args[4] == Py_None || Py_IS_TYPE(args[4], &IndexType)) ||
        !(args[8] == Py_None || PyBytes_Check(args[8]))) {
        PyErr_SetString(PyExc_TypeError, usage);
        return NULL;
    }
    if (!run_bounds(args, usage, &pos, &stop, &limit) || !bound()) return NULL;
    PyObject *payload = args[0];
    IndexObject *entries = args[4] == Py_None ? NULL : (IndexObject *)args[4];
    long long now = PyLong_AsLongLong(args[5]);
    Py_ssize_t max_size = PyLong_AsSsize_t(args[6]);
    double min_pow = PyFloat_AsDouble(args[7]);
    if (PyErr_Occurred()) return NULL;
    const uint8_t *bloom = NULL;
    if (args[8] != Py_None) {
        if (PyBytes_GET_SIZE(args[8]) != 64) {
            PyErr_SetString(PyExc_ValueError, "copies_run: a bloom is 64 bytes");
            return NULL;
        }
        bloom = (const uint8_t *)PyBytes_AS_STRING(args[8]);
    }
    const uint8_t *data = (const uint8_t *)PyBytes_AS_STRING(payload);
    PyObject *copies = PyList_New(0), *stopped = NULL;
    if (copies == NULL) return NULL;
    if (entries != NULL && entries->used == 0) entries = NULL; /* nothing to find */
    ahead_t ahead[AHEAD];
    int ahead_n = 0, ahead_i = 0, window = 2;
    while (pos < stop && count < limit) {
        if (entries != NULL && ahead_i == ahead_n) {
            Py_ssize_t room = limit - count < window ? limit - count : window;
            ahead_n = index_prefetch(entries, data, (size_t)pos, (size_t)stop, room, ahead);
            ahead_i = 0;
            window = 2 * window < AHEAD ? 2 * window : AHEAD;
        }
        size_t end = list_item_end(data, (size_t)pos, (size_t)stop);
        fields_t f;
        if (end == 0 || !decode_fast(data + pos, end - (size_t)pos, &f)) break;
        const uint8_t *raw = data + pos;
        size_t size = end - (size_t)pos;
        /* The pooled entry whose encoding these bytes are: a SipHash and a memcmp, no keccak
           (the entry is found by the same bytes its hash is the keccak of). */
        float low;
        PyObject *entry = NULL;
        if (entries != NULL) {
            uint32_t hash;
            if (ahead_i < ahead_n && ahead[ahead_i].pos == pos) {
                hash = ahead[ahead_i++].hash;
            } else {
                hash = index_hash(raw, (Py_ssize_t)size);
                ahead_i = ahead_n = 0; /* out of step (an item left out): look ahead afresh */
            }
            entry = index_lookup(entries, raw, size, hash, &low);
        }
        if (entry != NULL && plain_copy(entry, low, raw, &f, now, max_size, min_pow, bloom)) {
            if (PyList_Append(copies, entry) != 0) goto error;
            pos = (Py_ssize_t)end;
            count++;
            continue;
        }
        uint8_t hash[32];
        if (size >= NOGIL_BYTES) { /* `payload` is an immutable bytes object the caller holds */
            Py_BEGIN_ALLOW_THREADS
            hash_of(raw, size, hash);
            Py_END_ALLOW_THREADS
        } else {
            hash_of(raw, size, hash);
        }
        PyObject *key = PyBytes_FromStringAndSize((const char *)hash, 32);
        if (key == NULL) goto error;
        int bits;
        size_t short_size;
        if (size >= NOGIL_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            pow_digest(raw, &f, &bits, &short_size);
            Py_END_ALLOW_THREADS
        } else {
            pow_digest(raw, &f, &bits, &short_size);
        }
        stopped = build(payload, raw, size, pos, &f, key, bits, short_size);
        if (stopped == NULL) goto error;
        pos = (Py_ssize_t)end;
        break;
    }
    return Py_BuildValue("(NnN)", copies, pos, stopped != NULL ? stopped : Py_NewRef(Py_None));
error:
    Py_DECREF(copies);
    return NULL;
}

/* SlotBuilder(cls, names)(*values): an instance of a slotted class with every slot set, as
   object.__new__ and one object.__setattr__ per slot would (for frozen dataclasses built on the
   hot path, whose generated __init__ costs several times more). */
#define MAX_BUILDER_SLOTS 32
typedef struct {
    PyObject_HEAD PyTypeObject *type;
    Py_ssize_t count;
    Py_ssize_t offsets[MAX_BUILDER_SLOTS];
} BuilderObject;

static void builder_dealloc(BuilderObject *self) {
    Py_XDECREF(self->type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int builder_init(BuilderObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *cls, *names;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &names)) return -1;
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    if (count > MAX_BUILDER_SLOTS) {
        PyErr_SetString(PyExc_TypeError, "too many slots");
        return -1;
    }
    if (find_slots((PyTypeObject *)cls, names, count, self->offsets) != 0) return -1;
    Py_XSETREF(self->type, (PyTypeObject *)Py_NewRef(cls));
    self->count = count;
    return 0;
}

static PyObject *builder_call(BuilderObject *self, PyObject *args, PyObject *kwargs) {
    if (self->type == NULL || (kwargs && PyDict_GET_SIZE(kwargs)) ||
        PyTuple_GET_SIZE(args) != self->count) {
        PyErr_Format(PyExc_TypeError, "SlotBuilder takes exactly %zd positional values",
                     self->count);
        return NULL;
    }
    PyObject *obj = self->type->tp_alloc(self->type, 0);
    if (obj == NULL) return NULL;
    for (Py_ssize_t i = 0; i < self->count; i++)
        *(PyObject **)((char *)obj + self->offsets[i]) = Py_NewRef(PyTuple_GET_ITEM(args, i));
    return obj;
}

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hush.shh._envelope.SlotBuilder",
    .tp_basicsize = sizeof(BuilderObject),
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_call = (ternaryfunc)builder_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SlotBuilder(cls, slot_names): calls build cls instances from positional values.",
    .tp_init = (initproc)builder_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(cls, slot_names) -> None\n\nThe class decode builds, and its nine slots in order."},
    {"decode", decode, METH_O,
     "decode(raw) -> Envelope | None\n\n"
     "One well-formed envelope spanning all of raw, with its hash, PoW digest's leading zero "
     "bits and short-RLP size filled in; None where the Python decoder must judge."},
    {"decode_run", (PyCFunction)(void (*)(void))decode_run, METH_FASTCALL,
     "decode_run(payload, pos, stop, limit) -> ([Envelope, ...], pos)\n\n"
     "The list items from pos up to stop (a list's payload), at most limit of them, decoded as "
     "by decode; stops early before an item that decode or a plain list header declines."},
    {"check_run", (PyCFunction)(void (*)(void))check_run, METH_FASTCALL,
     "check_run(payload, pos, stop, limit) -> (count, pos)\n\n"
     "How many list items from pos (at most limit) decode would accept, checked without "
     "hashing, and where they end."},
    {"bind_entry", bind_entry, METH_VARARGS,
     "bind_entry(cls, ('pow', 'hash', 'knowers', 'source', '_bucket', 'raw', '_home'), "
     "bucket_cls, ('rank',)) -> None\n\n"
     "The pool's entry class and those of its slots, and its buckets' class and rank slot."},
    {"mark_known_by", (PyCFunction)(void (*)(void))mark_known_by, METH_FASTCALL,
     "mark_known_by(known, pooled, entries, usage, rank_bytes, cost, pinned) -> int\n\n"
     "EnvelopePool.mark_known_by's loop over one batch; how many entries were new to known."},
    {"copies_run", (PyCFunction)(void (*)(void))copies_run, METH_FASTCALL,
     "copies_run(payload, pos, stop, limit, entries, now, max_size, min_pow, bloom)\n"
     "    -> ([entry, ...], pos, Envelope | None)\n\n"
     "Plain copies of pooled envelopes from pos, each judged on its hash and its entry; stops "
     "after the first that is not one (decoded in full) or before an item decode declines."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_envelope", NULL, -1, methods};

PyMODINIT_FUNC PyInit__envelope(void) {
    if (PyType_Ready(&BuilderType) < 0 || PyType_Ready(&IndexType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "SlotBuilder", (PyObject *)&BuilderType) < 0 ||
        PyModule_AddObjectRef(m, "CopyIndex", (PyObject *)&IndexType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
