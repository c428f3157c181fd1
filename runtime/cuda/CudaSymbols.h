//===- CudaSymbols.h - the CUDA entry points the runtime calls, loaded at run time -*- C++ -*-===//
//
// One X-macro table, as IREE's dynamic_symbol_tables.h: every driver, cuDNN, cuBLAS and
// NCCL function the runtime uses, resolved with dlopen/dlsym when a device is opened (NCCL
// when several GPUs average gradients), so that nothing links libcuda, libcudnn, libcublas
// or libnccl and dlrun builds and starts on machines without a GPU. NCCL's entries exist
// when its header was found at build time (DLC_HAVE_NCCL_HEADER). The toolkit's headers give the types; their versioning macros (cuMemAlloc ->
// cuMemAlloc_v2, cublasSgemm -> cublasSgemm_v2) apply to the member names and to the names
// looked up alike.
//
#pragma once

#include <cublas_v2.h>
#include <cuda.h>
#include <cudnn.h>
#if DLC_HAVE_NCCL_HEADER
#include <nccl.h>
#endif

#include <string>

/// X(library, function) for each entry point; library is Driver, Cudnn, Cublas or Nccl.
#define DLC_CUDA_SYMBOLS(X)                                                                        \
  X(Driver, cuInit)                                                                                \
  X(Driver, cuGetErrorName)                                                                        \
  X(Driver, cuGetErrorString)                                                                      \
  X(Driver, cuDeviceGetCount)                                                                      \
  X(Driver, cuDeviceGet)                                                                           \
  X(Driver, cuDeviceGetName)                                                                       \
  X(Driver, cuDeviceGetAttribute)                                                                  \
  X(Driver, cuDeviceTotalMem)                                                                      \
  X(Driver, cuDevicePrimaryCtxRetain)                                                              \
  X(Driver, cuDevicePrimaryCtxRelease)                                                             \
  X(Driver, cuCtxSetCurrent)                                                                       \
  X(Driver, cuCtxGetCurrent)                                                                       \
  X(Driver, cuStreamCreate)                                                                        \
  X(Driver, cuStreamDestroy)                                                                       \
  X(Driver, cuStreamSynchronize)                                                                   \
  X(Driver, cuMemAlloc)                                                                            \
  X(Driver, cuMemFree)                                                                             \
  X(Driver, cuMemcpyHtoD)                                                                          \
  X(Driver, cuMemcpyDtoH)                                                                          \
  X(Driver, cuMemcpyDtoDAsync)                                                                     \
  X(Driver, cuModuleLoadData)                                                                      \
  X(Driver, cuModuleUnload)                                                                        \
  X(Driver, cuModuleGetFunction)                                                                   \
  X(Driver, cuLaunchKernel)                                                                        \
  X(Driver, cuEventCreate)                                                                         \
  X(Driver, cuEventDestroy)                                                                        \
  X(Driver, cuEventRecord)                                                                         \
  X(Driver, cuEventSynchronize)                                                                    \
  X(Driver, cuEventElapsedTime)                                                                    \
  X(Driver, cuStreamWaitEvent)                                                                     \
  X(Driver, cuMemcpyPeerAsync)                                                                     \
  X(Driver, cuDeviceCanAccessPeer)                                                                 \
  X(Driver, cuCtxEnablePeerAccess)                                                                 \
  X(Cudnn, cudnnGetErrorString)                                                                    \
  X(Cudnn, cudnnCreate)                                                                            \
  X(Cudnn, cudnnDestroy)                                                                           \
  X(Cudnn, cudnnSetStream)                                                                         \
  X(Cudnn, cudnnCreateTensorDescriptor)                                                            \
  X(Cudnn, cudnnDestroyTensorDescriptor)                                                           \
  X(Cudnn, cudnnSetTensor4dDescriptor)                                                             \
  X(Cudnn, cudnnCreateFilterDescriptor)                                                            \
  X(Cudnn, cudnnDestroyFilterDescriptor)                                                           \
  X(Cudnn, cudnnSetFilter4dDescriptor)                                                             \
  X(Cudnn, cudnnCreateConvolutionDescriptor)                                                       \
  X(Cudnn, cudnnDestroyConvolutionDescriptor)                                                      \
  X(Cudnn, cudnnSetConvolution2dDescriptor)                                                        \
  X(Cudnn, cudnnSetConvolutionMathType)                                                            \
  X(Cudnn, cudnnSetConvolutionGroupCount)                                                          \
  X(Cudnn, cudnnGetConvolutionForwardAlgorithm_v7)                                                 \
  X(Cudnn, cudnnGetConvolutionBackwardDataAlgorithm_v7)                                            \
  X(Cudnn, cudnnGetConvolutionBackwardFilterAlgorithm_v7)                                          \
  X(Cudnn, cudnnConvolutionForward)                                                                \
  X(Cudnn, cudnnConvolutionBackwardData)                                                           \
  X(Cudnn, cudnnConvolutionBackwardFilter)                                                         \
  X(Cudnn, cudnnCreateActivationDescriptor)                                                        \
  X(Cudnn, cudnnDestroyActivationDescriptor)                                                       \
  X(Cudnn, cudnnSetActivationDescriptor)                                                           \
  X(Cudnn, cudnnActivationForward)                                                                 \
  X(Cudnn, cudnnAddTensor)                                                                         \
  X(Cublas, cublasCreate)                                                                          \
  X(Cublas, cublasDestroy)                                                                         \
  X(Cublas, cublasSetStream)                                                                       \
  X(Cublas, cublasGetStatusString)                                                                 \
  X(Cublas, cublasSgemm)                                                                           \
  DLC_NCCL_SYMBOLS(X)

