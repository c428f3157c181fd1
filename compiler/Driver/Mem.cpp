//===- Mem.cpp - `dlc mem`: the memory plan against real GPUs ----*- C++ -*-===//
//
// The buying guide. Every number comes from the same plan the runtime would allocate
// (compiled at each batch size asked about), shown next to the design's heuristic.
//
#include "compiler/Driver/Mem.h"

#include "compiler/Advisor/Fit.h"
#include "compiler/Advisor/Heuristic.h"
#include "compiler/Advisor/PipelineSplit.h"
#include "compiler/Advisor/PlanSvg.h"
#include "compiler/Advisor/Roofline.h"
#include "compiler/Driver/Pipeline.h"
#include "compiler/Hardware/Catalog.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <map>

using namespace mlir;
using namespace dlc;

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

/// GiB for device-sized figures, MiB below one GiB (LeNet's whole plan is a few MiB).
std::string gib(uint64_t bytes) {
  if (bytes < uint64_t(kGiB))
    return llvm::formatv("{0:F1} MiB", bytes / (1024.0 * 1024.0)).str();
  return llvm::formatv("{0:F2} GiB", bytes / kGiB).str();
}
std::string mib(uint64_t bytes) {
  return llvm::formatv("{0:F1} MiB", bytes / (1024.0 * 1024.0)).str();
}
std::string thousands(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0)
      out += ',';
    out += s[i];
  }
  return out;
}

/// Plans the model at any batch as a GPU stores it, remembering each result.
class BatchPlanner {
public:
  BatchPlanner(ModuleOp imported, const ModelConfig &config, std::string source, bool fuse)
      : imported(imported), config(config), source(std::move(source)), fuse(fuse) {}

  const plan::Plan *at(int64_t batch) {
    auto it = plans.find(batch);
    if (it != plans.end())
      return it->second ? &*it->second : nullptr;
    // An ONNX graph's shapes are fixed at import: import it again at this batch (its
    // symbolic dimension; a graph without one plans the same at every batch).
    FailureOr<plan::Plan> p = failure();
    if (llvm::StringRef(source).ends_with(".onnx")) {
      ModelConfig at = config;
      OwningOpRef<ModuleOp> module = importAnyModel(*imported->getContext(), source, at, batch);
      if (module)
        p = planAtBatch(*module, at, source, batch, fuse, Storage::Gpu);
    } else {
      p = planAtBatch(imported, config, source, batch, fuse, Storage::Gpu);
    }
    auto &slot = plans[batch];
    if (succeeded(p))
      slot = std::move(*p);
    return slot ? &*slot : nullptr;
  }
  std::optional<uint64_t> bytes(int64_t batch) {
    const plan::Plan *p = at(batch);
    return p ? std::optional<uint64_t>(advisor::planBytes(*p)) : std::nullopt;
  }

private:
  ModuleOp imported;
  const ModelConfig &config;
  std::string source;
  bool fuse;
  std::map<int64_t, std::optional<plan::Plan>> plans;
};

/// Plans the model at one batch for any sequence length (re-imported with --seq-len T),
/// remembering each result. A length the model refuses (past its shortest position table, a
/// tensor over --max-tensor-bytes) needs more than any GPU has; its diagnostics are dropped:
/// the search asks about lengths nobody wrote in the file.
class SeqPlanner {
public:
  SeqPlanner(const MemOptions &opts, int64_t batch, int64_t longest)
      : opts(opts), batch(batch), longest(longest),
        quiet(&ctx, [](Diagnostic &) { return success(); }) {}

  std::optional<uint64_t> bytes(int64_t t) {
    if (t > longest)
      return UINT64_MAX;
    auto it = memo.find(t);
    if (it != memo.end())
      return it->second;
    ModelConfig config;
    config.limits = opts.limits;
    config.recompute = opts.recompute;
    config.seqLen = t;
    uint64_t need = UINT64_MAX;
    std::string error;
    OwningOpRef<ModuleOp> m = importModel(ctx, opts.input, config);
    if (m && overridePrecision(opts.precision, config, error)) {
      auto p = planAtBatch(*m, config, opts.input, batch, opts.fuse, Storage::Gpu);
      if (succeeded(p))
        need = advisor::planBytes(*p);
    }
    return memo[t] = need;
  }

private:
  const MemOptions &opts;
  int64_t batch, longest;
  MLIRContext ctx;
  ScopedDiagnosticHandler quiet;
  std::map<int64_t, uint64_t> memo;
};

