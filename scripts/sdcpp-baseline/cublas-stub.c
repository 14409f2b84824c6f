/*
 * Stand-in for libcublas.so.12, for the stable-diffusion.cpp bench baseline only (see
 * cudart-stub.c): with no CUDA device ggml never creates a cuBLAS handle; every entry point fails.
 */
#define CUBLAS_STATUS_NOT_INITIALIZED 1

static const char message[] = "no CUDA device (cuBLAS stub for the CPU-only bench baseline)";

const char *cublasGetStatusString(int status) {
  (void)status;
  return message;
}

#define FAILS(name) \
  int name(void) { return CUBLAS_STATUS_NOT_INITIALIZED; }
FAILS(cublasCreate_v2)
FAILS(cublasDestroy_v2)
FAILS(cublasGemmBatchedEx)
FAILS(cublasGemmEx)
FAILS(cublasGemmStridedBatchedEx)
FAILS(cublasSetMathMode)
FAILS(cublasSetStream_v2)
FAILS(cublasSgemm_v2)
