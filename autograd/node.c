/* Recording graph nodes and freeing them (without recursion, however long the graph). */
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"

static _Atomic uint64_t next_sequence;

void nbi_node_retain(nbi_node *n)
{
    __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED);
}

/* A detached alias of output z: same data, no grad_fn, so the node that saves it does not
 * keep itself alive through it (a cycle). Backward with create_graph re-attaches it. */
static nb_tensor *alias_of(const nb_tensor *z)
{
    return nbi_tensor_view(z, z->rank, z->shape, z->strides, z->offset);
}

static void meta_of(const nb_tensor *t, nb_meta *m)
{
    m->dtype = t->dtype;
    m->rank = t->rank;
    memcpy(m->shape, t->shape, sizeof m->shape);
}

static void free_node(nbi_node *n);

static int popcount(unsigned v)
{
    return __builtin_popcount(v);
}

/* Which inputs op saves, of n_in (the save bits name the first 16 inputs only). */
static unsigned saved_inputs(const nb_op_def *op, int n_in)
{
    return op->saves & 0xffffu & (n_in >= 16 ? 0xffffu : (1u << n_in) - 1);
}

/* Lays the node's arrays out after its header in one zeroed block. */
static nbi_node *node_alloc(const nb_op_def *op, int n_in, int n_out)
{
    int n_saved = popcount(saved_inputs(op, n_in)) + popcount((op->saves >> 16) & ((1u << n_out) - 1));
    size_t attr_size = (op->attr_size + 15) / 16 * 16;
    size_t size = (sizeof(nbi_node) + 15) / 16 * 16 + attr_size + (size_t)n_in * (sizeof(nbi_edge) + sizeof(nb_meta))
                  + (size_t)n_out * (sizeof(nb_meta) + sizeof(nbi_hook *) + sizeof(nb_tensor *))
                  + (size_t)n_saved * sizeof(nbi_saved);
    char *block = nbi_object_alloc(size);
    if (!block)
        return NULL;
    nbi_node *n = (nbi_node *)block;
    char *p = block + (sizeof(nbi_node) + 15) / 16 * 16;
    n->attrs = op->attr_size ? p : NULL;
    p += attr_size;
    n->out_meta = (nb_meta *)p, p += (size_t)n_out * sizeof(nb_meta);
    n->in_meta = (nb_meta *)p, p += (size_t)n_in * sizeof(nb_meta);
    n->edges = (nbi_edge *)p, p += (size_t)n_in * sizeof(nbi_edge);
    n->saved = (nbi_saved *)p, p += (size_t)n_saved * sizeof(nbi_saved);
    n->out_hooks = (nbi_hook **)p, p += (size_t)n_out * sizeof(nbi_hook *);
    n->grads = (nb_tensor **)p;
    n->op = op;
    n->n_in = n_in;
    n->n_out = n_out;
    n->bytes = size;
    return n;
}

nb_status nbi_node_record(const nb_op_def *op, nb_tensor *const *x, int n_in, const void *attrs,
                          nb_tensor *const *z, int n_out)
{
    nbi_node *n = node_alloc(op, n_in, n_out);
    if (!n)
        return NB_ERR_MEMORY;
    n->sequence = next_sequence++;
    nbi_call_site(&n->file, &n->line);
    if (op->attr_size)
        memcpy(n->attrs, attrs, op->attr_size);
    for (int i = 0; i < n_in; i++) {
        meta_of(x[i], &n->in_meta[i]);
        if (!x[i]->requires_grad)
            continue;
        if (x[i]->grad_fn) {
            n->edges[i].node = x[i]->grad_fn;
            n->edges[i].index = x[i]->out_index;
            nbi_node_retain(x[i]->grad_fn);
        } else {
            n->edges[i].leaf = nb_retain(x[i]);
        }
    }
    for (int i = 0; i < n_in; i++) {
        if (i >= 16 || !(op->saves & NB_SAVE_INPUT(i)))
            continue;
        n->saved[n->n_saved++] = (nbi_saved){ nb_retain(x[i]), x[i]->storage->version, i, false };
    }
    for (int i = 0; i < n_out; i++) {
        meta_of(z[i], &n->out_meta[i]);
        if (!(op->saves & NB_SAVE_OUTPUT(i)))
            continue;
        nb_tensor *alias = alias_of(z[i]);
        if (!alias) {
            free_node(n);
            return NB_ERR_MEMORY;
        }
        n->saved[n->n_saved++] = (nbi_saved){ alias, z[i]->storage->version, i, true };
    }
    for (int i = 0; i < n_out; i++) {
        if (z[i]->dtype == NB_I64)
            continue;   /* integer outputs (indices) are never differentiable */
        z[i]->requires_grad = true;
        z[i]->grad_fn = n;
        z[i]->out_index = i;
        nbi_node_retain(n);
    }
    if (n->refcount == 0)   /* no differentiable output after all */
        free_node(n);
    return NB_OK;
}

void nbi_node_release_saved(nbi_node *n)
{
    for (int i = 0; i < n->n_saved; i++) {
        nb_release(n->saved[i].tensor);
        n->saved[i].tensor = NULL;
    }
    n->released = true;
}

static void free_node(nbi_node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        if (n->edges[i].node)
            nbi_node_release(n->edges[i].node);
        nb_release(n->edges[i].leaf);
    }
    for (int i = 0; i < n->n_saved; i++)
        nb_release(n->saved[i].tensor);
    for (int i = 0; i < n->n_out; i++) {
        nb_release(n->grads[i]);
        for (nbi_hook *h = n->out_hooks[i], *next; h; h = next) {
            next = h->next;
            nbi_free(h);
        }
    }
    nbi_object_free(n, n->bytes);   /* attrs and the arrays live in the same block */
}

/* Freeing a node releases the nodes before it, which may free them in turn: along an
 * unrolled RNN that is a chain as long as the sequence. Nodes whose count reaches zero while
 * another is being freed wait on this list instead of recursing. */
static _Thread_local struct {
    nbi_node **items;
    size_t count, capacity;
    bool draining;
} doomed;

void nbi_node_release(nbi_node *n)
{
    if (__atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (doomed.draining) {
        if (doomed.count == doomed.capacity) {
            size_t cap = doomed.capacity ? 2 * doomed.capacity : 256;
            nbi_node **items = nbi_realloc(doomed.items, cap * sizeof *items);
            if (!items) {   /* cannot defer: free now, recursing one level */
                free_node(n);
                return;
            }
            doomed.items = items;
            doomed.capacity = cap;
        }
        doomed.items[doomed.count++] = n;
        return;
    }
    doomed.draining = true;
    free_node(n);
    while (doomed.count > 0)
        free_node(doomed.items[--doomed.count]);
    doomed.draining = false;
    nbi_free(doomed.items);
    doomed.items = NULL;
    doomed.capacity = 0;
}
