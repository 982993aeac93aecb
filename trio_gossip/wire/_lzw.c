/*
 * LZW as Go's compress/lzw with LSB bit order and literal width 8: the C twin of lzw.py.
 *
 * Format facts (Go's compress/lzw, reader.go and writer.go): codes are packed least significant
 * bit first; 0-255 are literals, 256 is the clear code, 257 the end (EOF) code and 258 the first
 * code the table defines. Codes start 9 bits wide and widen by one bit whenever the next code to
 * define reaches 1 << width, up to 12 bits. Go's writer starts every stream with a clear code,
 * and clears again (back to 9 bits) when its next code would be 4095 (maxCode). Go's reader,
 * once the table holds 4096 codes, keeps reading 12-bit codes and defines no more.
 *
 * The module must agree with lzw.py byte for byte and error for error: lzw_compress gives the
 * same bytes, lzw_decompress the same bytes or the same DecodeError message. lzw.py reads codes
 * in chunks (see CHUNK) and reports an invalid code in a chunk before an output overflow in the
 * same chunk, so the decoder below works in the same chunks, even though it could check code by
 * code.
 *
 * The decoder takes bytes from the network: every code is checked against the table before it
 * is used, and the output never grows past max_size (the length of a chunk's output is known
 * before any of it is written).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define LITERALS 256u
#define CLEAR_CODE 256u
#define EOF_CODE 257u
#define FIRST_FREE 258u
#define MIN_WIDTH 9u
#define MAX_WIDTH 12u
#define TABLE_SIZE 4096u /* 1 << MAX_WIDTH */
#define WRITER_RESET_AT 4095u /* Go's writer.go clears when hi reaches maxCode */
#define CHUNK 256u /* codes per chunk; must equal lzw.py's _CHUNK (error order depends on it) */

/* The writer's hash table (open addressing, like writer.go's): 4 slots per possible code keeps
 * probe runs short. A slot holds key << 12 | code, where key = prefix code << 8 | next byte;
 * 0 means empty, which no real slot can be since defined codes are >= 258. */
#define HASH_SIZE (4u * TABLE_SIZE)
#define HASH_MASK (HASH_SIZE - 1u)

typedef struct {
    PyObject *decode_error; /* trio_gossip.wire.errors.DecodeError */
} module_state;

/* ---------------------------------------------------------------------------------------- */
/* Compression                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    unsigned char *out;
    Py_ssize_t len;
    uint64_t bits; /* pending bits, LSB first */
    unsigned nbits;
} bit_writer;

