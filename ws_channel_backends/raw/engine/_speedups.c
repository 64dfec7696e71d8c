/* The raw engine's optional accelerator: its two per-message fast paths, in C.
 *
 * Built only on request (WS_CHANNEL_SPEEDUPS=1 at install time, see setup.py); a plain install runs
 * the same paths in pure Python (engine.py), which stays the reference: these functions accept exactly
 * what the Python paths accept and leave everything else to them, so errors are always raised by the
 * Python code.
 *
 * - parse_whole: whole, unfragmented, uncompressed text/binary frames with a 7- or 16-bit length, one
 *   after the other, into message events (unmasked and UTF-8 checked in one pass per frame);
 * - frame_whole: one frame, header, masking key and (masked) payload in one new bytes object (one copy
 *   of the payload, masked on the way).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Text payloads up to this size are unmasked on the stack before decoding. */
#define STACK_TEXT 512

/* out[i] = in[i] ^ key[i % 4], eight bytes at a time: masking and unmasking are the same. */
static void
xor_mask(char *out, const char *in, Py_ssize_t length, const unsigned char *key)
{
    uint64_t pattern;
    unsigned char doubled[8];
    Py_ssize_t i = 0;

    memcpy(doubled, key, 4);
    memcpy(doubled + 4, key, 4);
    memcpy(&pattern, doubled, 8);
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= pattern;
        memcpy(out + i, &word, 8);
    }
    for (; i < length; i++) {
        out[i] = (char)(in[i] ^ key[i & 3]);
    }
}

/* The text of a payload, or NULL with no exception set when it is not valid UTF-8 (the Python path
 * then raises the protocol error). */
static PyObject *
decode_text(const char *data, Py_ssize_t length, const unsigned char *key)
{
    PyObject *text;
    char stack[STACK_TEXT];
    char *plain;

    if (key == NULL) {
        text = PyUnicode_DecodeUTF8(data, length, NULL);
    }
    else {
        plain = length <= STACK_TEXT ? stack : PyMem_Malloc((size_t)length);
        if (plain == NULL) {
            return PyErr_NoMemory();
        }
        xor_mask(plain, data, length, key);
        text = PyUnicode_DecodeUTF8(plain, length, NULL);
        if (plain != stack) {
            PyMem_Free(plain);
        }
    }
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
    }
    return text;
}

PyDoc_STRVAR(parse_whole_doc,
"parse_whole(buf, pos, masked, limit, events, text_event, binary_event) -> int\n\n"
"Append an event for every whole text/binary frame from buf[pos] on (FIN set, no RSV bit, 7- or\n"
"16-bit length below limit, masked when masked is true, else unmasked) and return the position of\n"
"the first byte not consumed: the end, an incomplete frame, any other frame, or a text frame that is\n"
"not UTF-8 (left to the Python path, which raises the error).");

