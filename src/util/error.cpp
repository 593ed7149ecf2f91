#include "src/util/error.h"
