/* Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), learning-rate schedules and gradient clipping.
 *
 * An optimizer updates parameters (leaf tensors that require grad) from the gradients that
 * nb_backward accumulated into them, with exactly the update formulas of PyTorch 1.13's
 * torch.optim (single-tensor path): same option defaults, same eps placement, same bias
 * corrections, same lazily created state.
 *
 *     nb_adam_opts o = nb_adam_opts_default();
 *     o.lr = 3e-4;
 *     nb_optimizer *opt = nb_adam_new(params, n_params, &o);
 *     for (...) {
 *         nb_scope *s = nb_scope_begin();
 *         nb_optimizer_zero_grad(opt);
 *         nb_backward(loss(...), NULL);
 *         nb_optimizer_step(opt);
 *         nb_scope_end(s);
 *     }
 *     nb_optimizer_free(opt);
 *
 * Ownership: the parameter arrays passed in are borrowed; the optimizer keeps a reference
 * of its own to each parameter (nb_retain) and owns its state tensors. A step writes the
 * parameters in place, unrecorded, whatever the grad mode, and bumps their version, so a
 * backward through a graph that saved a parameter's old value refuses to run.
 *
 * Errors: constructors return NULL, other functions a status, with nb_error() naming the
 * function, the parameter index (within the array passed to that call) or option, and
 * what was wrong. */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "common.h"
#include "tensor.h"

typedef struct nb_optimizer nb_optimizer;
typedef struct nb_lr_scheduler nb_lr_scheduler;

/* Which optimizer an options struct is for. Every options struct starts with this tag,
 * set by its _default() initializer: it lets nb_optimizer_add_group (which takes the
 * options as const void *) check that they are of the optimizer's kind, and it catches
 * structs that were not made by the initializer (0 is no kind). Start from the
 * initializer, then change fields. */
typedef enum nb_optim_kind {
    NB_OPTIM_SGD = 1,
    NB_OPTIM_ADAM,
    NB_OPTIM_ADAMW,
    NB_OPTIM_RMSPROP,
    NB_OPTIM_ADAGRAD,
} nb_optim_kind;

/* ---------------------------------------------------------------- options
 * Every field as in torch.optim; `maximize` follows the gradient uphill (default false). */

/* SGD: g = grad (+ weight_decay * p); with momentum, buf = g on the first step, then
 * buf = momentum * buf + (1 - dampening) * g, and g = buf (nesterov: g + momentum * buf);
 * p -= lr * g. Checks: lr >= 0 (there is no default learning rate: set it), momentum >= 0,
 * weight_decay >= 0, nesterov needs momentum > 0 and dampening = 0. */
typedef struct nb_sgd_opts {
    nb_optim_kind kind;        /* NB_OPTIM_SGD */
    double lr;                 /* NAN: must be set */
    double momentum;           /* 0 */
    double dampening;          /* 0 */
    double weight_decay;       /* 0: L2 penalty added to the gradient */
    bool nesterov;             /* false */
    bool maximize;             /* false */
} nb_sgd_opts;

/* Adam (and AdamW): m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
 * p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with max(v) so far in
 * place of v under amsgrad. Adam adds weight_decay * p to g (L2); AdamW instead multiplies
 * p by 1 - lr * weight_decay before the update (decoupled decay). Checks: lr >= 0,
 * eps >= 0, betas in [0, 1), weight_decay >= 0. */
typedef struct nb_adam_opts {
    nb_optim_kind kind;        /* NB_OPTIM_ADAM */
    double lr;                 /* 1e-3 */
    double beta1, beta2;       /* 0.9, 0.999 */
    double eps;                /* 1e-8 */
    double weight_decay;       /* 0 */
    bool amsgrad;              /* false */
    bool maximize;             /* false */
} nb_adam_opts;

typedef struct nb_adamw_opts {
    nb_optim_kind kind;        /* NB_OPTIM_ADAMW */
    double lr;                 /* 1e-3 */
    double beta1, beta2;       /* 0.9, 0.999 */
    double eps;                /* 1e-8 */
    double weight_decay;       /* 1e-2 */
    bool amsgrad;              /* false */
    bool maximize;             /* false */
} nb_adamw_opts;

/* RMSprop: s = alpha s + (1 - alpha) g^2; d = sqrt(s) (centered: sqrt(s - a^2) with
 * a = alpha a + (1 - alpha) g) + eps; p -= lr * g / d, or with momentum
 * buf = momentum buf + g / d, p -= lr * buf. Checks: lr, eps, momentum, weight_decay >= 0,
 * alpha in [0, 1] (PyTorch only asks alpha >= 0; above 1 the average turns negative). */
