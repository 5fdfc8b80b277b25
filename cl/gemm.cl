/* gemm.cl - C = alpha op(A) op(B) + beta C, row-major; op(A) is M x K, op(B) K x N.
 * ta: A is stored K x M; tb: B is stored N x K. beta == 0: C is not read.
 *
 * A work-group computes a TM x TN tile of C; per step it stages TM x TK of op(A) and
 * TK x TN of op(B) in local memory, and each of its (TN/WN) x (TM/WM) items accumulates
 * a WM x WN register block: rows ty + i*LY, and WN/VN vectors of VN adjacent columns at
 * (tx + j*LX)*VN (neighbouring items touch neighbouring memory). Loads past M, N or K
 * read zeros; stores past M or N are skipped.
 * On a CPU (PoCL) wide vectors and big blocks (VN = WN = WM = 16) make the explicit SIMD;
 * on a GPU small blocks (4 x 4, VN = 4) keep many items busy. */

#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef WM
#define WM 4
#endif
#ifndef WN
#define WN 4
#endif
#ifndef VN
#define VN 4
#endif

#if VN == 1
typedef float floatn;
#define LOADN(p) (*(p))
#define STOREN(v, p) (*(p) = (v))
#else
typedef CAT(float, VN) floatn;
#define LOADN(p) CAT(vload, VN)(0, p)
#define STOREN(v, p) CAT(vstore, VN)(v, 0, p)
#endif

#define LX (TN / WN)
#define LY (TM / WM)
#define NT (LX * LY)
#define JN (WN / VN)

#if (TM * TK) % NT != 0 || (TN * TK) % NT != 0 || TM % WM != 0 || TN % WN != 0 || WN % VN != 0
#error "gemm.cl: tile sizes must divide evenly among the work-items"
#endif

/* One TM x TN tile of C (row stride ldc); A, B, C already offset to the matrix. */
void gemm_tile(global const float *A, global const float *B, global float *C,
                      uint M, uint N, uint K, uint lda, uint ldb, uint ldc, int ta, int tb,
                      float alpha, float beta, local float (*As)[TM], local float (*Bs)[TN])
{
  floatn acc[WM][JN];
  uint tx = get_local_id(0), ty = get_local_id(1), tid = ty * LX + tx;
  uint n0 = get_group_id(0) * TN, m0 = get_group_id(1) * TM;
  for (uint i = 0; i < WM; i++)
    for (uint j = 0; j < JN; j++)
      acc[i][j] = (floatn)0.0f;

  /* K is uniform across the work-group: every item runs the same number of steps. */
  for (uint k0 = 0; k0 < K; k0 += TK) {
    for (uint p = 0; p < TM * TK / NT; p++) {
      uint e = tid + p * NT;
      uint mm = ta ? e % TM : e / TK, kk = ta ? e / TM : e % TK;
      uint m = m0 + mm, k = k0 + kk;
      As[kk][mm] = m < M && k < K ? A[ta ? k * lda + m : m * lda + k] : 0.0f;
    }
    for (uint p = 0; p < TN * TK / NT; p++) {
      uint e = tid + p * NT;
      uint nn = tb ? e / TK : e % TN, kk = tb ? e % TK : e / TN;
      uint n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = n < N && k < K ? B[tb ? n * ldb + k : k * ldb + n] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint kk = 0; kk < TK; kk++) {
      floatn b[JN];
      for (uint j = 0; j < JN; j++)
        b[j] = LOADN(&Bs[kk][(tx + j * LX) * VN]);
      for (uint i = 0; i < WM; i++) {
        floatn a = (floatn)As[kk][ty + i * LY];
        for (uint j = 0; j < JN; j++)
          acc[i][j] += a * b[j];
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  for (uint i = 0; i < WM; i++) {
    uint m = m0 + ty + i * LY;
    if (m >= M)
      continue;
    global float *c = C + m * ldc;
    for (uint j = 0; j < JN; j++) {
      uint n = n0 + (tx + j * LX) * VN;
      floatn v = (floatn)alpha * acc[i][j];
      if (n + VN <= N) {
        STOREN(beta == 0.0f ? v : v + (floatn)beta * LOADN(c + n), c + n);
      } else if (n < N) {
        float t[VN];
        STOREN(v, t);
        for (uint q = 0; q < VN && n + q < N; q++)
          c[n + q] = beta == 0.0f ? t[q] : t[q] + beta * c[n + q];
      }
    }
  }
}

kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void matmul(global const float *A, ulong ao, global const float *B, ulong bo,
            global float *C, ulong co, uint M, uint N, uint K, int ta, int tb,
            float alpha, float beta)
{
  local float As[TK][TM];
  local float Bs[TK][TN];
  gemm_tile(A + ao, B + bo, C + co, M, N, K, ta ? M : K, tb ? K : N, N, ta, tb, alpha, beta, As, Bs);
}

/* Batch b = get_group_id(2) = (b1, b2), b2 < n4: matrices at b1 s1 + b2 s2 past the
 * offsets (ops.def MATMUL_BATCHED). */
kernel __attribute__((reqd_work_group_size(LX, LY, 1)))
void matmul_batched(global const float *A, ulong ao, global const float *B, ulong bo,
                    global float *C, ulong co, uint M, uint N, uint K, int ta, int tb,
                    float alpha, float beta, uint lda, uint ldb, uint ldc, uint n4,
                    uint sa1, uint sa2, uint sb1, uint sb2, uint sc1, uint sc2)
{
  local float As[TK][TM];
  local float Bs[TK][TN];
  uint b = get_group_id(2), b1 = b / n4, b2 = b % n4;
  gemm_tile(A + ao + b1 * sa1 + b2 * sa2, B + bo + b1 * sb1 + b2 * sb2, C + co + b1 * sc1 + b2 * sc2,
            M, N, K, lda, ldb, ldc, ta, tb, alpha, beta, As, Bs);
}
