/*
 * Whisper's symmetric open (whisper-v6.md §2.5) on OpenSSL's AES-256-GCM with one cipher
 * context per key: the key schedule is set up once, each open only sets the 12-byte nonce.
 * A wrong key (the normal case in gossip: every filter on a topic tries its key) returns None
 * without an exception. hush.crypto.symmetric uses it when it was built (needs libcrypto's
 * headers) and the `cryptography` package's AESGCM otherwise; tests/crypto/test_gcm_c.py holds
 * both to the same results.
 *
 * Data = ciphertext || tag (16) || nonce (12), no associated data. The GIL is held throughout,
 * so one context is never used by two threads at once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>

#define KEY_LENGTH 32
#define TAG_LENGTH 16
#define NONCE_LENGTH 12

typedef struct {
    PyObject_HEAD EVP_CIPHER_CTX *ctx;
} KeyObject;

static void key_dealloc(KeyObject *self) {
    if (self->ctx) EVP_CIPHER_CTX_free(self->ctx); /* frees and cleanses the key schedule */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int key_init(KeyObject *self, PyObject *args, PyObject *kwargs) {
    Py_buffer secret;
    if (!PyArg_ParseTuple(args, "y*", &secret)) return -1;
    int ok = secret.len == KEY_LENGTH;
    if (!ok) PyErr_SetString(PyExc_ValueError, "AES-256-GCM key must be 32 bytes");
    if (ok && self->ctx == NULL) {
        self->ctx = EVP_CIPHER_CTX_new();
        if (self->ctx == NULL) {
            PyErr_NoMemory();
            ok = 0;
        }
    }
    if (ok && EVP_DecryptInit_ex(self->ctx, EVP_aes_256_gcm(), NULL, secret.buf, NULL) != 1) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL refused the AES-256-GCM key");
        ok = 0;
    }
    PyBuffer_Release(&secret);
    return ok ? 0 : -1;
}

static PyObject *key_open(KeyObject *self, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "open takes bytes");
        return NULL;
    }
    if (self->ctx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "key not initialised");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(arg);
    if (size < TAG_LENGTH + NONCE_LENGTH) Py_RETURN_NONE;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t length = size - TAG_LENGTH - NONCE_LENGTH;
    if (length > INT_MAX) Py_RETURN_NONE; /* OpenSSL takes int lengths; far above any message */
    PyObject *plain = PyBytes_FromStringAndSize(NULL, length);
    if (plain == NULL) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(plain);
    int written = 0, ok = EVP_DecryptInit_ex(self->ctx, NULL, NULL, NULL, data + size - NONCE_LENGTH);
    if (ok == 1 && length > 0) ok = EVP_DecryptUpdate(self->ctx, out, &written, data, (int)length);
    if (ok == 1)
        ok = EVP_CIPHER_CTX_ctrl(self->ctx, EVP_CTRL_GCM_SET_TAG, TAG_LENGTH,
                                 (void *)(data + length));
    if (ok == 1) ok = EVP_DecryptFinal_ex(self->ctx, out + written, &written);
    if (ok != 1) { /* a wrong key or altered data: the tag does not verify */
        Py_DECREF(plain);
        Py_RETURN_NONE;
    }
    return plain;
}

static PyMethodDef key_methods[] = {
    {"open", (PyCFunction)key_open, METH_O,
     "open(data) -> bytes | None\n\nThe plaintext of data = ciphertext || tag || nonce, or None "
     "when the tag does not verify under this key (or data is shorter than tag + nonce)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KeyType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "hush.crypto._gcm.Key",
    .tp_basicsize = sizeof(KeyObject),
    .tp_dealloc = (destructor)key_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Key(secret: 32 bytes): AES-256-GCM opening with one OpenSSL context.",
    .tp_methods = key_methods,
    .tp_init = (initproc)key_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_gcm", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__gcm(void) {
    if (PyType_Ready(&KeyType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Key", (PyObject *)&KeyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