static inline void put_code(bit_writer *w, uint32_t code, unsigned width) {
    w->bits |= (uint64_t)code << w->nbits;
    w->nbits += width;
    /* Whole bytes go out at once, as writer.go's writeLSB does, so at most 7 bits wait. */
    while (w->nbits >= 8) {
        w->out[w->len++] = (unsigned char)w->bits;
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

static PyObject *lzw_compress(PyObject *module, PyObject *arg) {
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *src = view.buf;
    Py_ssize_t n = view.len;

    /* Every input byte ends at most one code (12 bits), and a clear code follows at most every
     * 3837 codes; add the leading clear, the last code, a closing clear and EOF: 1.5 bytes per
     * input byte plus a little always suffices. */
    if (n > (PY_SSIZE_T_MAX - 64) / 2) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t bound = n + n / 2 + n / 1024 + 16;
    PyObject *result = PyBytes_FromStringAndSize(NULL, bound);
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    uint32_t *hash = PyMem_Calloc(HASH_SIZE, sizeof(uint32_t));
    if (hash == NULL) {
        Py_DECREF(result);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }

    bit_writer w = {(unsigned char *)PyBytes_AS_STRING(result), 0, 0, 0};
    unsigned width = MIN_WIDTH;
    uint32_t hi = EOF_CODE;      /* the last code defined (writer.go's hi) */
    uint32_t overflow = 1u << MIN_WIDTH;

    put_code(&w, CLEAR_CODE, width); /* Go's writer opens every stream with a clear code */
    if (n > 0) {
        uint32_t code = src[0];
        for (Py_ssize_t i = 1; i < n; i++) {
            uint32_t key = code << 8 | src[i];
            uint32_t h = (key >> 12 ^ key) & HASH_MASK;
            int found = 0;
            for (uint32_t t = hash[h]; t != 0; t = hash[h]) {
                if (t >> 12 == key) {
                    code = t & (TABLE_SIZE - 1u);
                    found = 1;
                    break;
                }
                h = (h + 1u) & HASH_MASK;
            }
            if (found) {
                continue;
            }
            /* No code for the string plus this byte: send the string's code, and this byte
             * starts the next string. */
            put_code(&w, code, width);
            code = src[i];
            hi++;
            if (hi == overflow) {
                width++;
                overflow <<= 1;
            }
            if (hi == WRITER_RESET_AT) {
                put_code(&w, CLEAR_CODE, width);
                width = MIN_WIDTH;
                hi = EOF_CODE;
                overflow = 1u << MIN_WIDTH;
                memset(hash, 0, HASH_SIZE * sizeof(uint32_t));
                continue;
            }
            /* h is the empty slot that ended the probe: the new entry goes there. */
            hash[h] = key << 12 | hi;
        }
        /* Close (writer.go): the pending code, then one more step of hi, which may widen the
         * codes or clear the table before EOF is written. */
        put_code(&w, code, width);
        hi++;
        if (hi == overflow) {
            width++;
        }
        if (hi == WRITER_RESET_AT) {
            put_code(&w, CLEAR_CODE, width);
            width = MIN_WIDTH;
        }
    }
    put_code(&w, EOF_CODE, width);
    if (w.nbits > 0) {
        w.out[w.len++] = (unsigned char)w.bits;
    }
    PyMem_Free(hash);
    PyBuffer_Release(&view);
    if (w.len > bound) {
        /* Cannot happen (see bound); fail loudly rather than return a corrupt stream. */
        Py_DECREF(result);
        PyErr_SetString(PyExc_SystemError, "lzw_compress overran its output bound");
        return NULL;
    }
    if (_PyBytes_Resize(&result, w.len) < 0) {
        return NULL;
    }
    return result;
}

/* ---------------------------------------------------------------------------------------- */
/* Decompression                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* Every code after the first since a clear defines one entry: the previous code's expansion
 * plus the first byte of this code's expansion. In the output, those bytes are exactly the
 * previous code's expansion and the byte after it, so an entry is kept as (offset, length) into
 * the output rather than as a string or a prefix chain, and decoding a code is one copy. */
typedef struct {
    Py_ssize_t off[TABLE_SIZE];
    uint32_t len[TABLE_SIZE];
} decoder_table;

/* The code of `width` bits at bit `pos`; the caller guarantees pos + width <= 8 * n. */
static inline uint32_t get_code(const unsigned char *src, Py_ssize_t n, uint64_t pos,
                                unsigned width) {
    Py_ssize_t b = (Py_ssize_t)(pos >> 3);
    uint32_t v;
    if (b + 3 <= n) {
        v = (uint32_t)src[b] | (uint32_t)src[b + 1] << 8 | (uint32_t)src[b + 2] << 16;
    } else {
        /* Near the end: only the bytes that exist (the code itself lies within them). */
        v = src[b];
        if (b + 1 < n) {
            v |= (uint32_t)src[b + 1] << 8;
        }
    }
    return (v >> (pos & 7u)) & ((1u << width) - 1u);
}

static int grow(PyObject **out, Py_ssize_t *cap, Py_ssize_t need, Py_ssize_t limit) {
    /* Doubling, but never past the limit (the caller checked need <= limit). */
    Py_ssize_t new_cap = *cap > limit / 2 ? limit : *cap * 2;
    if (new_cap < need) {
        new_cap = need;
    }
    if (_PyBytes_Resize(out, new_cap) < 0) {
        return -1;
    }
    *cap = new_cap;
    return 0;
}

static PyObject *lzw_decompress(PyObject *module, PyObject *args) {
    module_state *state = PyModule_GetState(module);
    Py_buffer view;
    PyObject *max_obj;
    if (!PyArg_ParseTuple(args, "y*O:lzw_decompress", &view, &max_obj)) {
        return NULL;
    }
    PyObject *max_int = PyNumber_Index(max_obj);
    if (max_int == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    /* Limits beyond Py_ssize_t are as good as none; a negative one refuses even empty output,
     * as lzw.py's "size > max_size" does. The message shows the caller's number as given. */
    int over = 0;
    long long max_ll = PyLong_AsLongLongAndOverflow(max_int, &over);
    Py_DECREF(max_int);
    if (max_ll == -1 && PyErr_Occurred()) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int64_t max_size = over > 0 ? INT64_MAX : over < 0 ? INT64_MIN : (int64_t)max_ll;
    Py_ssize_t limit = max_size > (int64_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
                       : max_size < 0                      ? 0
                                                           : (Py_ssize_t)max_size;

    const unsigned char *src = view.buf;
    Py_ssize_t n = view.len;
    uint64_t total_bits = (uint64_t)n * 8u;

    decoder_table *table = PyMem_Malloc(sizeof(decoder_table));
    if (table == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    /* A first guess at the output size; LZW rarely expands more than 8 times here. */
    Py_ssize_t cap = n < (PY_SSIZE_T_MAX - 256) / 8 ? 8 * n + 256 : PY_SSIZE_T_MAX;
    if (cap > limit) {
        cap = limit;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL) {
        goto fail;
    }

    uint16_t codes[CHUNK];
    uint64_t pos = 0;           /* bit position of the next code */
    unsigned width = MIN_WIDTH;
    uint32_t hi = FIRST_FREE;   /* the next code to define (lzw.py's len(table)) */
    Py_ssize_t last_off = 0;    /* the previous code's expansion in the output... */
    uint32_t last_len = 0;      /* ...and its length; 0: no code since the last clear */
    Py_ssize_t size = 0;        /* output bytes so far */

    for (;;) {
        uint32_t want = CHUNK;
        if (hi < TABLE_SIZE) {
            /* Stop the chunk where the table reaches the next width (lzw.py does the same). */
            uint32_t room = (1u << width) - hi + (last_len == 0 ? 1u : 0u);
            if (room < want) {
                want = room;
            }
        }
        uint64_t avail = (total_bits - pos) / width;
        uint32_t count = avail < want ? (uint32_t)avail : want;
        if (count == 0) {
            PyErr_SetString(state->decode_error, "LZW stream ends without an EOF code");
            goto fail;
        }
        uint32_t stop = count;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t c = get_code(src, n, pos + (uint64_t)i * width, width);
            codes[i] = (uint16_t)c;
            if (c == CLEAR_CODE || c == EOF_CODE) {
                stop = i;
                break;
            }
        }

        /* Pass 1: check each code and define the table entries; learn the output length. */
        Py_ssize_t at = size; /* where the code being checked will be written */
        for (uint32_t i = 0; i < stop; i++) {
            uint32_t c = codes[i];
            uint32_t len;
            if (last_len == 0) {
                /* First code since a clear: nothing to refer to but literals. */
                if (c >= LITERALS) {
                    PyErr_Format(state->decode_error, "LZW code %u refers to an empty table",
                                 (unsigned)c);
                    goto fail;
                }
                len = 1;
            } else {
                if (c < LITERALS) {
                    len = 1;
                } else if (c < hi) {
                    len = table->len[c];
                } else if (c == hi && hi < TABLE_SIZE) {
                    /* The code being defined right now (KwKwK): the previous expansion plus its
                     * own first byte. */
                    len = last_len + 1u;
                } else {
                    PyErr_Format(state->decode_error,
                                 "invalid LZW code %u (next free code is %u)", (unsigned)c,
                                 (unsigned)hi);
                    goto fail;
                }
                if (hi < TABLE_SIZE) {
                    table->off[hi] = last_off;
                    table->len[hi] = last_len + 1u;
                    hi++;
                }
            }
            last_off = at;
            last_len = len;
            at += len; /* at most size + CHUNK * TABLE_SIZE: no overflow */
        }
        if ((int64_t)at > max_size) {
            PyObject *shown = PyObject_Str(max_obj);
            if (shown != NULL) {
                PyErr_Format(state->decode_error, "LZW output exceeds the limit of %U bytes",
                             shown);
                Py_DECREF(shown);
            }
            goto fail;
        }

        /* Pass 2: write the chunk. Every entry's bytes lie before the write position, except
         * a KwKwK entry's last byte, which is the first byte being written. */
        if (at > cap && grow(&out, &cap, at, limit) < 0) {
            goto fail;
        }
        unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(out);
        for (uint32_t i = 0; i < stop; i++) {
            uint32_t c = codes[i];
            if (c < LITERALS) {
                buf[size++] = (unsigned char)c;
                continue;
            }
            Py_ssize_t off = table->off[c];
            uint32_t len = table->len[c];
            if (off + (Py_ssize_t)len <= size) {
                memcpy(buf + size, buf + off, len);
            } else {
                memcpy(buf + size, buf + off, len - 1u);
                buf[size + len - 1u] = buf[off];
            }
            size += len;
        }

        pos += (uint64_t)stop * width;
        if (stop < count) {
            pos += width;
            if (codes[stop] == EOF_CODE) {
                break; /* bytes after EOF are ignored, as Go's reader does */
            }
            hi = FIRST_FREE; /* clear */
            width = MIN_WIDTH;
            last_len = 0;
        } else if (hi >= (1u << width) && width < MAX_WIDTH) {
            width++;
        }
    }

    PyMem_Free(table);
    PyBuffer_Release(&view);
    if (size != cap && _PyBytes_Resize(&out, size) < 0) {
        return NULL;
    }
    return out;

fail:
    Py_XDECREF(out);
    PyMem_Free(table);
    PyBuffer_Release(&view);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Module                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static PyMethodDef lzw_methods[] = {
    {"lzw_compress", lzw_compress, METH_O,
     "Compress like Go's lzw.NewWriter(w, lzw.LSB, 8): one Write of data, then Close."},
    {"lzw_decompress", lzw_decompress, METH_VARARGS,
     "Decompress like Go's lzw.NewReader(r, lzw.LSB, 8); DecodeError on any malformation or "
     "when the output would exceed max_size bytes."},
    {NULL, NULL, 0, NULL},
};

static int lzw_exec(PyObject *module) {
    module_state *state = PyModule_GetState(module);
    /* The same exception class lzw.py raises, so callers cannot tell the two apart. */
    PyObject *errors = PyImport_ImportModule("trio_gossip.wire.errors");
    if (errors == NULL) {
        return -1;
    }
    state->decode_error = PyObject_GetAttrString(errors, "DecodeError");
    Py_DECREF(errors);
    return state->decode_error == NULL ? -1 : 0;
}

static int lzw_traverse(PyObject *module, visitproc visit, void *arg) {
    module_state *state = PyModule_GetState(module);
    Py_VISIT(state->decode_error);
    return 0;
}

static int lzw_clear(PyObject *module) {
    module_state *state = PyModule_GetState(module);
    Py_CLEAR(state->decode_error);
    return 0;
}

static void lzw_free(void *module) { lzw_clear((PyObject *)module); }

static PyModuleDef_Slot lzw_slots[] = {
    {Py_mod_exec, lzw_exec},
    {0, NULL},
};

static struct PyModuleDef lzw_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "trio_gossip.wire._lzw",
    .m_doc = "Go's compress/lzw (LSB, literal width 8) in C; lzw.py is the reference.",
    .m_size = sizeof(module_state),
    .m_methods = lzw_methods,
    .m_slots = lzw_slots,
    .m_traverse = lzw_traverse,
    .m_clear = lzw_clear,
    .m_free = lzw_free,
};

PyMODINIT_FUNC PyInit__lzw(void) { return PyModuleDef_Init(&lzw_module); }
