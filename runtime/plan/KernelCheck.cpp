//===- KernelCheck.cpp - the kernel table and the checks of kernel calls ---------------===//
//
// For each kind: which int attributes are sizes (at least 1, at most kMaxElements), which
// other ranges hold (strides, paddings, a time step inside its sequence), and the element
// count of every argument as a function of the attributes. Counts are multiplied with
// overflow checks: a product that overflows saturates and can never fit a buffer.
//
//===------------------------------------------------------------------------------------===//

#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <cmath>

namespace dlc::plan {

namespace {

constexpr size_t countParams(const char *params) {
  size_t n = 1;
  for (const char *p = params; *p; ++p)
    n += *p == ',';
  return n;
}

// The output size helpers the table's FLOP formulas use (valid attributes only).
double convOut(const std::vector<int64_t> &i) {
  return double((i[2] + 2 * i[9] - i[5]) / i[7] + 1) * double((i[3] + 2 * i[10] - i[6]) / i[8] + 1);
}
double generalConvOut(const std::vector<int64_t> &i) {
  return double((i[2] + i[9] + i[11] - i[13] * (i[5] - 1) - 1) / i[7] + 1) *
         double((i[3] + i[10] + i[12] - i[14] * (i[6] - 1) - 1) / i[8] + 1);
}
double poolOut(const std::vector<int64_t> &i) {
  return double((i[2] + 2 * i[8] - i[4]) / i[6] + 1) * double((i[3] + 2 * i[9] - i[5]) / i[7] + 1);
}

// How many functions the general kernels have (runtime/plan/TensorFunctions.def).
constexpr int64_t kUnaryFunctions = 0
#define DLC_UNARY_FN(Enum, name, expr) +1
#include "runtime/plan/TensorFunctions.def"
    ;
constexpr int64_t kBinaryFunctions = 0
#define DLC_BINARY_FN(Enum, name, expr) +1
#include "runtime/plan/TensorFunctions.def"
    ;
constexpr int64_t kReduceFunctions = 0
#define DLC_REDUCE_FN(Enum, name, first, step, finish) +1
#include "runtime/plan/TensorFunctions.def"
    ;

const KernelKindInfo kInfo[] = {
#define DLC_KERNEL_KIND(Enum, name, params, ints, floats, epilogues, tolerance, flops, cpu)         \
  {name, params, countParams(params), ints, floats, epilogues, tolerance},
#include "runtime/plan/KernelKinds.def"
};
static_assert(sizeof(kInfo) / sizeof(kInfo[0]) == size_t(KernelKind::NumKinds),
              "one table line per kind");

/// Products of sizes that saturate instead of wrapping.
uint64_t mul(std::initializer_list<uint64_t> xs) {
  uint64_t r = 1;
  for (uint64_t x : xs)
    if (__builtin_mul_overflow(r, x, &r))
      return UINT64_MAX;
  return r;
}

/// Reads the attributes of one kernel, recording the first range error.
class Attrs {
public:
  Attrs(const Kernel &k, std::string &error) : i(k.ints), error(error) {}

