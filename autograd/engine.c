/* The backward engine: runs recorded nodes in reverse topological order (iteratively, so a
 * graph of any depth fits the stack), sums the gradients that meet at a tensor, delivers
 * them to leaves or to nb_grad's caller, and frees saved tensors when done. */
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "nabla.h"

struct nb_backward_ctx {
    nbi_node *node;
    bool create_graph;
    bool failed;
    nb_tensor **grad_in;                    /* [node->n_in]: grad_in_small, or the heap */
    nb_tensor *grad_in_small[NB_MAX_INPUTS];
};

typedef struct node_list {
    nbi_node **items;
    size_t count, capacity;
} node_list;

/* The gradient gathered for one leaf during a run; delivered once, complete, at its end. */
typedef struct leaf_grad {
    nb_tensor *leaf, *grad;
} leaf_grad;

typedef struct run {
    uint64_t id;
    bool create_graph, retain_graph;
    const char *fn;                    /* "nb_backward" or "nb_grad", for messages */
    /* nb_grad: gradients are captured for these inputs instead of accumulated into .grad */
    nb_tensor *const *inputs;
    int n_inputs;
    nb_tensor **captured;
    node_list visited, ready;
    leaf_grad *leaves;
    size_t n_leaves, cap_leaves;
} run;

static _Atomic uint64_t run_counter;

static bool list_push(node_list *l, nbi_node *n)
{
    if (l->count == l->capacity) {
        size_t cap = l->capacity ? 2 * l->capacity : 64;
        nbi_node **items = nbi_realloc(l->items, cap * sizeof *items);
        if (!items)
            return false;
        l->items = items;
        l->capacity = cap;
    }
    l->items[l->count++] = n;
    return true;
}

static const char *site(const nbi_node *n, char *buf, size_t size)
{
    if (n->file)
        snprintf(buf, size, " (called at %s:%d)", n->file, n->line);
    else
        buf[0] = '\0';
    return buf;
}

/* Sums g into *slot, which holds a reference of its own. */
static nb_status accumulate(nb_tensor **slot, nb_tensor *g)
{
    if (!*slot) {
        *slot = nb_retain(g);
        return NB_OK;
    }
    nb_tensor *sum = nb_add(*slot, g);
    if (!sum)
        return nb_error_code();
    nb_release(*slot);
    *slot = nb_retain(sum);
    return NB_OK;
}

static nb_tensor *run_hooks(const run *r, const nbi_hook *h, nb_tensor *g)
{
    for (; h && g; h = h->next) {
        nb_tensor *replaced = h->fn(g, h->user);
        if (!replaced)
            continue;
        if (!nbi_same_shape_t(replaced, g)) {
            char a[160], b[160];
            nbi_error(NB_ERR_SHAPE, "%s: a gradient hook returned shape %s for a gradient of shape %s", r->fn,
                      nb_shape_str(replaced->rank, replaced->shape, a, sizeof a),
                      nb_shape_str(g->rank, g->shape, b, sizeof b));
            return NULL;
        }
        g = replaced;
    }
    return g;
}

/* Adds g to what the leaf has received in this run. */
static nb_status gather_for_leaf(run *r, nb_tensor *leaf, nb_tensor *g)
{
    for (size_t i = 0; i < r->n_leaves; i++)
        if (r->leaves[i].leaf == leaf)
            return accumulate(&r->leaves[i].grad, g);
    if (r->n_leaves == r->cap_leaves) {
        size_t cap = r->cap_leaves ? 2 * r->cap_leaves : 16;
        leaf_grad *grown = nbi_realloc(r->leaves, cap * sizeof *grown);
        if (!grown)
            return NB_ERR_MEMORY;
        r->leaves = grown;
        r->cap_leaves = cap;
    }
    r->leaves[r->n_leaves++] = (leaf_grad){ leaf, nb_retain(g) };
    return NB_OK;
}