typedef struct nb_rmsprop_opts {
    nb_optim_kind kind;        /* NB_OPTIM_RMSPROP */
    double lr;                 /* 1e-2 */
    double alpha;              /* 0.99 */
    double eps;                /* 1e-8 */
    double weight_decay;       /* 0 */
    double momentum;           /* 0 */
    bool centered;             /* false */
    bool maximize;             /* false */
} nb_rmsprop_opts;

/* Adagrad: s += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps), s starting at
 * initial_accumulator_value (each group's own; PyTorch 1.13 uses the constructor's for
 * every group). Checks: every field >= 0. */
typedef struct nb_adagrad_opts {
    nb_optim_kind kind;        /* NB_OPTIM_ADAGRAD */
    double lr;                 /* 1e-2 */
    double lr_decay;           /* 0 */
    double weight_decay;       /* 0 */
    double initial_accumulator_value;   /* 0 */
    double eps;                /* 1e-10 */
    bool maximize;             /* false */
} nb_adagrad_opts;

/* PyTorch's defaults, as commented above. */
NB_API nb_sgd_opts nb_sgd_opts_default(void);
NB_API nb_adam_opts nb_adam_opts_default(void);
NB_API nb_adamw_opts nb_adamw_opts_default(void);
NB_API nb_rmsprop_opts nb_rmsprop_opts_default(void);
NB_API nb_adagrad_opts nb_adagrad_opts_default(void);

/* ---------------------------------------------------------------- optimizers
 * CONSTRUCTORS: an optimizer over params[0..n-1] (n >= 1), the first parameter group,
 * with opts (copied; NULL means the defaults, which SGD refuses for want of a learning
 * rate). Each parameter must be a distinct f32 or f64 leaf that requires grad, and must
 * not have overlapping elements (a stride-0 view). Non-contiguous parameters are fine.
 * Returns the optimizer, owned by the caller (nb_optimizer_free), or NULL with nb_error(). */
NB_API nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts);
NB_API nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adamw_opts *opts);
NB_API nb_optimizer *nb_rmsprop_new(nb_tensor *const *params, int n, const nb_rmsprop_opts *opts);
NB_API nb_optimizer *nb_adagrad_new(nb_tensor *const *params, int n, const nb_adagrad_opts *opts);

/* DESTRUCTOR: drops the references to the parameters, frees the state and detaches the
 * schedulers bound to opt (they fail with NB_ERR_STATE from then on). NULL is a no-op. */
NB_API void nb_optimizer_free(nb_optimizer *opt);

/* METHOD: one update of every parameter that has a gradient (nb_tensor_grad not NULL);
 * parameters without one are skipped, their state untouched (as PyTorch). Each parameter
 * is updated in one fused pass over its elements, its gradient and its state, with no
 * temporary tensor. Gradients are checked first (shape and dtype of the parameter), so a
 * failing step changes nothing. */
NB_API nb_status nb_optimizer_step(nb_optimizer *opt);

/* METHOD: forgets every parameter's gradient (nb_zero_grad), so the next backward starts
 * afresh and a parameter it does not reach is skipped by the next step. This is PyTorch's
 * zero_grad(set_to_none=True); 1.13's default zero-fills instead, which differs only for
 * parameters that get no gradient (PyTorch then still decays them). NULL is a no-op. */
NB_API void nb_optimizer_zero_grad(nb_optimizer *opt);

/* METHOD: adds a parameter group: params[0..n-1] (n >= 1, borrowed; the same checks as the
 * constructors, and none may already be in opt) with their own hyper-parameters.
 * group_opts points to the options struct of opt's kind (nb_adam_opts for an Adam
 * optimizer, ...), or is NULL for the options the optimizer was made with. */
NB_API nb_status nb_optimizer_add_group(nb_optimizer *opt, nb_tensor *const *params, int n,
                                        const void *group_opts);

NB_API nb_optim_kind nb_optimizer_kind(const nb_optimizer *opt);   /* 0 for NULL */
NB_API int nb_optimizer_group_count(const nb_optimizer *opt);      /* 0 for NULL */
/* Number of parameters over all groups (0 for NULL). */
NB_API int nb_optimizer_param_count(const nb_optimizer *opt);
/* Learning rate of group `group` (0 is the constructor's); NAN with nb_error() when out of range. */
NB_API double nb_optimizer_lr(const nb_optimizer *opt, int group);
/* Sets it (lr >= 0). Schedulers do this every step; a value set by hand is what the next
 * scheduler step starts from, as in PyTorch's chainable schedules. */
