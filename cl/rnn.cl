/* rnn.cl - embedding lookup and its gradient, fused RNN / LSTM / GRU cells and their
 * gradients. Formulas: ops.def. Cells: one item per (row, unit), index i = r H + k over
 * n0 H; gate blocks of a row are H apart. */

float sigm(float x) { return 1.0f / (1.0f + exp(-x)); }

/* Row of the id, or -1 for invalid ids (*bad set) and, when pad >= 0, for id == pad. */
int emb_row(float id, uint vocab, int pad, int *bad)
{
  if (!(id >= 0.0f && id < (float)vocab) || id != floor(id)) {
    *bad = 1;
    return -1;
  }
  int v = (int)id;
  return v == pad ? -1 : v;
}

/* y[k, c] = W[id_k, c]; items i = k dim + c over n dim */
kernel void embedding(global const float *ids, ulong io, global const float *w, ulong wo,
                      global float *y, ulong yo, global float *flag, ulong fo, uint n, uint vocab,
                      uint dim)
{
  uint i = get_global_id(0);
  if (i >= n * dim)
    return;
  uint k = i / dim, c = i - k * dim;
  int bad = 0, v = emb_row(ids[io + k], vocab, -1, &bad);
  y[yo + i] = v < 0 ? NAN : w[wo + (ulong)v * dim + c];
  if (bad && c == 0)
    flag[fo] = 1.0f;
}

/* dW[v, c] = sum_k [id_k == v] dy[k, c] in k order; items (c, block): block b owns the
 * rows v with v % blocks == b, so every dW element has one writer and one order. */
kernel void embedding_grad(global const float *ids, ulong io, global const float *dy, ulong dyo,
                           global float *dw, ulong dwo, uint n, uint vocab, uint dim, int pad,
                           uint blocks)
{
  uint c = get_global_id(0), b = get_global_id(1);
  if (c >= dim || b >= blocks)
    return;
  for (uint v = b; v < vocab; v += blocks)
    dw[dwo + (ulong)v * dim + c] = 0.0f;
  int bad = 0;
  for (uint k = 0; k < n; k++) {
    int v = emb_row(ids[io + k], vocab, pad, &bad);
    if (v >= 0 && (uint)v % blocks == b)
      dw[dwo + (ulong)v * dim + c] += dy[dyo + (ulong)k * dim + c];
  }
}

/* h = act(pre + b_ih + b_hh), act 0 tanh, 1 relu */
kernel void rnn_cell(global const float *pre, ulong po, global const float *bi, ulong bio,
                     global const float *bh, ulong bho, global float *h, ulong ho, uint n, uint hid,
                     int act)
{
  uint i = get_global_id(0);
  if (i >= n * hid)
    return;
  uint k = i % hid;
  float s = pre[po + i] + bi[bio + k] + bh[bho + k];
  h[ho + i] = act ? fmax(s, 0.0f) : tanh(s);
}

/* gates (in place) = (sigma, sigma, tanh, sigma) of (gates + b_ih + b_hh);
 * c = f c_prev + i g;  h = o tanh(c) */
kernel void lstm_cell(global float *g, ulong go, global const float *bi, ulong bio,
                      global const float *bh, ulong bho, global const float *cp, ulong cpo,
                      global float *c, ulong co, global float *h, ulong ho, uint n, uint hid)
{
  uint i = get_global_id(0);
  if (i >= n * hid)
    return;
  uint r = i / hid, k = i - r * hid;
  ulong q = go + (ulong)r * 4 * hid + k;
  float ig = sigm(g[q] + bi[bio + k] + bh[bho + k]);
  float fg = sigm(g[q + hid] + bi[bio + hid + k] + bh[bho + hid + k]);
  float gg = tanh(g[q + 2 * hid] + bi[bio + 2 * hid + k] + bh[bho + 2 * hid + k]);
  float og = sigm(g[q + 3 * hid] + bi[bio + 3 * hid + k] + bh[bho + 3 * hid + k]);
  float cn = fg * cp[cpo + i] + ig * gg;
  g[q] = ig;
  g[q + hid] = fg;
  g[q + 2 * hid] = gg;
  g[q + 3 * hid] = og;
  c[co + i] = cn;
  h[ho + i] = og * tanh(cn);
}

