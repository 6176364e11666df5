/* The module base: instances of a class with named parameters, buffers and children,
 * their enumeration under PyTorch's dotted names, the training flag and the summary. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "nabla.h"
#include "nabla/nn.h"

typedef struct named_tensor {
    char *name;
    nb_tensor *tensor;
} named_tensor;

typedef struct named_module {
    char *name;
    nb_module *module;
} named_module;

struct nb_module {
    const nb_module_class *cls;
    void *state;
    named_tensor *params, *buffers;
    int n_params, n_buffers;
    named_module *children;
    int n_children;
    bool training;
};

/* ---------------------------------------------------------------- lifetime */

NB_API nb_module *nb_module_new(const nb_module_class *cls)
{
    if (!cls || !cls->name || !cls->forward) {
        nbi_error(NB_ERR_ARG, "nb_module_new: the class needs a name and a forward function");
        return NULL;
    }
    nb_module *m = nbi_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (cls->state_size && !(m->state = nbi_calloc(1, cls->state_size))) {
        nbi_free(m);
        return NULL;
    }
    m->cls = cls;
    m->training = true;
    return m;
}

NB_API void nb_module_free(nb_module *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++) {
        nbi_free(m->params[i].name);
        nb_release(m->params[i].tensor);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        nbi_free(m->buffers[i].name);
        nb_release(m->buffers[i].tensor);
    }
    for (int i = 0; i < m->n_children; i++) {
        nbi_free(m->children[i].name);
        nb_module_free(m->children[i].module);
    }
    if (m->state && m->cls->free_state)
        m->cls->free_state(m->state);
    nbi_free(m->params);
    nbi_free(m->buffers);
    nbi_free(m->children);
    nbi_free(m->state);
    nbi_free(m);
}

NB_API void *nb_module_state(const nb_module *m)
{
    return m ? m->state : NULL;
}

NB_API const nb_module_class *nb_module_class_of(const nb_module *m)
{
    return m ? m->cls : NULL;
}

/* ---------------------------------------------------------------- adding entries */

/* Names are local (no dots: dots join names into paths) and unique across a module's
 * parameters, buffers and children, as attribute names are in PyTorch. */
static nb_status check_name(const char *fn, const nb_module *m, const char *name)
{
    if (!m)
        return nbi_error_keep(NB_ERR_NULL, "%s: module is NULL", fn);
    if (!name || !name[0] || strchr(name, '.'))
        return nbi_error(NB_ERR_ARG, "%s: name \"%s\" must be non-empty and contain no '.'", fn, name ? name : "(null)");
    bool taken = false;
    for (int i = 0; i < m->n_params; i++)
        taken |= strcmp(m->params[i].name, name) == 0;
    for (int i = 0; i < m->n_buffers; i++)
        taken |= strcmp(m->buffers[i].name, name) == 0;
    for (int i = 0; i < m->n_children; i++)
        taken |= strcmp(m->children[i].name, name) == 0;
    if (taken)
        return nbi_error(NB_ERR_ARG, "%s: the %s module already has an entry named \"%s\"", fn, m->cls->name, name);
    return NB_OK;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = nbi_malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

/* Appends (name, item) to an array of entries of the given size, growing it by one. */
static nb_status append(void **array, int *count, size_t entry_size, const void *entry)
{
    char *grown = nbi_realloc(*array, ((size_t)*count + 1) * entry_size);
    if (!grown)
        return NB_ERR_MEMORY;
    memcpy(grown + (size_t)*count * entry_size, entry, entry_size);
    *array = grown;
    (*count)++;
    return NB_OK;
}

static nb_status add_tensor(const char *fn, nb_module *m, const char *name, nb_tensor *t, bool param)
{
    nb_status st = check_name(fn, m, name);
    if (st)
        return st;
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "%s: tensor \"%s\" is NULL", fn, name);
    if (param) {
        if (t->dtype == NB_I64)
            return nbi_error(NB_ERR_DTYPE, "%s: parameter \"%s\" is i64; parameters are f32 or f64", fn, name);
        if (t->grad_fn)
            return nbi_error(NB_ERR_AUTOGRAD, "%s: parameter \"%s\" was made by op '%s'; parameters are leaves "
                             "(pass nb_detach of it)", fn, name, t->grad_fn->op->name);
    }
    named_tensor e = { copy_string(name), t };
    if (!e.name)
        return NB_ERR_MEMORY;
    st = param ? append((void **)&m->params, &m->n_params, sizeof e, &e)
               : append((void **)&m->buffers, &m->n_buffers, sizeof e, &e);
    if (st) {
        nbi_free(e.name);
        return st;
    }
    nb_retain(t);
    if (param)
        t->requires_grad = true;
    return NB_OK;
}

