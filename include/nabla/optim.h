/* Optimizers (SGD, Adam, AdamW, RMSprop, Adagrad), learning-rate schedules and gradient clipping. */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "common.h"
#include "tensor.h"

#endif
