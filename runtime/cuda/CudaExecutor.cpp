//===- CudaExecutor.cpp - runs a plan's kernel program on a GPU ---------------===//
//
// Library calls, as the compiler recorded them:
//   - convolutions: cuDNN's legacy convolution API on NCHW float tensors, FMA math (no TF32,
//     so results stay comparable with the CPU's), the fastest deterministic algorithm whose
//     workspace fits the plan's (any fitting one if none is deterministic);
//   - matmul: cublasSgemm with the column-major operands the compiler worked out;
//     cublasGemmEx (CUBLAS_COMPUTE_32F) on the 2-byte operands of a mixed-precision plan,
//     whose convolutions run on cuDNN's half/bfloat16 tensors with tensor-op math and whose
//     epilogues are generated kernels launched after the call;
//   - epilogues (conv2d_fwd, matmul): cudnnAddTensor for the bias and cudnnActivationForward
//     for relu, in place on the output. A fused library path (cudnnConvolutionBias-
//     ActivationForward, cuBLASLt epilogues) is an optimisation for later.
// Everything is enqueued on the device's stream; runProgramCuda waits once at the end.
//
#include "runtime/cuda/CudaExecutor.h"

using namespace dlc;
using namespace dlc::cuda;

void CudaArena::release() {
  if (base)
    device->sym->cuMemFree(base);
  base = 0;
  bytes = 0;
}

bool cuda::allocateArenaCuda(const CudaDevice &device, const plan::Plan &plan, CudaArena &out,
                             std::string &error) {
  out.release();
  out.device = &device;
  if (!device.check(device.sym->cuMemAlloc(&out.base, plan.arenaBytes), "cuMemAlloc", error)) {
    error = "cannot allocate the arena (" + std::to_string(plan.arenaBytes) + " bytes) on " +
            device.name + ": " + error;
    return false;
  }
  out.bytes = plan.arenaBytes;
  return true;
}

void CudaProgram::release() {
  if (!device)
    return;
  const CudaSymbols &s = *device->sym;
  for (Call &c : calls) {
    if (c.x)
      s.cudnnDestroyTensorDescriptor(c.x);
    if (c.y)
      s.cudnnDestroyTensorDescriptor(c.y);
    if (c.bias)
      s.cudnnDestroyTensorDescriptor(c.bias);
    if (c.w)
      s.cudnnDestroyFilterDescriptor(c.w);
    if (c.conv)
      s.cudnnDestroyConvolutionDescriptor(c.conv);
  }
  calls.clear();
  for (CUevent e : events)
    s.cuEventDestroy(e);
  events.clear();
  if (relu)
    s.cudnnDestroyActivationDescriptor(relu);
  relu = nullptr;
  if (module)
    s.cuModuleUnload(module);
  module = nullptr;
  device = nullptr;
}