NB_API nb_status nb_module_add_param(nb_module *m, const char *name, nb_tensor *t)
{
    return add_tensor("nb_module_add_param", m, name, t, true);
}

NB_API nb_status nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t)
{
    return add_tensor("nb_module_add_buffer", m, name, t, false);
}

NB_API nb_status nb_module_add_child_steal(nb_module *m, const char *name, nb_module *child)
{
    nb_status st = check_name("nb_module_add_child_steal", m, name);
    if (!st && !child)
        st = nbi_error_keep(NB_ERR_NULL, "nb_module_add_child_steal: child \"%s\" is NULL", name);
    if (!st && child == m)
        st = nbi_error(NB_ERR_ARG, "nb_module_add_child_steal: a module cannot be its own child");
    named_module e = { st ? NULL : copy_string(name), child };
    if (!st && !e.name)
        st = NB_ERR_MEMORY;
    if (!st)
        st = append((void **)&m->children, &m->n_children, sizeof e, &e);
    if (st) {
        nbi_free(e.name);
        nb_module_free(child);
        return st;
    }
    child->training = m->training;
    return NB_OK;
}

NB_API nb_tensor *nb_module_get_param(const nb_module *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].tensor;
    return NULL;
}

NB_API nb_tensor *nb_module_get_buffer(const nb_module *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_buffers; i++)
        if (strcmp(m->buffers[i].name, name) == 0)
            return m->buffers[i].tensor;
    return NULL;
}

NB_API nb_module *nb_module_get_child(const nb_module *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_children; i++)
        if (strcmp(m->children[i].name, name) == 0)
            return m->children[i].module;
    return NULL;
}

/* ---------------------------------------------------------------- walking the tree */

/* Visits the parameters (or buffers) of m's subtree in PyTorch's order: a module's own
 * entries first, then each child's subtree. visit returns true to stop. The full name of
 * each entry is built in path (prefix, then "child.", then the entry's name). */
typedef bool (*visit_fn)(nb_tensor *t, const char *path, void *user);

static bool walk(const nb_module *m, bool params, char *path, size_t size, size_t used, visit_fn visit, void *user)
{
    const named_tensor *entries = params ? m->params : m->buffers;
    int n = params ? m->n_params : m->n_buffers;
    for (int i = 0; i < n; i++) {
        snprintf(path + used, size - used, "%s", entries[i].name);
        if (visit(entries[i].tensor, path, user))
            return true;
    }
    for (int i = 0; i < m->n_children; i++) {
        int w = snprintf(path + used, size - used, "%s.", m->children[i].name);
        size_t next = used + (w > 0 ? (size_t)w : 0);
        if (next >= size)
            next = size - 1;
        if (walk(m->children[i].module, params, path, size, next, visit, user))
            return true;
    }
    return false;
}

typedef struct collect {
    nb_tensor **out;
    int capacity, count;
    int wanted;              /* index sought by *_at, or -1 */
    nb_tensor *found;
    char *name;
    size_t name_size;
    const char *sought;      /* full name sought by nb_module_find, or NULL */
    int64_t elements;
} collect;