/* The leaf's complete gradient: through its hooks, then into nb_grad's result or .grad. */
static nb_status deliver_to_leaf(run *r, nb_tensor *leaf, nb_tensor *g)
{
    int captured = -1;
    for (int k = 0; k < r->n_inputs; k++)
        if (r->inputs[k] == leaf)
            captured = k;
    if (r->inputs && captured < 0)
        return NB_OK;   /* nb_grad leaves other leaves' .grad alone */
    g = run_hooks(r, leaf->hooks, g);
    if (!g)
        return nb_error_code();
    if (captured >= 0)
        return accumulate(&r->captured[captured], g);
    if (leaf->grad) {
        if (!nbi_same_shape_t(leaf->grad, leaf) || leaf->grad->dtype != leaf->dtype)
            return nbi_error(NB_ERR_AUTOGRAD, "%s: the .grad of a leaf no longer matches its shape or dtype", r->fn);
        return accumulate(&leaf->grad, g);
    }
    /* A fresh copy: g may be the caller's tensor or shared with another gradient. */
    nb_tensor *own = r->create_graph ? g : nb_clone(g);
    if (!own)
        return nb_error_code();
    leaf->grad = nb_retain(own);
    return NB_OK;
}

static nb_status collect(run *r, nbi_node *root)
{
    if (root->visit == r->id)
        return NB_OK;
    node_list stack = { 0 };
    root->visit = r->id;
    root->pending = 0;
    bool ok = list_push(&r->visited, root) && list_push(&stack, root);
    while (ok && stack.count > 0) {
        nbi_node *n = stack.items[--stack.count];
        for (int i = 0; i < n->n_in && ok; i++) {
            nbi_node *m = n->edges[i].node;
            if (!m)
                continue;
            if (m->visit != r->id) {
                m->visit = r->id;
                m->pending = 0;
                ok = list_push(&r->visited, m) && list_push(&stack, m);
            }
            m->pending++;
        }
    }
    nbi_free(stack.items);
    return ok ? NB_OK : NB_ERR_MEMORY;
}

static nb_status check_saved(run *r, const nbi_node *n)
{
    char where[300];
    if (n->released && n->n_saved > 0)
        return nbi_error(NB_ERR_AUTOGRAD,
                         "%s: the graph through op '%s'%s was freed by an earlier backward; pass "
                         "retain_graph to the first backward to run backward through it twice",
                         r->fn, n->op->name, site(n, where, sizeof where));
    for (int i = 0; i < n->n_saved; i++) {
        const nbi_saved *s = &n->saved[i];
        if (s->tensor->storage->version != s->version)
            return nbi_error(NB_ERR_AUTOGRAD,
                             "%s: %s %d of op '%s'%s was modified in place after the op saved it for "
                             "backward (version %llu, saved at %llu)", r->fn, s->is_output ? "output" : "input",
                             s->slot, n->op->name, site(n, where, sizeof where),
                             (unsigned long long)s->tensor->storage->version, (unsigned long long)s->version);
    }
    return NB_OK;
}