bool loadCatalog(const std::string &extra, hw::Catalog &catalog) {
  catalog = hw::builtinCatalog();
  std::string error;
  if (!extra.empty() && !hw::loadCatalogFile(extra, catalog, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return false;
  }
  return true;
}

int64_t heuristicMaxBatch(const advisor::HeuristicCounts &c, uint64_t capacity) {
  uint64_t perExample = advisor::heuristicBytes(c, 1);
  return perExample ? int64_t(capacity / perExample) : 0;
}

/// A pipeline placement of the whole batch on `stages` copies of `gpu`: micro-batch counts
/// M = stages x 1, 2, 4 ... 32 that divide the batch, the fewest from 4 x stages up that fit
/// (the bubble, (stages-1)/(M+stages-1), is then at most a fifth for 2 stages; a roofline
/// would always favour more and smaller micro-batches, which real kernels do not), else the
/// fewest below that fit. Step: (M + stages - 1) x the slowest stage.
struct PipelineChoice {
  int64_t microbatches = 0, microbatch = 0;
  std::vector<advisor::Stage> stages;
  std::vector<advisor::LayerCost> layers;
  double step = 0;
};
std::optional<PipelineChoice> bestPipeline(BatchPlanner &planner, const hw::Gpu &gpu,
                                           int64_t batch, int stages, int64_t fixed) {
  std::optional<PipelineChoice> best;
  const uint64_t usable = advisor::usableBytes(gpu);
  // --microbatches M: that count alone.
  const int64_t first = fixed > 0 ? fixed : stages, last = fixed > 0 ? fixed : 32 * stages;
  for (int64_t m = first; m <= last && m <= batch; m *= 2) {
    if (batch % m)
      continue;
    const plan::Plan *p = planner.at(batch / m);
    if (!p)
      continue;
    std::vector<advisor::LayerCost> layers = advisor::layerCosts(*p, gpu);
    auto split = advisor::splitStages(layers, stages, m, usable);
    if (!split)
      continue;
    double slowest = 0;
    for (const advisor::Stage &s : *split)
      slowest = std::max(slowest, s.seconds);
    double step = double(m + stages - 1) * slowest;
    const bool enough = m >= 4 * stages || fixed > 0;
    if (!best || (enough && best->microbatches < 4 * stages))
      best = PipelineChoice{m, batch / m, std::move(*split), std::move(layers), step};
    if (enough)
      break;
  }
  return best;
}

std::string duration(double seconds) {
  return seconds < 1 ? llvm::formatv("{0:F2} ms", seconds * 1e3).str()
                     : llvm::formatv("{0:F2} s", seconds).str();
}

/// The share of the training step's FLOPs spent recomputing (kernels named "[recompute]").
double recomputedShare(const plan::Plan &p) {
  double total = 0, again = 0;
  if (const plan::Program *train = p.program("train"))
    for (const plan::Kernel &k : train->kernels) {
      total += k.flops;
      if (k.name.size() > 12 && k.name.compare(k.name.size() - 12, 12, " [recompute]") == 0)
        again += k.flops;
    }
  return total > 0 ? again / total : 0;
}

double trainFlops(const plan::Plan &p) {
  double total = 0;
  if (const plan::Program *train = p.program("train"))
    for (const plan::Kernel &k : train->kernels)
      total += k.flops;
  return total;
}

std::string windowName(int64_t elements) {
  for (int64_t k = 1; k * k <= elements; ++k)
    if (k * k == elements)
      return llvm::formatv("{0}x{0} window", k).str();
  return llvm::formatv("{0}-element window", elements).str();
}
} // namespace