static bool visit_collect(nb_tensor *t, const char *path, void *user)
{
    collect *c = user;
    if (c->count < c->capacity)
        c->out[c->count] = t;
    c->elements += t->numel;
    if (c->count == c->wanted || (c->sought && strcmp(c->sought, path) == 0)) {
        c->found = t;
        if (c->name && c->name_size)
            snprintf(c->name, c->name_size, "%s", path);
        return true;
    }
    c->count++;
    return false;
}

static collect run_walk(const nb_module *m, bool params, collect c)
{
    char path[512] = "";
    if (m)
        walk(m, params, path, sizeof path, 0, visit_collect, &c);
    return c;
}

NB_API int nb_module_parameters(const nb_module *m, nb_tensor **out, int capacity)
{
    return run_walk(m, true, (collect){ .out = out, .capacity = out ? capacity : 0, .wanted = -1 }).count;
}

NB_API nb_tensor *nb_module_parameter_at(const nb_module *m, int i, char *name, size_t size)
{
    if (i < 0)
        return NULL;
    return run_walk(m, true, (collect){ .wanted = i, .name = name, .name_size = size }).found;
}

NB_API int nb_module_buffer_count(const nb_module *m)
{
    return run_walk(m, false, (collect){ .wanted = -1 }).count;
}

NB_API nb_tensor *nb_module_buffer_at(const nb_module *m, int i, char *name, size_t size)
{
    if (i < 0)
        return NULL;
    return run_walk(m, false, (collect){ .wanted = i, .name = name, .name_size = size }).found;
}

NB_API nb_tensor *nb_module_find(const nb_module *m, const char *name)
{
    if (!m || !name) {
        nbi_error_keep(NB_ERR_NULL, "nb_module_find: %s is NULL", m ? "name" : "module");
        return NULL;
    }
    nb_tensor *t = run_walk(m, true, (collect){ .wanted = -1, .sought = name }).found;
    if (!t)
        t = run_walk(m, false, (collect){ .wanted = -1, .sought = name }).found;
    if (!t)
        nbi_error(NB_ERR_ARG, "nb_module_find: the %s module has no parameter or buffer named \"%s\"", m->cls->name,
                  name);
    return t;
}

NB_API int64_t nb_module_num_params(const nb_module *m)
{
    return run_walk(m, true, (collect){ .wanted = -1 }).elements;
}

NB_API void nb_module_zero_grad(nb_module *m)
{
    int n = nb_module_parameters(m, NULL, 0);
    for (int i = 0; i < n; i++)
        nb_zero_grad(nb_module_parameter_at(m, i, NULL, 0));
}

NB_API void nb_module_train(nb_module *m, bool training)
{
    if (!m)
        return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++)
        nb_module_train(m->children[i].module, training);
}

NB_API bool nb_module_is_training(const nb_module *m)
{
    return m && m->training;
}

/* ---------------------------------------------------------------- forward and summary */

/* While nb_module_summary runs, every forward call is noted here in call order. */
typedef struct summary_row {
    const nb_module *module;
    int depth;
    int rank;
    int64_t shape[NB_MAX_RANK];
} summary_row;

static _Thread_local struct {
    summary_row *rows;
    int count, capacity, depth;
    bool active;
} recorder;

NB_API nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x)
{
    if (!m || !x) {
        nbi_error_keep(NB_ERR_NULL, "nb_module_forward: %s is NULL", m ? "input" : "module");
        return NULL;
    }
    int row = -1;
    if (recorder.active && recorder.count < recorder.capacity) {
        row = recorder.count++;
        recorder.rows[row] = (summary_row){ .module = m, .depth = recorder.depth, .rank = -1 };
    }
    recorder.depth++;
    uint64_t errors_before = nbi_error_count();
    nb_tensor *y = m->cls->forward(m, x);
    recorder.depth--;
    if (!y && nbi_error_count() == errors_before)
        nbi_error(NB_ERR_ARG, "nb_module_forward: the %s module's forward returned NULL without an error", m->cls->name);
    if (y && row >= 0) {
        recorder.rows[row].rank = y->rank;
        memcpy(recorder.rows[row].shape, y->shape, sizeof y->shape);
    }
    return y;
}