static nb_status run_node(run *r, nbi_node *n)
{
    char where[300];
    nb_status st = NB_OK;
    nb_backward_ctx c = { .node = n, .create_graph = r->create_graph };
    c.grad_in = n->n_in <= NB_MAX_INPUTS ? c.grad_in_small : nbi_calloc((size_t)n->n_in, sizeof *c.grad_in);
    nb_scope *scope = c.grad_in ? nb_scope_begin() : NULL;
    if (!scope) {
        if (c.grad_in != c.grad_in_small)
            nbi_free(c.grad_in);
        return NB_ERR_MEMORY;
    }

    bool any = false;
    for (int j = 0; j < n->n_out && !st; j++) {
        if (!n->grads[j])
            continue;
        nb_tensor *g = run_hooks(r, n->out_hooks[j], n->grads[j]);
        if (!g) {
            st = nb_error_code();
            break;
        }
        if (g != n->grads[j]) {
            nb_release(n->grads[j]);
            n->grads[j] = nb_retain(g);
        }
        any = true;
        for (int k = 0; k < r->n_inputs; k++)
            if (r->inputs[k]->grad_fn == n && r->inputs[k]->out_index == j)
                st = accumulate(&r->captured[k], g);
    }
    if (!st && any)
        st = check_saved(r, n);
    if (!st && any) {
        uint64_t errors_before = nbi_error_count();
        nb_set_call_site(n->file, n->line);   /* ops recorded by a create_graph backward */
        n->op->backward(&c);
        if (c.failed || nbi_error_count() != errors_before) {
            char reason[600];
            snprintf(reason, sizeof reason, "%s", nb_error());
            st = nbi_error(nb_error_code() ? nb_error_code() : NB_ERR_AUTOGRAD,
                           "%s: in the backward of op '%s'%s: %s", r->fn, n->op->name,
                           site(n, where, sizeof where), reason);
        }
    }
    for (int i = 0; i < n->n_in && !st; i++) {
        nb_tensor *g = c.grad_in[i];
        if (!g)
            continue;
        if (nbi_anomaly_enabled() && nbi_has_nonfinite(g)) {
            st = nbi_error(NB_ERR_NUMERIC, "%s: anomaly mode: the backward of op '%s'%s produced NaN or Inf "
                           "in the gradient of input %d", r->fn, n->op->name, site(n, where, sizeof where), i);
            break;
        }
        if (n->edges[i].node)
            st = accumulate(&n->edges[i].node->grads[n->edges[i].index], g);
        else if (n->edges[i].leaf)
            st = gather_for_leaf(r, n->edges[i].leaf, g);
    }
    for (int i = 0; i < n->n_in; i++)
        nb_release(c.grad_in[i]);
    if (c.grad_in != c.grad_in_small)
        nbi_free(c.grad_in);
    for (int i = 0; i < n->n_in && !st; i++) {
        nbi_node *m = n->edges[i].node;
        if (m && --m->pending == 0 && !list_push(&r->ready, m))
            st = NB_ERR_MEMORY;
    }
    if (!st && !r->retain_graph)
        nbi_node_release_saved(n);
    for (int j = 0; j < n->n_out; j++) {
        nb_release(n->grads[j]);
        n->grads[j] = NULL;
    }
    nb_scope_end(scope);
    return st;
}

static nb_status seed(run *r, nb_tensor *root, nb_tensor *grad)
{
    char a[160], b[160];
    if (!root->requires_grad)
        return nbi_error(NB_ERR_AUTOGRAD,
                         "%s: the output does not require grad: no input of the ops that made it "
                         "requires grad (mark leaves with nb_requires_grad)", r->fn);
    if (!grad) {
        if (root->numel != 1)
            return nbi_error(NB_ERR_SHAPE, "%s: output has shape %s; give a gradient of that shape "
                             "(only one-element outputs have an implicit gradient of 1)", r->fn,
                             nb_shape_str(root->rank, root->shape, a, sizeof a));
        grad = nb_ones_like(root);
        if (!grad)
            return nb_error_code();
    } else if (!nbi_same_shape_t(grad, root) || grad->dtype != root->dtype) {
        return nbi_error(NB_ERR_SHAPE, "%s: gradient %s %s does not match output %s %s", r->fn,
                         nb_shape_str(grad->rank, grad->shape, a, sizeof a), nb_dtype_name(grad->dtype),
                         nb_shape_str(root->rank, root->shape, b, sizeof b), nb_dtype_name(root->dtype));
    }
    if (!root->grad_fn)   /* the output is itself a leaf */
        return gather_for_leaf(r, root, grad);
    nb_status st = collect(r, root->grad_fn);
    return st ? st : accumulate(&root->grad_fn->grads[root->out_index], grad);
}