  /// ints[index...] are sizes: at least 1 and at most kMaxElements.
  bool sizes(std::initializer_list<size_t> indices) {
    for (size_t x : indices)
      if (i[x] < 1 || uint64_t(i[x]) > kMaxElements)
        return fail("int attribute " + std::to_string(x) + " is " + std::to_string(i[x]) +
                    ", not a size in [1, " + std::to_string(kMaxElements) + "]");
    return true;
  }
  bool range(size_t x, int64_t lo, int64_t hi, const char *what) {
    if (i[x] < lo || i[x] > hi)
      return fail(std::string(what) + " (int attribute " + std::to_string(x) + ") is " +
                  std::to_string(i[x]) + ", outside [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
    return true;
  }
  bool fail(const std::string &message) {
    error = message;
    return false;
  }
  int64_t operator[](size_t x) const { return i[x]; }

private:
  const std::vector<int64_t> &i;
  std::string &error;
};

/// Window geometry shared by convolutions and pooling: sizes, stride >= 1, padding below
/// the window (as PyTorch requires for pooling, and no window lies wholly in padding), the
/// padded input at least one window. Sets the output height and width.
bool window(Attrs &a, size_t h, size_t w, size_t r, size_t s, size_t strideH, size_t padH,
            uint64_t &oh, uint64_t &ow) {
  if (!a.sizes({h, w, r, s, strideH, strideH + 1}) ||
      !a.range(padH, 0, a[r] - 1, "padding height") ||
      !a.range(padH + 1, 0, a[s] - 1, "padding width"))
    return false;
  if (a[h] + 2 * a[padH] < a[r] || a[w] + 2 * a[padH + 1] < a[s])
    return a.fail("window " + std::to_string(a[r]) + "x" + std::to_string(a[s]) +
                  " larger than the padded input " + std::to_string(a[h] + 2 * a[padH]) + "x" +
                  std::to_string(a[w] + 2 * a[padH + 1]));
  oh = uint64_t((a[h] + 2 * a[padH] - a[r]) / a[strideH] + 1);
  ow = uint64_t((a[w] + 2 * a[padH + 1] - a[s]) / a[strideH + 1] + 1);
  return true;
}

/// A grouped, dilated convolution's geometry (the conv2d_general_* kinds): sizes; groups
/// dividing both channel counts; dilation at most the input extent; each padding below the
/// dilated window (as PyTorch's 'same' gives, so no output lies wholly in padding); the
/// padded input at least one dilated window. Sets the output height and width.
bool generalConvWindow(Attrs &a, uint64_t &oh, uint64_t &ow) {
  if (!a.sizes({0, 1, 2, 3, 4, 5, 6, 7, 8, 13, 14, 15}))
    return false;
  if (a[1] % a[15] != 0 || a[4] % a[15] != 0)
    return a.fail("groups " + std::to_string(a[15]) + " do not divide the " +
                  std::to_string(a[1]) + " input and " + std::to_string(a[4]) +
                  " output channels");
  // Bounded sizes, so these products cannot overflow.
  const int64_t eh = a[13] * (a[5] - 1) + 1, ew = a[14] * (a[6] - 1) + 1;
  if (!a.range(9, 0, eh - 1, "padding top") || !a.range(10, 0, ew - 1, "padding left") ||
      !a.range(11, 0, eh - 1, "padding bottom") || !a.range(12, 0, ew - 1, "padding right"))
    return false;
  const int64_t ph = a[2] + a[9] + a[11], pw = a[3] + a[10] + a[12];
  // The kernels index the padded input with ints.
  if (uint64_t(ph) > kMaxElements || uint64_t(pw) > kMaxElements)
    return a.fail("padded input " + std::to_string(ph) + "x" + std::to_string(pw) +
                  " larger than " + std::to_string(kMaxElements));
  if (ph < eh || pw < ew)
    return a.fail("dilated window " + std::to_string(eh) + "x" + std::to_string(ew) +
                  " larger than the padded input " + std::to_string(ph) + "x" +
                  std::to_string(pw));
  oh = uint64_t((ph - eh) / a[7] + 1);
  ow = uint64_t((pw - ew) / a[8] + 1);
  return true;
}

bool finite(const Kernel &k, std::string &error) {
  for (size_t x = 0; x < k.floats.size(); ++x)
    if (!std::isfinite(k.floats[x])) {
      error = "float attribute " + std::to_string(x) + " is not finite";
      return false;
    }
  return true;
}

} // namespace

const KernelKindInfo &kernelKindInfo(KernelKind kind) {
  size_t x = size_t(kind) < size_t(KernelKind::NumKinds) ? size_t(kind) : 0;
  return kInfo[x];
}

std::vector<std::string> kernelParams(KernelKind kind) {
  std::vector<std::string> out;
  std::string all = kernelKindInfo(kind).params;
  size_t start = 0;
  while (start <= all.size()) {
    size_t comma = all.find(',', start);
    if (comma == std::string::npos)
      comma = all.size();
    std::string p = all.substr(start, comma - start);
    p.erase(0, p.find_first_not_of(' '));
    out.push_back(p);
    start = comma + 1;
  }
  return out;
}

std::string kernelArgName(KernelKind kind, size_t index) {
  std::vector<std::string> params = kernelParams(kind);
  if (index >= params.size())
    return "bias";
  const std::string &p = params[index];
  return p.substr(p.find_last_of("* ") + 1);
}

bool kernelWritesArg(KernelKind kind, size_t index) {
  std::vector<std::string> params = kernelParams(kind);
  return index < params.size() && params[index].rfind("const ", 0) != 0;
}

int64_t kernelEpilogue(const Kernel &k) {
  const KernelKindInfo &info = kernelKindInfo(k.kind);
  return info.epilogues && k.ints.size() > info.ints ? k.ints[info.ints] : 0;
}

double kernelFlops(const Kernel &k) {
  const std::vector<int64_t> &i = k.ints;
  if (i.size() < kernelKindInfo(k.kind).ints)
    return 0;
  switch (k.kind) {
#define DLC_KERNEL_KIND(Enum, name, params, ints, floats, epilogues, tolerance, flops, cpu)         \
  case KernelKind::Enum:                                                                           \
    return flops;
#include "runtime/plan/KernelKinds.def"
  case KernelKind::NumKinds:
    break;
  }
  return 0;
}

bool kernelArgBytes(const Kernel &k, std::vector<uint64_t> &bytes, std::string &error) {
  if (size_t(k.kind) >= size_t(KernelKind::NumKinds)) {
    error = "unknown kernel kind " + std::to_string(size_t(k.kind));
    return false;
  }
  const KernelKindInfo &info = kernelKindInfo(k.kind);
  bool hasEpilogue = info.epilogues && k.ints.size() == info.ints + 1;
  if (k.ints.size() != info.ints && !hasEpilogue) {
    error = "expects " + std::to_string(info.ints) + (info.epilogues ? " or " + std::to_string(info.ints + 1) : "") +
            " int attributes, has " + std::to_string(k.ints.size());
    return false;
  }
  if (k.floats.size() != info.floats) {
    error = "expects " + std::to_string(info.floats) + " float attributes, has " +
            std::to_string(k.floats.size());
    return false;
  }
  int64_t epi = hasEpilogue ? k.ints.back() : 0;
  if (epi & ~info.epilogues) {
    error = "epilogue bits " + std::to_string(epi) + " not accepted by " + info.name;
    return false;
  }
  size_t args = info.args + ((epi & kEpilogueBias) ? 1 : 0);
  if (k.args.size() != args) {
    error = "expects " + std::to_string(args) + " buffer arguments, has " + std::to_string(k.args.size());
    return false;
  }
  if (!finite(k, error))
    return false;

  Attrs a(k, error);
  const std::vector<float> &f = k.floats;
  std::vector<uint64_t> n; // elements per argument
  uint64_t oh = 0, ow = 0;
  switch (k.kind) {
  case KernelKind::Conv2dFwd:
  case KernelKind::Conv2dBwdData:
  case KernelKind::Conv2dBwdFilter: {
    // n c h w k r s strideH strideW padH padW
    if (!a.sizes({0, 1, 4}) || !window(a, 2, 3, 5, 6, 7, 9, oh, ow))
      return false;
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3])});
    uint64_t w = mul({uint64_t(a[4]), uint64_t(a[1]), uint64_t(a[5]), uint64_t(a[6])});
    uint64_t y = mul({uint64_t(a[0]), uint64_t(a[4]), oh, ow});
    uint64_t ws = mul({uint64_t(a[1]), uint64_t(a[5]), uint64_t(a[6]), oh, ow});
    if (k.kind == KernelKind::Conv2dFwd)
      n = {x, w, y, ws};
    else if (k.kind == KernelKind::Conv2dBwdData)
      n = {y, w, x, ws};
    else
      n = {y, x, w, ws};
    if (epi & kEpilogueBias)
      n.push_back(uint64_t(a[4]));
    break;
  }
  case KernelKind::Conv2dGeneralFwd:
  case KernelKind::Conv2dGeneralBwdData:
  case KernelKind::Conv2dGeneralBwdFilter: {
    // n c h w k r s strideH strideW padTop padLeft padBottom padRight dilH dilW groups
    if (!generalConvWindow(a, oh, ow))
      return false;
    const uint64_t cg = uint64_t(a[1] / a[15]);
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3])});
    uint64_t w = mul({uint64_t(a[4]), cg, uint64_t(a[5]), uint64_t(a[6])});
    uint64_t y = mul({uint64_t(a[0]), uint64_t(a[4]), oh, ow});
    uint64_t ws = mul({cg, uint64_t(a[5]), uint64_t(a[6]), oh, ow});
    if (k.kind == KernelKind::Conv2dGeneralFwd)
      n = {x, w, y, ws};
    else if (k.kind == KernelKind::Conv2dGeneralBwdData)
      n = {y, w, x, ws};
    else
      n = {y, x, w, ws};
    if (epi & kEpilogueBias)
      n.push_back(uint64_t(a[4]));
    break;
  }
  case KernelKind::MaxPoolFwd:
  case KernelKind::MaxPoolBwd:
  case KernelKind::AvgPoolFwd:
  case KernelKind::AvgPoolBwd: {
    // n c h w kh kw strideH strideW padH padW
    if (!a.sizes({0, 1}) || !window(a, 2, 3, 4, 5, 6, 8, oh, ow))
      return false;
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3])});
    uint64_t y = mul({uint64_t(a[0]), uint64_t(a[1]), oh, ow});
    if (k.kind == KernelKind::MaxPoolFwd || k.kind == KernelKind::AvgPoolFwd)
      n = {x, y};
    else if (k.kind == KernelKind::MaxPoolBwd)
      n = {x, y, x};
    else
      n = {y, x};
    break;
  }
  // Elementwise kinds (the table's DLC_ELEMENTWISE_KIND lines): every argument has n elements.
