/* Reading and writing files: IDX (MNIST, Fashion-MNIST), CSV. */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "common.h"
#include "tensor.h"

#endif
