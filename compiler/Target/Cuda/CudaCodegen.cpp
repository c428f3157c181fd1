//===- CudaCodegen.cpp - a plan program as CUDA C and launch records ------------===//
//
// One pass over the program's kernel calls. Each call is checked against its kind (attribute
// and buffer counts, positive sizes), then lowered:
//
//   - elementwise kinds (KernelKinds.def gives their statement): one thread per output
//     element, grid-stride loop, 256-thread blocks and at most kMaxBlocks blocks (beyond
//     that each thread takes several elements);
//   - reductions: one thread per output (bias_add_bwd: a channel; softmax_xent_bwd: a row;
//     maxpool_bwd: an input element, gathering from the windows that contain it);
//   - scalar outputs (softmax_xent, accuracy): a single thread, which keeps them free of
//     atomics and of a zeroing pass, and deterministic;
//   - convolutions and matmul: cuDNN / cuBLAS records; with emitReferenceLibraryKernels also
//     a direct one-thread-per-output implementation, epilogue included.
//
// Sums follow runtime/cpu/Kernels.cpp (double where it uses double, the same order where it
// matters for exactness, e.g. maxpool_bwd), so the host emulation can compare tightly.
//
// Indices are `int` when every index of a kernel fits, `long long` otherwise: 64-bit division
// is several times slower on GPUs, and most tensors are far below 2^31 elements.
//
//===----------------------------------------------------------------------------===//

#include "compiler/Target/Cuda/CudaCodegen.h"
#include "compiler/Target/Cuda/HalfTypes.h"

#include "runtime/plan/KernelCheck.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <sstream>

using namespace dlc;
using namespace dlc::cuda;
using plan::KernelKind;

namespace {

constexpr unsigned kBlockThreads = 256;
/// Enough blocks to fill any current GPU several times over; larger tensors loop.
constexpr unsigned kMaxBlocks = 4096;

/// Launch configuration for `work` independent items, one thread each.
void configure(CudaLaunch &l, int64_t work) {
  if (work < kBlockThreads) {
    l.block.x = unsigned(std::max<int64_t>(32, (work + 31) / 32 * 32)); // whole warps
    l.grid.x = 1;
    return;
  }
  l.block.x = kBlockThreads;
  l.grid.x = unsigned(std::min<int64_t>(kMaxBlocks, (work + kBlockThreads - 1) / kBlockThreads));
}

/// The narrowest index type for `n` items launched as `l`: the grid-stride increment must not
/// overflow either.
const char *indexType(int64_t n, const CudaLaunch &l) {
  int64_t threads = int64_t(l.grid.x) * l.block.x;
  return n + threads <= INT_MAX ? "int" : "long long";
}

/// A float constant that reads back as the same float.
std::string floatLiteral(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s + "f";
}

/// Layer names come from the user's YAML: keep them from ending a `//` comment early or
/// splicing it onto the next line.
std::string commentSafe(const std::string &s) {
  std::string out = s;
  for (char &c : out)
    if (c < 0x20 || c > 0x7e || c == '\\')
      c = '?';
  return out;
}

/// Lowers one kernel call; `fail` records the first error.
class KernelEmitter {
public:
  KernelEmitter(const plan::Plan &plan, const plan::Kernel &k, int index,
                const CudaCodegenOptions &opts, std::ostringstream &os, CudaLaunch &launch)
      : plan(plan), k(k), i(k.ints), opts(opts), os(os), launch(launch) {
    launch.kernel = index;
    fn = opts.symbolPrefix + "k" + std::to_string(index) + "_" + plan::kernelKindName(k.kind);
    where = "kernel " + std::to_string(index) + " '" + k.name + "' (" +
            plan::kernelKindName(k.kind) + ")";
  }

  bool run(std::string &error);

private:
  const plan::Plan &plan;
  const plan::Kernel &k;
  const std::vector<int64_t> &i;
  const CudaCodegenOptions &opts;
  std::ostringstream &os;
  CudaLaunch &launch;
  std::string fn, where, error;
  const char *t = "int"; // index type of the kernel being emitted
  std::vector<std::string> params; // the kind's parameter declarations (KernelKinds.def)
  int64_t epilogue = 0;

  bool fail(const std::string &message) {
    if (error.empty())
      error = where + ": " + message;
    return false;
  }
  bool check();

  /// `extern "C" __global__ void fn(params) {`, preceded by the call's name.
  void open(const std::string &note) {
    os << "\n// " << commentSafe(k.name) << ": " << note << "\n";
    os << "extern \"C\" __global__ void " << fn << "(";
    for (size_t a = 0; a < params.size(); ++a)
      os << (a ? ", " : "") << typed(params[a], k.args[a]);
    if (epilogue & plan::kEpilogueBias)
      os << ", " << typed("const float *bias", k.args.back());
    os << ") {\n";
  }
  /// A parameter declaration of the table ("const float *x") for the buffer it is given:
  /// float storage as written, a half buffer's as the prelude's storage type (halfTypes.h).
  std::string typed(const std::string &param, int32_t buffer) const {
    const char *storage = halfStorageType(plan.buffers[buffer].dtype);
    size_t at = param.find("float");
    if (!storage || at == std::string::npos)
      return param;
    return param.substr(0, at) + storage + param.substr(at + 5);
  }
  /// Grid-stride loop over `n` items as `idx`, choosing `t`, the index type for `n` and for
  /// `extent`, the largest element count the body indexes. The body follows; close() ends it.
  void loop(int64_t n, int64_t extent = 0) {
    configure(launch, n);
    t = indexType(std::max(n, extent), launch);
    os << "  for (" << t << " idx = (" << t << ")blockIdx.x * blockDim.x + threadIdx.x; idx < " << n
       << "; idx += (" << t << ")blockDim.x * gridDim.x) {\n";
  }
  void close() { os << "  }\n}\n"; }
  /// The epilogue applied to `acc` before the store; `channel` indexes the bias.
  void emitEpilogue(const char *channel) {
    if (epilogue & plan::kEpilogueBias)
      os << "    acc += bias[" << channel << "];\n";
    if (epilogue & plan::kEpilogueRelu)
      os << "    acc = acc > 0.0f ? acc : 0.0f;\n";
  }

  /// The range oy0..oy1 x ox0..ox1 of pooling windows that contain input element (iy, ix):
  /// oy*sh - ph <= iy < oy*sh - ph + kh, likewise for x.
  void emitCoveringWindows(int64_t ph, int64_t pw, int64_t kh, int64_t kw, int64_t sh,
                           int64_t sw, int64_t oh, int64_t ow) {
    os << "    int oy0 = iy + " << ph - kh + 1 << ", ox0 = ix + " << pw - kw + 1 << ";\n"
       << "    oy0 = oy0 <= 0 ? 0 : (oy0 + " << sh - 1 << ") / " << sh << ";\n"
       << "    ox0 = ox0 <= 0 ? 0 : (ox0 + " << sw - 1 << ") / " << sw << ";\n"
       << "    int oy1 = (iy + " << ph << ") / " << sh << ", ox1 = (ix + " << pw << ") / " << sw
       << ";\n"
       << "    oy1 = oy1 < " << oh - 1 << " ? oy1 : " << oh - 1 << ";\n"
       << "    ox1 = ox1 < " << ow - 1 << " ? ox1 : " << ow - 1 << ";\n";
  }