/* dgates from the activations; dc in: through c_next, out: dL/dc_prev */
kernel void lstm_cell_grad(global const float *g, ulong go, global const float *cp, ulong cpo,
                           global const float *c, ulong co, global const float *dh, ulong dho,
                           global float *dc, ulong dco, global float *dg, ulong dgo, uint n,
                           uint hid)
{
  uint i = get_global_id(0);
  if (i >= n * hid)
    return;
  uint r = i / hid, k = i - r * hid;
  ulong q = go + (ulong)r * 4 * hid + k, p = dgo + (ulong)r * 4 * hid + k;
  float ig = g[q], fg = g[q + hid], gg = g[q + 2 * hid], og = g[q + 3 * hid];
  float tc = tanh(c[co + i]), d = dh[dho + i], dct = dc[dco + i] + d * og * (1.0f - tc * tc);
  float cpv = cp[cpo + i];
  dg[p] = dct * gg * ig * (1.0f - ig);
  dg[p + hid] = dct * cpv * fg * (1.0f - fg);
  dg[p + 2 * hid] = dct * ig * (1.0f - gg * gg);
  dg[p + 3 * hid] = d * tc * og * (1.0f - og);
  dc[dco + i] = dct * fg;
}

/* xg (in place) = (r, z, n); hn = hg_n + b_hn; h = (1 - z) n + z h_prev */
kernel void gru_cell(global float *xg, ulong xo, global const float *hg, ulong hgo,
                     global const float *bi, ulong bio, global const float *bh, ulong bho,
                     global const float *hp, ulong hpo, global float *h, ulong ho,
                     global float *hn, ulong hno, uint n, uint hid)
{
  uint i = get_global_id(0);
  if (i >= n * hid)
    return;
  uint r = i / hid, k = i - r * hid;
  ulong q = xo + (ulong)r * 3 * hid + k, p = hgo + (ulong)r * 3 * hid + k;
  float rg = sigm(xg[q] + bi[bio + k] + hg[p] + bh[bho + k]);
  float zg = sigm(xg[q + hid] + bi[bio + hid + k] + hg[p + hid] + bh[bho + hid + k]);
  float hnk = hg[p + 2 * hid] + bh[bho + 2 * hid + k];
  float ng = tanh(xg[q + 2 * hid] + bi[bio + 2 * hid + k] + rg * hnk);
  xg[q] = rg;
  xg[q + hid] = zg;
  xg[q + 2 * hid] = ng;
  hn[hno + i] = hnk;
  h[ho + i] = (1.0f - zg) * ng + zg * hp[hpo + i];
}

/* dxg, dhg, and the direct part of dh_prev */
kernel void gru_cell_grad(global const float *g, ulong go, global const float *hn, ulong hno,
                          global const float *hp, ulong hpo, global const float *dh, ulong dho,
                          global float *dx, ulong dxo, global float *dhg, ulong dhgo,
                          global float *dhp, ulong dhpo, uint n, uint hid)
{
  uint i = get_global_id(0);
  if (i >= n * hid)
    return;
  uint r = i / hid, k = i - r * hid;
  ulong q = go + (ulong)r * 3 * hid + k, p = dxo + (ulong)r * 3 * hid + k,
        s = dhgo + (ulong)r * 3 * hid + k;
  float rg = g[q], zg = g[q + hid], ng = g[q + 2 * hid], d = dh[dho + i];
  float dn = d * (1.0f - zg) * (1.0f - ng * ng);
  float dr = dn * hn[hno + i] * rg * (1.0f - rg);
  float dz = d * (hp[hpo + i] - ng) * zg * (1.0f - zg);
  dx[p] = dr;
  dx[p + hid] = dz;
  dx[p + 2 * hid] = dn;
  dhg[s] = dr;
  dhg[s + hid] = dz;
  dhg[s + 2 * hid] = dn * rg;
  dhp[dhpo + i] = d * zg;
}
