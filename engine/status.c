/* status.c - status strings and the library version. */
#include "nncl.h"

const char *nncl_strerror(int status) {
  switch (status) {
#define NNCL_X_(name, value, text) \
  case NNCL_##name:                \
    return text;
    NNCL_STATUS_MAP(NNCL_X_)
#undef NNCL_X_
  }
  return "unknown status";
}

const char *nncl_version(void) { return NNCL_VERSION_STRING; }