namespace {

/// Buffers of the largest kernel call (conv2d_fwd with a bias has 5).
constexpr size_t kMaxArgs = 8;

/// cuDNN lists algorithms fastest first; take the first deterministic one that fits, as the
/// CPU runtime is deterministic, else the first that fits.
template <class Perf>
bool pickAlgorithm(const Perf *perf, int count, uint64_t workspace, int &algorithm) {
  for (bool needDeterministic : {true, false})
    for (int i = 0; i < count; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= workspace &&
          (!needDeterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
        algorithm = int(perf[i].algo);
        return true;
      }
  return false;
}

/// cuDNN's and cuBLAS's names of a storage type (library calls never see int32).
cudnnDataType_t cudnnType(plan::DType t) {
  return t == plan::DType::F16    ? CUDNN_DATA_HALF
         : t == plan::DType::BF16 ? CUDNN_DATA_BFLOAT16
                                  : CUDNN_DATA_FLOAT;
}
cudaDataType cublasType(plan::DType t) {
  return t == plan::DType::F16 ? CUDA_R_16F : t == plan::DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

/// Descriptors and algorithm of a convolution call. 2-byte tensors compute in float
/// (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16 configurations) on tensor cores; float ones with
/// FMA math (no TF32), as the CPU.
bool prepareConv(const CudaDevice &d, CudaProgram::Call &c, std::string &error) {
  const CudaSymbols &s = *d.sym;
  const CudnnConv &v = c.launch.library.conv;
  const uint64_t workspace = c.launch.library.workspaceBytes;
  const cudnnDataType_t type = cudnnType(c.dtype);
  const bool half = c.dtype != plan::DType::F32;
  if (!d.check(s.cudnnCreateTensorDescriptor(&c.x), "cudnnCreateTensorDescriptor", error) ||
      !d.check(s.cudnnCreateTensorDescriptor(&c.y), "cudnnCreateTensorDescriptor", error) ||
      !d.check(s.cudnnCreateFilterDescriptor(&c.w), "cudnnCreateFilterDescriptor", error) ||
      !d.check(s.cudnnCreateConvolutionDescriptor(&c.conv), "cudnnCreateConvolutionDescriptor",
               error) ||
      !d.check(s.cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NCHW, type, v.n, v.c, v.h, v.w),
               "cudnnSetTensor4dDescriptor", error) ||
      !d.check(s.cudnnSetTensor4dDescriptor(c.y, CUDNN_TENSOR_NCHW, type, v.n, v.k, v.outH,
                                            v.outW),
               "cudnnSetTensor4dDescriptor", error) ||
      !d.check(s.cudnnSetFilter4dDescriptor(c.w, type, CUDNN_TENSOR_NCHW, v.k, v.c / v.groups,
                                            v.r, v.s),
               "cudnnSetFilter4dDescriptor", error) ||
      !d.check(s.cudnnSetConvolution2dDescriptor(c.conv, v.padH, v.padW, v.strideH, v.strideW,
                                                 v.dilH, v.dilW, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT),
               "cudnnSetConvolution2dDescriptor", error) ||
      !d.check(s.cudnnSetConvolutionGroupCount(c.conv, v.groups),
               "cudnnSetConvolutionGroupCount", error) ||
      !d.check(s.cudnnSetConvolutionMathType(c.conv, half ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
               "cudnnSetConvolutionMathType", error))
    return false;
  int found = 0;
  bool ok = false;
  switch (c.launch.library.kind) {
  case CudaLibraryKind::CudnnConvFwd: {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    ok =
        d.check(s.cudnnGetConvolutionForwardAlgorithm_v7(
                    d.cudnn, c.x, c.w, c.conv, c.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf),
                "cudnnGetConvolutionForwardAlgorithm_v7", error) &&
        pickAlgorithm(perf, found, workspace, c.algorithm);
    break;
  }
  case CudaLibraryKind::CudnnConvBwdData: {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    ok = d.check(s.cudnnGetConvolutionBackwardDataAlgorithm_v7(
                     d.cudnn, c.w, c.y, c.conv, c.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &found,
                     perf),
                 "cudnnGetConvolutionBackwardDataAlgorithm_v7", error) &&
         pickAlgorithm(perf, found, workspace, c.algorithm);
    break;
  }
  default: {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    ok = d.check(s.cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                     d.cudnn, c.x, c.y, c.conv, c.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                     &found, perf),
                 "cudnnGetConvolutionBackwardFilterAlgorithm_v7", error) &&
         pickAlgorithm(perf, found, workspace, c.algorithm);
    break;
  }
  }
  if (!ok && error.empty())
    error =
        "no cuDNN algorithm fits the plan's workspace of " + std::to_string(workspace) + " bytes";
  return ok;
}

/// Descriptors of an epilogue: the output `c.y` (set for convolutions; for matmul, C[M][N]
/// seen as NCHW [M][N][1][1]) and the bias [1][channels][1][1].
bool prepareEpilogue(const CudaDevice &d, CudaProgram &p, CudaProgram::Call &c,
                     std::string &error) {
  const CudaSymbols &s = *d.sym;
  const CudaLibraryCall &lib = c.launch.library;
  if (!lib.epilogue)
    return true;
  int channels = lib.conv.k;
  if (lib.kind == CudaLibraryKind::CublasGemm) {
    channels = lib.gemm.m;
    if (!d.check(s.cudnnCreateTensorDescriptor(&c.y), "cudnnCreateTensorDescriptor", error) ||
        !d.check(s.cudnnSetTensor4dDescriptor(c.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, lib.gemm.n,
                                              lib.gemm.m, 1, 1),
                 "cudnnSetTensor4dDescriptor", error))
      return false;
  }
  if ((lib.epilogue & plan::kEpilogueBias) &&
      (!d.check(s.cudnnCreateTensorDescriptor(&c.bias), "cudnnCreateTensorDescriptor", error) ||
       !d.check(s.cudnnSetTensor4dDescriptor(c.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                             channels, 1, 1),
                "cudnnSetTensor4dDescriptor", error)))
    return false;
  if ((lib.epilogue & plan::kEpilogueRelu) && !p.relu &&
      (!d.check(s.cudnnCreateActivationDescriptor(&p.relu), "cudnnCreateActivationDescriptor",
                error) ||
       !d.check(s.cudnnSetActivationDescriptor(p.relu, CUDNN_ACTIVATION_RELU,
                                               CUDNN_NOT_PROPAGATE_NAN, 0.0),
                "cudnnSetActivationDescriptor", error)))
    return false;
  return true;
}

} // namespace

bool cuda::loadProgramCuda(const CudaDevice &device, const plan::Plan &plan,
                           const plan::Program &program, const std::vector<CudaLaunch> &launches,
                           const std::vector<uint8_t> &image, CudaProgram &out,
                           std::string &error) {
  out.release();
  out.device = &device;
  const CudaSymbols &s = *device.sym;
  if (launches.size() != program.kernels.size()) {
    error = "program '" + program.name + "' has " + std::to_string(program.kernels.size()) +
            " kernel calls but " + std::to_string(launches.size()) + " launch records";
    return false;
  }
  if (image.empty() ||
      !device.check(s.cuModuleLoadData(&out.module, image.data()), "cuModuleLoadData", error)) {
    error = "program '" + program.name + "': cannot load its module on " + device.name +
            (image.empty() ? ": empty image" : " (" + device.arch() + "): " + error);
    out.release();
    return false;
  }
  for (size_t n = 0; n < launches.size(); ++n) {
    out.calls.emplace_back();
    CudaProgram::Call &c = out.calls.back();
    c.kernel = &program.kernels[n];
    c.launch = launches[n];
    for (int32_t id : c.kernel->args)
      c.offsets.push_back(plan.buffers[id].offset);
    bool ok = c.launch.kernel == int32_t(n) && c.offsets.size() <= kMaxArgs;
    if (!ok)
      error = c.launch.kernel == int32_t(n)
                  ? "more than " + std::to_string(kMaxArgs) + " buffers"
                  : "launch record " + std::to_string(n) + " is for kernel " +
                        std::to_string(c.launch.kernel);
    else if (c.launch.library.kind == CudaLibraryKind::None)
      ok = device.check(s.cuModuleGetFunction(&c.function, out.module, c.launch.function.c_str()),
                        ("cuModuleGetFunction '" + c.launch.function + "'").c_str(), error);
    else {
      // cuBLAS and cuDNN take operands of one type (checkLaunches made sure of it).
      c.dtype = plan.buffers[c.kernel->args[0]].dtype;
      c.generatedEpilogue = !c.launch.function.empty();
      ok =
          (c.launch.library.kind == CudaLibraryKind::CublasGemm || prepareConv(device, c, error)) &&
          (c.generatedEpilogue
               ? device.check(s.cuModuleGetFunction(&c.function, out.module,
                                                    c.launch.function.c_str()),
                              ("cuModuleGetFunction '" + c.launch.function + "'").c_str(), error)
               : prepareEpilogue(device, out, c, error));
    }
    if (!ok) {
      error = "program '" + program.name + "' kernel " + std::to_string(n) + " '" + c.kernel->name +
              "': " + error;
      out.release();
      return false;
    }
  }
  out.events.resize(launches.size() + 1);
  for (CUevent &e : out.events)
    if (!device.check(s.cuEventCreate(&e, CU_EVENT_DEFAULT), "cuEventCreate", error)) {
      out.release();
      return false;
    }
  return true;
}

namespace {

/// Queues call `c` on the arena at `base`; argument `replaced` (if any) at `replacement`.
bool runCall(const CudaDevice &d, const CudaProgram &p, const CudaProgram::Call &c,
             CUdeviceptr base, std::string &error, size_t replaced = kMaxArgs,
             CUdeviceptr replacement = 0) {
  const CudaSymbols &s = *d.sym;
  const CudaLibraryCall &lib = c.launch.library;
  CUdeviceptr ptr[kMaxArgs];
  for (size_t a = 0; a < c.offsets.size(); ++a)
    ptr[a] = a == replaced ? replacement : base + c.offsets[a];
  auto dev = [&](int arg) { return reinterpret_cast<void *>(ptr[arg]); };
  const float one = 1.f, zero = 0.f;
  switch (lib.kind) {
  case CudaLibraryKind::None: {
    void *params[kMaxArgs];
    for (size_t a = 0; a < c.offsets.size(); ++a)
      params[a] = &ptr[a];
    const Dim3 &g = c.launch.grid, &b = c.launch.block;
    return d.check(
        s.cuLaunchKernel(c.function, g.x, g.y, g.z, b.x, b.y, b.z, 0, d.stream, params, nullptr),
        "cuLaunchKernel", error);
  }
  case CudaLibraryKind::CudnnConvFwd:
    if (!d.check(s.cudnnConvolutionForward(d.cudnn, &one, c.x, dev(0), c.w, dev(1), c.conv,
                                           cudnnConvolutionFwdAlgo_t(c.algorithm), dev(3),
                                           lib.workspaceBytes, &zero, c.y, dev(2)),
                 "cudnnConvolutionForward", error))
      return false;
    break;
  case CudaLibraryKind::CudnnConvBwdData:
    return d.check(s.cudnnConvolutionBackwardData(d.cudnn, &one, c.w, dev(1), c.y, dev(0), c.conv,
                                                  cudnnConvolutionBwdDataAlgo_t(c.algorithm),
                                                  dev(3), lib.workspaceBytes, &zero, c.x, dev(2)),
                   "cudnnConvolutionBackwardData", error);
  case CudaLibraryKind::CudnnConvBwdFilter:
    return d.check(s.cudnnConvolutionBackwardFilter(d.cudnn, &one, c.x, dev(1), c.y, dev(0), c.conv,
                                                    cudnnConvolutionBwdFilterAlgo_t(c.algorithm),
                                                    dev(3), lib.workspaceBytes, &zero, c.w, dev(2)),
                   "cudnnConvolutionBackwardFilter", error);
  case CudaLibraryKind::CublasGemm: {
    const CublasGemm &g = lib.gemm;
    if (c.dtype != plan::DType::F32) {
      // 2-byte operands and result, float accumulation (tensor cores).
      const cudaDataType type = cublasType(c.dtype);
      if (!d.check(s.cublasGemmEx(d.cublas, g.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  g.transB ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &one,
                                  dev(g.aArg), type, g.lda, dev(g.bArg), type, g.ldb, &zero,
                                  dev(2), type, g.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx", error))
        return false;
      break;
    }
    if (!d.check(s.cublasSgemm(d.cublas, g.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
                               g.transB ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &one,
                               static_cast<const float *>(dev(g.aArg)), g.lda,
                               static_cast<const float *>(dev(g.bArg)), g.ldb, &zero,
                               static_cast<float *>(dev(2)), g.ldc),
                 "cublasSgemm", error))
      return false;
    break;
  }
  }
  if (c.generatedEpilogue) {
    void *params[kMaxArgs];
    for (size_t a = 0; a < c.offsets.size(); ++a)
      params[a] = &ptr[a];
    const Dim3 &g = c.launch.grid, &b = c.launch.block;
    return d.check(
        s.cuLaunchKernel(c.function, g.x, g.y, g.z, b.x, b.y, b.z, 0, d.stream, params, nullptr),
        "cuLaunchKernel (epilogue)", error);
  }
  if ((lib.epilogue & plan::kEpilogueBias) &&
      !d.check(s.cudnnAddTensor(d.cudnn, &one, c.bias, dev(lib.biasArg), &one, c.y, dev(2)),
               "cudnnAddTensor", error))
    return false;
  if ((lib.epilogue & plan::kEpilogueRelu) &&
      !d.check(s.cudnnActivationForward(d.cudnn, p.relu, &one, c.y, dev(2), &zero, c.y, dev(2)),
               "cudnnActivationForward", error))
    return false;
  return true;
}

} // namespace

bool cuda::runProgramCuda(const CudaProgram &program, const CudaArena &arena, std::string &error,
                          std::vector<double> *kernelSeconds) {
  const CudaDevice &d = *program.device;
  const CudaSymbols &s = *d.sym;
  const size_t n = program.calls.size();
  for (size_t i = 0; i < n; ++i) {
    const CudaProgram::Call &c = program.calls[i];
    if ((kernelSeconds &&
         !d.check(s.cuEventRecord(program.events[i], d.stream), "cuEventRecord", error)) ||
        !runCall(d, program, c, arena.base, error)) {
      error = "kernel " + std::to_string(i) + " '" + c.kernel->name + "': " + error;
      return false;
    }
    // Dynamic loss scaling: one read of the found-inf flag per step (GradScaler's .item()),
    // and the updates skipped when it is set (the loader checked the resume index).
    if (c.kernel->kind == plan::KernelKind::SkipIfNonfinite) {
      float flag = 0.f;
      if (!d.check(s.cuStreamSynchronize(d.stream), "cuStreamSynchronize", error) ||
          !d.check(s.cuMemcpyDtoH(&flag, arena.base + c.offsets[0] + 2 * sizeof(float),
                                  sizeof flag),
                   "cuMemcpyDtoH", error)) {
        error = "kernel " + std::to_string(i) + " '" + c.kernel->name + "': " + error;
        return false;
      }
      if (flag != 0.f) {
        for (size_t skipped = i + 1; kernelSeconds && skipped < size_t(c.kernel->ints[0]); ++skipped)
          if (!d.check(s.cuEventRecord(program.events[skipped], d.stream), "cuEventRecord", error))
            return false;
        i = size_t(c.kernel->ints[0]) - 1;
      }
    }
  }
  if (kernelSeconds &&
      !d.check(s.cuEventRecord(program.events[n], d.stream), "cuEventRecord", error))
    return false;
  // A kernel's fault surfaces only here, asynchronously, without saying which kernel.
  if (!d.check(s.cuStreamSynchronize(d.stream), "cuStreamSynchronize", error))
    return false;
  if (!kernelSeconds)
    return true;
  kernelSeconds->resize(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    float ms = 0.f;
    if (!d.check(s.cuEventElapsedTime(&ms, program.events[i], program.events[i + 1]),
                 "cuEventElapsedTime", error))
      return false;
    (*kernelSeconds)[i] += ms * 1e-3;
  }
  return true;
}

bool cuda::runCallCuda(const CudaProgram &program, size_t index, const CudaArena &arena,
                       std::string &error) {
  const CudaDevice &d = *program.device;
  if (index >= program.calls.size()) {
    error = "the program has no kernel call " + std::to_string(index);
    return false;
  }
  const CudaProgram::Call &c = program.calls[index];
  // Synchronizing here makes a fault surface with the call that caused it.
  if (!runCall(d, program, c, arena.base, error) ||
      !d.check(d.sym->cuStreamSynchronize(d.stream), "cuStreamSynchronize", error)) {
    error = "kernel " + std::to_string(index) + " '" + c.kernel->name + "': " + error;
    return false;
  }
  return true;
}

bool cuda::enqueueCallsCuda(const CudaProgram &program, size_t first, size_t last,
                            const CudaArena &arena, std::string &error) {
  for (size_t i = first; i < last && i < program.calls.size(); ++i) {
    const CudaProgram::Call &c = program.calls[i];
    if (!runCall(*program.device, program, c, arena.base, error)) {
      error = "kernel " + std::to_string(i) + " '" + c.kernel->name + "': " + error;
      return false;
    }
  }
  return true;
}

bool cuda::enqueueCallOnCuda(const CudaProgram &program, size_t index, const CudaArena &arena,
                             size_t arg, CUdeviceptr address, std::string &error) {
  if (index >= program.calls.size() || arg >= program.calls[index].offsets.size()) {
    error = "the program has no kernel call " + std::to_string(index) + " with argument " +
            std::to_string(arg);
    return false;
  }
  const CudaProgram::Call &c = program.calls[index];
  if (!runCall(*program.device, program, c, arena.base, error, arg, address)) {
    error = "kernel " + std::to_string(index) + " '" + c.kernel->name + "': " + error;
    return false;
  }
  return true;
}