/// NCCL's entry points: the in-place allreduce of the data-parallel gradient pack and what it
/// takes to make a communicator (runtime/dist/NcclCommunicator.h).
#if DLC_HAVE_NCCL_HEADER
#define DLC_NCCL_SYMBOLS(X)                                                                        \
  X(Nccl, ncclGetVersion)                                                                          \
  X(Nccl, ncclGetErrorString)                                                                      \
  X(Nccl, ncclGetUniqueId)                                                                         \
  X(Nccl, ncclCommInitAll)                                                                         \
  X(Nccl, ncclCommInitRank)                                                                        \
  X(Nccl, ncclCommDestroy)                                                                         \
  X(Nccl, ncclAllReduce)
#else
#define DLC_NCCL_SYMBOLS(X)
#endif

/// X(library, function, type) for the entry points C++ overloads in the toolkit's headers
/// (cublas_api.h adds a cublasGemmEx taking the old cudaDataType compute type), whose
/// address has no single type to deduce: the C function's.
using DlcCublasGemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
                                           int, int, int, const void *, const void *,
                                           cudaDataType, int, const void *, cudaDataType, int,
                                           const void *, void *, cudaDataType, int,
                                           cublasComputeType_t, cublasGemmAlgo_t);
#define DLC_CUDA_TYPED_SYMBOLS(X) X(Cublas, cublasGemmEx, DlcCublasGemmEx)

namespace dlc::cuda {

enum class CudaLibrary { Driver, Cudnn, Cublas, Nccl };

/// Pointers to every entry point of DLC_CUDA_SYMBOLS, named as the functions.
struct CudaSymbols {
#define DLC_CUDA_SYMBOL_MEMBER(library, name) decltype(&::name) name = nullptr;
  DLC_CUDA_SYMBOLS(DLC_CUDA_SYMBOL_MEMBER)
#undef DLC_CUDA_SYMBOL_MEMBER
#define DLC_CUDA_TYPED_SYMBOL_MEMBER(library, name, type) type name = nullptr;
  DLC_CUDA_TYPED_SYMBOLS(DLC_CUDA_TYPED_SYMBOL_MEMBER)
#undef DLC_CUDA_TYPED_SYMBOL_MEMBER
};

/// Loads `library` (once per process) and resolves its entry points in the process-wide
/// table. False with a one-line `error` when the library or one of its functions is missing,
/// e.g. "libcuda.so.1: cannot open shared object file: No such file or directory".
bool loadCudaLibrary(CudaLibrary library, std::string &error);

/// The process-wide table; only the entry points of libraries loaded so far are set.
const CudaSymbols &cudaSymbols();

} // namespace dlc::cuda
