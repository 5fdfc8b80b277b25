/* meta.c - free-form model metadata (key, value strings) kept with the model and saved
 * in its checkpoints as "meta.<key>". */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define META_MAX 64           /* keys per model */
#define META_VALUE_MAX (1 << 24) /* bytes per value */

static int find(const nncl_model *m, const char *key) {
  for (int i = 0; i < m->nmeta; i++)
    if (!strcmp(m->meta[2 * i], key)) return i;
  return -1;
}

int nncl_model_set_meta(nncl_model *m, const char *key, const char *value) {
  if (!m || !key || !*key) return nncl_err(m ? m->ctx : NULL, NNCL_EINVAL, "model metadata: empty key");
  if (strlen(key) > 200 || (value && strlen(value) > META_VALUE_MAX))
    return nncl_err(m->ctx, NNCL_ELIMIT, "model metadata '%.40s': key or value too long", key);
  int i = find(m, key);
  if (!value) {
    if (i < 0) return 0;
    free(m->meta[2 * i]), free(m->meta[2 * i + 1]);
    memmove(m->meta + 2 * i, m->meta + 2 * i + 2, (size_t)(m->nmeta - i - 1) * 2 * sizeof *m->meta);
    m->nmeta--;
    return 0;
  }
  char *v = strdup(value);
  if (!v) return nncl_err(m->ctx, NNCL_ENOMEM, "model metadata: out of memory");
  if (i >= 0) {
    free(m->meta[2 * i + 1]);
    m->meta[2 * i + 1] = v;
    return 0;
  }
  if (m->nmeta >= META_MAX) {
    free(v);
    return nncl_err(m->ctx, NNCL_ELIMIT, "model metadata: at most %d keys", META_MAX);
  }
  char **grown = realloc(m->meta, (size_t)(m->nmeta + 1) * 2 * sizeof *grown);
  char *k = strdup(key);
  if (grown) m->meta = grown;
  if (!grown || !k) {
    free(v), free(k);
    return nncl_err(m->ctx, NNCL_ENOMEM, "model metadata: out of memory");
  }
  m->meta[2 * m->nmeta] = k, m->meta[2 * m->nmeta + 1] = v;
  m->nmeta++;
  return 0;
}

const char *nncl_model_meta(const nncl_model *m, const char *key) {
  int i = m && key ? find(m, key) : -1;
  return i < 0 ? NULL : m->meta[2 * i + 1];
}

void nncl_model_meta_free(nncl_model *m) {
  for (int i = 0; i < 2 * m->nmeta; i++) free(m->meta[i]);
  free(m->meta);
  m->meta = NULL, m->nmeta = 0;
}
