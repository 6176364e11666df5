/* The op registry and nb_apply: the one routine that runs every op (DESIGN §5). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "ops/registry.h"

/* ---------------------------------------------------------------- registry */

static const nb_op_def *const *const builtin_tables[] = {
    nbi_elementwise_ops, nbi_activation_ops, nbi_reduce_ops, nbi_linalg_ops, nbi_shape_ops,
    nbi_index_ops, nbi_join_ops, nbi_loss_ops, nbi_random_ops,
};

static struct {
    pthread_mutex_t lock;
    const nb_op_def **user_ops;
    int n_user, cap_user;
} registry = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int builtin_count(void)
{
    int n = 0;
    for (size_t t = 0; t < sizeof builtin_tables / sizeof *builtin_tables; t++)
        for (const nb_op_def *const *p = builtin_tables[t]; *p; p++)
            n++;
    return n;
}

NB_API int nb_op_count(void)
{
    pthread_mutex_lock(&registry.lock);
    int n = builtin_count() + registry.n_user;
    pthread_mutex_unlock(&registry.lock);
    return n;
}

NB_API const nb_op_def *nb_op_at(int i)
{
    if (i < 0)
        return NULL;
    for (size_t t = 0; t < sizeof builtin_tables / sizeof *builtin_tables; t++)
        for (const nb_op_def *const *p = builtin_tables[t]; *p; p++)
            if (i-- == 0)
                return *p;
    pthread_mutex_lock(&registry.lock);
    const nb_op_def *op = i < registry.n_user ? registry.user_ops[i] : NULL;
    pthread_mutex_unlock(&registry.lock);
    return op;
}

NB_API const nb_op_def *nb_op_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0, n = nb_op_count(); i < n; i++) {
        const nb_op_def *op = nb_op_at(i);
        if (op && strcmp(op->name, name) == 0)
            return op;
    }
    return NULL;
}

/* A definition nb_apply can run: the checks that would otherwise crash inside nb_apply.
 * fn is the public function that was given op, for the message. */
static nb_status check_def(const char *fn, const nb_op_def *op)
{
    const char *name = op->name ? op->name : "(unnamed)";
    int n_out = op->n_out ? op->n_out : 1;
    if (!op->name || !op->name[0])
        return nbi_error(NB_ERR_ARG, "%s: op has no name", fn);
    if (op->n_in < 0 || op->n_in > NB_MAX_INPUTS)
        return nbi_error(NB_ERR_ARG, "%s: op '%s' has %d inputs, expected 0 to %d%s",
                         fn, name, op->n_in, NB_MAX_INPUTS, op->flags & NB_OP_VARIADIC ? " (at least, for a variadic op)" : "");
    if (n_out < 1 || n_out > NB_MAX_OUTPUTS)
        return nbi_error(NB_ERR_ARG, "%s: op '%s' has %d outputs, expected 1 to %d",
                         fn, name, n_out, NB_MAX_OUTPUTS);
    if (!op->shape)
        return nbi_error(NB_ERR_ARG, "%s: op '%s' has no shape rule", fn, name);
    bool has_kernel = op->view != NULL;
    for (int d = 0; d < NB_DTYPE_COUNT; d++)
        has_kernel |= op->forward[d] != NULL;
    if (!has_kernel)
        return nbi_error(NB_ERR_ARG, "%s: op '%s' has neither a forward kernel nor a view rule", fn, name);
    if (op->view && (op->n_in < 1 || n_out != 1))
        return nbi_error(NB_ERR_ARG, "%s: view op '%s' needs an input and exactly one output", fn, name);
    return NB_OK;
}

/* nb_apply checks a definition the first time this thread runs it (ops need not be
 * registered to run); a small direct-mapped table remembers the ones that passed. */
static nb_status check_def_once(const nb_op_def *op)
{
    static _Thread_local const nb_op_def *passed[64];
    const nb_op_def **slot = &passed[((uintptr_t)op >> 4) % 64];
    if (*slot == op)
        return NB_OK;
    nb_status st = check_def("nb_apply", op);
    if (!st)
        *slot = op;
    return st;
}