static PyObject *
parse_whole(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, limit, size;
    int masked;
    PyObject *events, *text_event, *binary_event;
    const unsigned char *bytes;

    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "parse_whole takes 7 arguments");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    masked = PyObject_IsTrue(args[2]);
    if (masked < 0) {
        return NULL;
    }
    limit = PyLong_AsSsize_t(args[3]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    events = args[4];
    if (!PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "events must be a list");
        return NULL;
    }
    text_event = args[5];
    binary_event = args[6];
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    bytes = (const unsigned char *)view.buf;
    size = view.len;
    if (pos < 0 || pos > size) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return NULL;
    }
    while (pos + 2 <= size) {
        unsigned char first = bytes[pos], second = bytes[pos + 1];
        Py_ssize_t length = second & 0x7F, start = pos + 2, stop;
        const unsigned char *key = NULL;
        PyObject *payload, *event;

        if ((first != 0x81 && first != 0x82) || ((second & 0x80) != 0) != masked || length == 127) {
            break;
        }
        if (length == 126) {
            if (start + 2 > size) {
                break;
            }
            length = ((Py_ssize_t)bytes[start] << 8) | bytes[start + 1];
            start += 2;
        }
        if (masked) {
            key = bytes + start;
            start += 4;
        }
        stop = start + length;
        if (length >= limit || stop > size) {
            break;
        }
        if (first == 0x81) {
            payload = decode_text((const char *)bytes + start, length, key);
            if (payload == NULL) {
                if (PyErr_Occurred()) {
                    PyBuffer_Release(&view);
                    return NULL;
                }
                break;  /* not UTF-8: the Python path fails the connection (1007) */
            }
        }
        else {
            payload = PyBytes_FromStringAndSize(NULL, length);
            if (payload == NULL) {
                PyBuffer_Release(&view);
                return NULL;
            }
            if (key != NULL) {
                xor_mask(PyBytes_AS_STRING(payload), (const char *)bytes + start, length, key);
            }
            else {
                memcpy(PyBytes_AS_STRING(payload), bytes + start, (size_t)length);
            }
        }
        event = PyObject_CallOneArg(first == 0x81 ? text_event : binary_event, payload);
        Py_DECREF(payload);
        if (event == NULL || PyList_Append(events, event) < 0) {
            Py_XDECREF(event);
            PyBuffer_Release(&view);
            return NULL;
        }
        Py_DECREF(event);
        pos = stop;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
}

PyDoc_STRVAR(frame_whole_doc,
"frame_whole(first, data, key) -> bytes\n\n"
"One frame whose first header byte is first (FIN, RSV and opcode bits), with data as its payload\n"
"(the shortest length encoding), masked with the 4-byte key, or unmasked when key is None.");

static PyObject *
frame_whole(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key = {0};
    long first;
    Py_ssize_t length, header;
    PyObject *frame;
    unsigned char *out;
    int masked;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "frame_whole takes 3 arguments");
        return NULL;
    }
    first = PyLong_AsLong(args[0]);
    if (first == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (first < 0 || first > 0xFF) {
        PyErr_SetString(PyExc_ValueError, "first must be a byte");
        return NULL;
    }
    masked = args[2] != Py_None;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (masked) {
        if (PyObject_GetBuffer(args[2], &key, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&data);
            return NULL;
        }
        if (key.len != 4) {
            PyBuffer_Release(&key);
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes");
            return NULL;
        }
    }
    length = data.len;
    header = (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
    frame = PyBytes_FromStringAndSize(NULL, header + length);
    if (frame == NULL) {
        goto done;
    }
    out = (unsigned char *)PyBytes_AS_STRING(frame);
    out[0] = (unsigned char)first;
    if (length < 126) {
        out[1] = (unsigned char)length;
    }
    else if (length < 0x10000) {
        out[1] = 126;
        out[2] = (unsigned char)(length >> 8);
        out[3] = (unsigned char)(length & 0xFF);
    }
    else {
        uint64_t size = (uint64_t)length;
        int i;

        out[1] = 127;
        for (i = 0; i < 8; i++) {
            out[2 + i] = (unsigned char)(size >> (56 - 8 * i));
        }
    }
    if (masked) {
        out[1] |= 0x80;
        memcpy(out + header - 4, key.buf, 4);
        xor_mask((char *)out + header, data.buf, length, (const unsigned char *)key.buf);
    }
    else {
        memcpy(out + header, data.buf, (size_t)length);
    }
done:
    if (masked) {
        PyBuffer_Release(&key);
    }
    PyBuffer_Release(&data);
    return frame;
}

static PyMethodDef speedups_methods[] = {
    {"parse_whole", (PyCFunction)(void (*)(void))parse_whole, METH_FASTCALL, parse_whole_doc},
    {"frame_whole", (PyCFunction)(void (*)(void))frame_whole, METH_FASTCALL, frame_whole_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "ws_channel_backends.raw.engine._speedups",
    "The raw engine's optional accelerator (see engine.py for the paths it replaces).",
    0,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