LogicalResult dlc::checkFits(ModuleOp imported, const ModelConfig &config,
                             const std::string &source, const plan::Plan &plan,
                             const FitCheck &check, bool fuse) {
  hw::Catalog catalog;
  if (!loadCatalog(check.hardware, catalog))
    return failure();
  std::string error;
  const hw::Gpu *gpu = hw::findGpu(catalog, check.gpu, error);
  if (!gpu) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return failure();
  }
  advisor::HeuristicCounts counts = advisor::countForHeuristic(imported);
  if (check.maskElements > 0)
    counts.maskElements = check.maskElements;
  int64_t batch = plan.train.batch;
  bool byPlan = check.memoryModel != "heuristic";
  BatchPlanner planner(imported, config, source, fuse);
  // A CPU plan of a mixed precision keeps float buffers; the GPU would store them in 2 bytes.
  const plan::Plan *onGpu = plan.train.precision == plan::Precision::Fp32 || plan.target == "cuda"
                                ? &plan
                                : planner.at(batch);
  if (!onGpu)
    return failure();
  uint64_t need = byPlan ? advisor::planBytes(*onGpu) : advisor::heuristicBytes(counts, batch);
  uint64_t usable = advisor::usableBytes(*gpu);
  if (need <= usable)
    return success();
  std::optional<int64_t> best =
      byPlan ? advisor::largestBatch([&](int64_t b) { return planner.bytes(b); }, usable)
             : std::optional<int64_t>(heuristicMaxBatch(counts, usable));
  std::string largest;
  for (const plan::Buffer *b : advisor::largestAtPeak(*onGpu, 3))
    largest += (largest.empty() ? "" : ", ") + b->name + " (" + mib(b->bytes) + " " +
               plan::bufferKindName(b->kind) + ")";
  llvm::errs() << "dlc: error: " << plan.model << " at batch " << batch << " does not fit "
               << gpu->name << ": needs " << gib(need) << " (" << (byPlan ? "plan" : "heuristic")
               << "), " << gib(usable) << " usable of " << gib(gpu->memoryBytes) << " ("
               << gib(advisor::kDeviceReserveBytes) << " reserved); largest batch that fits: "
               << (best ? std::to_string(*best) : std::string("unknown"))
               << "; largest buffers at the peak: " << largest << "\n";
  return failure();
}

bool dlc::overridePrecision(const std::string &name, ModelConfig &config, std::string &error) {
  if (name.empty() || plan::parsePrecision(name, config.train.precision))
    return true;
  error = "--precision must be fp32, mixed-fp16 or mixed-bf16, got '" + name + "'";
  return false;
}