NB_API nb_status nb_op_register(const nb_op_def *op)
{
    if (!op)
        return nbi_error_keep(NB_ERR_NULL, "nb_op_register: op is NULL");
    nb_status st = check_def("nb_op_register", op);
    if (st)
        return st;
    if (nb_op_find(op->name))
        return nbi_error(NB_ERR_ARG, "nb_op_register: an op named '%s' is already registered", op->name);
    pthread_mutex_lock(&registry.lock);
    if (registry.n_user == registry.cap_user) {
        int cap = registry.cap_user ? 2 * registry.cap_user : 16;
        const nb_op_def **ops = nbi_realloc(registry.user_ops, (size_t)cap * sizeof *ops);
        if (!ops) {
            pthread_mutex_unlock(&registry.lock);
            return NB_ERR_MEMORY;
        }
        registry.user_ops = ops;
        registry.cap_user = cap;
    }
    registry.user_ops[registry.n_user++] = op;
    pthread_mutex_unlock(&registry.lock);
    return NB_OK;
}

/* ---------------------------------------------------------------- errors and shared rules */

NB_API nb_status nb_op_error(const nb_op_def *op, nb_status code, const char *fmt, ...)
{
    char message[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return nbi_error(code, "nb_%s: %s", op && op->name ? op->name : "op", message);
}

const char *nbi_shape_of(const nb_tensor *t, char *buf)
{
    return nb_shape_str(t->rank, t->shape, buf, NBI_SHAPE_STR);
}

nb_status nbi_check_float(const nb_op_def *op, nb_tensor *const *x, int i)
{
    if (x[i]->dtype == NB_F32 || x[i]->dtype == NB_F64)
        return NB_OK;
    return nb_op_error(op, NB_ERR_DTYPE, "input %d has dtype %s, expected f32 or f64", i,
                       nb_dtype_name(x[i]->dtype));
}

nb_status nbi_check_same_dtype(const nb_op_def *op, nb_tensor *const *x, int n)
{
    for (int i = 1; i < n; i++)
        if (x[i]->dtype != x[0]->dtype)
            return nb_op_error(op, NB_ERR_DTYPE,
                               "dtypes differ: input 0 is %s, input %d is %s (convert one with nb_cast)",
                               nb_dtype_name(x[0]->dtype), i, nb_dtype_name(x[i]->dtype));
    return NB_OK;
}

nb_status nbi_rule_broadcast(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = nbi_check_same_dtype(op, x, op->n_in);
    if (!st)
        st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    z->dtype = x[0]->dtype;
    z->rank = x[0]->rank;
    memcpy(z->shape, x[0]->shape, sizeof z->shape);
    for (int i = 1; i < op->n_in; i++) {
        int bad;
        int64_t shape[NB_MAX_RANK];
        if (!nbi_broadcast_shapes(z->rank, z->shape, x[i]->rank, x[i]->shape, &z->rank, shape, &bad)) {
            char a[NBI_SHAPE_STR], b[NBI_SHAPE_STR];
            return nb_op_error(op, NB_ERR_SHAPE,
                               "cannot broadcast %s with %s: sizes at axis %d differ and neither is 1",
                               nb_shape_str(z->rank, z->shape, a, sizeof a), nbi_shape_of(x[i], b), bad);
        }
        memcpy(z->shape, shape, sizeof shape);
    }
    return NB_OK;
}

nb_status nbi_rule_unary(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    nb_status st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    z->dtype = x[0]->dtype;
    z->rank = x[0]->rank;
    memcpy(z->shape, x[0]->shape, sizeof z->shape);
    return NB_OK;
}

bool nbi_axes_mask(const char *fn, const nb_tensor *x, const int *axes, int n_axes, unsigned *mask)
{
    char buf[NBI_SHAPE_STR];
    *mask = 0;
    if (!axes && n_axes == 0) {
        *mask = (1u << x->rank) - 1;
        return true;
    }
    if (n_axes < 0 || (!axes && n_axes > 0)) {
        nbi_error(NB_ERR_ARG, "%s: %d axes given with %s axis list", fn, n_axes, axes ? "an" : "a NULL");
        return false;
    }
    for (int i = 0; i < n_axes; i++) {
        int a;
        if (!nbi_axis(axes[i], x->rank, &a)) {
            nbi_error(NB_ERR_ARG, "%s: axis %d is out of range for shape %s (rank %d)", fn, axes[i],
                      nbi_shape_of(x, buf), x->rank);
            return false;
        }
        if (*mask & (1u << a)) {
            nbi_error(NB_ERR_ARG, "%s: axis %d appears twice in the axis list", fn, axes[i]);
            return false;
        }
        *mask |= 1u << a;
    }
    return true;
}

int nbi_format_axes(unsigned mask, char *buf, size_t size)
{
    int used = snprintf(buf, size, "[");
    bool first = true;
    for (int a = 0; a < NB_MAX_RANK; a++) {
        if (!(mask & (1u << a)))
            continue;
        used += snprintf(buf + used, size > (size_t)used ? size - (size_t)used : 0, "%s%d", first ? "" : ", ", a);
        first = false;
    }
    used += snprintf(buf + used, size > (size_t)used ? size - (size_t)used : 0, "]");
    return used;
}

/* ---------------------------------------------------------------- nb_apply */

static int output_count(const nb_op_def *op)
{
    return op->n_out ? op->n_out : 1;
}

static void release_all(nb_tensor **z, int n)
{
    for (int i = 0; i < n; i++) {
        nb_release(z[i]);
        z[i] = NULL;
    }
}

/* Makes the outputs: views for view ops, else fresh tensors filled by the kernel. */
static nb_status compute(const nb_op_def *op, nb_tensor *const *x, const void *attrs,
                         const nb_meta *meta, nb_tensor **z, int n_out)
{
    int64_t strides[NB_MAX_RANK], offset = op->n_in ? x[0]->offset : 0;
    if (op->view && op->view(x, attrs, &meta[0], strides, &offset)) {
        z[0] = nbi_tensor_view(x[0], meta[0].rank, meta[0].shape, strides, offset);
        return z[0] ? NB_OK : NB_ERR_MEMORY;
    }
    nb_dtype kernel_dtype = op->n_in ? x[0]->dtype : meta[0].dtype;
    nb_kernel kernel = op->forward[kernel_dtype];
    if (!kernel && op->view)
        return nb_op_error(op, NB_ERR_ARG, "the result cannot be a view of the input and the op has no copying kernel");
    if (!kernel) {
        char supported[64] = "";
        for (int d = 0; d < NB_DTYPE_COUNT; d++)
            if (op->forward[d])
                snprintf(supported + strlen(supported), sizeof supported - strlen(supported), "%s%s",
                         supported[0] ? ", " : "", nb_dtype_name((nb_dtype)d));
        return nb_op_error(op, NB_ERR_DTYPE, "dtype %s is not supported (supported: %s)",
                           nb_dtype_name(kernel_dtype), supported);
    }
    for (int i = 0; i < n_out; i++) {
        z[i] = nbi_tensor_alloc(meta[i].dtype, meta[i].rank, meta[i].shape);
        if (!z[i])
            return NB_ERR_MEMORY;
    }
    return kernel(x, z, attrs);
}

/* What a shape rule (perhaps a user's) gave for output i must describe a tensor. */
static nb_status check_meta(const nb_op_def *op, const nb_meta *m, int i)
{
    if ((unsigned)m->dtype >= NB_DTYPE_COUNT)
        return nb_op_error(op, NB_ERR_ARG, "the shape rule gave output %d the invalid dtype %d", i, (int)m->dtype);
    if (m->rank < 0 || m->rank > NB_MAX_RANK)
        return nb_op_error(op, NB_ERR_ARG, "the shape rule gave output %d rank %d, expected 0 to %d", i, m->rank,
                           NB_MAX_RANK);
    if (!nbi_valid_sizes(m->rank, m->shape)) {
        char buf[NBI_SHAPE_STR];
        return nb_op_error(op, NB_ERR_ARG, "the shape rule gave output %d shape %s: sizes must be at least 0 "
                           "and their product at most 2^58", i, nb_shape_str(m->rank, m->shape, buf, sizeof buf));
    }
    return NB_OK;
}

static nb_status check_anomaly(const nb_op_def *op, nb_tensor *const *z, int n_out)
{
    for (int i = 0; i < n_out; i++) {
        if (!nbi_has_nonfinite(z[i]))
            continue;
        const char *file;
        int line;
        nbi_call_site(&file, &line);
        return nb_op_error(op, NB_ERR_NUMERIC, "anomaly mode: output %d contains NaN or Inf (op called at %s:%d)",
                           i, file ? file : "unknown file", line);
    }
    return NB_OK;
}

/* The common part of nb_apply_multi and nb_apply_variadic: n_in inputs, NULL-terminated
 * for variadic ops. */
static nb_status apply(const nb_op_def *op, nb_tensor *const *inputs, int n_in, const void *attrs,
                       nb_tensor **outputs)
{
    nb_status st;
    int n_out = output_count(op);
    if (op->attr_size && !attrs)
        return nbi_error(NB_ERR_NULL, "nb_%s: attributes are NULL", op->name);

    uint64_t errors_before = nbi_error_count();
    nb_meta meta[NB_MAX_OUTPUTS];
    memset(meta, 0, (size_t)n_out * sizeof *meta);
    st = op->shape(op, inputs, attrs, meta);
    for (int i = 0; i < n_out && !st; i++)
        st = check_meta(op, &meta[i], i);
    if (!st)
        st = compute(op, inputs, attrs, meta, outputs, n_out);
    if (!st && nbi_anomaly_enabled())
        st = check_anomaly(op, outputs, n_out);
    if (!st && op->backward && nbi_grad_enabled()) {
        bool needs_grad = false;
        for (int i = 0; i < n_in; i++)
            needs_grad |= inputs[i]->requires_grad;
        if (needs_grad)
            st = nbi_node_record(op, inputs, n_in, attrs, outputs, n_out);
    }
    if (st) {
        if (nbi_error_count() == errors_before)   /* a rule or kernel failed without saying why */
            nb_op_error(op, st, "failed (status %d) without a message", (int)st);
        release_all(outputs, n_out);
        return st;
    }
    for (int i = 0; i < n_out; i++) {
        if (nbi_scope_add(outputs[i]))
            continue;
        /* outputs before i already belong to the scope; i was released by nbi_scope_add */
        release_all(outputs + i + 1, n_out - i - 1);
        for (int j = 0; j <= i; j++)
            outputs[j] = NULL;
        return NB_ERR_MEMORY;
    }
    return NB_OK;
}

/* Checks what the two entry points share: op, outputs, and that no input is NULL. */
static nb_status check_call(const nb_op_def *op, nb_tensor *const *inputs, int n_in, nb_tensor **outputs)
{
    if (!op)
        return nbi_error_keep(NB_ERR_NULL, "nb_apply: op is NULL");
    nb_status st = check_def_once(op);
    if (st)
        return st;
    if (!outputs)
        return nbi_error(NB_ERR_NULL, "nb_%s: outputs array is NULL", op->name);
    for (int i = 0; i < output_count(op); i++)
        outputs[i] = NULL;
    if (n_in > 0 && !inputs)
        return nbi_error(NB_ERR_NULL, "nb_%s: inputs array is NULL", op->name);
    for (int i = 0; i < n_in; i++)
        if (!inputs[i])
            return nbi_error_keep(NB_ERR_NULL, "nb_%s: input %d is NULL", op->name, i);
    return NB_OK;
}

NB_API nb_status nb_apply_multi(const nb_op_def *op, nb_tensor *const *inputs, const void *attrs,
                                nb_tensor **outputs)
{
    if (op && (op->flags & NB_OP_VARIADIC))
        return nbi_error(NB_ERR_ARG, "nb_%s: the op takes a variable number of inputs; use nb_apply_variadic",
                         op->name);
    nb_status st = check_call(op, inputs, op ? op->n_in : 0, outputs);
    return st ? st : apply(op, inputs, op->n_in, attrs, outputs);
}

NB_API nb_status nb_apply_variadic(const nb_op_def *op, nb_tensor *const *inputs, int n_inputs,
                                   const void *attrs, nb_tensor **outputs)
{
    bool variadic = op && (op->flags & NB_OP_VARIADIC);
    if (op && !variadic && n_inputs != op->n_in)
        return nbi_error(NB_ERR_ARG, "nb_%s: given %d inputs, the op takes %d", op->name, n_inputs, op->n_in);
    if (op && variadic && (n_inputs < op->n_in || n_inputs > NB_MAX_VARIADIC_INPUTS))
        return nbi_error(NB_ERR_ARG, "nb_%s: given %d inputs, the op takes %d to %d", op->name, n_inputs, op->n_in,
                         NB_MAX_VARIADIC_INPUTS);
    nb_status st = check_call(op, inputs, n_inputs, outputs);
    if (st || !variadic)
        return st ? st : apply(op, inputs, n_inputs, attrs, outputs);
    /* Rules and kernels of variadic ops find the end of the inputs at a NULL. */
    nb_tensor *small[17], **terminated = n_inputs < 17 ? small : nbi_malloc(((size_t)n_inputs + 1) * sizeof *terminated);
    if (!terminated)
        return NB_ERR_MEMORY;
    memcpy(terminated, inputs, (size_t)n_inputs * sizeof *terminated);
    terminated[n_inputs] = NULL;
    st = apply(op, terminated, n_inputs, attrs, outputs);
    if (terminated != small)
        nbi_free(terminated);
    return st;
}

NB_API nb_tensor *nb_apply(const nb_op_def *op, nb_tensor *const *inputs, const void *attrs)
{
    nb_tensor *z[NB_MAX_OUTPUTS];
    if (op && output_count(op) != 1) {
        nbi_error(NB_ERR_ARG, "nb_apply: op '%s' has %d outputs; use nb_apply_multi", op->name, output_count(op));
        return NULL;
    }
    return nb_apply_multi(op, inputs, attrs, z) ? NULL : z[0];
}