static nb_status run_backward(run *r, nb_tensor *const *roots, nb_tensor *const *grads, int n_roots)
{
    for (int k = 0; k < n_roots; k++)
        if (!roots[k])
            return nbi_error_keep(NB_ERR_NULL, "%s: output %d is NULL", r->fn, k);
    r->id = ++run_counter;
    bool old_mode = nbi_set_grad_enabled(r->create_graph);
    nb_scope *scope = nb_scope_begin();
    nb_status st = scope ? NB_OK : NB_ERR_MEMORY;
    for (int k = 0; k < n_roots && !st; k++)
        st = seed(r, roots[k], grads ? grads[k] : NULL);
    for (size_t i = 0; i < r->visited.count && !st; i++)
        if (r->visited.items[i]->pending == 0 && !list_push(&r->ready, r->visited.items[i]))
            st = NB_ERR_MEMORY;
    while (!st && r->ready.count > 0)
        st = run_node(r, r->ready.items[--r->ready.count]);
    for (size_t i = 0; i < r->n_leaves; i++) {
        if (!st)
            st = deliver_to_leaf(r, r->leaves[i].leaf, r->leaves[i].grad);
        nb_release(r->leaves[i].grad);
    }
    nbi_free(r->leaves);
    /* After a failure, nodes that did not run still hold gradients. */
    for (size_t i = 0; i < r->visited.count; i++) {
        nbi_node *n = r->visited.items[i];
        for (int j = 0; j < n->n_out; j++) {
            nb_release(n->grads[j]);
            n->grads[j] = NULL;
        }
    }
    nbi_free(r->visited.items);
    nbi_free(r->ready.items);
    if (scope)
        nb_scope_end(scope);
    nbi_set_grad_enabled(old_mode);
    return st;
}

NB_API nb_status nb_backward_ex(nb_tensor *root, nb_tensor *grad, const nb_backward_opts *opts)
{
    nb_backward_opts o = opts ? *opts : (nb_backward_opts){ 0 };
    run r = { .fn = "nb_backward", .create_graph = o.create_graph,
              .retain_graph = o.retain_graph || o.create_graph };
    return run_backward(&r, &root, grad ? &grad : NULL, 1);
}

NB_API nb_status nb_backward(nb_tensor *root, nb_tensor *grad)
{
    return nb_backward_ex(root, grad, NULL);
}

NB_API nb_status nb_grad(nb_tensor *const *outputs, nb_tensor *const *grad_outputs, int n_outputs,
                         nb_tensor *const *inputs, int n_inputs, nb_tensor **grads,
                         const nb_backward_opts *opts)
{
    if (!outputs || !inputs || !grads || n_outputs < 1 || n_inputs < 1)
        return nbi_error(NB_ERR_ARG, "nb_grad: needs outputs, inputs and a grads array (%d outputs, %d inputs)",
                         n_outputs, n_inputs);
    for (int k = 0; k < n_inputs; k++) {
        grads[k] = NULL;
        if (!inputs[k])
            return nbi_error_keep(NB_ERR_NULL, "nb_grad: input %d is NULL", k);
        if (!inputs[k]->requires_grad)
            return nbi_error(NB_ERR_AUTOGRAD, "nb_grad: input %d does not require grad", k);
    }
    nb_tensor **captured = nbi_calloc((size_t)n_inputs, sizeof *captured);
    if (!captured)
        return NB_ERR_MEMORY;
    nb_backward_opts o = opts ? *opts : (nb_backward_opts){ 0 };
    run r = { .fn = "nb_grad", .create_graph = o.create_graph, .retain_graph = o.retain_graph || o.create_graph,
              .inputs = inputs, .n_inputs = n_inputs, .captured = captured };
    nb_status st = run_backward(&r, outputs, grad_outputs, n_outputs);
    for (int k = 0; k < n_inputs; k++) {
        if (!st)
            grads[k] = captured[k] ? nbi_scope_add(captured[k]) : nb_zeros_like(inputs[k]);
        else
            nb_release(captured[k]);
        if (!st && !grads[k])
            st = nb_error_code();
    }
    nbi_free(captured);
    return st;
}