  /// The table's statement once per element; float attributes (leaky_relu's slope) are the
  /// constants f0, f1, ... it reads.
  void elementwise(const char *statement) {
    std::string note = "count " + std::to_string(i[0]);
    for (size_t f = 0; f < k.floats.size(); ++f)
      note += ", f" + std::to_string(f) + " " + floatLiteral(k.floats[f]);
    open(note);
    for (size_t f = 0; f < k.floats.size(); ++f)
      os << "  const float f" << f << " = " << floatLiteral(k.floats[f]) << ";\n";
    loop(i[0]);
    os << "    " << statement << "\n";
    close();
  }
  void biasAdd();
  void biasAddBwd();
  void maxPoolArgmaxHelper();
  void maxPoolFwd();
  void maxPoolBwd();
  void softmaxXent();
  void softmaxXentBwd();
  void accuracy();
  void sgdMomentum();
  void batchNormTrain();
  void batchNormEval();
  void batchNormBwd();
  void avgPoolFwd();
  void avgPoolBwd();
  void lrnScaleHelper();
  std::string lrnNegPower(const std::string &scale);
  void lrnFwd();
  void lrnBwd();
  void timeStep();
  void lstmActivations();
  void lstmCellFwd();
  void lstmCellBwd();
  void oneThread(const std::string &note, int64_t extent);
  void lrSchedule();
  void gradSumSq();
  void clipScale();
  void sgdStep();
  void adamStep();
  void softmaxFwd();
  void softmaxBwd();
  void dropout(const char *in, const char *out);
  void concat(bool backward);
  void layerNormFwd();
  void layerNormBwd();
  void attentionFwd();
  void attentionBwd();
  void embedding();
  void embeddingBwd();
  void positionAdd();
  void positionAddBwd();
  void transpose();
  void unary();
  void broadcastBinary();
  void reduce();
  void regressionLoss(const char *term);
  void regressionLossBwd(const char *statement, double scale);
  void convLibrary(CudaLibraryKind kind);
  CudnnConv convGeometry() const;
  void convReference(CudaLibraryKind kind, const CudnnConv &c, const std::string &what);
  void convFwdReference(const CudnnConv &c, const std::string &what);
  void convBwdDataReference(const CudnnConv &c, const std::string &what);
  void convBwdFilterReference(const CudnnConv &c, const std::string &what);
  void matmulLibrary();
  void matmulReference();
  void halfEpilogue(int64_t outputs, const std::string &channel);
};

/// The plan loader's check (runtime/plan/KernelCheck.h): counts, attribute ranges and
/// buffer sizes, so generated code indexes only inside its arguments.
bool KernelEmitter::check() {
  std::string why;
  if (!plan::checkKernel(plan, k, why))
    return fail(why);
  params = plan::kernelParams(k.kind);
  epilogue = plan::kernelEpilogue(k);
  return true;
}

void KernelEmitter::biasAdd() {
  open("outer " + std::to_string(i[0]) + ", channels " + std::to_string(i[1]) + ", inner " +
       std::to_string(i[2]));
  loop(i[0] * i[1] * i[2]);
  os << "    y[idx] = x[idx] + b[(idx / " << i[2] << ") % " << i[1] << "];\n";
  close();
}

void KernelEmitter::biasAddBwd() {
  const int64_t outer = i[0], channels = i[1], inner = i[2];
  open("one thread per channel, double sums as on the CPU");
  loop(channels, outer * channels * inner);
  os << "    double acc = 0.0;\n"
     << "    for (" << t << " o = 0; o < " << outer << "; ++o) {\n"
     << "      const auto *p = dy + (o * " << channels << " + idx) * " << inner << ";\n"
     << "      for (int j = 0; j < " << inner << "; ++j)\n"
     << "        acc += p[j];\n"
     << "    }\n"
     << "    db[idx] = (float)acc;\n";
  close();
}

/// Index within the plane of the first maximum of window (oy, ox), -1 when the window lies
/// wholly in padding: the rule of the CPU's poolArgmax, shared by forward and backward.
void KernelEmitter::maxPoolArgmaxHelper() {
  const int64_t h = i[2], w = i[3], kh = i[4], kw = i[5], sh = i[6], sw = i[7], ph = i[8],
                pw = i[9];
  os << "\ntemplate <class T>\nstatic __device__ __forceinline__ int " << fn
     << "_argmax(const T *plane, int oy, int ox) {\n"
     << "  const int y0 = oy * " << sh << " - " << ph << ", x0 = ox * " << sw << " - " << pw
     << ";\n"
     << "  const int yEnd = y0 + " << kh << " < " << h << " ? y0 + " << kh << " : " << h << ";\n"
     << "  const int xEnd = x0 + " << kw << " < " << w << " ? x0 + " << kw << " : " << w << ";\n"
     << "  int best = -1;\n"
     << "  float bestVal = 0.0f;\n"
     << "  for (int iy = y0 > 0 ? y0 : 0; iy < yEnd; ++iy)\n"
     << "    for (int ix = x0 > 0 ? x0 : 0; ix < xEnd; ++ix) {\n"
     << "      const float v = plane[iy * " << w << " + ix];\n"
     << "      if (best < 0 || v > bestVal) { // admits -inf and NaN, as on the CPU\n"
     << "        best = iy * " << w << " + ix;\n"
     << "        bestVal = v;\n"
     << "      }\n"
     << "    }\n"
     << "  return best;\n"
     << "}\n";
}

void KernelEmitter::maxPoolFwd() {
  const int64_t n = i[0], c = i[1], h = i[2], w = i[3];
  const int64_t oh = (h + 2 * i[8] - i[4]) / i[6] + 1, ow = (w + 2 * i[9] - i[5]) / i[7] + 1;
  maxPoolArgmaxHelper();
  open("one thread per output");
  loop(n * c * oh * ow, n * c * h * w);
  os << "    const int ox = (int)(idx % " << ow << "), oy = (int)(idx / " << ow << " % " << oh
     << ");\n"
     << "    const auto *plane = x + idx / " << oh * ow << " * " << h * w << ";\n"
     << "    const int best = " << fn << "_argmax(plane, oy, ox);\n"
     << "    y[idx] = best < 0 ? 0.0f : plane[best];\n";
  close();
}

void KernelEmitter::maxPoolBwd() {
  const int64_t n = i[0], c = i[1], h = i[2], w = i[3], kh = i[4], kw = i[5], sh = i[6], sw = i[7],
                ph = i[8], pw = i[9];
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  maxPoolArgmaxHelper();
  open("one thread per input element, gathering dy from the windows whose argmax it is, in the "
       "CPU's order");
  loop(n * c * h * w);
  os << "    const int ix = (int)(idx % " << w << "), iy = (int)(idx / " << w << " % " << h
     << ");\n"
     << "    const " << t << " p = idx / " << h * w << ";\n"
     << "    const auto *plane = x + p * " << h * w << ";\n"
     << "    const auto *g = dy + p * " << oh * ow << ";\n"
     << "    // Windows oy with oy*" << sh << " - " << ph << " <= iy < oy*" << sh << " - " << ph
     << " + " << kh << ", likewise ox.\n";
  emitCoveringWindows(ph, pw, kh, kw, sh, sw, oh, ow);
  os << "    float acc = 0.0f;\n"
     << "    for (int oy = oy0; oy <= oy1; ++oy)\n"
     << "      for (int ox = ox0; ox <= ox1; ++ox)\n"
     << "        if (" << fn << "_argmax(plane, oy, ox) == iy * " << w << " + ix)\n"
     << "          acc += g[oy * " << ow << " + ox];\n";
  if (epilogue & plan::kEpilogueRelu) // x is a relu's output: pass only where it is > 0
    os << "    dx[idx] = plane[iy * " << w << " + ix] > 0.0f ? acc : 0.0f;\n";
  else
    os << "    dx[idx] = acc;\n";
  close();
}

/// `mx` = the row's maximum (first one, as std::max_element) and `sum` = sum of exp(row - mx)
/// in double, as the CPU computes them.
static void emitRowMaxAndSum(std::ostringstream &os, const char *indent, int64_t classes) {
  os << indent << "float mx = row[0];\n"
     << indent << "for (int j = 1; j < " << classes << "; ++j)\n"
     << indent << "  mx = mx < row[j] ? row[j] : mx;\n"
     << indent << "double sum = 0.0;\n"
     << indent << "for (int j = 0; j < " << classes << "; ++j)\n"
     << indent << "  sum += exp((double)row[j] - mx);\n";
}

void KernelEmitter::softmaxXent() {
  const int64_t batch = i[0], classes = i[1];
  open("one thread: the mean over the batch needs no atomics or zeroing this way");
  launch.grid.x = launch.block.x = 1;
  t = indexType(batch * classes, launch);
  os << "  if (blockIdx.x != 0 || threadIdx.x != 0)\n"
     << "    return;\n"
     << "  double total = 0.0;\n"
     << "  for (int b = 0; b < " << batch << "; ++b) {\n"
     << "    const auto *row = logits + (" << t << ")b * " << classes << ";\n";
  emitRowMaxAndSum(os, "    ", classes);
  // An out-of-range label makes the loss NaN (as on the CPU), never a read past the row.
  os << "    const int label = labels[b];\n"
     << "    total += label >= 0 && label < " << classes
     << " ? log(sum) + mx - row[label] : sqrt(-1.0);\n"
     << "  }\n"
     << "  *loss = (float)(total / " << batch << ");\n"
     << "}\n";
}

void KernelEmitter::softmaxXentBwd() {
  const int64_t batch = i[0], classes = i[1];
  open("one thread per row");
  loop(batch, batch * classes);
  os << "    const auto *row = logits + idx * " << classes << ";\n"
     << "    auto *d = dlogits + idx * " << classes << ";\n";
  emitRowMaxAndSum(os, "    ", classes);
  os << "    const double inv = (1.0 / " << batch << ") / sum;\n"
     << "    for (int j = 0; j < " << classes << "; ++j)\n"
     << "      d[j] = (float)(exp((double)row[j] - mx) * inv);\n"
     << "    const int label = labels[idx];\n"
     << "    if (label >= 0 && label < " << classes << ")\n"
     << "      d[label] -= (float)(1.0 / " << batch << ");\n"
     << "    else\n"
     << "      for (int j = 0; j < " << classes << "; ++j)\n"
     << "        d[j] = sqrtf(-1.0f);\n";
  close();
}

void KernelEmitter::accuracy() {
  const int64_t batch = i[0], classes = i[1];
  open("one thread; ties go to the lowest class, as on the CPU");
  launch.grid.x = launch.block.x = 1;
  t = indexType(batch * classes, launch);
  os << "  if (blockIdx.x != 0 || threadIdx.x != 0)\n"
     << "    return;\n"
     << "  int hits = 0;\n"
     << "  for (int b = 0; b < " << batch << "; ++b) {\n"
     << "    const auto *row = logits + (" << t << ")b * " << classes << ";\n"
     << "    int best = 0;\n"
     << "    for (int j = 1; j < " << classes << "; ++j)\n"
     << "      best = row[best] < row[j] ? j : best;\n"
     << "    hits += best == labels[b];\n"
     << "  }\n"
     << "  *correct = (float)hits;\n"
     << "}\n";
}

void KernelEmitter::sgdMomentum() {
  open("count " + std::to_string(i[0]) + ", lr " + floatLiteral(k.floats[0]) + ", momentum " +
       floatLiteral(k.floats[1]) + ", weight decay " + floatLiteral(k.floats[2]));
  loop(i[0]);
  os << "    const float mi = " << floatLiteral(k.floats[1]) << " * m[idx] + (g[idx] + "
     << floatLiteral(k.floats[2]) << " * w[idx]);\n"
     << "    m[idx] = mi;\n"
     << "    w[idx] -= " << floatLiteral(k.floats[0]) << " * mi;\n";
  close();
}

// Scheduled optimizers (runtime/cpu/OptimizerKernels.h): the state's slots are 0 step, 1 lr,
// 2 sum of squares, 3 clip factor. The scalar kernels run on one thread; the per-step scalars
// of the update kernels are computed by every thread, in double, as on the CPU.
void KernelEmitter::oneThread(const std::string &note, int64_t extent) {
  open(note);
  launch.grid.x = launch.block.x = 1;
  t = indexType(extent, launch);
  os << "  if (blockIdx.x != 0 || threadIdx.x != 0)\n"
     << "    return;\n";
}

void KernelEmitter::lrSchedule() {
  const int64_t type = i[0], warmup = i[1], stepSize = i[2], total = i[3];
  const std::string lr = "(double)" + floatLiteral(k.floats[0]),
                    minLr = "(double)" + floatLiteral(k.floats[2]);
  oneThread("schedule " + std::to_string(type) + ", warm-up " + std::to_string(warmup), 1);
  os << "  const float t = state[0] + 1.0f;\n"
     << "  state[0] = t;\n"
     << "  double lr;\n"
     << "  if (" << warmup << " > 0 && t <= " << warmup << ".0) {\n"
     << "    lr = " << lr << " * t / " << warmup << ".0;\n"
     << "  } else {\n"
     << "    double u = (double)t - " << warmup << ".0 - 1.0;\n"
     << "    u = u > 0.0 ? u : 0.0;\n"
     << "    double p = u / " << std::max<int64_t>(total - warmup, 1) << ".0;\n"
     << "    p = p < 1.0 ? p : 1.0;\n";
  switch (type) {
  case 1: // step
    os << "    lr = " << lr << " * pow((double)" << floatLiteral(k.floats[1]) << ", floor(u / "
       << stepSize << ".0));\n";
    break;
  case 2: // cosine
    os << "    lr = " << minLr << " + (" << lr << " - " << minLr
       << ") * (1.0 + cos(3.14159265358979323846 * p)) / 2.0;\n";
    break;
  case 3: // linear
    os << "    lr = " << lr << " + (" << minLr << " - " << lr << ") * p;\n";
    break;
  default: // constant (check() admits 0..3 only)
    os << "    (void)p;\n"
       << "    lr = " << lr << ";\n";
  }
  os << "  }\n"
     << "  state[1] = (float)lr;\n"
     << "  state[2] = 0.0f;\n"
     << "  state[3] = 1.0f;\n"
     << "}\n";
}

void KernelEmitter::gradSumSq() {
  oneThread("count " + std::to_string(i[0]) +
                ", one thread: the CPU's order, so the clip factor matches it",
            i[0]);
  os << "  double acc = 0.0;\n"
     << "  for (" << t << " j = 0; j < " << i[0] << "; ++j)\n"
     << "    acc += (double)g[j] * g[j];\n"
     << "  state[2] = (float)(state[2] + acc);\n"
     << "}\n";
}

void KernelEmitter::clipScale() {
  oneThread("max norm " + floatLiteral(k.floats[0]), 1);
  os << "  const float c = " << floatLiteral(k.floats[0]) << " / (sqrtf(state[2]) + 1e-6f);\n"
     << "  state[3] = c < 1.0f ? c : 1.0f;\n"
     << "}\n";
}

/// mse, bce_with_logits: the mean of `term` (a statement adding element j's loss to the
/// double `sum`) over n elements, on one thread in the CPU's order, so that the loss matches
/// runtime/cpu/RegressionLossKernels.cpp to the last few ulps.
void KernelEmitter::regressionLoss(const char *term) {
  const int64_t n = i[0];
  oneThread("count " + std::to_string(n) + ", one thread: the CPU's order", n);
  os << "  double sum = 0.0;\n"
     << "  for (" << t << " j = 0; j < " << n << "; ++j) {\n"
     << "    " << term << "\n"
     << "  }\n"
     << "  *loss = (float)(sum / " << n << ".0);\n"
     << "}\n";
}

/// mse_bwd, bce_with_logits_bwd: elementwise, `scale` = factor / n rounded to float once, as
/// on the CPU.
void KernelEmitter::regressionLossBwd(const char *statement, double factor) {
  const int64_t n = i[0];
  open("count " + std::to_string(n));
  os << "  const float scale = " << floatLiteral(float(factor / double(n))) << ";\n";
  loop(n);
  os << "    " << statement << "\n";
  close();
}

void KernelEmitter::sgdStep() {
  const std::string mom = floatLiteral(k.floats[0]), wd = floatLiteral(k.floats[1]);
  open("count " + std::to_string(i[0]) + (i[1] ? ", nesterov" : "") + ", momentum " + mom +
       ", weight decay " + wd);
  os << "  const float lr = state[1], clip = state[3];\n";
  loop(i[0]);
  os << "    float d = g[idx] * clip + " << wd << " * w[idx];\n";
  if (k.floats[0] != 0.0f) {
    os << "    const float mi = " << mom << " * m[idx] + d;\n"
       << "    m[idx] = mi;\n";
    os << (i[1] ? "    d = d + " + mom + " * mi;\n" : std::string("    d = mi;\n"));
  }
  os << "    w[idx] -= lr * d;\n";
  close();
}

void KernelEmitter::adamStep() {
  const std::string b1 = floatLiteral(k.floats[0]), b2 = floatLiteral(k.floats[1]),
                    eps = floatLiteral(k.floats[2]), wd = floatLiteral(k.floats[3]);
  open(std::string(i[1] ? "AdamW" : "Adam") + ", count " + std::to_string(i[0]) + ", betas " +
       b1 + " " + b2 + ", eps " + eps + ", weight decay " + wd);
  os << "  const double t = state[0], lr = state[1];\n"
     << "  const float clip = state[3];\n"
     << "  const float stepSize = (float)(lr / (1.0 - pow((double)" << b1 << ", t)));\n"
     << "  const float bc2Sqrt = (float)sqrt(1.0 - pow((double)" << b2 << ", t));\n";
  if (i[1])
    os << "  const float decay = (float)(1.0 - lr * " << wd << ");\n";
  loop(i[0]);
  if (i[1])
    os << "    w[idx] *= decay;\n"
       << "    const float gi = g[idx] * clip;\n";
  else
    os << "    const float gi = g[idx] * clip + " << wd << " * w[idx];\n";
  os << "    const float mi = " << b1 << " * m[idx] + (1.0f - " << b1 << ") * gi;\n"
     << "    const float vi = " << b2 << " * v[idx] + (1.0f - " << b2 << ") * gi * gi;\n"
     << "    m[idx] = mi;\n"
     << "    v[idx] = vi;\n"
     << "    w[idx] -= stepSize * (mi / (sqrtf(vi) / bc2Sqrt + " << eps << "));\n";
  close();
}

// Batch norm reduces over N and HW per channel: one thread per channel keeps the kernels free
// of __syncthreads (and the sums in double, in the CPU's order). Slow for large batches; a
// cuDNN batch-norm call is the production path.
void KernelEmitter::batchNormTrain() {
  const int64_t n = i[0], c = i[1], hw = i[2], m = n * hw;
  open("one thread per channel: batch statistics, running-statistic update, normalise");
  loop(c, n * c * hw);
  os << "    double sum = 0.0;\n"
     << "    for (int b = 0; b < " << n << "; ++b)\n"
     << "      for (int j = 0; j < " << hw << "; ++j)\n"
     << "        sum += x[((" << t << ")b * " << c << " + idx) * " << hw << " + j];\n"
     << "    const double mean = sum / " << m << ";\n"
     << "    double sq = 0.0;\n"
     << "    for (int b = 0; b < " << n << "; ++b)\n"
     << "      for (int j = 0; j < " << hw << "; ++j) {\n"
     << "        const double d = x[((" << t << ")b * " << c << " + idx) * " << hw
     << " + j] - mean;\n"
     << "        sq += d * d;\n"
     << "      }\n"
     << "    const double var = sq / " << m << ";\n"
     << "    const float invStd = (float)(1.0 / sqrt(var + " << floatLiteral(k.floats[0])
     << "));\n"
     << "    saveMean[idx] = (float)mean;\n"
     << "    saveInvStd[idx] = invStd;\n"
     << "    const double unbiased = " << (m > 1 ? "var * " + std::to_string(m) + ".0 / " +
                                                     std::to_string(m - 1) + ".0"
                                               : std::string("var"))
     << ";\n"
     << "    const float mom = " << floatLiteral(k.floats[1]) << ";\n"
     << "    runMean[idx] = (1.0f - mom) * runMean[idx] + mom * (float)mean;\n"
     << "    runVar[idx] = (1.0f - mom) * runVar[idx] + mom * (float)unbiased;\n"
     << "    const float scale = gamma[idx] * invStd, fmean = (float)mean;\n"
     << "    for (int b = 0; b < " << n << "; ++b)\n"
     << "      for (int j = 0; j < " << hw << "; ++j) {\n"
     << "        const " << t << " e = ((" << t << ")b * " << c << " + idx) * " << hw << " + j;\n"
     << (epilogue & plan::kEpilogueRelu
             ? "        const float v = (x[e] - fmean) * scale + beta[idx];\n"
               "        y[e] = v > 0.0f ? v : 0.0f;\n"
             : "        y[e] = (x[e] - fmean) * scale + beta[idx];\n")
     << "      }\n";
  close();
}

void KernelEmitter::batchNormEval() {
  const int64_t n = i[0], c = i[1], hw = i[2];
  open("one thread per element, running statistics");
  loop(n * c * hw);
  os << "    const int ch = (int)(idx / " << hw << " % " << c << ");\n"
     << "    const float invStd = 1.0f / sqrtf(runVar[ch] + " << floatLiteral(k.floats[0])
     << ");\n"
     << (epilogue & plan::kEpilogueRelu
             ? "    const float v = (x[idx] - runMean[ch]) * (gamma[ch] * invStd) + beta[ch];\n"
               "    y[idx] = v > 0.0f ? v : 0.0f;\n"
             : "    y[idx] = (x[idx] - runMean[ch]) * (gamma[ch] * invStd) + beta[ch];\n");
  close();
}

void KernelEmitter::batchNormBwd() {
  const int64_t n = i[0], c = i[1], hw = i[2], m = n * hw;
  open("one thread per channel: dgamma, dbeta, then dx");
  loop(c, n * c * hw);
  os << "    const float mean = saveMean[idx], invStd = saveInvStd[idx];\n"
     << "    double sumDy = 0.0, sumDyXc = 0.0;\n"
     << "    for (int b = 0; b < " << n << "; ++b)\n"
     << "      for (int j = 0; j < " << hw << "; ++j) {\n"
     << "        const " << t << " e = ((" << t << ")b * " << c << " + idx) * " << hw << " + j;\n"
     << "        sumDy += dy[e];\n"
     << "        sumDyXc += (double)dy[e] * (x[e] - mean);\n"
     << "      }\n"
     << "    dbeta[idx] = (float)sumDy;\n"
     << "    dgamma[idx] = (float)(sumDyXc * invStd);\n"
     << "    const double meanDy = sumDy / " << m << ";\n"
     << "    const double meanDyXc = sumDyXc / " << m << ";\n"
     << "    const double g = (double)gamma[idx] * invStd;\n"
     << "    const double is2 = (double)invStd * invStd;\n"
     << "    for (int b = 0; b < " << n << "; ++b)\n"
     << "      for (int j = 0; j < " << hw << "; ++j) {\n"
     << "        const " << t << " e = ((" << t << ")b * " << c << " + idx) * " << hw << " + j;\n"
     << "        dx[e] = (float)(g * (dy[e] - meanDy - (x[e] - mean) * is2 * meanDyXc));\n"
     << "      }\n";
  close();
}

void KernelEmitter::avgPoolFwd() {
  const int64_t n = i[0], c = i[1], h = i[2], w = i[3], kh = i[4], kw = i[5], sh = i[6], sw = i[7],
                ph = i[8], pw = i[9];
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  open("one thread per output; padding counts as zeros, divisor " + std::to_string(kh * kw));
  loop(n * c * oh * ow, n * c * h * w);
  os << "    const int ox = (int)(idx % " << ow << "), oy = (int)(idx / " << ow << " % " << oh
     << ");\n"
     << "    const auto *plane = x + idx / " << oh * ow << " * " << h * w << ";\n"
     << "    const int y0 = oy * " << sh << " - " << ph << ", x0 = ox * " << sw << " - " << pw
     << ";\n"
     << "    double acc = 0.0;\n"
     << "    for (int iy = y0 > 0 ? y0 : 0; iy < y0 + " << kh << " && iy < " << h << "; ++iy)\n"
     << "      for (int ix = x0 > 0 ? x0 : 0; ix < x0 + " << kw << " && ix < " << w << "; ++ix)\n"
     << "        acc += plane[iy * " << w << " + ix];\n"
     << "    y[idx] = (float)(acc / " << kh * kw << ");\n";
  close();
}

void KernelEmitter::avgPoolBwd() {
  const int64_t n = i[0], c = i[1], h = i[2], w = i[3], kh = i[4], kw = i[5], sh = i[6], sw = i[7],
                ph = i[8], pw = i[9];
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  open("one thread per input element, gathering from the windows that cover it");
  loop(n * c * h * w, n * c * oh * ow);
  os << "    const int ix = (int)(idx % " << w << "), iy = (int)(idx / " << w << " % " << h
     << ");\n"
     << "    const auto *g = dy + idx / " << h * w << " * " << oh * ow << ";\n";
  emitCoveringWindows(ph, pw, kh, kw, sh, sw, oh, ow);
  os << "    float acc = 0.0f;\n"
     << "    for (int oy = oy0; oy <= oy1; ++oy)\n"
     << "      for (int ox = ox0; ox <= ox1; ++ox)\n"
     << "        acc += g[oy * " << ow << " + ox];\n"
     << "    dx[idx] = acc / " << kh * kw << ".0f;\n";
  close();
}

// Local response normalisation: one thread per element, each window sum formed directly in
// the CPU's order (channel c-r up to c+r, in float) and s^-beta by the CPU's formula for this
// beta (runtime/cpu/LrnKernels.cpp), so the two agree to rounding.

/// `fn_scale(xp, c)`: bias + alpha * the sum of squares over c's window, where xp points at
/// the pixel in channel 0 of its image.
void KernelEmitter::lrnScaleHelper() {
  const int64_t c = i[1], hw = i[2], r = i[3];
  os << "\ntemplate <class T>\nstatic __device__ __forceinline__ float " << fn
     << "_scale(const T *xp, int c) {\n"
     << "  const int lo = c - " << r << " < 0 ? 0 : c - " << r << ";\n"
     << "  const int hi = c + " << r << " > " << c - 1 << " ? " << c - 1 << " : c + " << r
     << ";\n"
     << "  float acc = 0.0f;\n"
     << "  for (int cc = lo; cc <= hi; ++cc) {\n"
     << "    const float v = xp[cc * " << hw << "];\n"
     << "    acc += v * v;\n"
     << "  }\n"
     << "  return " << floatLiteral(k.floats[0]) << " + " << floatLiteral(k.floats[1])
     << " * acc;\n"
     << "}\n";
}

/// An expression for `scale`^-beta, as the CPU computes it for this beta.
std::string KernelEmitter::lrnNegPower(const std::string &scale) {
  const float beta = k.floats[2];
  if (beta == 0.75f)
    return "(1.0f / sqrtf(" + scale + ")) * sqrtf(1.0f / sqrtf(" + scale + "))";
  if (beta == 0.5f)
    return "1.0f / sqrtf(" + scale + ")";
  if (beta == 1.0f)
    return "1.0f / " + scale;
  return "powf(" + scale + ", " + floatLiteral(-beta) + ")";
}

void KernelEmitter::lrnFwd() {
  const int64_t n = i[0], c = i[1], hw = i[2];
  lrnScaleHelper();
  open("one thread per element, radius " + std::to_string(i[3]) + ", bias " +
       floatLiteral(k.floats[0]) + ", alpha " + floatLiteral(k.floats[1]) + ", beta " +
       floatLiteral(k.floats[2]));
  loop(n * c * hw);
  os << "    const int ch = (int)(idx / " << hw << " % " << c << ");\n"
     << "    const auto *xp = x + (idx - (" << t << ")ch * " << hw << ");\n"
     << "    const float s = " << fn << "_scale(xp, ch);\n"
     << "    y[idx] = x[idx] * (" << lrnNegPower("s") << ");\n";
  close();
}

void KernelEmitter::lrnBwd() {
  const int64_t n = i[0], c = i[1], hw = i[2], r = i[3];
  lrnScaleHelper();
  open("one thread per input element: dy * s^-beta - 2 alpha beta x * sum over the window of "
       "dy y / s");
  loop(n * c * hw);
  os << "    const int ch = (int)(idx / " << hw << " % " << c << ");\n"
     << "    const " << t << " base = idx - (" << t << ")ch * " << hw << ";\n"
     << "    const int lo = ch - " << r << " < 0 ? 0 : ch - " << r << ";\n"
     << "    const int hi = ch + " << r << " > " << c - 1 << " ? " << c - 1 << " : ch + " << r
     << ";\n"
     << "    float sum = 0.0f;\n"
     << "    for (int cc = lo; cc <= hi; ++cc) {\n"
     << "      const " << t << " e = base + (" << t << ")cc * " << hw << ";\n"
     << "      sum += dy[e] * y[e] / " << fn << "_scale(x + base, cc);\n"
     << "    }\n"
     << "    const float s = " << fn << "_scale(x + base, ch);\n"
     << "    dx[idx] = dy[idx] * (" << lrnNegPower("s") << ") + "
     << floatLiteral(-2.0f * k.floats[1] * k.floats[2]) << " * x[idx] * sum;\n";
  close();
}

// Recurrent ops. zeros and time_step are copies; the LSTM cell is one thread per hidden unit
// of each row, sigmoid and tanh written with expf as 1 / (1 + e^-x) and 2 / (1 + e^-2x) - 1,
// the CPU's formulas (runtime/cpu/RecurrentKernels.cpp, whose exp is within a few ulp of expf).

void KernelEmitter::timeStep() {
  const int64_t n = i[0], steps = i[1], f = i[2], step = i[3];
  open("x[:, " + std::to_string(step) + ", :] of a [n, " + std::to_string(steps) + ", " +
       std::to_string(f) + "] sequence");
  loop(n * f, n * steps * f);
  os << "    const " << t << " r = idx / " << f << ", j = idx % " << f << ";\n"
     << "    y[idx] = x[(r * " << steps << " + " << step << ") * " << f << " + j];\n";
  close();
}

/// `fn_sigmoid` and `fn_tanh`, and in the loop body: i, f, g, o of unit idx.
void KernelEmitter::lstmActivations() {
  const int64_t h = i[1];
  os << "\nstatic __device__ __forceinline__ float " << fn << "_sigmoid(float x) {\n"
     << "  return 1.0f / (1.0f + expf(-x));\n}\n"
     << "static __device__ __forceinline__ float " << fn << "_tanh(float x) {\n"
     << "  return 2.0f / (1.0f + expf(-2.0f * x)) - 1.0f;\n}\n";
  open("one thread per hidden unit, gates i f g o, forget bias " + floatLiteral(k.floats[0]));
  loop(i[0] * h, i[0] * 4 * h);
  os << "    const " << t << " r = idx / " << h << ", j = idx % " << h << ";\n"
     << "    const auto *gr = gates + r * " << 4 * h << ";\n"
     << "    const float ig = " << fn << "_sigmoid(gr[j]);\n"
     << "    const float fg = " << fn << "_sigmoid(gr[" << h << " + j] + "
     << floatLiteral(k.floats[0]) << ");\n"
     << "    const float gg = " << fn << "_tanh(gr[" << 2 * h << " + j]);\n"
     << "    const float og = " << fn << "_sigmoid(gr[" << 3 * h << " + j]);\n"
     << "    const float cp = cPrev[idx];\n";
}

void KernelEmitter::lstmCellFwd() {
  lstmActivations();
  os << "    const float cn = fg * cp + ig * gg;\n"
     << "    c[idx] = cn;\n"
     << "    h[idx] = og * " << fn << "_tanh(cn);\n";
  close();
}

void KernelEmitter::lstmCellBwd() {
  const int64_t h = i[1];
  lstmActivations();
  os << "    const float tc = " << fn << "_tanh(fg * cp + ig * gg);\n"
     << "    const float dhj = dh[idx];\n"
     << "    const float dct = dc[idx] + dhj * og * (1.0f - tc * tc);\n"
     << "    auto *dg = dgates + r * " << 4 * h << ";\n"
     << "    dg[j] = dct * gg * ig * (1.0f - ig);\n"
     << "    dg[" << h << " + j] = dct * cp * fg * (1.0f - fg);\n"
     << "    dg[" << 2 * h << " + j] = dct * ig * (1.0f - gg * gg);\n"
     << "    dg[" << 3 * h << " + j] = dhj * tc * og * (1.0f - og);\n"
     << "    dcPrev[idx] = dct * fg;\n";
  close();
}

// Softmax over the last axis: one thread per row, the row's sum in double in the CPU's
// order (runtime/cpu/ActivationKernels.cpp), so the two devices differ only by expf's ulps.
// Rows are a batch's few hundred at most; a block-per-row reduction would be the fast path.
void KernelEmitter::softmaxFwd() {
  const int64_t rows = i[0], cols = i[1];
  open("rows " + std::to_string(rows) + ", cols " + std::to_string(cols) +
       ": one thread per row");
  loop(rows, rows * cols);
  os << "    const auto *xr = x + idx * " << cols << ";\n"
     << "    auto *yr = y + idx * " << cols << ";\n"
     << "    float m = xr[0];\n"
     << "    for (int j = 1; j < " << cols << "; ++j)\n"
     << "      m = xr[j] > m ? xr[j] : m;\n"
     << "    double sum = 0.0;\n"
     << "    for (int j = 0; j < " << cols << "; ++j) {\n"
     << "      yr[j] = expf(xr[j] - m);\n"
     << "      sum += yr[j];\n"
     << "    }\n"
     << "    const float inv = (float)(1.0 / sum);\n"
     << "    for (int j = 0; j < " << cols << "; ++j)\n"
     << "      yr[j] *= inv;\n";
  close();
}

void KernelEmitter::softmaxBwd() {
  const int64_t rows = i[0], cols = i[1];
  open("rows " + std::to_string(rows) + ", cols " + std::to_string(cols) +
       ": one thread per row");
  loop(rows, rows * cols);
  os << "    const auto *dyr = dy + idx * " << cols << ", *yr = y + idx * " << cols << ";\n"
     << "    auto *dxr = dx + idx * " << cols << ";\n"
     << "    double dot = 0.0;\n"
     << "    for (int j = 0; j < " << cols << "; ++j)\n"
     << "      dot += (double)dyr[j] * yr[j];\n"
     << "    const float d = (float)dot;\n"
     << "    for (int j = 0; j < " << cols << "; ++j)\n"
     << "      dxr[j] = yr[j] * (dyr[j] - d);\n";
  close();
}

// Dropout's mask, bit for bit the CPU's (runtime/cpu/DropoutKernels.h): splitmix64's
// finaliser of (step << 32 | idx) ^ seed * golden ratio, kept where its top 24 bits reach
// the threshold. The backward kernel recomputes the forward's mask from the same counter.
void KernelEmitter::dropout(const char *in, const char *out) {
  const uint64_t mix = uint64_t(i[1]) * 0x9E3779B97F4A7C15ull;
  open("count " + std::to_string(i[0]) + ", seed " + std::to_string(i[1]) + ", threshold " +
       std::to_string(i[2]) + ", scale " + floatLiteral(k.floats[0]));
  os << "  const float sf = step[0];\n"
     << "  const unsigned long long s = sf >= 0.0f && sf < 4294967296.0f ? "
        "(unsigned long long)(unsigned int)sf : 0ull;\n";
  loop(i[0]);
  os << "    unsigned long long z = ((s << 32) | (unsigned long long)idx) ^ " << mix << "ull;\n"
     << "    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;\n"
     << "    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;\n"
     << "    z ^= z >> 31;\n"
     << "    " << out << "[idx] = (unsigned int)(z >> 40) >= " << i[2] << "u ? " << in
     << "[idx] * " << floatLiteral(k.floats[0]) << " : 0.0f;\n";
  close();
}

// Concatenation of rows (runtime/cpu/ConcatKernels.h): one thread per element of the joined
// tensor, copying it from its operand (forward) or to it (backward).
void KernelEmitter::concat(bool backward) {
  const int64_t outer = i[0], aInner = i[1], bInner = i[2], row = aInner + bInner;
  open("outer " + std::to_string(outer) + ", rows of " + std::to_string(aInner) + " + " +
       std::to_string(bInner));
  loop(outer * row);
  os << "    const " << t << " o = idx / " << row << ", j = idx % " << row << ";\n";
  if (!backward)
    os << "    y[idx] = j < " << aInner << " ? a[o * " << aInner << " + j] : b[o * " << bInner
       << " + (j - " << aInner << ")];\n";
  else
    os << "    if (j < " << aInner << ")\n"
       << "      da[o * " << aInner << " + j] = dy[idx];\n"
       << "    else\n"
       << "      db[o * " << bInner << " + (j - " << aInner << ")] = dy[idx];\n";
  close();
}

// Layer norm (runtime/cpu/LayerNormKernels.h): one thread per row of d, sums in double, so
// no thread waits for another (the emulation's rule; a warp per row is the faster form).
void KernelEmitter::layerNormFwd() {
  const int64_t rows = i[0], d = i[1];
  open("rows " + std::to_string(rows) + ", d " + std::to_string(d) + ": one thread per row");
  loop(rows, rows * d);
  os << "    const auto *xr = x + idx * " << d << ";\n"
     << "    auto *yr = y + idx * " << d << ";\n"
     << "    double s = 0.0;\n"
     << "    for (int j = 0; j < " << d << "; ++j)\n"
     << "      s += xr[j];\n"
     << "    const float m = (float)(s / " << d << ");\n"
     << "    double q = 0.0;\n"
     << "    for (int j = 0; j < " << d << "; ++j) {\n"
     << "      const float c = xr[j] - m;\n"
     << "      q += (double)c * c;\n"
     << "    }\n"
     << "    const float r = (float)(1.0 / sqrt(q / " << d << " + (double)"
     << floatLiteral(k.floats[0]) << "));\n"
     << "    mean[idx] = m;\n"
     << "    rstd[idx] = r;\n"
     << "    for (int j = 0; j < " << d << "; ++j)\n"
     << "      yr[j] = (xr[j] - m) * r * w[j] + b[j];\n";
  close();
}

/// One thread per output element; an index outside [0, vocab) gives NaN, as on the CPU.
void KernelEmitter::embedding() {
  const int64_t rows = i[0], vocab = i[1], dim = i[2];
  open("rows " + std::to_string(rows) + ", vocab " + std::to_string(vocab) + ", dim " +
       std::to_string(dim));
  loop(rows * dim, vocab * dim);
  os << "    const " << t << " r = idx / " << dim << ", j = idx % " << dim << ";\n"
     << "    const int v = tokens[r];\n"
     << "    y[idx] = v >= 0 && v < " << vocab << " ? w[(" << t << ")v * " << dim
     << " + j] : (float)sqrt(-1.0);\n";
  close();
}

/// One thread per column j: it zeroes dw's column and adds the rows in index order, exactly
/// the CPU's order (deterministic, no atomics; the parallelism is dim threads, enough for the
/// small vocabularies this serves; a large vocabulary would want atomicAdd over rows).
void KernelEmitter::embeddingBwd() {
  const int64_t rows = i[0], vocab = i[1], dim = i[2];
  open("rows " + std::to_string(rows) + ", vocab " + std::to_string(vocab) + ", dim " +
       std::to_string(dim) + ", one thread per column");
  loop(dim, std::max(vocab, rows) * dim);
  os << "    for (" << t << " v = 0; v < " << vocab << "; ++v)\n"
     << "      dw[v * " << dim << " + idx] = 0.0f;\n"
     << "    for (" << t << " r = 0; r < " << rows << "; ++r) {\n"
     << "      const int v = tokens[r];\n"
     << "      if (v >= 0 && v < " << vocab << ")\n"
     << "        dw[(" << t << ")v * " << dim << " + idx] += dy[r * " << dim << " + idx];\n"
     << "    }\n";
  close();
}

/// One thread per element of x; the table's row is the element's position in its sequence.
void KernelEmitter::positionAdd() {
  const int64_t batch = i[0], steps = i[1], dim = i[2], positions = i[3];
  open("batch " + std::to_string(batch) + ", steps " + std::to_string(steps) + ", dim " +
       std::to_string(dim) + ", positions " + std::to_string(positions));
  loop(batch * steps * dim, positions * dim);
  os << "    y[idx] = x[idx] + table[idx % " << steps * dim << "];\n";
  close();
}

/// One thread per table entry: the batch summed in order (the CPU's order), zero for the
/// rows past the sequence.
void KernelEmitter::positionAddBwd() {
  const int64_t batch = i[0], steps = i[1], dim = i[2], positions = i[3];
  open("batch " + std::to_string(batch) + ", steps " + std::to_string(steps) + ", dim " +
       std::to_string(dim) + ", positions " + std::to_string(positions) +
       ", one thread per table entry");
  loop(positions * dim, batch * steps * dim);
  os << "    float s = 0.0f;\n"
     << "    if (idx < " << steps * dim << ")\n"
     << "      for (" << t << " n = 0; n < " << batch << "; ++n)\n"
     << "        s += dy[n * " << steps * dim << " + idx];\n"
     << "    dtable[idx] = s;\n";
  close();
}

// Attention (runtime/cpu/AttentionKernels.h): one thread per (batch, head, query row) writes
// that row of probs and of the merged output; scores and sums in double. A simple form that
// keeps to the emulation's rule (no thread waits for another); a tiled kernel with shared
// memory is the fast one.
void KernelEmitter::attentionFwd() {
  const int64_t B = i[0], T = i[1], H = i[2], D = i[3], C = H * D;
  const bool causal = i[4] != 0;
  // attention_masked_fwd: padding keys (mask 0) are skipped, their probability 0; a row with
  // no key left is all zeros (inv 0), as on the CPU.
  const bool masked = k.kind == plan::KernelKind::AttentionMaskedFwd;
  const std::string keep = "mask[b * " + std::to_string(T) + " + j] != 0";
  open("batch " + std::to_string(B) + ", steps " + std::to_string(T) + ", heads " +
       std::to_string(H) + ", head size " + std::to_string(D) + (causal ? ", causal" : "") +
       (masked ? ", padding mask" : "") + ": one thread per (batch, head, query)");
  loop(B * H * T, B * T * 3 * C + B * H * T * T);
  os << "    const " << t << " b = idx / " << H * T << ", h = idx / " << T << " % " << H
     << ", r = idx % " << T << ";\n"
     << "    const auto *q = qkv + (b * " << T << " + r) * " << 3 * C << " + h * " << D << ";\n"
     << "    auto *p = probs + idx * " << T << ";\n"
     << "    const " << t << " visible = " << (causal ? "r + 1" : std::to_string(T)) << ";\n"
     << "    const float scale = " << floatLiteral(1.0f / std::sqrt(float(D))) << ";\n"
     << "    float mx = -3.40282347e+38f;\n"
     << "    bool any = " << (masked ? "false" : "true") << ";\n"
     << "    for (" << t << " j = 0; j < visible; ++j) {\n";
  if (masked)
    os << "      if (!(" << keep << "))\n"
       << "        continue;\n"
       << "      any = true;\n";
  os
     << "      const auto *kj = qkv + (b * " << T << " + j) * " << 3 * C << " + " << C
     << " + h * " << D << ";\n"
     << "      float s = 0.0f;\n"
     << "      for (int e = 0; e < " << D << "; ++e)\n"
     << "        s += q[e] * kj[e];\n"
     << "      p[j] = s * scale;\n"
     << "      mx = fmaxf(mx, p[j]);\n"
     << "    }\n"
     << "    double sum = 0.0;\n"
     << "    for (" << t << " j = 0; j < visible; ++j) {\n"
     << "      p[j] = " << (masked ? keep + " ? expf(p[j] - mx) : 0.0f" : "expf(p[j] - mx)")
     << ";\n"
     << "      sum += p[j];\n"
     << "    }\n"
     << "    const float inv = any ? (float)(1.0 / sum) : 0.0f;\n"
     << "    for (" << t << " j = 0; j < " << T << "; ++j)\n"
     << "      p[j] = j < visible ? p[j] * inv : 0.0f;\n"
     << "    auto *o = out + (b * " << T << " + r) * " << C << " + h * " << D << ";\n"
     << "    for (int e = 0; e < " << D << "; ++e) {\n"
     << "      float acc = 0.0f;\n"
     << "      for (" << t << " j = 0; j < visible; ++j)\n"
     << "        acc += p[j] * qkv[(b * " << T << " + j) * " << 3 * C << " + " << 2 * C
     << " + h * " << D << " + e];\n"
     << "      o[e] = acc;\n"
     << "    }\n";
  close();
}

// Its gradient: one thread per (batch, head, position j) writes row j of dq (from the keys
// position j sees) and rows j of dk and dv (from the queries that see j), with the row
// weights w_i = dy_i . out_i, so nothing is accumulated across threads: no atomics, and the
// same sums in the same order on every run.
void KernelEmitter::attentionBwd() {
  const int64_t B = i[0], T = i[1], H = i[2], D = i[3], C = H * D;
  const bool causal = i[4] != 0;
  open("batch " + std::to_string(B) + ", steps " + std::to_string(T) + ", heads " +
       std::to_string(H) + ", head size " + std::to_string(D) + (causal ? ", causal" : "") +
       ": one thread per (batch, head, position) for its rows of dq, dk and dv");
  loop(B * H * T, B * T * 3 * C + B * H * T * T);
  const std::string row = std::to_string(3 * C), hd = " + h * " + std::to_string(D);
  os << "    const " << t << " b = idx / " << H * T << ", h = idx / " << T << " % " << H
     << ", j = idx % " << T << ";\n"
     << "    const float scale = " << floatLiteral(1.0f / std::sqrt(float(D))) << ";\n"
     << "    const " << t << " base = b * " << T << ";\n"
     << "    const auto *qj = qkv + (base + j) * " << row << hd << ";\n"
     << "    const auto *kj = qj + " << C << ", *vj = qj + " << 2 * C << ";\n"
     << "    const auto *dyj = dy + (base + j) * " << C << hd << ";\n"
     << "    auto *dq = dqkv + (base + j) * " << row << hd << ";\n"
     << "    auto *dk = dq + " << C << ", *dv = dq + " << 2 * C << ";\n"
     << "    for (int e = 0; e < " << D << "; ++e)\n"
     << "      dq[e] = dk[e] = dv[e] = 0.0f;\n"
     << "    float wj = 0.0f;\n"
     << "    for (int e = 0; e < " << D << "; ++e)\n"
     << "      wj += dyj[e] * out[(base + j) * " << C << hd << " + e];\n"
     << "    // Row j of dq: the keys k it sees.\n"
     << "    const auto *pj = probs + ((b * " << H << " + h) * " << T << " + j) * " << T << ";\n"
     << "    for (" << t << " k = 0; k < " << (causal ? "j + 1" : std::to_string(T)) << "; ++k) {\n"
     << "      const auto *kk = qkv + (base + k) * " << row << " + " << C << hd << ";\n"
     << "      const auto *vk = kk + " << C << ";\n"
     << "      float dp = 0.0f;\n"
     << "      for (int e = 0; e < " << D << "; ++e)\n"
     << "        dp += dyj[e] * vk[e];\n"
     << "      const float ds = pj[k] * (dp - wj) * scale;\n"
     << "      for (int e = 0; e < " << D << "; ++e)\n"
     << "        dq[e] += ds * kk[e];\n"
     << "    }\n"
     << "    // Rows j of dk and dv: the queries i that see key j.\n"
     << "    for (" << t << " r = " << (causal ? "j" : "0") << "; r < " << T << "; ++r) {\n"
     << "      const auto *qi = qkv + (base + r) * " << row << hd << ";\n"
     << "      const auto *dyi = dy + (base + r) * " << C << hd << ";\n"
     << "      const float pij = probs[((b * " << H << " + h) * " << T << " + r) * " << T
     << " + j];\n"
     << "      float dp = 0.0f, wi = 0.0f;\n"
     << "      for (int e = 0; e < " << D << "; ++e) {\n"
     << "        dp += dyi[e] * vj[e];\n"
     << "        wi += dyi[e] * out[(base + r) * " << C << hd << " + e];\n"
     << "      }\n"
     << "      const float ds = pij * (dp - wi) * scale;\n"
     << "      for (int e = 0; e < " << D << "; ++e) {\n"
     << "        dk[e] += ds * qi[e];\n"
     << "        dv[e] += pij * dyi[e];\n"
     << "      }\n"
     << "    }\n";
  close();
}

// Its gradient: threads [0, rows) each write one row of dx; threads [rows, rows + d) each sum
// one column of dw and db over the rows, from the saved statistics.
void KernelEmitter::layerNormBwd() {
  const int64_t rows = i[0], d = i[1];
  open("rows " + std::to_string(rows) + ", d " + std::to_string(d) +
       ": one thread per row of dx, then one per column of dw and db");
  loop(rows + d, rows * d);
  os << "    if (idx < " << rows << ") {\n"
     << "      const auto *xr = x + idx * " << d << ", *dyr = dy + idx * " << d << ";\n"
     << "      auto *dxr = dx + idx * " << d << ";\n"
     << "      const float m = mean[idx], r = rstd[idx];\n"
     << "      double sg = 0.0, sgx = 0.0;\n"
     << "      for (int j = 0; j < " << d << "; ++j) {\n"
     << "        const float g = dyr[j] * w[j];\n"
     << "        sg += g;\n"
     << "        sgx += g * ((xr[j] - m) * r);\n"
     << "      }\n"
     << "      const float mg = (float)(sg / " << d << "), mgx = (float)(sgx / " << d << ");\n"
     << "      for (int j = 0; j < " << d << "; ++j)\n"
     << "        dxr[j] = r * (dyr[j] * w[j] - mg - (xr[j] - m) * r * mgx);\n"
     << "    } else {\n"
     << "      const " << t << " col = idx - " << rows << ";\n"
     << "      double sw = 0.0, sb = 0.0;\n"
     << "      for (" << t << " row = 0; row < " << rows << "; ++row) {\n"
     << "        const " << t << " e = row * " << d << " + col;\n"
     << "        sw += dy[e] * ((x[e] - mean[row]) * rstd[row]);\n"
     << "        sb += dy[e];\n"
     << "      }\n"
     << "      dw[col] = (float)sw;\n"
     << "      db[col] = (float)sb;\n"
     << "    }\n";
  close();
}

// Transpose (runtime/cpu/TransposeKernels.h): one thread per output element, its input index
// from the output's coordinates; the shape and permutation are constants of the kernel.
void KernelEmitter::transpose() {
  int64_t dims[6], strides[6], total = 1;
  for (int a = 5; a >= 0; --a) {
    dims[a] = i[a];
    strides[a] = total;
    total *= dims[a];
  }
  std::string shape, perm;
  for (int a = 0; a < 6; ++a) {
    shape += (a ? "x" : "") + std::to_string(dims[a]);
    perm += (a ? " " : "") + std::to_string(i[6 + a]);
  }
  open("shape " + shape + ", perm " + perm);
  loop(total);
  os << "    " << t << " rest = idx, src = 0;\n";
  for (int j = 5; j >= 0; --j) {
    const int64_t axis = i[6 + j], size = dims[axis];
    if (size == 1)
      continue;
    os << "    src += (rest % " << size << ") * " << strides[axis] << ";\n"
       << "    rest /= " << size << ";\n";
  }
  os << "    y[idx] = x[src];\n";
  close();
}

// The general ops of imported graphs (runtime/cpu/TensorKernels.h): each function's
// expression from runtime/plan/TensorFunctions.def, pasted as the CPU compiles it.
static const char *const kUnaryExprs[] = {
#define DLC_UNARY_FN(Enum, name, expr) #expr,
#include "runtime/plan/TensorFunctions.def"
};
static const char *const kBinaryExprs[] = {
#define DLC_BINARY_FN(Enum, name, expr) #expr,
#include "runtime/plan/TensorFunctions.def"
};
static const char *const kReduceExprs[][3] = {
#define DLC_REDUCE_FN(Enum, name, first, step, finish) {#first, #step, #finish},
#include "runtime/plan/TensorFunctions.def"
};

// Unary: one thread per element; the float attributes are the constants a and b.
void KernelEmitter::unary() {
  open("count " + std::to_string(i[0]) + ", y = " + kUnaryExprs[i[1]]);
  os << "  const float a = " << floatLiteral(k.floats[0]) << ", b = " << floatLiteral(k.floats[1])
     << ";\n  (void)a; (void)b;\n";
  loop(i[0]);
  os << "    const float x = xin[idx];\n"
     << "    y[idx] = " << kUnaryExprs[i[1]] << ";\n";
  close();
}

// Broadcast binary (and strided reads): one thread per output element; each operand's index
// from the output's coordinates, its offset and strides (0 along a broadcast axis, negative
// backwards), all constants.
void KernelEmitter::broadcastBinary() {
  // The index type covers the output and the farthest element either operand reads.
  int64_t total = 1, extent = std::max(i[19], i[20]);
  for (int a = 0; a < 6; ++a)
    total *= i[1 + a];
  for (int op = 0; op < 2; ++op) {
    int64_t hi = i[19 + op];
    for (int a = 0; a < 6; ++a)
      hi += std::max<int64_t>(0, (i[1 + a] - 1) * i[7 + 6 * op + a]);
    extent = std::max(extent, hi + 1);
  }
  open("shape " + std::to_string(i[1]) + "x" + std::to_string(i[2]) + "x" +
       std::to_string(i[3]) + "x" + std::to_string(i[4]) + "x" + std::to_string(i[5]) + "x" +
       std::to_string(i[6]) + ", y = " + kBinaryExprs[i[0]]);
  loop(total, extent);
  os << "    " << t << " rest = idx, xi = " << i[19] << ", zi = " << i[20] << ";\n";
  for (int a = 5; a >= 0; --a) {
    const int64_t size = i[1 + a], xs = i[7 + a], zs = i[13 + a];
    if (size == 1)
      continue;
    os << "    { const " << t << " c = rest % " << size << "; rest /= " << size << ";";
    if (xs)
      os << " xi += c * " << xs << ";";
    if (zs)
      os << " zi += c * " << zs << ";";
    os << " }\n";
  }
  os << "    const float x = xin[xi], y = zin[zi];\n"
     << "    yout[idx] = " << kBinaryExprs[i[0]] << ";\n";
  close();
}

// Reduce: one thread per output element, the axis accumulated in double in element order as
// on the CPU.
void KernelEmitter::reduce() {
  const int64_t outer = i[1], mid = i[2], inner = i[3];
  const char *const *e = kReduceExprs[i[0]];
  open("outer " + std::to_string(outer) + ", mid " + std::to_string(mid) + ", inner " +
       std::to_string(inner) + ": one thread per output");
  loop(outer * inner, outer * mid * inner);
  os << "    const " << t << " o = idx / " << inner << ", in = idx % " << inner << ";\n"
     << "    const auto *col = xin + o * " << mid * inner << " + in; // float or a 2-byte type\n"
     << "    const double n = " << mid << ".0;\n"
     << "    double x = col[0];\n"
     << "    double acc = " << e[0] << ";\n"
     << "    for (" << t << " m = 1; m < " << mid << "; ++m) {\n"
     << "      x = col[m * " << inner << "];\n"
     << "      acc = " << e[1] << ";\n"
     << "    }\n"
     << "    (void)n;\n"
     << "    y[idx] = (float)(" << e[2] << ");\n";
  close();
}

void KernelEmitter::convLibrary(CudaLibraryKind kind) {
  if (!libraryCallFor(plan, k, kind, launch.library)) {
    // Padded asymmetrically (conv2d_general_*, PyTorch's 'same' with an even total): cuDNN
    // pads both sides alike, so the reference kernel is the kernel.
    launch.library = CudaLibraryCall();
    convReference(kind, convGeometry(), "generated (cuDNN has no asymmetric padding)");
    return;
  }
  if (!opts.emitReferenceLibraryKernels) {
    os << "\n// " << commentSafe(k.name) << ": " << fn << " runs as " << cudaLibraryKindName(kind)
       << "\n";
    launch.function.clear();
    const CudnnConv &c = launch.library.conv;
    halfEpilogue(int64_t(c.n) * c.k * c.outH * c.outW,
                 "(idx / " + std::to_string(int64_t(c.outH) * c.outW) + ") % " + std::to_string(c.k));
    return;
  }
  convReference(kind, launch.library.conv,
                std::string("reference for ") + cudaLibraryKindName(kind));
}

CudnnConv KernelEmitter::convGeometry() const {
  CudnnConv c;
  c.n = int(i[0]), c.c = int(i[1]), c.h = int(i[2]), c.w = int(i[3]);
  c.k = int(i[4]), c.r = int(i[5]), c.s = int(i[6]);
  c.strideH = int(i[7]), c.strideW = int(i[8]), c.padH = int(i[9]), c.padW = int(i[10]);
  int padB = c.padH, padR = c.padW;
  if (i.size() >= 16)
    padB = int(i[11]), padR = int(i[12]), c.dilH = int(i[13]), c.dilW = int(i[14]),
    c.groups = int(i[15]);
  c.outH = (c.h + c.padH + padB - c.dilH * (c.r - 1) - 1) / c.strideH + 1;
  c.outW = (c.w + c.padW + padR - c.dilW * (c.s - 1) - 1) / c.strideW + 1;
  return c;
}

void KernelEmitter::convReference(CudaLibraryKind kind, const CudnnConv &c,
                                  const std::string &what) {
  if (kind == CudaLibraryKind::CudnnConvFwd)
    convFwdReference(c, what);
  else if (kind == CudaLibraryKind::CudnnConvBwdData)
    convBwdDataReference(c, what);
  else
    convBwdFilterReference(c, what);
}

namespace {
/// " * d" for a dilation d > 1 ("" for 1, so undilated kernels read as they always did).
std::string dilated(int d) { return d == 1 ? "" : " * " + std::to_string(d); }
} // namespace

void KernelEmitter::convFwdReference(const CudnnConv &c, const std::string &what) {
  const int64_t ohw = int64_t(c.outH) * c.outW;
  const int cg = c.c / c.groups, kg = c.k / c.groups;
  open(what + ": one thread per output");
  loop(c.n * c.k * ohw,
       std::max<int64_t>(int64_t(c.n) * c.c * c.h * c.w, int64_t(c.k) * cg * c.r * c.s));
  os << "    const int ox = (int)(idx % " << c.outW << "), oy = (int)(idx / " << c.outW << " % "
     << c.outH << ");\n"
     << "    const int oc = (int)(idx / " << ohw << " % " << c.k << ");\n"
     << "    const " << t << " img = idx / " << ohw * c.k << ";\n"
     << "    float acc = 0.0f;\n";
  if (c.groups > 1)
    os << "    const int g0 = oc / " << kg << " * " << cg << ";\n";
  os << "    for (int ic = 0; ic < " << cg << "; ++ic) {\n"
     << "      const auto *xp = x + (img * " << c.c << (c.groups > 1 ? " + g0" : "")
     << " + ic) * " << int64_t(c.h) * c.w << ";\n"
     << "      const auto *wp = w + ((" << t << ")oc * " << cg << " + ic) * " << c.r * c.s
     << ";\n"
     << "      for (int r = 0; r < " << c.r << "; ++r) {\n"
     << "        const int iy = oy * " << c.strideH << " - " << c.padH << " + r"
     << dilated(c.dilH) << ";\n"
     << "        if (iy < 0 || iy >= " << c.h << ")\n"
     << "          continue;\n"
     << "        for (int s = 0; s < " << c.s << "; ++s) {\n"
     << "          const int ix = ox * " << c.strideW << " - " << c.padW << " + s"
     << dilated(c.dilW) << ";\n"
     << "          if (ix >= 0 && ix < " << c.w << ")\n"
     << "            acc += xp[iy * " << c.w << " + ix] * wp[r * " << c.s << " + s];\n"
     << "        }\n"
     << "      }\n"
     << "    }\n";
  emitEpilogue("oc");
  os << "    y[idx] = acc;\n";
  close();
}

void KernelEmitter::convBwdDataReference(const CudnnConv &c, const std::string &what) {
  const int64_t hw = int64_t(c.h) * c.w, ohw = int64_t(c.outH) * c.outW;
  const int cg = c.c / c.groups, kg = c.k / c.groups;
  open(what + ": one thread per input element");
  loop(c.n * c.c * hw, std::max<int64_t>(int64_t(c.n) * c.k * ohw, int64_t(c.k) * cg * c.r * c.s));
  os << "    const int ix = (int)(idx % " << c.w << "), iy = (int)(idx / " << c.w << " % " << c.h
     << ");\n"
     << "    const int ic = (int)(idx / " << hw << " % " << c.c << ");\n"
     << "    const " << t << " img = idx / " << hw * c.c << ";\n"
     << "    float acc = 0.0f;\n";
  if (c.groups > 1)
    os << "    const int oc0 = ic / " << cg << " * " << kg << ", icg = ic % " << cg << ";\n"
       << "    for (int oc = oc0; oc < oc0 + " << kg << "; ++oc) {\n";
  else
    os << "    for (int oc = 0; oc < " << c.k << "; ++oc) {\n";
  os << "      const auto *g = dy + (img * " << c.k << " + oc) * " << ohw << ";\n"
     << "      const auto *wp = w + ((" << t << ")oc * " << cg << " + "
     << (c.groups > 1 ? "icg" : "ic") << ") * " << c.r * c.s << ";\n"
     << "      for (int r = 0; r < " << c.r << "; ++r) {\n"
     << "        const int ty = iy + " << c.padH << " - r" << dilated(c.dilH) << ";\n"
     << "        if (ty < 0 || ty % " << c.strideH << " != 0 || ty / " << c.strideH
     << " >= " << c.outH << ")\n"
     << "          continue;\n"
     << "        for (int s = 0; s < " << c.s << "; ++s) {\n"
     << "          const int tx = ix + " << c.padW << " - s" << dilated(c.dilW) << ";\n"
     << "          if (tx >= 0 && tx % " << c.strideW << " == 0 && tx / " << c.strideW << " < "
     << c.outW << ")\n"
     << "            acc += g[ty / " << c.strideH << " * " << c.outW << " + tx / " << c.strideW
     << "] * wp[r * " << c.s << " + s];\n"
     << "        }\n"
     << "      }\n"
     << "    }\n"
     << "    dx[idx] = acc;\n";
  close();
}

void KernelEmitter::convBwdFilterReference(const CudnnConv &c, const std::string &what) {
  const int64_t hw = int64_t(c.h) * c.w, ohw = int64_t(c.outH) * c.outW, rs = c.r * c.s;
  const int cg = c.c / c.groups, kg = c.k / c.groups;
  open(what + ": one thread per filter element");
  loop(c.k * cg * rs, std::max<int64_t>(int64_t(c.n) * c.k * ohw, int64_t(c.n) * c.c * hw));
  os << "    const int s = (int)(idx % " << c.s << "), r = (int)(idx / " << c.s << " % " << c.r
     << ");\n"
     << "    const int ic = (int)(idx / " << rs << " % " << cg << "), oc = (int)(idx / "
     << rs * cg << ");\n";
  if (c.groups > 1)
    os << "    const int xc = oc / " << kg << " * " << cg << " + ic;\n";
  os << "    float acc = 0.0f;\n"
     << "    for (int img = 0; img < " << c.n << "; ++img) {\n"
     << "      const auto *g = dy + ((" << t << ")img * " << c.k << " + oc) * " << ohw << ";\n"
     << "      const auto *xp = x + ((" << t << ")img * " << c.c << " + "
     << (c.groups > 1 ? "xc" : "ic") << ") * " << hw << ";\n"
     << "      for (int oy = 0; oy < " << c.outH << "; ++oy) {\n"
     << "        const int iy = oy * " << c.strideH << " - " << c.padH << " + r"
     << dilated(c.dilH) << ";\n"
     << "        if (iy < 0 || iy >= " << c.h << ")\n"
     << "          continue;\n"
     << "        for (int ox = 0; ox < " << c.outW << "; ++ox) {\n"
     << "          const int ix = ox * " << c.strideW << " - " << c.padW << " + s"
     << dilated(c.dilW) << ";\n"
     << "          if (ix >= 0 && ix < " << c.w << ")\n"
     << "            acc += g[oy * " << c.outW << " + ox] * xp[iy * " << c.w << " + ix];\n"
     << "        }\n"
     << "      }\n"
     << "    }\n"
     << "    dw[idx] = acc;\n";
  close();
}

/// A library call's epilogue on a 2-byte output: cudnnAddTensor and cudnnActivationForward
/// take a float bias only with float outputs, so a generated kernel applies it in place after
/// the call (the launch record names it; the runtime launches it after cuBLAS or cuDNN).
void KernelEmitter::halfEpilogue(int64_t outputs, const std::string &channel) {
  if (!epilogue || !halfStorageType(plan.buffers[k.args[2]].dtype))
    return;
  launch.function = fn;
  open("epilogue after the library call, in place on the 2-byte output");
  loop(outputs);
  os << "    const " << t << " ch = " << channel << ";\n"
     << "    float acc = " << (k.kind == KernelKind::Matmul ? "c" : "y") << "[idx];\n";
  emitEpilogue("ch");
  os << "    " << (k.kind == KernelKind::Matmul ? "c" : "y") << "[idx] = acc;\n";
  close();
}

void KernelEmitter::matmulLibrary() {
  libraryCallFor(plan, k, CudaLibraryKind::CublasGemm, launch.library);
  if (!opts.emitReferenceLibraryKernels) {
    os << "\n// " << commentSafe(k.name) << ": " << fn << " runs as cublas_gemm\n";
    launch.function.clear();
    halfEpilogue(i[0] * i[1], "idx % " + std::to_string(i[1]));
    return;
  }
  matmulReference();
}

void KernelEmitter::matmulReference() {
  const int64_t m = i[0], n = i[1], kk = i[2];
  const bool transA = i[3], transB = i[4];
  open(std::string("reference for cublas_gemm: one thread per output; C[") + std::to_string(m) +
       "][" + std::to_string(n) + "] = " + (transA ? "A^T" : "A") + " " + (transB ? "B^T" : "B"));
  loop(m * n, std::max(m * kk, kk * n));
  os << "    const " << t << " row = idx / " << n << ";\n"
     << "    const int col = (int)(idx % " << n << ");\n"
     << "    float acc = 0.0f;\n"
     << "    for (int j = 0; j < " << kk << "; ++j)\n"
     << "      acc += a["
     << (transA ? "(" + std::string(t) + ")j * " + std::to_string(m) + " + row"
                : "row * " + std::to_string(kk) + " + j")
     << "] * b["
     << (transB ? "(" + std::string(t) + ")col * " + std::to_string(kk) + " + j"
                : "(" + std::string(t) + ")j * " + std::to_string(n) + " + col")
     << "];\n";
  emitEpilogue("col");
  os << "    c[idx] = acc;\n";
  close();
}

bool KernelEmitter::run(std::string &err) {
  if (!check()) {
    err = error;
    return false;
  }
  launch.function = fn;
  switch (k.kind) {
  case KernelKind::Conv2dFwd:
    convLibrary(CudaLibraryKind::CudnnConvFwd);
    break;
  case KernelKind::Conv2dBwdData:
    convLibrary(CudaLibraryKind::CudnnConvBwdData);
    break;
  case KernelKind::Conv2dBwdFilter:
    convLibrary(CudaLibraryKind::CudnnConvBwdFilter);
    break;
  case KernelKind::Conv2dGeneralFwd:
    convLibrary(CudaLibraryKind::CudnnConvFwd);
    break;
  case KernelKind::Conv2dGeneralBwdData:
    convLibrary(CudaLibraryKind::CudnnConvBwdData);
    break;
  case KernelKind::Conv2dGeneralBwdFilter:
    convLibrary(CudaLibraryKind::CudnnConvBwdFilter);
    break;
  case KernelKind::MaxPoolFwd:
    maxPoolFwd();
    break;
  case KernelKind::MaxPoolBwd:
    maxPoolBwd();
    break;
  case KernelKind::BiasAdd:
    biasAdd();
    break;
  case KernelKind::BiasAddBwd:
    biasAddBwd();
    break;
  case KernelKind::Matmul:
    matmulLibrary();
    break;
  case KernelKind::SoftmaxXent:
    softmaxXent();
    break;
  case KernelKind::SoftmaxXentBwd:
    softmaxXentBwd();
    break;
  case KernelKind::Accuracy:
    accuracy();
    break;
  case KernelKind::SgdMomentum:
    sgdMomentum();
    break;
  case KernelKind::BatchNormTrain:
    batchNormTrain();
    break;
  case KernelKind::BatchNormEval:
    batchNormEval();
    break;
  case KernelKind::BatchNormBwd:
    batchNormBwd();
    break;
  case KernelKind::AvgPoolFwd:
    avgPoolFwd();
    break;
  case KernelKind::AvgPoolBwd:
    avgPoolBwd();
    break;
  case KernelKind::LrnFwd:
    lrnFwd();
    break;
  case KernelKind::LrnBwd:
    lrnBwd();
    break;
  case KernelKind::TimeStep:
    timeStep();
    break;
  case KernelKind::LstmCellFwd:
    lstmCellFwd();
    break;
  case KernelKind::LstmCellBwd:
    lstmCellBwd();
    break;
  case KernelKind::LrSchedule:
    lrSchedule();
    break;
  case KernelKind::GradSumSq:
    gradSumSq();
    break;
  case KernelKind::ClipScale:
    clipScale();
    break;
  case KernelKind::SgdStep:
    sgdStep();
    break;
  case KernelKind::AdamStep:
    adamStep();
    break;
  case KernelKind::DropoutFwd:
    dropout("x", "y");
    break;
  case KernelKind::Concat:
    concat(false);
    break;
  case KernelKind::ConcatBwd:
    concat(true);
    break;
  case KernelKind::LayerNormFwd:
    layerNormFwd();
    break;
  case KernelKind::AttentionFwd:
    attentionFwd();
    break;
  case KernelKind::AttentionBwd:
    attentionBwd();
    break;
  case KernelKind::AttentionMaskedFwd:
    attentionFwd();
    break;
  case KernelKind::Embedding:
    embedding();
    break;
  case KernelKind::EmbeddingBwd:
    embeddingBwd();
    break;
  case KernelKind::PositionAdd:
    positionAdd();
    break;
  case KernelKind::PositionAddBwd:
    positionAddBwd();
    break;
  case KernelKind::LayerNormBwd:
    layerNormBwd();
    break;
  case KernelKind::Transpose:
    transpose();
    break;
  case KernelKind::Unary:
    unary();
    break;
  case KernelKind::BroadcastBinary:
    broadcastBinary();
    break;
  case KernelKind::Reduce:
    reduce();
    break;
  case KernelKind::DropoutBwd:
    dropout("dy", "dx");
    break;
  case KernelKind::SoftmaxFwd:
    softmaxFwd();
    break;
  case KernelKind::SoftmaxBwd:
    softmaxBwd();
    break;
  case KernelKind::Mse:
    regressionLoss("const double d = (double)x[j] - t[j];\n    sum += d * d;");
    break;
  case KernelKind::MseBwd:
    regressionLossBwd("dx[idx] = (x[idx] - t[idx]) * scale;", 2.0);
    break;
  case KernelKind::BceWithLogits:
    regressionLoss("const double v = x[j];\n"
                   "    sum += (v > 0.0 ? v : 0.0) - v * t[j] + log1p(exp(-fabs(v)));");
    break;
  case KernelKind::BceWithLogitsBwd:
    regressionLossBwd("dx[idx] = (1.0f / (1.0f + expf(-x[idx])) - t[idx]) * scale;", 1.0);
    break;
  case KernelKind::LossScale:
    open("count " + std::to_string(i[0]) + ": times the loss scale, in place");
    os << "  const float s = exp2f(16.0f + state[0]);\n";
    loop(i[0]);
    os << "    x[idx] = (float)x[idx] * s;\n";
    close();
    break;
  case KernelKind::UnscaleGrad:
    open("count " + std::to_string(i[0]) + ": over the loss scale, in place; flags inf/NaN");
    os << "  const float inv = exp2f(-16.0f - state[0]);\n";
    loop(i[0]);
    os << "    const float v = g[idx] * inv;\n"
       << "    g[idx] = v;\n"
       << "    if (!(v - v == 0.0f)) // inf or NaN; every writer writes the same 1\n"
       << "      state[2] = 1.0f;\n";
    close();
    break;
  case KernelKind::SkipIfNonfinite:
    // The runtime reads the flag after this (empty) call and goes on at i[0] when it is set.
    oneThread("the executor skips to kernel " + std::to_string(i[0]) + " when state[2] is set", 1);
    os << "}\n";
    break;
  case KernelKind::LossScaleUpdate:
    oneThread("growth interval " + std::to_string(i[0]), 1);
    os << "  if (state[2] != 0.0f) {\n"
       << "    state[0] -= 1.0f;\n"
       << "    state[1] = 0.0f;\n"
       << "  } else if ((state[1] += 1.0f) >= " << i[0] << ".0f) {\n"
       << "    state[0] += 1.0f;\n"
       << "    state[1] = 0.0f;\n"
       << "  }\n"
       << "  state[2] = 0.0f;\n"
       << "}\n";
    break;
  case KernelKind::LstmSeqFwd:
  case KernelKind::LstmSeqBwd:
    return fail("the whole-layer LSTM kernels are the CPU's; the CUDA target unrolls dl.lstm "
                "into its steps first (--dl-unroll-lstm)");
  case KernelKind::CopySlice:
    open("count " + std::to_string(i[0]) + " from element " + std::to_string(i[1]) + " to " +
         std::to_string(i[2]));
    loop(i[0]);
    os << "    y[" << i[2] << " + idx] = x[" << i[1] << " + idx];\n";
    close();
    break;
  // Elementwise kinds: the table's statement, once per element.
#define DLC_ELEMENTWISE_KIND(Enum, name, params, flopsPerElement, cpu, cuda)                       \
  case KernelKind::Enum:                                                                           \
    elementwise(cuda);                                                                             \
    break;
#include "runtime/plan/KernelKinds.def"
  case KernelKind::NumKinds: // check() rejected it
    break;
  }
  return true;
}

} // namespace

std::string cuda::emitCudaSource(const plan::Plan &plan, const plan::Program &program,
                                 std::vector<CudaLaunch> &launches, std::string &error,
                                 const CudaCodegenOptions &options) {
  std::ostringstream os;
  os << "// CUDA C for program '" << commentSafe(program.name) << "' of model '"
     << commentSafe(plan.model) << "' (" << program.kernels.size()
     << " kernel calls), generated by dlc.\n"
     << "// Shapes are constants; launch configurations are in the compiler's launch records.\n";
  if (options.emitReferenceLibraryKernels)
    os << "// Library calls come with reference implementations (verification only).\n";
  for (const plan::Buffer &b : plan.buffers)
    if (halfStorageType(b.dtype)) {
      os << halfTypesSource();
      break;
    }
  launches.assign(program.kernels.size(), CudaLaunch());
  for (size_t n = 0; n < program.kernels.size(); ++n) {
    KernelEmitter emitter(plan, program.kernels[n], int(n), options, os, launches[n]);
    if (!emitter.run(error)) {
      error = "program '" + program.name + "': " + error;
      launches.clear();
      return "";
    }
  }
  return os.str();
}
