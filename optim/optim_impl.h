/* Optimizers (internal): the struct every kind shares, the table that describes a kind,
 * and the fused per-parameter loop the update kernels run on.
 *
 * optimizer.c owns the common part (parameters, groups, state slots, step driver, state
 * access); sgd.c, adam.c, rmsprop.c and adagrad.c each define one nbi_optim_kind: option
 * checks and the fused update kernel in f32 and f64; schedule.c the learning-rate
 * schedules; clip.c gradient clipping and the penalties. */
#ifndef NABLA_OPTIM_IMPL_H
#define NABLA_OPTIM_IMPL_H

#include "core/iter.h"
#include "core/tensor_impl.h"
#include "nabla/optim.h"

/* State tensors per parameter, "step" included. */
#define NBI_OPTIM_SLOTS 4

typedef union nbi_optim_opts {
    nb_optim_kind kind;         /* the first field of each member */
    nb_sgd_opts sgd;
    nb_adam_opts adam;
    nb_adamw_opts adamw;
    nb_rmsprop_opts rmsprop;
    nb_adagrad_opts adagrad;
} nbi_optim_opts;

typedef struct nbi_optim_group {
    nbi_optim_opts opts;        /* as given; opts' own lr field is not read after construction */
    double lr;                  /* the group's current learning rate */
    double initial_lr;          /* recorded by the first scheduler (PyTorch's group['initial_lr']) */
    bool has_initial_lr;
} nbi_optim_group;

typedef struct nbi_optim_param {
    nb_tensor *p;                         /* a reference of the optimizer's */
    int group;
    nb_tensor *slot[NBI_OPTIM_SLOTS];     /* state, NULL until made; slot k is the kind's key k */
    char name[NBI_OPTIM_SLOTS][40];       /* "state.<i>.<key>" of each made slot */
    unsigned fresh;                       /* bit k: slot k made by the step under way */
} nbi_optim_param;

/* What an update kernel gets: the parameter, its gradient (same shape and dtype, any
 * strides), its state slots (every slot the group needs exists; contiguous, the
 * parameter's shape), which of them were made for this step, and the step count t
 * after this update (kinds with a "step" slot; 0 otherwise). */
typedef struct nbi_optim_update {
    const nbi_optim_opts *opts;
    double lr;
    nb_tensor *p;
    const nb_tensor *g;
    nb_tensor *const *slot;
    unsigned fresh;             /* bit k: slot k was made (zeroed) just now */
    double step;
} nbi_optim_update;

typedef struct nbi_optim_kind {
    nb_optim_kind kind;
    const char *ctor;                              /* "nb_adam_new", for messages */
    const char *opts_init;                         /* "nb_adam_opts_default" */
    size_t opts_size;
    const char *keys[NBI_OPTIM_SLOTS];             /* state keys in PyTorch's order; NULL ends */
    bool has_step;                                 /* keys[0] is "step" */
    bool eager;                                    /* state made when a parameter joins (Adagrad) */
    /* Checks options (fn names the caller); NB_OK or the error. */
    nb_status (*check)(const nbi_optim_opts *o, const char *fn);
    /* Bit k set when a parameter of a group with options o has slot k. */
    unsigned (*slots)(const nbi_optim_opts *o);
    /* The value buffer slot k starts with (0 unless Adagrad's sum). */
    double (*init_value)(const nbi_optim_opts *o, int k);
    /* The fused update of one parameter. */
    void (*update)(const nbi_optim_update *u);
} nbi_optim_kind;

struct nb_optimizer {
    const nbi_optim_kind *kind;
    nbi_optim_opts defaults;          /* the constructor's options: add_group's NULL */
    nbi_optim_group *groups;
    int n_groups, cap_groups;
    nbi_optim_param *params;
    int n_params, cap_params;
    nb_lr_scheduler *schedulers;      /* bound schedulers (schedule.c), detached when freed */
};

/* Unbinds every scheduler of opt (schedule.c); called by nb_optimizer_free. */
void nbi_lr_schedulers_detach(nb_optimizer *opt);

extern const nbi_optim_kind nbi_optim_sgd, nbi_optim_adam, nbi_optim_adamw, nbi_optim_rmsprop,
    nbi_optim_adagrad;

/* Makes an optimizer of kind k from the constructor's arguments (opts may be NULL only
 * when defaults, the kind's initializer's value, is given instead). */
nb_optimizer *nbi_optimizer_new(const nbi_optim_kind *k, nb_tensor *const *params, int n, const void *opts,
                                const void *defaults);

/* "lr = -1 is negative"-style checks shared by the kinds: NB_OK when v >= 0 (NaN fails). */
nb_status nbi_optim_check_nonneg(const char *fn, const char *what, double v);
/* NB_OK when lo <= v < hi (hi_open) or lo <= v <= hi. */
nb_status nbi_optim_check_range(const char *fn, const char *what, double v, double lo, double hi, bool hi_open);

/* ---------------------------------------------------------------- the fused loop
 * Runs row over the elements of u->p, with operand offsets and inner strides (in
 * elements) for: 0 the parameter, 1 the gradient, 2 the state buffers (which all share
 * one contiguous layout, so one offset serves every slot). Rows of a large parameter run
 * in parallel; each element is written by one thread, so results do not depend on the
 * thread count. */
void nbi_optim_run(const nbi_optim_update *u, nbi_row_fn row, void *ctx);

/* In a row function: runs the body (the macro's argument) for each of the n elements with ip, ig, is the element's
 * offsets into the parameter, the gradient and the state buffers; unit strides get a
 * loop of their own that the compiler can vectorise. */
#define NBI_OPTIM_FOR_EACH(...)                                                    \
    do {                                                                           \
        const int64_t sp_ = st[0], sg_ = st[1], ss_ = st[2];                       \
        if (sp_ == 1 && sg_ == 1 && ss_ == 1) {                                    \
            for (int64_t i_ = 0; i_ < n; i_++) {                                   \
                const int64_t ip = i_, ig = i_, is = i_;                           \
                __VA_ARGS__                                                        \
            }                                                                      \
        } else {                                                                   \
            for (int64_t i_ = 0; i_ < n; i_++) {                                   \
                const int64_t ip = i_ * sp_, ig = i_ * sg_, is = i_ * ss_;         \
                __VA_ARGS__                                                        \
            }                                                                      \
        }                                                                          \
    } while (0)

/* Data pointer of slot k as T *, at the row's offset; NULL when the slot is absent. */
#define NBI_OPTIM_SLOT(T, c, k) ((c)->s[k] ? (T *)(c)->s[k] + off[2] : (T *)0)

/* NaN-propagating maximum, as torch.maximum. */
#define NBI_OPTIM_MAX(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))

#endif