/* ---------------------------------------------------------------- the rule's view of a node */

static nb_tensor *saved(nb_backward_ctx *c, int i, bool output)
{
    nbi_node *n = c->node;
    for (int k = 0; k < n->n_saved; k++) {
        const nbi_saved *s = &n->saved[k];
        if (s->slot != i || s->is_output != output)
            continue;
        if (!output || !c->create_graph)
            return s->tensor;
        /* Re-attach the output to this node so that the gradient's graph sees through it. */
        nb_tensor *z = nbi_tensor_view(s->tensor, s->tensor->rank, s->tensor->shape, s->tensor->strides,
                                       s->tensor->offset);
        if (!z)
            break;
        z->requires_grad = true;
        z->grad_fn = n;
        z->out_index = i;
        nbi_node_retain(n);
        return nbi_scope_add(z);
    }
    c->failed = true;
    nbi_error(NB_ERR_AUTOGRAD, "op '%s' reads %s %d in backward but does not save it (add %s(%d) to .saves)",
              n->op->name, output ? "output" : "input", i, output ? "NB_SAVE_OUTPUT" : "NB_SAVE_INPUT", i);
    return NULL;
}

NB_API nb_tensor *nb_saved_input(nb_backward_ctx *c, int i)
{
    return saved(c, i, false);
}

NB_API nb_tensor *nb_saved_output(nb_backward_ctx *c, int i)
{
    return saved(c, i, true);
}

NB_API const void *nb_attrs(nb_backward_ctx *c)
{
    return c->node->attrs;
}

NB_API const nb_meta *nb_input_meta(nb_backward_ctx *c, int i)
{
    return i >= 0 && i < c->node->n_in ? &c->node->in_meta[i] : NULL;
}

NB_API nb_tensor *nb_grad_out(nb_backward_ctx *c, int i)
{
    nbi_node *n = c->node;
    if (i < 0 || i >= n->n_out) {
        c->failed = true;
        nbi_error(NB_ERR_ARG, "op '%s' has %d outputs; no gradient for output %d", n->op->name, n->n_out, i);
        return NULL;
    }
    if (n->grads[i])
        return n->grads[i];
    const nb_meta *m = &n->out_meta[i];
    return nb_zeros(m->dtype, m->rank, m->shape);
}

NB_API bool nb_needs_grad(nb_backward_ctx *c, int i)
{
    return i >= 0 && i < c->node->n_in && (c->node->edges[i].node || c->node->edges[i].leaf);
}

NB_API void nb_set_grad_in(nb_backward_ctx *c, int i, nb_tensor *g)
{
    nbi_node *n = c->node;
    char a[160], b[160];
    if (!g) {
        c->failed = true;
        return;
    }
    if (i < 0 || i >= n->n_in) {
        c->failed = true;
        nbi_error(NB_ERR_ARG, "op '%s' has %d inputs; cannot set the gradient of input %d", n->op->name, n->n_in, i);
        return;
    }
    const nb_meta *m = &n->in_meta[i];
    if (g->dtype != m->dtype) {
        c->failed = true;
        nbi_error(NB_ERR_DTYPE, "op '%s' gave a %s gradient for its %s input %d", n->op->name,
                  nb_dtype_name(g->dtype), nb_dtype_name(m->dtype), i);
        return;
    }
    if (!nbi_same_shape(g->rank, g->shape, m->rank, m->shape)) {
        nb_tensor *summed = nb_sum_to(g, m->rank, m->shape);
        if (!summed) {
            c->failed = true;
            nbi_error(NB_ERR_SHAPE, "op '%s' gave a gradient of shape %s for input %d of shape %s",
                      n->op->name, nb_shape_str(g->rank, g->shape, a, sizeof a), i,
                      nb_shape_str(m->rank, m->shape, b, sizeof b));
            return;
        }
        g = summed;
    }
    nb_release(c->grad_in[i]);
    c->grad_in[i] = nb_retain(g);
}
