/* A prototype, not part of the exporter: option httplog behind the rfc3164 header a ring writes,
   read in C into the same rows as format.BatchMatcher.findall with the fields the log source
   keeps (frontend, backend, the five timers, status, termination state, retries), or None for
   a block with any line it does not read as HAProxy writes it (IPv4 client, no captured headers):
   the caller would then use re, which says why.  Built and checked by bench/logscan.py, only to
   measure what a compiled scanner would save (BENCHMARKS.md, issue 22). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static int isname(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '~' || c == '<' || c == '>' || c == '-';
}
static const char *digits(const char *p, const char *e) { while (p < e && *p >= '0' && *p <= '9') p++; return p; }
/* [+-]?\d{1,19}|- */
static const char *typed(const char *p, const char *e) {
    const char *s = p;
    if (p < e && (*p == '+' || *p == '-')) p++;
    const char *d = digits(p, e);
    if (d == p) return (s < e && *s == '-' && p == s + 1) ? p : NULL;
    if (d - p > 19) return NULL;
    return d;
}
static const char *untyped(const char *p, const char *e) {
    const char *s = p;
    if (p < e && (*p == '+' || *p == '-')) p++;
    const char *d = digits(p, e);
    if (d == p) return (s < e && *s == '-' && p == s + 1) ? p : NULL;
    return d;
}
#define LIT(ch) do { if (p >= e || *p != (ch)) return NULL; p++; } while (0)
static const char *nonspace_until(const char *p, const char *e, char stop) {
    while (p < e && *p != ' ' && *p != '\t' && *p != stop) p++; return p; }

static const char *line(const char *p, const char *e, PyObject **f) {
    const char *s;
    /* <\d{1,3}> */
    LIT('<'); s = p; p = digits(p, e); if (p == s || p - s > 3) return NULL; LIT('>');
    /* Mmm [ d]d hh:mm:ss */
    if (e - p < 16) return NULL;
    if (!(p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'a' && p[1] <= 'z' && p[2] >= 'a' && p[2] <= 'z' && p[3] == ' ')) return NULL;
    if (!(p[4] == ' ' || (p[4] >= '0' && p[4] <= '9'))) return NULL;
    if (!(p[5] >= '0' && p[5] <= '9' && p[6] == ' ')) return NULL;
    for (int k = 7; k < 15; k++) { if (k == 9 || k == 12) { if (p[k] != ':') return NULL; } else if (!(p[k] >= '0' && p[k] <= '9')) return NULL; }
    if (p[15] != ' ') return NULL;
    p += 16;
    /* host: \S+ then space */
    s = p; while (p < e && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\v' && *p != '\f') p++;
    if (p == s) return NULL; LIT(' ');
    /* tag [^\s\[:]* (\[\d+\])? ": " */
    while (p < e && *p != ' ' && *p != '[' && *p != ':' && *p != '\t') p++;
    if (p < e && *p == '[') { p++; s = p; p = digits(p, e); if (p == s) return NULL; LIT(']'); }
    LIT(':'); LIT(' ');
    /* ci:cp  -- canonical: ci has no ':' (IPv4) */
    s = p; while (p < e && *p != ':' && *p != ' ' && *p != '"' && *p != '\t') p++;
    if (p == s) return NULL; LIT(':');
    p = untyped(p, e); if (!p) return NULL; LIT(' ');
    /* [date] : \d+/\w+/\d+:\d+:\d+:\d+(\.\d+)? */
    LIT('['); s = p; p = digits(p, e); if (p == s) return NULL; LIT('/');
    s = p; while (p < e && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))) p++; if (p == s) return NULL; LIT('/');
    for (int k = 0; k < 4; k++) { s = p; p = digits(p, e); if (p == s) return NULL; if (k < 3) LIT(':'); }
    if (p < e && *p == '.') { p++; s = p; p = digits(p, e); if (p == s) return NULL; }
    LIT(']'); LIT(' ');
    /* ft be/srv */
    s = p; while (p < e && isname(*p)) p++; if (p == s) return NULL; f[0] = PyUnicode_FromStringAndSize(s, p - s); LIT(' ');
    s = p; while (p < e && isname(*p)) p++; if (p == s) return NULL; f[1] = PyUnicode_FromStringAndSize(s, p - s); LIT('/');
    s = p; while (p < e && isname(*p)) p++; if (p == s) return NULL; LIT(' ');
    for (int k = 0; k < 5; k++) { s = p; p = typed(p, e); if (!p) return NULL; f[2 + k] = PyUnicode_FromStringAndSize(s, p - s); LIT(k < 4 ? '/' : ' '); }
    s = p; p = typed(p, e); if (!p) return NULL; f[7] = PyUnicode_FromStringAndSize(s, p - s); LIT(' ');
    s = p; p = typed(p, e); if (!p) return NULL; LIT(' ');
    s = p; while (p < e && *p != ' ') p++; if (p == s) return NULL; LIT(' ');
    s = p; while (p < e && *p != ' ') p++; if (p == s) return NULL; LIT(' ');
    s = p; for (int k = 0; k < 4; k++) { if (p >= e || *p == ' ' || *p == '"' || *p == '\t') return NULL; p++; } f[8] = PyUnicode_FromStringAndSize(s, 4); LIT(' ');
    for (int k = 0; k < 4; k++) { p = untyped(p, e); if (!p) return NULL; LIT('/'); }
    s = p; p = typed(p, e); if (!p) return NULL; f[9] = PyUnicode_FromStringAndSize(s, p - s); LIT(' ');
    p = untyped(p, e); if (!p) return NULL; LIT('/'); p = untyped(p, e); if (!p) return NULL; LIT(' ');
    /* no captured headers in the canonical case; the quoted request */
    LIT('"');
    while (p < e && *p != '"') { if (*p == '\\') { p++; if (p >= e) return NULL; } p++; }
    LIT('"');
    return p == e ? p : NULL;
}

static PyObject *scan(PyObject *self, PyObject *arg) {
    Py_ssize_t n; const char *t = PyUnicode_AsUTF8AndSize(arg, &n);
    if (!t) return NULL;
    if (!PyUnicode_IS_ASCII(arg)) Py_RETURN_NONE;
    PyObject *out = PyList_New(0);
    const char *p = t, *end = t + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        if (!nl) break;
        PyObject *f[10] = {0};
        const char *r = line(p, nl, f);
        if (!r) { for (int k = 0; k < 10; k++) Py_XDECREF(f[k]); Py_DECREF(out); Py_RETURN_NONE; }
        PyObject *row = PyTuple_New(10);
        for (int k = 0; k < 10; k++) PyTuple_SET_ITEM(row, k, f[k]);
        PyList_Append(out, row); Py_DECREF(row);
        p = nl + 1;
    }
    return out;
}
static PyMethodDef M[] = {{"scan", scan, METH_O, ""}, {0}};
static struct PyModuleDef D = {PyModuleDef_HEAD_INIT, "httplog_scan", 0, -1, M};
PyMODINIT_FUNC PyInit_httplog_scan(void) { return PyModule_Create(&D); }
