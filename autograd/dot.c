/* nb_graph_dot: the recorded graph as Graphviz DOT, for pictures of what autograd sees. */
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"

typedef struct seen {
    const void **items;
    size_t count, capacity;
} seen;

static bool seen_add(seen *s, const void *p)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i] == p)
            return false;
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? 2 * s->capacity : 64;
        const void **items = nbi_realloc(s->items, cap * sizeof *items);
        if (!items)
            return false;
        s->items = items;
        s->capacity = cap;
    }
    s->items[s->count++] = p;
    return true;
}

/* Escapes a label for a double-quoted DOT string. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void write_node(FILE *f, const nbi_node *n)
{
    char shape[160], attrs[512] = "";
    if (n->op->format_attrs && n->attrs)
        n->op->format_attrs(n->attrs, attrs, sizeof attrs);
    fprintf(f, "  n%p [shape=box, style=filled, fillcolor=\"#dbe8f7\", label=\"", (const void *)n);
    put_escaped(f, n->op->name);
    if (attrs[0] && strcmp(attrs, "{}") != 0) {
        fputs("\\n", f);
        put_escaped(f, attrs);
    }
    for (int j = 0; j < n->n_out; j++)
        fprintf(f, "\\n-> %s %s", nb_shape_str(n->out_meta[j].rank, n->out_meta[j].shape, shape, sizeof shape),
                nb_dtype_name(n->out_meta[j].dtype));
    fprintf(f, "\"];\n");
}

static void write_leaf(FILE *f, const nb_tensor *t)
{
    char shape[160];
    fprintf(f, "  t%p [shape=ellipse, style=filled, fillcolor=\"%s\", label=\"leaf %s %s%s\"];\n", (const void *)t,
            t->requires_grad ? "#f7e3c1" : "#eeeeee", nb_shape_str(t->rank, t->shape, shape, sizeof shape),
            nb_dtype_name(t->dtype), t->requires_grad ? "\\nrequires_grad" : "");
}

NB_API nb_status nb_graph_dot(const nb_tensor *root, FILE *f)
{
    if (!root)
        return nbi_error_keep(NB_ERR_NULL, "nb_graph_dot: tensor is NULL");
    if (!f)
        return nbi_error(NB_ERR_NULL, "nb_graph_dot: file is NULL");
    fprintf(f, "digraph nabla {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    if (!root->grad_fn) {
        write_leaf(f, root);
        fprintf(f, "}\n");
        return NB_OK;
    }
    seen nodes = { 0 }, leaves = { 0 };
    const nbi_node **stack = NULL;
    size_t depth = 0, capacity = 0;
    nb_status st = NB_OK;
    seen_add(&nodes, root->grad_fn);
    const nbi_node *first = root->grad_fn;
    for (const nbi_node *n = first; n; n = depth ? stack[--depth] : NULL) {
        write_node(f, n);
        for (int i = 0; i < n->n_in; i++) {
            const nbi_edge *e = &n->edges[i];
            if (e->node) {
                fprintf(f, "  n%p -> n%p;\n", (const void *)e->node, (const void *)n);
                if (!seen_add(&nodes, e->node))
                    continue;
                if (depth == capacity) {
                    capacity = capacity ? 2 * capacity : 64;
                    const nbi_node **grown = nbi_realloc(stack, capacity * sizeof *stack);
                    if (!grown) {
                        st = NB_ERR_MEMORY;
                        goto done;
                    }
                    stack = grown;
                }
                stack[depth++] = e->node;
            } else if (e->leaf) {
                if (seen_add(&leaves, e->leaf))
                    write_leaf(f, e->leaf);
                fprintf(f, "  t%p -> n%p;\n", (const void *)e->leaf, (const void *)n);
            }
        }
    }
done:
    fprintf(f, "}\n");
    nbi_free(stack);
    nbi_free(nodes.items);
    nbi_free(leaves.items);
    return st;
}
