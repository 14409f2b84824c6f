/*
 * Stand-in for libcudart.so.12, for the stable-diffusion.cpp bench baseline only.
 *
 * The npm prebuild of @lmagder/node-stable-diffusion-cpp is a CUDA build: it links libcudart.so.12
 * and libcublas.so.12, which no CPU-only machine has. ggml asks cudaGetDeviceCount first; this
 * answers "no device", so ggml's CUDA backend declines and stable-diffusion.cpp runs on its CPU
 * backend (its log says "Using CPU backend"). Every other entry point only fails: none is reached
 * once the CUDA backend has declined, and none does any work.
 */
#define CUDA_ERROR_NO_DEVICE 100

static const char message[] = "no CUDA device (CUDA stub for the CPU-only bench baseline)";

int cudaGetDeviceCount(int *count) {
  if (count) *count = 0;
  return CUDA_ERROR_NO_DEVICE;
}
const char *cudaGetErrorString(int error) {
  (void)error;
  return message;
}
int cudaGetLastError(void) { return 0; }

/* kernel registration runs at load time (static constructors of each .cu file): accept and ignore */
static void *fatbin_handle[4];
void **__cudaRegisterFatBinary(void *fatbin) {
  (void)fatbin;
  return fatbin_handle;
}
void __cudaRegisterFatBinaryEnd(void **handle) { (void)handle; }
void __cudaUnregisterFatBinary(void **handle) { (void)handle; }
void __cudaRegisterFunction(void) {}
void __cudaRegisterVar(void) {}

#define FAILS(name) \
  int name(void) { return CUDA_ERROR_NO_DEVICE; }
FAILS(__cudaPushCallConfiguration)
FAILS(__cudaPopCallConfiguration)
FAILS(cudaDeviceCanAccessPeer)
FAILS(cudaDeviceDisablePeerAccess)
FAILS(cudaDeviceEnablePeerAccess)
FAILS(cudaDeviceSynchronize)
FAILS(cudaEventCreateWithFlags)
FAILS(cudaEventDestroy)
FAILS(cudaEventRecord)
FAILS(cudaEventSynchronize)
FAILS(cudaFree)
FAILS(cudaFreeHost)
FAILS(cudaFuncSetAttribute)
FAILS(cudaGetDevice)
FAILS(cudaGetDeviceProperties_v2)
FAILS(cudaHostRegister)
FAILS(cudaHostUnregister)
FAILS(cudaLaunchKernel)
FAILS(cudaMalloc)
FAILS(cudaMallocHost)
FAILS(cudaMallocManaged)
FAILS(cudaMemGetInfo)
FAILS(cudaMemcpy2DAsync)
FAILS(cudaMemcpy3DPeerAsync)
FAILS(cudaMemcpyAsync)
FAILS(cudaMemcpyPeerAsync)
FAILS(cudaMemset)
FAILS(cudaMemsetAsync)
FAILS(cudaSetDevice)
FAILS(cudaStreamCreateWithFlags)
FAILS(cudaStreamDestroy)
FAILS(cudaStreamSynchronize)
FAILS(cudaStreamWaitEvent)
