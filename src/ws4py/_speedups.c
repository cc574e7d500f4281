/*
 * ws4py._speedups -- the RFC 6455 masking hot path in C.
 *
 * RFC 6455 section 5.3: every byte of a client-to-server payload is XORed
 * with byte (i % 4) of a 4-byte masking key.  Every frame a client sends and
 * every frame a server receives goes through this, so it is worth doing in
 * C.  ws4py.masking wraps this module and falls back to a pure-Python twin
 * with the same behaviour when it is not built.
 *
 *   mask(data, key, offset=0) -> bytes
 *   mask_inplace(buf, key, offset=0) -> None
 *
 * `offset` is the key phase at which `data` starts (taken modulo 4, Python
 * semantics), so masking a payload chunk by chunk, passing the number of
 * bytes already masked, gives the same result as masking it whole.
 *
 * The loop XORs 8 bytes at a time against a 64-bit word holding the key
 * twice; loads and stores go through memcpy(), which compilers turn into
 * plain (unaligned-safe) moves and vectorize at -O3.  The GIL is released
 * for large buffers: they are held through Py_buffer for the duration, so
 * they cannot be resized or freed meanwhile.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Above this size the XOR runs without the GIL. */
#define RELEASE_GIL_THRESHOLD (64 * 1024)

#if defined(__GNUC__) || defined(__clang__)
#define WS4PY_RESTRICT __restrict__
#define WS4PY_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define WS4PY_RESTRICT __restrict
#define WS4PY_INLINE static __forceinline
#else
#define WS4PY_RESTRICT
#define WS4PY_INLINE static inline
#endif

/* ------------------------------------------------------------------------ */
/* The XOR kernel                                                           */
/* ------------------------------------------------------------------------ */

/*
 * dst[i] = src[i] ^ key[(phase + i) % 4] for i in [0, n).
 * dst and src are either identical (in place) or do not overlap.
 */
WS4PY_INLINE void
xor_kernel(unsigned char *dst, const unsigned char *src, size_t n,
           const unsigned char key[4], unsigned phase)
{
    size_t i = 0;

    /* Head: bring dst to an 8-byte boundary so the wide stores are aligned
       (and short inputs never reach the wide loops). */
    size_t head = (size_t)((8u - ((uintptr_t)dst & 7u)) & 7u);
    if (head > n) {
        head = n;
    }
    for (; i < head; i++) {
        dst[i] = (unsigned char)(src[i] ^ key[(phase + i) & 3u]);
    }
    if (i == n) {
        return;
    }

    /* The key rotated to the current phase, repeated twice: the byte order
       in memory is what matters, so build it bytewise (endian-neutral). */
    unsigned char kb[8];
    unsigned p = (unsigned)((phase + i) & 3u);
    for (unsigned j = 0; j < 8; j++) {
        kb[j] = key[(p + j) & 3u];
    }
    uint64_t k64;
    memcpy(&k64, kb, sizeof k64);

    /* Body: 32 bytes per iteration, 8 at a time. */
    for (; n - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= k64;
        b ^= k64;
        c ^= k64;
        d ^= k64;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; n - i >= 8; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= k64;
        memcpy(dst + i, &a, 8);
    }

    /* Tail: fewer than 8 bytes; i - head is a multiple of 8, so the phase
       relative to kb restarts at 0. */
    for (unsigned j = 0; i < n; i++, j++) {
        dst[i] = (unsigned char)(src[i] ^ kb[j]);
    }
}

/* Two instantiations so the compiler knows the aliasing in each case and
   vectorizes without runtime overlap checks. */
static void
xor_copy(unsigned char *WS4PY_RESTRICT dst,
         const unsigned char *WS4PY_RESTRICT src, size_t n,
         const unsigned char key[4], unsigned phase)
{
    xor_kernel(dst, src, n, key, phase);
}

static void
xor_inplace(unsigned char *buf, size_t n, const unsigned char key[4],
            unsigned phase)
{
    xor_kernel(buf, buf, n, key, phase);
}

/* ------------------------------------------------------------------------ */
/* Argument handling                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Parse (first, key, offset=0) from a METH_FASTCALL | METH_KEYWORDS call.
 * Borrowed references land in out[0..2]; out[2] may be NULL (not given).
 * Hand-written because the public PyArg_* parsers need a tuple/dict, which
 * costs more than the XOR for typical small frames.
 */
static int
parse_args(const char *fname, const char *first, PyObject *const *args,
           Py_ssize_t nargs, PyObject *kwnames, PyObject *out[3])
{
    const char *names[3] = {first, "key", "offset"};

    out[0] = out[1] = out[2] = NULL;
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     "%s() takes at most 3 positional arguments (%zd given)",
                     fname, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        out[i] = args[i];
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t j = 0; j < nkw; j++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, j);
            int k;
            for (k = 0; k < 3; k++) {
                if (PyUnicode_CompareWithASCIIString(kw, names[k]) == 0) {
                    break;
                }
            }
            if (k == 3) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got an unexpected keyword argument '%U'",
                             fname, kw);
                return -1;
            }
            if (out[k] != NULL) {
                PyErr_Format(PyExc_TypeError,
                             "%s() got multiple values for argument '%s'",
                             fname, names[k]);
                return -1;
            }
            out[k] = args[nargs + j];
        }
    }
    for (int k = 0; k < 2; k++) {
        if (out[k] == NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s() missing required argument '%s' (pos %d)",
                         fname, names[k], k + 1);
            return -1;
        }
    }
    return 0;
}

