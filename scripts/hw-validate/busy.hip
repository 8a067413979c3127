// The kit's fallback GPU workload when PyTorch is absent: keeps one GPU busy
// with short kernels for N seconds (default 600) so the kit sees real queues,
// real preemptions and real suspends. Built by scripts/hw-validate.sh with
// hipcc; not compiled on machines without ROCm.
#include <hip/hip_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

__global__ void spin(float* x, int n, int iters) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = x[i];
  for (int k = 0; k < iters; ++k) v = v * 0.999999f + 0.5f;
  x[i] = v;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 600;
  const int n = 1 << 22;
  float* x = nullptr;
  if (hipMalloc(&x, n * sizeof(float)) != hipSuccess) {
    std::fprintf(stderr, "busy: hipMalloc failed: no usable GPU?\n");
    return 1;
  }
  hipMemset(x, 0, n * sizeof(float));
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long launches = 0;
  while (std::chrono::steady_clock::now() < end) {
    hipLaunchKernelGGL(spin, dim3(n / 256), dim3(256), 0, 0, x, n, 2000);
    if (hipDeviceSynchronize() != hipSuccess) {
      std::fprintf(stderr, "busy: kernel failed after %ld launches\n", launches);
      return 1;
    }
    if (++launches % 100 == 0) std::printf("busy: %ld launches\n", launches), std::fflush(stdout);
  }
  hipFree(x);
  return 0;
}
