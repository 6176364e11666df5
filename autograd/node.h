/* Graph nodes (internal): what an op records so that backward can run it in reverse. */
#ifndef NABLA_AUTOGRAD_NODE_H
#define NABLA_AUTOGRAD_NODE_H

#include "core/tensor_impl.h"
#include "nabla/op_def.h"

/* Where an input's gradient goes: the node that made the input (and which of its outputs),
 * or, for a leaf that requires grad, the leaf itself. Inputs that need no gradient have neither. */
typedef struct nbi_edge {
    nbi_node *node;
    int index;
    nb_tensor *leaf;
} nbi_edge;

typedef struct nbi_saved {
    nb_tensor *tensor;        /* an input, or a detached alias of an output */
    uint64_t version;         /* storage version when saved */
    int slot;                 /* input or output number */
    bool is_output;
} nbi_saved;

/* One allocation per node: this header, then the arrays below sized for the op (a node of
 * a binary op is a few hundred bytes, not the worst case of NB_MAX_INPUTS inputs). */
struct nbi_node {
    int refcount;
    const nb_op_def *op;
    void *attrs;              /* copy of the op's attributes */
    int n_in, n_out, n_saved;
    size_t bytes;             /* of the whole block */
    nbi_edge *edges;          /* [n_in] */
    nb_meta *in_meta;         /* [n_in] */
    nb_meta *out_meta;        /* [n_out] */
    nbi_saved *saved;         /* [n_saved] */
    nbi_hook **out_hooks;     /* [n_out] */
    bool released;            /* saved tensors freed by a backward without retain_graph */
    uint64_t sequence;        /* creation order */
    const char *file;         /* call site of the op */
    int line;
    /* scratch of one backward run */
    int pending;              /* gradients still to arrive from dependent nodes */
    uint64_t visit;           /* run that last counted this node */
    nb_tensor **grads;        /* [n_out] gradients gathered for the outputs */
};

/* Records a node for an op call (n_in inputs) whose outputs require grad; sets the
 * outputs' grad_fn. */
nb_status nbi_node_record(const nb_op_def *op, nb_tensor *const *x, int n_in, const void *attrs,
                          nb_tensor *const *z, int n_out);
void nbi_node_retain(nbi_node *n);
/* Drops a reference. Freeing cascades through the graph without recursion. */
void nbi_node_release(nbi_node *n);
/* Frees saved tensors (after a backward without retain_graph). */
void nbi_node_release_saved(nbi_node *n);

/* Current call site, set by the nb_* macros (nb_set_call_site). */
void nbi_call_site(const char **file, int *line);
bool nbi_grad_enabled(void);
/* The engine sets the mode for the span of a backward and puts it back; returns the old one. */
bool nbi_set_grad_enabled(bool enabled);
bool nbi_anomaly_enabled(void);
/* True when some element of a float tensor is NaN or Inf. */
bool nbi_has_nonfinite(const nb_tensor *t);

#endif