NB_API nb_status nb_optimizer_set_lr(nb_optimizer *opt, int group, double lr);

/* ---------------------------------------------------------------- state, for checkpoints
 * The state of parameter i (numbered over all groups in the order they were added, as
 * in PyTorch's state_dict) is named as there: "state.<i>.<key>" with key
 *   SGD      momentum_buffer                          (with momentum > 0 only)
 *   Adam(W)  step, exp_avg, exp_avg_sq, max_exp_avg_sq (the last with amsgrad only)
 *   RMSprop  step, square_avg, momentum_buffer, grad_avg (momentum > 0, centered only)
 *   Adagrad  step, sum
 * Buffers have the parameter's shape and dtype and are contiguous; "step" is a rank-0 f64
 * tensor holding the number of updates the parameter has had. State is made at a
 * parameter's first update (Adagrad's when it joins), as in PyTorch. A serializer writes
 * restored values into the tensors with nb_copy_inplace, after nb_optimizer_init_state. */

/* Number of state tensors that exist now (0 for NULL). */
NB_API int nb_optimizer_state_count(const nb_optimizer *opt);
/* State tensor i in [0, count): ordered by parameter, then in the key order above. Sets
 * *name (may be NULL) to its name. Both are borrowed: valid until nb_optimizer_free. NULL
 * with nb_error() when i is out of range. */
NB_API nb_tensor *nb_optimizer_state_tensor(const nb_optimizer *opt, int i, const char **name);
/* Makes every parameter's state that does not exist yet, as a first update would (zeros;
 * steps 0; Adagrad's sum at initial_accumulator_value), so that every name a checkpoint
 * holds has a tensor to be loaded into. SGD's momentum buffer made this way is then used
 * as an existing buffer (as after PyTorch's load_state_dict), not overwritten by the
 * first gradient. */
NB_API nb_status nb_optimizer_init_state(nb_optimizer *opt);

/* ---------------------------------------------------------------- learning-rate schedules
 * A scheduler is bound to an optimizer and sets the learning rate of each group that
 * existed when it was made, as torch.optim.lr_scheduler with last_epoch = -1 does: the
 * constructor records each group's initial lr (the first scheduler of an optimizer does;
 * later ones reuse it) and takes the epoch-0 step at once; then call nb_lr_scheduler_step
 * once per epoch, after that epoch's optimizer steps. The formulas are PyTorch's chainable
 * forms: each step scales the group's current lr, so schedulers compose (a linear warm-up
 * and a cosine annealing both stepped each epoch) and a hand-set lr carries on.
 * The optimizer must outlive the scheduler's use (once it is freed, stepping fails). */

/* CONSTRUCTOR: lr *= gamma every step_size epochs (step_size >= 1, gamma >= 0). */
NB_API nb_lr_scheduler *nb_step_lr_new(nb_optimizer *opt, int step_size, double gamma);
/* CONSTRUCTOR: lr *= gamma at each of milestones[0..n-1] (epochs >= 1, any order, n >= 1; a
 * milestone listed k times multiplies by gamma^k). The array is copied. */
NB_API nb_lr_scheduler *nb_multistep_lr_new(nb_optimizer *opt, const int *milestones, int n, double gamma);
/* CONSTRUCTOR: lr *= gamma every epoch (gamma >= 0). */
NB_API nb_lr_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma);
/* CONSTRUCTOR: cosine annealing from the initial lr down to eta_min over t_max epochs
 * (t_max >= 1, eta_min >= 0), rising again after t_max as PyTorch's recursive form does. */
NB_API nb_lr_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int t_max, double eta_min);
/* CONSTRUCTOR: linear warm-up (or decay): the lr is scaled by start_factor at epoch 0, by
 * factors moving linearly to end_factor at epoch total_iters, and left alone after.
 * PyTorch's defaults are 1/3, 1, 5. Checks: start_factor in (0, 1] (PyTorch accepts 0 and
 * then divides by zero), end_factor in [0, 1], total_iters >= 1. */
NB_API nb_lr_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor,
                                         int total_iters);

