/* optim.cl - optimizer updates over n parameters, as PyTorch. One work-item per VW. Each
 * does nothing while its skip flag is raised (skipping != 0 and skip[0] != 0): the NaN/Inf
 * guard raises it on the device, so the host does not wait for the check. */

/* Whether work-item element i has nothing to do: past n, or the skip flag raised. */
int idle(uint i, uint n, global const float *skip, ulong ko, int skipping)
{
  return i >= n || (skipping && skip[ko] != 0.0f);
}

/* Weight decay wd at rate lr: decoupled (AdamW's) w *= 1 - lr wd, else the L2 penalty
 * g += wd w. */
void weight_decay(floatv *x, floatv *g, float lr, float wd, int decoupled)
{
  if (decoupled)
    *x = *x * V(1.0f - lr * wd);
  else
    *g = *g + V(wd) * *x;
}

/* Decoupled: w *= 1 - lr wd; else g = grad + wd w. v = mom v + g (mom != 0);
 * g = nesterov ? g + mom v : v; w -= lr g. With mom == 0, v is not touched. */
kernel void sgd_update(global float *w, ulong wo, global const float *grad, ulong go,
                       global float *v, ulong vo, uint n, float lr, float mom, float wd,
                       int nesterov, int decoupled, global const float *skip, ulong ko,
                       int skipping)
{
  uint i = get_global_id(0) * VW;
  if (idle(i, n, skip, ko, skipping))
    return;
  w += wo;
  floatv x = loadv(w, i, n), g = loadv(grad + go, i, n);
  weight_decay(&x, &g, lr, wd, decoupled);
  if (mom != 0.0f) {
    floatv m = V(mom) * loadv(v + vo, i, n) + g;
    storev(m, v + vo, i, n);
    g = nesterov ? g + V(mom) * m : m;
  }
  storev(x - V(lr) * g, w, i, n);
}

/* AdamW (decoupled): w *= 1 - lr wd; Adam: g += wd w.
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr (m c1) / (sqrt(v c2) + eps),
 * c1 = 1/(1-b1^t), c2 = 1/(1-b2^t). */
kernel void adam_update(global float *w, ulong wo, global const float *grad, ulong go,
                        global float *m_, ulong mo, global float *v_, ulong vo, uint n,
                        float lr, float b1, float b2, float eps, float wd, float c1, float c2,
                        int decoupled,
                        global const float *skip, ulong ko, int skipping)
{
  uint i = get_global_id(0) * VW;
  if (idle(i, n, skip, ko, skipping))
    return;
  w += wo;
  floatv x = loadv(w, i, n), g = loadv(grad + go, i, n);
  weight_decay(&x, &g, lr, wd, decoupled);
  floatv m = V(b1) * loadv(m_ + mo, i, n) + V(1.0f - b1) * g;
  floatv v = V(b2) * loadv(v_ + vo, i, n) + V(1.0f - b2) * g * g;
  storev(m, m_ + mo, i, n);
  storev(v, v_ + vo, i, n);
  storev(x - V(lr) * (m * V(c1)) / (sqrt(v * V(c2)) + V(eps)), w, i, n);
}

/* RMSprop. Decoupled: w *= 1 - lr wd; else g += wd w. s = al s + (1-al) g^2; centered:
 * c = al c + (1-al) g, d = sqrt(s - c^2) + eps, else d = sqrt(s) + eps; momentum:
 * b = mom b + g/d, w -= lr b; else w -= lr g/d. b is read only when mom != 0, c only when
 * centered (the host passes w in their place otherwise). */
kernel void rmsprop_update(global float *w, ulong wo, global const float *grad, ulong go,
                           global float *s_, ulong so, global float *b_, ulong bo,
                           global float *c_, ulong co, uint n, float lr, float al, float eps,
                           float wd, float mom, int centered, int decoupled,
                           global const float *skip, ulong ko, int skipping)
{
  uint i = get_global_id(0) * VW;
  if (idle(i, n, skip, ko, skipping))
    return;
  w += wo;
  floatv x = loadv(w, i, n), g = loadv(grad + go, i, n);
  weight_decay(&x, &g, lr, wd, decoupled);
  floatv s = V(al) * loadv(s_ + so, i, n) + V(1.0f - al) * g * g, var = s;
  storev(s, s_ + so, i, n);
  if (centered) {
    floatv c = V(al) * loadv(c_ + co, i, n) + V(1.0f - al) * g;
    storev(c, c_ + co, i, n);
    var = s - c * c;
  }
  floatv step = g / (sqrt(var) + V(eps));
  if (mom != 0.0f) {
    step = V(mom) * loadv(b_ + bo, i, n) + step;
    storev(step, b_ + bo, i, n);
  }
  storev(x - V(lr) * step, w, i, n);
}

/* Adagrad with clr = lr / (1 + (t-1) lr_decay). Decoupled: w *= 1 - clr wd; else
 * g += wd w. sum += g^2; w -= clr g / (sqrt(sum) + eps). */
kernel void adagrad_update(global float *w, ulong wo, global const float *grad, ulong go,
                           global float *s_, ulong so, uint n, float clr, float eps, float wd,
                           int decoupled,
                           global const float *skip, ulong ko, int skipping)
{
  uint i = get_global_id(0) * VW;
  if (idle(i, n, skip, ko, skipping))
    return;
  w += wo;
  floatv x = loadv(w, i, n), g = loadv(grad + go, i, n);
  weight_decay(&x, &g, clr, wd, decoupled);
  floatv s = loadv(s_ + so, i, n) + g * g;
  storev(s, s_ + so, i, n);
  storev(x - V(clr) * g / (sqrt(s) + V(eps)), w, i, n);
}