/* The dotted path of target within root ("" for root itself); false when not found. */
static bool path_of(const nb_module *root, const nb_module *target, char *buf, size_t size, size_t used)
{
    if (root == target) {
        if (used > 0)
            buf[used - 1] = '\0';   /* drop the trailing dot */
        return true;
    }
    for (int i = 0; i < root->n_children; i++) {
        int w = snprintf(buf + used, size - used, "%s.", root->children[i].name);
        size_t next = used + (w > 0 ? (size_t)w : 0);
        if (next < size && path_of(root->children[i].module, target, buf, size, next))
            return true;
    }
    return false;
}

static void group_digits(int64_t v, char *buf, size_t size)
{
    char plain[32];
    int n = snprintf(plain, sizeof plain, "%lld", (long long)v), j = 0;
    for (int i = 0; i < n && (size_t)j + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = plain[i];
    }
    buf[j] = '\0';
}

NB_API nb_status nb_module_summary(nb_module *m, int rank, const int64_t *input_shape, FILE *f)
{
    if (!m || !f)
        return nbi_error_keep(NB_ERR_NULL, "nb_module_summary: %s is NULL", m ? "file" : "module");
    if (recorder.active)
        return nbi_error(NB_ERR_STATE, "nb_module_summary: called from inside a summary's forward pass");
    enum { MAX_ROWS = 4096 };
    recorder.rows = nbi_malloc(MAX_ROWS * sizeof *recorder.rows);
    if (!recorder.rows)
        return NB_ERR_MEMORY;
    recorder.capacity = MAX_ROWS;
    recorder.count = recorder.depth = 0;
    recorder.active = true;
    nb_scope *s = nb_scope_begin();
    nb_no_grad_begin();
    bool was_training = m->training;
    nb_module_train(m, false);   /* no dropout, no running-statistics updates */
    nb_tensor *y = nb_module_forward(m, nb_zeros(NB_F32, rank, input_shape));
    nb_module_train(m, was_training);
    nb_no_grad_end();
    recorder.active = false;
    nb_status st = y ? NB_OK : nb_error_code();
    if (!st) {
        char line[512], name[256], shape[160], count[32];
        fprintf(f, "%-40s %-20s %15s\n", "Layer (type)", "Output shape", "Param #");
        fprintf(f, "%.*s\n", 77, "=============================================================================");
        /* Row 0 is m itself: shown only when m is a single layer, not a container. */
        for (int i = recorder.count > 1 ? 1 : 0; i < recorder.count; i++) {
            const summary_row *r = &recorder.rows[i];
            const nb_module *mod = r->module;
            name[0] = '\0';
            if (!path_of(m, mod, name, sizeof name, 0))
                snprintf(name, sizeof name, "?");
            int64_t own = 0;
            for (int p = 0; p < mod->n_params; p++)
                own += mod->params[p].tensor->numel;
            group_digits(own, count, sizeof count);
            snprintf(line, sizeof line, "%*s%s (%s)", r->depth > 1 ? 2 * (r->depth - 1) : 0, "", name[0] ? name : "-",
                     mod->cls->name);
            fprintf(f, "%-40s %-20s %15s\n", line, r->rank >= 0 ? nb_shape_str(r->rank, r->shape, shape, sizeof shape) : "?",
                    count);
        }
        fprintf(f, "%.*s\n", 77, "=============================================================================");
        group_digits(nb_module_num_params(m), count, sizeof count);
        fprintf(f, "Total params: %s\n", count);
        fprintf(f, "Output shape: %s\n", nb_shape_str(y->rank, y->shape, shape, sizeof shape));
    }
    nb_scope_end(s);
    nbi_free(recorder.rows);
    recorder.rows = NULL;
    recorder.capacity = 0;
    return st;
}
