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

/// Plans the model at any batch, remembering each result.
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
        p = planAtBatch(*module, at, source, batch, fuse);
    } else {
      p = planAtBatch(imported, config, source, batch, fuse);
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
                                           int64_t batch, int stages) {
  std::optional<PipelineChoice> best;
  const uint64_t usable = advisor::usableBytes(gpu);
  for (int64_t m = stages; m <= 32 * stages && m <= batch; m *= 2) {
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
    const bool enough = m >= 4 * stages;
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
  uint64_t need = byPlan ? advisor::planBytes(plan) : advisor::heuristicBytes(counts, batch);
  uint64_t usable = advisor::usableBytes(*gpu);
  if (need <= usable)
    return success();
  BatchPlanner planner(imported, config, source, fuse);
  std::optional<int64_t> best =
      byPlan ? advisor::largestBatch([&](int64_t b) { return planner.bytes(b); }, usable)
             : std::optional<int64_t>(heuristicMaxBatch(counts, usable));
  std::string largest;
  for (const plan::Buffer *b : advisor::largestAtPeak(plan, 3))
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
  config.loss = opts.loss;
  OwningOpRef<ModuleOp> imported = importAnyModel(ctx, opts.input, config, opts.batch);
  if (!imported)
    return 1;
  if (!imported->lookupSymbol("forward")) {
    llvm::errs() << opts.input << ": error: dlc mem plans the training step; this ONNX graph "
                    "is inference only: give --loss softmax_cross_entropy or --loss mse\n";
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
  const plan::Program *train = plan->program("train");

  struct Row {
    const hw::Gpu *gpu;
    uint64_t usable;
    bool fitsPlan, fitsHeur;
    std::optional<int64_t> maxPlan;
    int64_t maxHeur;
    double step;
  };
  std::vector<Row> rows;
  for (const hw::Gpu *g : gpus) {
    Row r{g, advisor::usableBytes(*g), false, false, std::nullopt, 0, 0};
    r.fitsPlan = planNeed <= r.usable;
    r.fitsHeur = heurNeed <= r.usable;
    r.maxPlan = advisor::largestBatch([&](int64_t b) { return planner.bytes(b); }, r.usable);
    r.maxHeur = heuristicMaxBatch(counts, r.usable);
    r.step = train ? advisor::rooflineSeconds(*plan, *train, *g) : 0;
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
        {"gpus", std::move(devices)},
    };
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(doc))) << "\n";
    return 0;
  }

  out << plan->model << " (" << opts.input << "), batch " << batch;
  if (replicas > 1)
    out << " over " << replicas << " data-parallel GPUs (" << perDevice << " per GPU)";
  out << "\n  parameters: " << thousands(counts.weights) << "\n";
  out << "  training step, by the plan:    " << gib(planNeed) << " per GPU (parameters and state "
      << gib(plan->persistentBytes) << ", step buffers " << gib(planNeed - plan->persistentBytes)
      << ")\n    live at the peak:";
  for (size_t k = 0; k < breakdown.size(); ++k)
    if (breakdown[k])
      out << " " << plan::bufferKindName(plan::BufferKind(k)) << " " << gib(breakdown[k]) << ";";
  out << "\n  by the design heuristic:       " << gib(heurNeed) << " = (" << thousands(counts.weights)
      << " weights + " << thousands(counts.nodes) << " nodes) x 4 B x batch " << perDevice
      << " x " << counts.maskElements << " (" << windowName(counts.maskElements) << ")\n";
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
  if (replicas > 1) {
    out << "\n  pipeline placement instead: the layers split into " << replicas
        << " stages, one per GPU, the batch of " << batch << " in micro-batches (1F1B)\n";
    for (const Row &r : rows) {
      auto choice = bestPipeline(planner, *r.gpu, batch, int(replicas));
      if (!choice) {
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
    out << "  a pipeline estimate from the plan at the micro-batch (stage memory: its parameters"
           " and state, the activations each micro-batch in flight keeps, its largest transient"
           " buffers; boundary copies and communication not counted); dlrun does not run"
           " pipelines yet\n";
  }
  out << "\n  step time is a roofline bound (FP32 peak and memory bandwidth per kernel), not a"
         " measurement; see docs/memory.md\n";
  return 0;
}
