/* nb_graph_dot: the recorded graph as Graphviz DOT, for pictures of what autograd sees.
 * Node names are numbered in visiting order (not addresses), so the same program writes
 * the same file on every run. */
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"

/* Pointers seen so far, numbered in the order they were first met. */
typedef struct numbering {
    const void **items;
    size_t count, capacity;
} numbering;

/* The number of p, adding it when new (*added tells which); -1 when out of memory. */
static long number_of(numbering *s, const void *p, bool *added)
{
    *added = false;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i] == p)
            return (long)i;
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? 2 * s->capacity : 64;
        const void **items = nbi_realloc(s->items, cap * sizeof *items);
        if (!items)
            return -1;
        s->items = items;
        s->capacity = cap;
    }
    s->items[s->count] = p;
    *added = true;
    return (long)s->count++;
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

static void write_node(FILE *f, long id, const nbi_node *n)
{
    char shape[160], attrs[512] = "";
    if (n->op->format_attrs && n->attrs)
        n->op->format_attrs(n->attrs, attrs, sizeof attrs);
    fprintf(f, "  n%ld [shape=box, style=filled, fillcolor=\"#dbe8f7\", label=\"", id);
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

static void write_leaf(FILE *f, long id, const nb_tensor *t)
{
    char shape[160];
    fprintf(f, "  t%ld [shape=ellipse, style=filled, fillcolor=\"#f7e3c1\", label=\"leaf %s %s\\nrequires_grad\"];\n",
            id, nb_shape_str(t->rank, t->shape, shape, sizeof shape), nb_dtype_name(t->dtype));
}

/* An input that needs no gradient (data, targets, constants): drawn once per use, in grey. */
static void write_constant(FILE *f, long node, int input, const nb_meta *m)
{
    char shape[160];
    fprintf(f, "  c%ld_%d [shape=ellipse, style=filled, fillcolor=\"#eeeeee\", label=\"%s %s\"];\n", node, input,
            nb_shape_str(m->rank, m->shape, shape, sizeof shape), nb_dtype_name(m->dtype));
    fprintf(f, "  c%ld_%d -> n%ld;\n", node, input, node);
}

NB_API nb_status nb_graph_dot(const nb_tensor *root, FILE *f)
{
    if (!root)
        return nbi_error_keep(NB_ERR_NULL, "nb_graph_dot: tensor is NULL");
    if (!f)
        return nbi_error(NB_ERR_NULL, "nb_graph_dot: file is NULL");
    fprintf(f, "digraph nabla {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    if (!root->grad_fn) {
        if (root->requires_grad)
            write_leaf(f, 0, root);
        else {
            nb_meta m = { root->dtype, root->rank, { 0 } };
            memcpy(m.shape, root->shape, sizeof m.shape);
            write_constant(f, 0, 0, &m);
        }
        fprintf(f, "}\n");
        return NB_OK;
    }
    numbering nodes = { 0 }, leaves = { 0 };
    bool added;
    nb_status st = NB_OK;
    number_of(&nodes, root->grad_fn, &added);
    /* nodes.items doubles as the work list: each node is written once, in numbering order. */
    for (size_t next = 0; next < nodes.count && !st; next++) {
        const nbi_node *n = nodes.items[next];
        long id = (long)next;
        write_node(f, id, n);
        for (int i = 0; i < n->n_in; i++) {
            const nbi_edge *e = &n->edges[i];
            long from;
            if (e->node) {
                if ((from = number_of(&nodes, e->node, &added)) < 0)
                    st = NB_ERR_MEMORY;
                else
                    fprintf(f, "  n%ld -> n%ld;\n", from, id);
            } else if (e->leaf) {
                if ((from = number_of(&leaves, e->leaf, &added)) < 0) {
                    st = NB_ERR_MEMORY;
                } else {
                    if (added)
                        write_leaf(f, from, e->leaf);
                    fprintf(f, "  t%ld -> n%ld;\n", from, id);
                }
            } else {
                write_constant(f, id, i, &n->in_meta[i]);
            }
        }
    }
    fprintf(f, "}\n");
    nbi_free(nodes.items);
    nbi_free(leaves.items);
    return st;
}