/* offset -> key phase in 0..3, i.e. operator.index(offset) % 4. */
static int
get_phase(PyObject *obj, unsigned *phase)
{
    if (obj == NULL) {
        *phase = 0;
        return 0;
    }
    PyObject *idx = PyNumber_Index(obj);
    if (idx == NULL) {
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        Py_DECREF(idx);
        return -1;
    }
    if (!overflow) {
        *phase = (unsigned)(((v % 4) + 4) % 4);
        Py_DECREF(idx);
        return 0;
    }
    /* Huge ints: Python's & on ints is infinite two's complement, so
       x & 3 == x % 4 also for negative x. */
    PyObject *three = PyLong_FromLong(3);
    if (three == NULL) {
        Py_DECREF(idx);
        return -1;
    }
    PyObject *r = PyNumber_And(idx, three);
    Py_DECREF(three);
    Py_DECREF(idx);
    if (r == NULL) {
        return -1;
    }
    long rv = PyLong_AsLong(r);
    Py_DECREF(r);
    if (rv == -1 && PyErr_Occurred()) {
        return -1;
    }
    *phase = (unsigned)rv;
    return 0;
}

/* Fill the 4 key bytes from a bytes-like object of length exactly 4. */
static int
get_key(PyObject *obj, unsigned char key[4])
{
    Py_buffer kv;
    if (PyObject_GetBuffer(obj, &kv, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (kv.len != 4) {
        PyErr_Format(PyExc_ValueError,
                     "mask key must be exactly 4 bytes, got %zd", kv.len);
        PyBuffer_Release(&kv);
        return -1;
    }
    memcpy(key, kv.buf, 4);
    PyBuffer_Release(&kv);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Module functions                                                         */
/* ------------------------------------------------------------------------ */

PyDoc_STRVAR(mask_doc,
"mask(data, key, offset=0) -> bytes\n"
"\n"
"Return data XORed with the repeating 4-byte key (RFC 6455 section 5.3).\n"
"data is any C-contiguous bytes-like object; offset is the key phase at\n"
"which data starts (taken modulo 4), for masking a payload in chunks.");

static PyObject *
speedups_mask(PyObject *Py_UNUSED(module), PyObject *const *args,
              Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[3];
    unsigned char key[4];
    unsigned phase;
    Py_buffer data;

    if (parse_args("mask", "data", args, nargs, kwnames, argv) < 0) {
        return NULL;
    }
    /* PyBUF_SIMPLE: C-contiguous bytes; non-contiguous views raise
       BufferError, non-buffers TypeError. */
    if (PyObject_GetBuffer(argv[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (get_key(argv[1], key) < 0 || get_phase(argv[2], &phase) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }

    PyObject *result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (data.len > 0) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *src = (const unsigned char *)data.buf;
        size_t n = (size_t)data.len;
        if (n > RELEASE_GIL_THRESHOLD) {
            Py_BEGIN_ALLOW_THREADS
            xor_copy(dst, src, n, key, phase);
            Py_END_ALLOW_THREADS
        }
        else {
            xor_copy(dst, src, n, key, phase);
        }
    }
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(mask_inplace_doc,
"mask_inplace(buf, key, offset=0) -> None\n"
"\n"
"XOR the writable, C-contiguous buffer buf in place with the repeating\n"
"4-byte key (RFC 6455 section 5.3), starting at key phase offset % 4.");

static PyObject *
speedups_mask_inplace(PyObject *Py_UNUSED(module), PyObject *const *args,
                      Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[3];
    unsigned char key[4];
    unsigned phase;
    Py_buffer buf;

    if (parse_args("mask_inplace", "buf", args, nargs, kwnames, argv) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(argv[0], &buf, PyBUF_WRITABLE) < 0) {
        /* Tell "read-only" (TypeError, like the pure twin) apart from
           "not a buffer" / "not contiguous", which keep their own error. */
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            Py_buffer probe;
            PyErr_Clear();
            if (PyObject_GetBuffer(argv[0], &probe, PyBUF_SIMPLE) == 0) {
                PyBuffer_Release(&probe);
                PyErr_Format(PyExc_TypeError,
                             "mask_inplace() argument 'buf' must be a "
                             "writable bytes-like object, not read-only %.100s",
                             Py_TYPE(argv[0])->tp_name);
            }
            /* else: the probe's own error stands (e.g. not C-contiguous). */
        }
        return NULL;
    }
    if (get_key(argv[1], key) < 0 || get_phase(argv[2], &phase) < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    if (buf.len > 0) {
        unsigned char *p = (unsigned char *)buf.buf;
        size_t n = (size_t)buf.len;
        if (n > RELEASE_GIL_THRESHOLD) {
            Py_BEGIN_ALLOW_THREADS
            xor_inplace(p, n, key, phase);
            Py_END_ALLOW_THREADS
        }
        else {
            xor_inplace(p, n, key, phase);
        }
    }
    PyBuffer_Release(&buf);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"mask", (PyCFunction)(void (*)(void))speedups_mask,
     METH_FASTCALL | METH_KEYWORDS, mask_doc},
    {"mask_inplace", (PyCFunction)(void (*)(void))speedups_mask_inplace,
     METH_FASTCALL | METH_KEYWORDS, mask_inplace_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------------ */
/* Module definition (multi-phase init; the module holds no state)          */
/* ------------------------------------------------------------------------ */

static PyModuleDef_Slot speedups_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(module_doc,
"C implementation of RFC 6455 payload masking; use ws4py.masking instead.");

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ws4py._speedups",
    .m_doc = module_doc,
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
