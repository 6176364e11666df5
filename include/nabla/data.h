/* Datasets, data loaders and transforms. */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "common.h"
#include "tensor.h"

#endif