#define DLC_ELEMENTWISE_KIND(Enum, name, params, flopsPerElement, cpu, cuda)                       \
  case KernelKind::Enum:
#include "runtime/plan/KernelKinds.def"
    if (!a.sizes({0}))
      return false;
    n.assign(info.args, uint64_t(a[0]));
    break;
  case KernelKind::Mse:
  case KernelKind::MseBwd:
  case KernelKind::BceWithLogits:
  case KernelKind::BceWithLogitsBwd:
    // n: x and t have n elements, the loss 1, dx n
    if (!a.sizes({0}))
      return false;
    n = {uint64_t(a[0]), uint64_t(a[0]),
         k.kind == KernelKind::Mse || k.kind == KernelKind::BceWithLogits ? 1 : uint64_t(a[0])};
    break;
  case KernelKind::SgdMomentum:
    if (!a.sizes({0}))
      return false;
    if (!(f[0] >= 0) || !(f[1] >= 0) || !(f[2] >= 0))
      return a.fail("learning rate, momentum and weight decay must be non-negative");
    n.assign(info.args, uint64_t(a[0]));
    break;
  case KernelKind::BiasAdd:
  case KernelKind::BiasAddBwd: {
    // outer channels inner
    if (!a.sizes({0, 1, 2}))
      return false;
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2])});
    n = k.kind == KernelKind::BiasAdd ? std::vector<uint64_t>{x, uint64_t(a[1]), x}
                                      : std::vector<uint64_t>{x, uint64_t(a[1])};
    break;
  }
  case KernelKind::Matmul: {
    // M N K transA transB: c[M][N] = op(a)[M][K] op(b)[K][N]
    if (!a.sizes({0, 1, 2}) || !a.range(3, 0, 1, "transA") || !a.range(4, 0, 1, "transB"))
      return false;
    uint64_t m = uint64_t(a[0]), nn = uint64_t(a[1]), kk = uint64_t(a[2]);
    n = {mul({m, kk}), mul({kk, nn}), mul({m, nn})};
    if (epi & kEpilogueBias)
      n.push_back(nn);
    break;
  }
  case KernelKind::SoftmaxXent:
  case KernelKind::SoftmaxXentBwd:
  case KernelKind::Accuracy: {
    // batch classes; labels are int32
    if (!a.sizes({0, 1}))
      return false;
    uint64_t logits = mul({uint64_t(a[0]), uint64_t(a[1])});
    n = {logits, uint64_t(a[0]), k.kind == KernelKind::SoftmaxXentBwd ? logits : 1};
    break;
  }
  case KernelKind::Unary:
    // n fn
    if (!a.sizes({0}) || !a.range(1, 0, kUnaryFunctions - 1, "unary function"))
      return false;
    n = {uint64_t(a[0]), uint64_t(a[0])};
    break;
  case KernelKind::BroadcastBinary: {
    // fn d0..d5 xs0..xs5 zs0..zs5 xoff zoff: every element an operand reads lies within it,
    // from its lowest (offset plus the negative strides' reach) to its highest
    if (!a.range(0, 0, kBinaryFunctions - 1, "binary function") ||
        !a.sizes({1, 2, 3, 4, 5, 6}) || !a.range(19, 0, int64_t(kMaxElements), "offset") ||
        !a.range(20, 0, int64_t(kMaxElements), "offset"))
      return false;
    uint64_t extent[2];
    for (size_t op = 0; op < 2; ++op) {
      // Sizes and strides are at most 2^40 here, so these sums fit in int64_t.
      int64_t lo = a[19 + op], hi = a[19 + op];
      for (size_t j = 0; j < 6; ++j) {
        if (!a.range(7 + 6 * op + j, -int64_t(kMaxElements), int64_t(kMaxElements), "stride"))
          return false;
        const double reach = double(a[1 + j] - 1) * double(a[7 + 6 * op + j]);
        if (std::fabs(reach) > double(kMaxElements))
          return a.fail("a stride reaches beyond " + std::to_string(kMaxElements) + " elements");
        (reach < 0 ? lo : hi) += int64_t(reach);
      }
      if (lo < 0)
        return a.fail("a negative stride reads before the operand's first element");
      extent[op] = uint64_t(hi) + 1;
    }
    n = {extent[0], extent[1],
         mul({uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3]), uint64_t(a[4]), uint64_t(a[5]),
              uint64_t(a[6])})};
    break;
  }
  case KernelKind::Reduce:
    // fn outer mid inner
    if (!a.range(0, 0, kReduceFunctions - 1, "reduce function") || !a.sizes({1, 2, 3}))
      return false;
    n = {mul({uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3])}),
         mul({uint64_t(a[1]), uint64_t(a[3])})};
    break;
  case KernelKind::Embedding:
  case KernelKind::EmbeddingBwd: {
    // rows vocab dim; idx int32 [rows], w/dw [vocab, dim], y/dy [rows, dim]
    if (!a.sizes({0, 1, 2}))
      return false;
    uint64_t table = mul({uint64_t(a[1]), uint64_t(a[2])}),
             rows = mul({uint64_t(a[0]), uint64_t(a[2])});
    n = {uint64_t(a[0]), k.kind == KernelKind::Embedding ? table : rows,
         k.kind == KernelKind::Embedding ? rows : table};
    break;
  }
  case KernelKind::PositionAdd:
  case KernelKind::PositionAddBwd: {
    // batch steps dim positions; x/y/dy [batch, steps, dim], table/dtable [positions, dim]
    if (!a.sizes({0, 1, 2, 3}))
      return false;
    if (a[1] > a[3])
      return a.fail("steps " + std::to_string(a[1]) + " exceed the table's " +
                    std::to_string(a[3]) + " positions");
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2])}),
             table = mul({uint64_t(a[3]), uint64_t(a[2])});
    n = k.kind == KernelKind::PositionAdd ? std::vector<uint64_t>{x, table, x}
                                          : std::vector<uint64_t>{x, table};
    break;
  }
  case KernelKind::Concat:
  case KernelKind::ConcatBwd: {
    // outer aInner bInner
    if (!a.sizes({0, 1, 2}))
      return false;
    uint64_t o = uint64_t(a[0]), x = mul({o, uint64_t(a[1])}), y = mul({o, uint64_t(a[2])});
    uint64_t xy = mul({o, uint64_t(a[1]) + uint64_t(a[2])});
    n = k.kind == KernelKind::Concat ? std::vector<uint64_t>{x, y, xy}
                                     : std::vector<uint64_t>{xy, x, y};
    break;
  }
  case KernelKind::LayerNormFwd:
  case KernelKind::LayerNormBwd: {
    // rows d; the forward's eps
    if (!a.sizes({0, 1}))
      return false;
    if (k.kind == KernelKind::LayerNormFwd && !(f[0] > 0))
      return a.fail("eps must be positive");
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1])}), d = uint64_t(a[1]), r = uint64_t(a[0]);
    n = k.kind == KernelKind::LayerNormFwd ? std::vector<uint64_t>{x, d, d, x, r, r}
                                           : std::vector<uint64_t>{x, x, d, r, r, x, d, d};
    break;
  }
  case KernelKind::AttentionFwd:
  case KernelKind::AttentionBwd:
  case KernelKind::AttentionMaskedFwd: {
    // batch steps heads headDim causal; the masked forward's mask is int32 [batch, steps]
    if (!a.sizes({0, 1, 2, 3}) || !a.range(4, 0, 1, "causal flag"))
      return false;
    const uint64_t c = mul({uint64_t(a[2]), uint64_t(a[3])});
    const uint64_t y = mul({uint64_t(a[0]), uint64_t(a[1]), c});
    const uint64_t qkv = mul({y, 3});
    const uint64_t p = mul({uint64_t(a[0]), uint64_t(a[2]), uint64_t(a[1]), uint64_t(a[1])});
    if (k.kind == KernelKind::AttentionFwd)
      n = {qkv, y, p};
    else if (k.kind == KernelKind::AttentionMaskedFwd)
      n = {qkv, mul({uint64_t(a[0]), uint64_t(a[1])}), y, p};
    else
      n = {y, qkv, p, y, qkv};
    break;
  }
  case KernelKind::Transpose: {
    // d0..d5 p0..p5: sizes, and a permutation of 0..5
    if (!a.sizes({0, 1, 2, 3, 4, 5}))
      return false;
    unsigned seen = 0;
    for (size_t j = 6; j < 12; ++j) {
      if (!a.range(j, 0, 5, "permuted axis"))
        return false;
      seen |= 1u << a[j];
    }
    if (seen != 0x3f)
      return a.fail("int attributes 6 to 11 are not a permutation of 0 to 5");
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2]), uint64_t(a[3]),
                      uint64_t(a[4]), uint64_t(a[5])});
    n = {x, x};
    break;
  }
  case KernelKind::DropoutFwd:
  case KernelKind::DropoutBwd:
    // n seed threshold; the counter is one float
    if (!a.sizes({0}) || !a.range(1, 0, UINT32_MAX, "seed") ||
        !a.range(2, 0, int64_t(1) << 24, "threshold"))
      return false;
    if (!(f[0] > 0))
      return a.fail("scale must be positive");
    n = {uint64_t(a[0]), 1, uint64_t(a[0])};
    break;
  case KernelKind::SoftmaxFwd:
  case KernelKind::SoftmaxBwd: {
    // rows cols: every argument is [rows][cols]
    if (!a.sizes({0, 1}))
      return false;
    n.assign(info.args, mul({uint64_t(a[0]), uint64_t(a[1])}));
    break;
  }
  case KernelKind::BatchNormTrain:
  case KernelKind::BatchNormEval:
  case KernelKind::BatchNormBwd: {
    // n c hw
    if (!a.sizes({0, 1, 2}))
      return false;
    if (k.kind != KernelKind::BatchNormBwd && !(f[0] >= 0))
      return a.fail("eps must be non-negative");
    if (k.kind == KernelKind::BatchNormTrain && !(f[1] >= 0 && f[1] <= 1))
      return a.fail("momentum must be in [0, 1]");
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2])}), c = uint64_t(a[1]);
    if (k.kind == KernelKind::BatchNormTrain)
      n = {x, c, c, c, c, x, c, c};
    else if (k.kind == KernelKind::BatchNormEval)
      n = {x, c, c, c, c, x};
    else
      n = {x, x, c, c, c, x, c, c};
    break;
  }
  case KernelKind::LrnFwd:
  case KernelKind::LrnBwd: {
    // n c hw radius; floats bias alpha beta
    if (!a.sizes({0, 1, 2}) || !a.range(3, 0, int64_t(kMaxElements), "window radius"))
      return false;
    if (!(f[0] > 0) || !(f[1] >= 0) || !(f[2] >= 0))
      return a.fail("bias must be positive and alpha, beta non-negative");
    uint64_t x = mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2])});
    n.assign(info.args, x);
    break;
  }
  case KernelKind::TimeStep: {
    // n steps features step
    if (!a.sizes({0, 1, 2}) || !a.range(3, 0, a[1] - 1, "step"))
      return false;
    n = {mul({uint64_t(a[0]), uint64_t(a[1]), uint64_t(a[2])}), mul({uint64_t(a[0]), uint64_t(a[2])})};
    break;
  }
  case KernelKind::LstmCellFwd:
  case KernelKind::LstmCellBwd: {
    // n units
    if (!a.sizes({0, 1}))
      return false;
    uint64_t h = mul({uint64_t(a[0]), uint64_t(a[1])}), gates = mul({4, h});
    n = k.kind == KernelKind::LstmCellFwd ? std::vector<uint64_t>{gates, h, h, h}
                                          : std::vector<uint64_t>{gates, h, h, h, gates, h};
    break;
  }
  case KernelKind::LstmSeqFwd:
  case KernelKind::LstmSeqBwd: {
    // n steps inputs units
    if (!a.sizes({0, 1, 2, 3}))
      return false;
    const uint64_t N = uint64_t(a[0]), T = uint64_t(a[1]), I = uint64_t(a[2]), H = uint64_t(a[3]);
    const uint64_t x = mul({N, T, I}), wih = mul({4, H, I}), whh = mul({4, H, H}), b = mul({4, H}),
                   h = mul({N, H}), reserve = mul({N, lstmReserveWidth(T, H)});
    if (k.kind == KernelKind::LstmSeqFwd)
      n = {x, wih, whh, b, h, reserve};
    else
      n = {x, whh, reserve, h, wih, whh, b, lstmSequenceWorkspaceFloats(N, H)};
    break;
  }
  // Loss scaling: the state is the 4 floats of runtime/cpu/LossScaleKernels.h.
  case KernelKind::LossScale:
  case KernelKind::UnscaleGrad:
    if (!a.sizes({0}))
      return false;
    n = {uint64_t(a[0]), 4};
    break;
  case KernelKind::SkipIfNonfinite:
    // The resume index is checked against the program by validatePlan.
    if (!a.range(0, 1, int64_t(1) << 30, "resume kernel"))
      return false;
    n = {4};
    break;
  case KernelKind::LossScaleUpdate:
    if (!a.range(0, 1, int64_t(1) << 30, "growth interval"))
      return false;
    n = {4};
    break;
  // Scheduled optimizers: the state is the 4 floats of runtime/cpu/OptimizerKernels.h.
  case KernelKind::LrSchedule:
    // schedule warmupSteps stepSize totalSteps; floats lr gamma minLr
    if (!a.range(0, 0, 3, "schedule") || !a.range(1, 0, kMaxSteps, "warm-up steps") ||
        !a.sizes({2}) || !a.range(3, 0, kMaxSteps, "total steps"))
      return false;
    if (!(f[0] > 0) || !(f[1] > 0 && f[1] <= 1) || !(f[2] >= 0 && f[2] <= f[0]))
      return a.fail("lr must be positive, gamma in (0, 1] and min_lr in [0, lr]");
    n = {kOptStateFloats};
    break;
  case KernelKind::GradSumSq:
    if (!a.sizes({0}))
      return false;
    n = {uint64_t(a[0]), kOptStateFloats};
    break;
  case KernelKind::ClipScale:
    if (!(f[0] > 0))
      return a.fail("the maximum gradient norm must be positive");
    n = {kOptStateFloats};
    break;
  case KernelKind::SgdStep:
    // n nesterov; floats momentum weightDecay
    if (!a.sizes({0}) || !a.range(1, 0, 1, "nesterov"))
      return false;
    if (!(f[0] >= 0 && f[0] < 1) || !(f[1] >= 0))
      return a.fail("momentum must be in [0, 1) and weight decay non-negative");
    if (a[1] && !(f[0] > 0))
      return a.fail("nesterov needs a positive momentum");
    n = {uint64_t(a[0]), uint64_t(a[0]), uint64_t(a[0]), kOptStateFloats};
    break;
  case KernelKind::AdamStep:
    // n decoupled; floats beta1 beta2 eps weightDecay
    if (!a.sizes({0}) || !a.range(1, 0, 1, "decoupled"))
      return false;
    if (!(f[0] >= 0 && f[0] < 1) || !(f[1] >= 0 && f[1] < 1) || !(f[2] > 0) || !(f[3] >= 0))
      return a.fail("betas must be in [0, 1), eps positive and weight decay non-negative");
    n = {uint64_t(a[0]), uint64_t(a[0]), uint64_t(a[0]), uint64_t(a[0]), kOptStateFloats};
    break;
  case KernelKind::CopySlice:
    // n srcOffset dstOffset: the slices lie inside x and y
    if (!a.sizes({0}) || !a.range(1, 0, int64_t(kMaxElements), "source offset") ||
        !a.range(2, 0, int64_t(kMaxElements), "destination offset"))
      return false;
    n = {uint64_t(a[0]) + uint64_t(a[1]), uint64_t(a[0]) + uint64_t(a[2])};
    break;
  case KernelKind::NumKinds:
    error = "unknown kernel kind";
    return false;
  }

  if (n.size() != k.args.size()) { // the table and the rules above disagree: a bug here
    error = std::string("internal error: ") + info.name + " sizes " + std::to_string(n.size()) +
            " arguments of " + std::to_string(k.args.size());
    return false;
  }
  bytes.clear();
  for (size_t j = 0; j < n.size(); ++j) {
    if (n[j] > kMaxElements) {
      error = "argument '" + kernelArgName(k.kind, j) + "' needs " +
              (n[j] == UINT64_MAX ? std::string("more than 2^64") : std::to_string(n[j])) +
              " elements, more than the " + std::to_string(kMaxElements) + " a kernel may index";
      return false;
    }
    bytes.push_back(n[j] * 4);
  }
  return true;
}

bool checkKernel(const Plan &plan, const Kernel &k, std::string &error) {
  std::vector<uint64_t> bytes;
  if (!kernelArgBytes(k, bytes, error))
    return false;
  for (size_t j = 0; j < k.args.size(); ++j) {
    int32_t id = k.args[j];
    if (id < 0 || size_t(id) >= plan.buffers.size()) {
      error = "argument '" + kernelArgName(k.kind, j) + "' names buffer " + std::to_string(id) +
              " of " + std::to_string(plan.buffers.size());
      return false;
    }
    const Buffer &b = plan.buffers[id];
    // kernelArgBytes counts 4-byte elements; a half buffer holds them in 2 bytes each.
    bytes[j] = bytes[j] / 4 * dtypeBytes(b.dtype);
    if (b.bytes < bytes[j]) {
      error = "argument '" + kernelArgName(k.kind, j) + "' needs " + std::to_string(bytes[j]) +
              " bytes, buffer '" + b.name + "' has " + std::to_string(b.bytes);
      return false;
    }
  }
  return true;
}

} // namespace dlc::plan