/* Reduce-on-plateau: watches a metric given to each step, and multiplies the lr by factor
 * (never below min_lr, and only when that changes it by more than eps) once the metric
 * has not improved on the best seen for more than `patience` epochs; then waits `cooldown`
 * epochs. Improvement: below best (1 - threshold) in min mode with relative threshold,
 * below best - threshold with absolute; above best (1 + threshold) or best + threshold in
 * max mode. */
typedef enum nb_plateau_mode { NB_PLATEAU_MIN = 0, NB_PLATEAU_MAX = 1 } nb_plateau_mode;
typedef enum nb_threshold_mode { NB_THRESHOLD_REL = 0, NB_THRESHOLD_ABS = 1 } nb_threshold_mode;

typedef struct nb_plateau_opts {
    nb_plateau_mode mode;            /* NB_PLATEAU_MIN */
    double factor;                   /* 0.1; in [0, 1) */
    int patience;                    /* 10; >= 0 */
    double threshold;                /* 1e-4; >= 0 */
    nb_threshold_mode threshold_mode;/* NB_THRESHOLD_REL */
    int cooldown;                    /* 0; >= 0 */
    double min_lr;                   /* 0; >= 0, for every group ... */
    const double *min_lrs;           /* NULL; ... or one per group (borrowed during the call) */
    double eps;                      /* 1e-8; >= 0 */
} nb_plateau_opts;

NB_API nb_plateau_opts nb_plateau_opts_default(void);
/* CONSTRUCTOR: a reduce-on-plateau scheduler (opts NULL: the defaults). Unlike the others
 * it changes nothing when made. */
NB_API nb_lr_scheduler *nb_reduce_on_plateau_new(nb_optimizer *opt, const nb_plateau_opts *opts);

/* METHOD: ends an epoch: sets the next learning rates. Reduce-on-plateau needs the metric
 * and refuses this; use nb_lr_scheduler_step_metric. */
NB_API nb_status nb_lr_scheduler_step(nb_lr_scheduler *s);
/* METHOD: the same with the epoch's metric (a validation loss, ...), which reduce-on-plateau
 * watches and the other schedules ignore, so a training loop can call this for any. */
NB_API nb_status nb_lr_scheduler_step_metric(nb_lr_scheduler *s, double metric);
/* Epochs stepped so far: 0 after construction (PyTorch's last_epoch); -1 for NULL. */
NB_API int nb_lr_scheduler_last_epoch(const nb_lr_scheduler *s);
/* DESTRUCTOR: NULL is a no-op. The learning rates stay as they are. */
NB_API void nb_lr_scheduler_free(nb_lr_scheduler *s);

/* ---------------------------------------------------------------- gradient clipping
 * Over the gradients of params[0..n-1] (borrowed; parameters without a gradient are
 * skipped), in place, bumping each gradient's version. A gradient that is a broadcast view
 * (stride 0, which only a create_graph backward leaves) cannot be written in place: it is
 * replaced by a clipped contiguous copy, and pointers to the old one from nb_tensor_grad
 * become invalid. */

/* Scales every gradient by min(1, max_norm / (total + 1e-6)), where total is the norm of
 * all gradients taken together as one vector: norm_type p > 0 gives (sum |g|^p)^(1/p),
 * INFINITY gives max |g|. As torch.nn.utils.clip_grad_norm_ (error_if_nonfinite=False): a
 * NaN or Inf norm scales the gradients by NaN or 0. The coefficient is computed in each
 * gradient's dtype, as PyTorch does. *total_norm (may be NULL) receives total, 0 when no
 * parameter has a gradient. Checks: max_norm >= 0, norm_type > 0 (or INFINITY). */
NB_API nb_status nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm, double norm_type,
                                   double *total_norm);
/* Clamps every gradient element into [-clip_value, clip_value] (clip_value >= 0), as
 * torch.nn.utils.clip_grad_value_; NaN stays NaN. */
NB_API nb_status nb_clip_grad_value(nb_tensor *const *params, int n, double clip_value);

/* ---------------------------------------------------------------- penalties
 * Differentiable rank-0 tensors to add to a loss (scale them yourself): recorded with
 * ordinary ops, so their gradient reaches the parameters through nb_backward. n >= 1, all
 * parameters of one dtype. New tensor owned by the current scope, or NULL with nb_error(). */
NB_API nb_tensor *nb_l1_penalty(nb_tensor *const *params, int n);   /* sum_i sum |p_i|; gradient sign(p), 0 at 0 */
NB_API nb_tensor *nb_l2_penalty(nb_tensor *const *params, int n);   /* sum_i sum p_i^2; gradient 2 p */

#endif