int dlc::memReport(const MemOptions &opts, llvm::raw_ostream &out) {
  MLIRContext ctx;
  OneLineDiagnostics diagnostics(ctx);
  if (opts.memoryModel != "plan" && opts.memoryModel != "heuristic") {
    llvm::errs() << "dlc: error: --memory-model must be plan or heuristic, got '"
                 << opts.memoryModel << "'\n";
    return 1;
  }
  hw::Catalog catalog;
  if (!loadCatalog(opts.hardware, catalog))
    return 1;
  std::vector<const hw::Gpu *> gpus;
  std::string error;
  if (!hw::selectGpus(catalog, opts.gpus, gpus, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return 1;
  }
  ModelConfig config;
  config.limits = opts.limits;
  config.seqLen = opts.seqLen;
  config.recompute = opts.recompute;
  config.loss = opts.loss;
  OwningOpRef<ModuleOp> imported = importAnyModel(ctx, opts.input, config, opts.batch);
  if (!imported)
    return 1;
  if (!imported->lookupSymbol("forward")) {
    llvm::errs() << opts.input << ": error: dlc mem plans the training step; this ONNX graph "
                    "is inference only: give --loss softmax_cross_entropy or --loss mse\n";
    return 1;
  }
  if (!overridePrecision(opts.precision, config, error)) {
    llvm::errs() << "dlc: error: " << error << "\n";
    return 1;
  }
  int64_t batch = opts.batch > 0 ? opts.batch : config.train.batch;
  int64_t replicas = std::max<int64_t>(1, opts.replicas);
  int64_t perDevice = (batch + replicas - 1) / replicas;
  advisor::HeuristicCounts counts = advisor::countForHeuristic(*imported);
  if (opts.maskElements > 0)
    counts.maskElements = opts.maskElements;

  BatchPlanner planner(*imported, config, opts.input, opts.fuse);
  const plan::Plan *plan = planner.at(perDevice);
  if (!plan)
    return 1;
  // From here on the searches plan batches nobody asked for: one past --max-tensor-bytes is
  // a batch that does not fit (the table says "?"), not an error to print.
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  if (!opts.svg.empty()) {
    std::string svg = advisor::planSvg(*plan, "train"), tmp = opts.svg + ".tmp";
    std::error_code ec;
    {
      llvm::raw_fd_ostream f(tmp, ec);
      if (!ec)
        f << svg;
    }
    if (ec || llvm::sys::fs::rename(tmp, opts.svg)) {
      llvm::errs() << "dlc: error: cannot write '" << opts.svg << "': " << ec.message() << "\n";
      llvm::sys::fs::remove(tmp);
      return 1;
    }
  }

  bool byPlan = opts.memoryModel == "plan";
  uint64_t planNeed = advisor::planBytes(*plan);
  uint64_t heurNeed = advisor::heuristicBytes(counts, perDevice);
  std::vector<uint64_t> breakdown = advisor::breakdownAtPeak(*plan);
  const advisor::PrecisionBreakdown split = advisor::precisionBreakdown(*plan);
  const plan::Precision precision = config.train.precision;
  const char *half = plan::dtypeName(plan::halfType(precision));
  const plan::Program *train = plan->program("train");

  struct Row {
    const hw::Gpu *gpu;
    uint64_t usable;
    bool fitsPlan, fitsHeur;
    std::optional<int64_t> maxPlan;
    int64_t maxHeur;
    double step;
    std::optional<int64_t> maxSeq; // with --seq-len: the longest sequence at the batch
  };
  // The longest sequence searched: the shortest position table, else the data format's bound.
  const int64_t longestSeq = config.maxSeqLen ? config.maxSeqLen : kMaxSeqLen;
  std::optional<SeqPlanner> seqPlanner;
  if (opts.seqLen > 0 && byPlan)
    seqPlanner.emplace(opts, perDevice, longestSeq);
  // A batch above the one planned that the limits refuse (a tensor past --max-tensor-bytes)
  // does not fit. The search's first guess, from batches 1 and 2, lands far beyond them when
  // the peak is mostly the parameters' (a transformer at a short sequence).
  auto batchBytes = [&](int64_t b) -> std::optional<uint64_t> {
    auto n = planner.bytes(b);
    return n || b <= perDevice ? n : std::optional<uint64_t>(UINT64_MAX);
  };
  std::vector<Row> rows;
  for (const hw::Gpu *g : gpus) {
    Row r{g, advisor::usableBytes(*g), false, false, std::nullopt, 0, 0, std::nullopt};
    r.fitsPlan = planNeed <= r.usable;
    r.fitsHeur = heurNeed <= r.usable;
    r.maxPlan = advisor::largestBatch(batchBytes, r.usable);
    r.maxHeur = heuristicMaxBatch(counts, r.usable);
    r.step = train ? advisor::rooflineSeconds(*plan, *train, *g) : 0;
    // The batch search over sequence lengths: memory grows with T (T^2 for attention's
    // probabilities), so the same bracketing and bisection finds the longest T that fits.
    if (seqPlanner)
      r.maxSeq = advisor::largestBatch([&](int64_t t) { return seqPlanner->bytes(t); }, r.usable);
    rows.push_back(r);
  }

  if (opts.json) {
    llvm::json::Object byKind;
    for (size_t k = 0; k < breakdown.size(); ++k)
      byKind[plan::bufferKindName(plan::BufferKind(k))] = int64_t(breakdown[k]);
    llvm::json::Array devices;
    for (const Row &r : rows) {
      double exPerSec = r.step > 0 ? perDevice * replicas / r.step : 0;
      devices.push_back(llvm::json::Object{
          {"id", r.gpu->id},
          {"name", r.gpu->name},
          {"memory_bytes", int64_t(r.gpu->memoryBytes)},
          {"usable_bytes", int64_t(r.usable)},
          {"fits", byPlan ? r.fitsPlan : r.fitsHeur},
          {"fits_plan", r.fitsPlan},
          {"fits_heuristic", r.fitsHeur},
          {"max_batch_plan", r.maxPlan ? llvm::json::Value(*r.maxPlan * replicas)
                                       : llvm::json::Value(nullptr)},
          {"max_batch_heuristic", r.maxHeur * replicas},
          {"roofline_step_seconds", r.step},
          {"roofline_examples_per_second", exPerSec},
          {"examples_per_second_per_1000_usd",
           r.gpu->priceUsd > 0 ? llvm::json::Value(exPerSec * 1000 / (r.gpu->priceUsd * replicas))
                               : llvm::json::Value(nullptr)},
          {"price_usd", r.gpu->priceUsd > 0 ? llvm::json::Value(r.gpu->priceUsd)
                                            : llvm::json::Value(nullptr)},
          {"nvrtc_can_target", r.gpu->nvrtcCanTarget()},
      });
      if (seqPlanner)
        devices.back().getAsObject()->insert(
            {"max_seq_len_plan",
             r.maxSeq ? llvm::json::Value(*r.maxSeq) : llvm::json::Value(nullptr)});
    }
    llvm::json::Object doc{
        {"schema", "dlc-mem/1"},
        {"model", plan->model},
        {"batch", batch},
        {"replicas", replicas},
        {"batch_per_device", perDevice},
        {"memory_model", opts.memoryModel},
        {"parameters", counts.weights},
        {"plan_bytes", int64_t(planNeed)},
        {"persistent_bytes", int64_t(plan->persistentBytes)},
        {"peak_breakdown_bytes", std::move(byKind)},
        {"heuristic", llvm::json::Object{{"bytes", int64_t(heurNeed)},
                                         {"n_weights", counts.weights},
                                         {"n_nodes", counts.nodes},
                                         {"mask_elements", counts.maskElements}}},
        {"reserve_bytes", int64_t(advisor::kDeviceReserveBytes)},
        {"precision", plan::precisionName(precision)},
        {"precision_breakdown_bytes",
         llvm::json::Object{{"weights", int64_t(split.weights)},
                            {"weight_gradients", int64_t(split.weightGradients)},
                            {"optimizer_state", int64_t(split.optimizerState)},
                            {"activations", int64_t(split.activations)},
                            {"weight_copies", int64_t(split.weightCopies)}}},
        {"gpus", std::move(devices)},
    };
    if (opts.seqLen > 0) {
      doc["seq_len"] = opts.seqLen;
      doc["max_seq_len_model"] = longestSeq;
    }
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(doc))) << "\n";
    return 0;
  }

  out << plan->model << " (" << opts.input << "), batch " << batch;
  if (opts.seqLen > 0)
    out << ", sequence length " << opts.seqLen;
  if (replicas > 1)
    out << " over " << replicas << " data-parallel GPUs (" << perDevice << " per GPU)";
  out << "\n  parameters: " << thousands(counts.weights) << "\n";
  out << "  training step, by the plan:    " << gib(planNeed) << " per GPU (parameters and state "
      << gib(plan->persistentBytes) << ", step buffers " << gib(planNeed - plan->persistentBytes)
      << ")\n    live at the peak:";
  for (size_t k = 0; k < breakdown.size(); ++k)
    if (breakdown[k])
      out << " " << plan::bufferKindName(plan::BufferKind(k)) << " " << gib(breakdown[k]) << ";";
  if (precision == plan::Precision::Fp32)
    out << "\n  precision fp32:                 weights " << gib(split.weights) << ", gradients "
        << gib(split.weightGradients) << ", optimizer state " << gib(split.optimizerState)
        << ", activations " << gib(split.activations) << " (live at the peak, all 4 B)";
  else
    out << "\n  precision " << plan::precisionName(precision) << ":           fp32 weights "
        << gib(split.weights) << ", fp32 weight gradients " << gib(split.weightGradients)
        << ", fp32 optimizer state " << gib(split.optimizerState) << "; " << half
        << " activations and their gradients " << gib(split.activations) << ", " << half
        << " weight copies " << gib(split.weightCopies) << " (live at the peak)";
  out << "\n  by the design heuristic:       " << gib(heurNeed) << " = (" << thousands(counts.weights)
      << " weights + " << thousands(counts.nodes) << " nodes) x 4 B x batch " << perDevice
      << " x " << counts.maskElements << " (" << windowName(counts.maskElements) << ")"
      << (precision == plan::Precision::Fp32 ? "" : "; the design's fp32 formula, not scaled")
      << "\n";
  out << "  decides: " << opts.memoryModel << "; each GPU keeps " << gib(advisor::kDeviceReserveBytes)
      << " for the CUDA context and library workspaces\n\n";
  out << llvm::formatv("  {0,-30} {1,9} {2,9}  {3,-21} {4,10}  {5,-14} {6,10} {7,10} {8,10} {9,8}\n",
                       "GPU", "memory", "usable", "plan: fits?", "max batch", "heuristic",
                       "max batch", "step (est)", "ex/s (est)", "per $1k");
  for (const Row &r : rows) {
    std::string fitsPlan =
        r.fitsPlan ? "yes (" + gib(r.usable - planNeed) + " spare)"
                   : "NO (" + gib(planNeed - r.usable) + " short)";
    double exPerSec = r.step > 0 ? perDevice * replicas / r.step : 0;
    std::string perPrice = r.gpu->priceUsd > 0
                               ? llvm::formatv("{0:F0}", exPerSec * 1000 /
                                                             (r.gpu->priceUsd * replicas)).str()
                               : "-";
    out << llvm::formatv("  {0,-30} {1,9} {2,9}  {3,-21} {4,10}  {5,-14} {6,10} {7,10} {8,10} {9,8}\n",
                         r.gpu->name, gib(r.gpu->memoryBytes), gib(r.usable), fitsPlan,
                         r.maxPlan ? std::to_string(*r.maxPlan * replicas) : "?",
                         r.fitsHeur ? "fits" : "does not fit", r.maxHeur * replicas,
                         r.step < 1 ? llvm::formatv("{0:F2} ms", r.step * 1e3).str()
                                    : llvm::formatv("{0:F2} s", r.step).str(),
                         llvm::formatv("{0:F0}", exPerSec).str(), perPrice);
  }
  if (seqPlanner) {
    out << "\n  longest sequence at batch " << perDevice << (replicas > 1 ? " per GPU" : "")
        << " (the plan at each length; the model takes at most " << longestSeq
        << (config.maxSeqLen ? ", its position table" : "") << "):\n";
    for (const Row &r : rows)
      out << llvm::formatv("  {0,-30} {1,9}{2}\n", r.gpu->name,
                           r.maxSeq ? std::to_string(*r.maxSeq) : std::string("?"),
                           r.maxSeq && *r.maxSeq == 0   ? " (not even 1 fits)"
                           : r.maxSeq && *r.maxSeq == longestSeq ? " (the model's limit)"
                                                                 : "");
  }
  if (opts.recompute) {
    double share = recomputedShare(*plan);
    out << "\n  with --recompute: each block's forward runs again in its backward (+"
        << llvm::formatv("{0:F0}", share < 1 ? 100 * share / (1 - share) : 0.0) << "% FLOPs)\n";
  } else if (std::any_of(rows.begin(), rows.end(), [](const Row &r) { return !r.fitsPlan; })) {
    // The advisor's offer when a GPU is short: the same step with activation checkpointing.
    ModelConfig withRecompute = config;
    withRecompute.recompute = true;
    BatchPlanner rplanner(*imported, withRecompute, opts.input, opts.fuse);
    const plan::Plan *rp = rplanner.at(perDevice);
    if (rp && rp->arenaBytes < planNeed) {
      out << llvm::formatv("\n  with --recompute (each block's forward again in its backward, "
                           "+{0:F0}% FLOPs): {1} per GPU at batch {2}\n",
                           100 * (trainFlops(*rp) / trainFlops(*plan) - 1), gib(rp->arenaBytes),
                           batch);
      for (const Row &r : rows) {
        if (r.fitsPlan)
          continue;
        auto max = advisor::largestBatch(
            [&](int64_t b) -> std::optional<uint64_t> {
              auto n = rplanner.bytes(b);
              return n || b <= perDevice ? n : std::optional<uint64_t>(UINT64_MAX);
            },
            r.usable);
        out << llvm::formatv("    {0}: {1}; largest batch {2} (without: {3})\n", r.gpu->name,
                             rp->arenaBytes <= r.usable ? "fits" : "still does not fit",
                             max ? std::to_string(*max * replicas) : "?",
                             r.maxPlan ? std::to_string(*r.maxPlan * replicas) : "?");
      }
    }
  }
  if (replicas > 1) {
    out << "\n  pipeline placement instead: the layers split into " << replicas
        << " stages, one per GPU, the batch of " << batch << " in micro-batches (1F1B)\n";
    for (const Row &r : rows) {
      auto choice = bestPipeline(planner, *r.gpu, batch, int(replicas), opts.microbatches);
      if (!choice) {
        if (opts.microbatches > 0 && batch % opts.microbatches != 0)
          out << "  " << r.gpu->name << ": " << opts.microbatches
              << " micro-batches do not divide the batch of " << batch << "\n";
        else if (opts.microbatches > 0)
          out << "  " << r.gpu->name << ": no split into " << replicas << " stages fits with "
              << opts.microbatches << " micro-batches\n";
        else
          out << "  " << r.gpu->name << ": no split into " << replicas << " stages fits (tried "
              << replicas << " to " << 32 * replicas << " micro-batches dividing " << batch
              << ")\n";
        continue;
      }
      out << llvm::formatv("  {0}: {1} micro-batches of {2}, bubble {3:F0}%, step {4} (est; "
                           "data placement: {5})\n",
                           r.gpu->name, choice->microbatches, choice->microbatch,
                           100.0 * double(replicas - 1) / double(choice->microbatches + replicas - 1),
                           duration(choice->step), duration(r.step));
      for (size_t s = 0; s < choice->stages.size(); ++s) {
        const advisor::Stage &st = choice->stages[s];
        out << llvm::formatv("    stage {0}: {1} .. {2} ({3} layers): {4} ({5} micro-batch{6} in "
                             "flight), {7} per micro-batch\n",
                             s, choice->layers[st.first].name, choice->layers[st.end - 1].name,
                             st.end - st.first, gib(st.bytes), st.inFlight,
                             st.inFlight == 1 ? "" : "es", duration(st.seconds));
      }
    }
    // Pipeline replicas: the fewest stages S (dividing K, below K) whose split fits at a
    // replica's share of the batch, the other K/S - 1 replicas averaging each stage's
    // gradients (what dlc compile --placement auto picks when data placement does not fit).
    bool hybridHeader = false;
    for (const Row &r : rows)
      for (int64_t S = 2; S < replicas; ++S) {
        const int64_t R = replicas / S;
        if (replicas % S != 0 || batch % R != 0)
          continue;
        auto choice = bestPipeline(planner, *r.gpu, batch / R, int(S), opts.microbatches);
        if (!choice)
          continue;
        if (!hybridHeader)
          out << "\n  pipeline replicas instead: the fewest stages S that fit, the " << replicas
              << " GPUs as " << "K/S data-parallel replicas of that pipeline, each on its share "
                 "of the batch\n";
        hybridHeader = true;
        uint64_t largest = 0;
        for (const advisor::Stage &st : choice->stages)
          largest = std::max(largest, st.bytes);
        out << llvm::formatv("  {0}: {1} stages x {2} replicas, batch {3} each in {4} "
                             "micro-batches of {5}, largest stage {6}, step {7} (est; the "
                             "gradients' average not counted)\n",
                             r.gpu->name, S, R, batch / R, choice->microbatches,
                             choice->microbatch, gib(largest), duration(choice->step));
        break;
      }
    out << "  a pipeline estimate from the plan at the micro-batch (stage memory: its parameters"
           " and state, the activations each micro-batch in flight keeps, its largest transient"
           " buffers; boundary copies and communication not counted); dlrun runs GPipe (dlc compile"
           " --placement pipeline --microbatches M), which keeps every micro-batch's activations"
           " on every stage: more than 1F1B's here\n";
  }
  out << "\n  step time is a roofline bound (FP32 peak"
      << (precision == plan::Precision::Fp32 ? ""
                                             : ", the FP16/BF16 tensor peak for half matmuls and "
                                               "convolutions,")
      << " and memory bandwidth per kernel), not a measurement; see docs/memory.md\n";
  return 0;
}
