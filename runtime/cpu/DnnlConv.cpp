//===- DnnlConv.cpp - convolutions through oneDNN, when built in --*- C++ -*-===//
//
// A primitive per distinct convolution, keyed by direction, shape and epilogue (so ResNet's
// repeated blocks share theirs), made once under a lock and then only read. A call wraps
// the caller's buffers in oneDNN memory objects, reorders the inputs into the layouts the
// primitive chose (format_tag::any: blocked ones on AVX-512/AVX2) into per-thread buffers,
// executes, and reorders the output back into the caller's NCHW/OIHW buffer. Where the
// primitive chose the caller's layout itself (NCHW, or the blocked layout Layout.h keeps
// activations in) nothing is copied.
//
// Threads: Debian's libdnnl runs on OpenMP. Rather than an OpenMP team beside the runtime's
// pool (two sets of threads spinning against each other on few cores, and a descheduled
// team member stalling the whole primitive), the pool cuts the batch into one slice of
// consecutive images per thread and each thread runs a primitive made for one thread
// (OpenMP team size 1) on its slice; filter gradients go to per-slice partial sums, added
// afterwards. Each thread has its own reorder buffers and scratchpad. Where a thread's
// images would be few positions (ResNet-50's 7x7 stage at batch 8) the threads split the
// channels instead (channelParts).
//
// Measurement switches (docs/performance.md): DLC_DNNL=0 (in-house kernels only),
// DLC_DNNL_SPLIT=0 (one OpenMP team of --threads threads per call instead of the split),
// DLC_DNNL_LAYOUT=plain (primitives held to NCHW/OIHW, no reorders), DLC_DNNL_CSPLIT=<n>
// (split by channels below n positions a thread; 0: never).
//
#include "runtime/cpu/DnnlConv.h"

#include "runtime/cpu/Parallel.h"

#include <cstdlib>
#include <cstring>

#if DLC_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#endif

namespace dlc::cpu {
namespace {
bool envEnabled() {
  const char *e = std::getenv("DLC_DNNL");
  return !(e && std::strcmp(e, "0") == 0);
}
} // namespace

#if !DLC_HAVE_DNNL

bool dnnlEnabled() { return false; }
void setDnnlEnabled(bool) {}
std::string dnnlVersion() { return ""; }
int dnnlBlock() { return 0; }
bool dnnlPrepare(DnnlConvOp, const GroupedConvShape &, bool, bool, unsigned) { return false; }
int dnnlChannelParts(DnnlConvOp, const GroupedConvShape &) { return 0; }
bool dnnlFilterLayoutFits(const GroupedConvShape &) { return false; }
bool dnnlReorderFilter(int, int, int, int, const float *, float *, bool) { return false; }
bool dnnlConvForward(const GroupedConvShape &, const float *, const float *, float *,
                     const float *, bool, unsigned) {
  return false;
}
bool dnnlConvBackwardData(const GroupedConvShape &, const float *, const float *, float *,
                          unsigned) {
  return false;
}
bool dnnlConvBackwardFilter(const GroupedConvShape &, const float *, const float *, float *,
                            unsigned) {
  return false;
}

#else

namespace {
using dnnl::memory;
using Tag = memory::format_tag;

std::atomic<bool> &enabledFlag() {
  static std::atomic<bool> on(envEnabled());
  return on;
}

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// One primitive and the layouts it works in. `plain*` are the caller's NCHW/OIHW tensors,
/// `in0`/`in1`/`out` the primitive's (in argument order of the direction); a reorder is
/// made only where they differ.
struct Prim {
  dnnl::primitive prim;
  memory::desc plainIn0, plainIn1, plainOut, in0, in1, out, bias;
  /// Scratchpads (scratchpad_mode::user): oneDNN's own, built without concurrent
  /// execution, is one buffer for the process, which two pool threads would share.
  memory::desc scratch, scratchIn0, scratchIn1, scratchOut;
  int argIn0, argIn1, argOut;
  dnnl::reorder toIn0, toIn1, fromOut; // empty when the layouts agree
  bool reorderIn0 = false, reorderIn1 = false, reorderOut = false;
  /// The filter's blocked layout when its output channels are outermost (so that a range of
  /// whole blocks of them is one contiguous piece in it as in OIHW): the threads of a
  /// split batch then reorder the filter (or its gradient) once between them, a range of
  /// output channels each, instead of each thread all of it. Tag::undef: not such a layout.
  Tag wBlocked = Tag::undef;
  int wBlock = 0; // output channels per block of wBlocked
  Tag wUser = Tag::oihw; // the caller's filter layout: OIHW, or filterTag() (Layout.h)
  memory::dims wDims;
};

/// One thread's share of a split filter reorder: output channels [o0, o0 + count).
struct FilterPart {
  memory::dim o0 = 0, count = 0;
  size_t plainOffset = 0, blockedOffset = 0; // in floats
  dnnl::reorder toBlocked, toPlain;
  memory::desc plain, blocked, scratchTo, scratchFrom;
};

/// Whether the runtime's pool splits a convolution's batch among its threads, each running
/// a one-thread primitive on its images (DLC_DNNL_SPLIT=0: one OpenMP team of --threads
/// threads runs one primitive on the whole batch instead).
bool splitBatch() {
  static const bool on = [] {
    const char *e = std::getenv("DLC_DNNL_SPLIT");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

/// The slices a call's batch is split into: min(n, threads), or 1 with DLC_DNNL_SPLIT=0.
int batchParts(const GroupedConvShape &s) { return splitBatch() ? std::min(s.n, threads()) : 1; }

/// The OpenMP team size primitives are made for and run with.
int teamSize() { return splitBatch() ? 1 : threads(); }

/// Team size, direction, epilogue, the caller's blocked tensors, then the shape's 16 ints.
/// oneDNN splits the work of a primitive when it makes it, for the OpenMP team size of that
/// moment, so a primitive is made for one thread count and used only with it.
using Key = std::array<int, 21>;

Key keyOf(DnnlConvOp op, const GroupedConvShape &s, bool bias, bool relu, unsigned blocked) {
  return {teamSize(), int(op), bias, relu, int(blocked), s.n, s.c, s.h, s.w, s.k, s.r, s.s,
          s.strideH, s.strideW, s.padTop, s.padLeft, s.padBottom, s.padRight, s.dilH, s.dilW,
          s.groups};
}

memory::desc md(const memory::dims &d, Tag t) {
  return memory::desc(d, memory::data_type::f32, t);
}

/// The blocked activation layout of `block` channels.
Tag blockedTag(int block) { return block == 16 ? Tag::nChw16c : Tag::nChw8c; }

/// The blocked filter layout kept across steps where Layout.h says so: OIhw16i16o
/// (ABcd16b16a) with 16-channel blocks, OIhw8i8o with 8; oneDNN's forward convolutions ask
/// for it on AVX-512 and AVX2, its filter gradients give it.
Tag filterTag() { return dnnlBlock() == 16 ? Tag::ABcd16b16a : Tag::ABcd8b8a; }

/// Whether the caller's filter of `op` is in filterTag(): bit 1 of a forward or data
/// gradient (the filter is their second argument), bit 2 of a filter gradient (its output).
bool filterBlocked(DnnlConvOp op, unsigned blocked) {
  return blocked & (op == DnnlConvOp::BackwardFilter ? 4u : 2u);
}

/// Builds the primitive; throws dnnl::error when oneDNN refuses the shape. `blocked` (bits as
/// in DnnlConv.h) says which of the caller's tensors are in blockedTag(dnnlBlock()).
std::unique_ptr<Prim> build(DnnlConvOp op, const GroupedConvShape &s, bool bias, bool relu,
                            unsigned blocked) {
  const memory::dim g = s.groups;
  const memory::dims src = {s.n, s.c, s.h, s.w}, dst = {s.n, s.k, s.oh(), s.ow()};
  const memory::dims wts = g > 1 ? memory::dims{g, s.k / g, s.c / g, s.r, s.s}
                                 : memory::dims{s.k, s.c, s.r, s.s};
  const Tag wTag = g > 1 ? Tag::goihw : filterBlocked(op, blocked) ? filterTag() : Tag::oihw;
  const memory::dims strides = {s.strideH, s.strideW}, dil = {s.dilH - 1, s.dilW - 1},
                     padL = {s.padTop, s.padLeft}, padR = {s.padBottom, s.padRight};
  // Tag::any lets the primitive choose (blocked layouts, reordered to and from per call);
  // DLC_DNNL_LAYOUT=plain holds it to NCHW/OIHW (no reorders; measured slower).
  static const bool plainLayout = [] {
    const char *e = std::getenv("DLC_DNNL_LAYOUT");
    return e && std::strcmp(e, "plain") == 0;
  }();
  const memory::desc anySrc = md(src, plainLayout ? Tag::nchw : Tag::any),
                     anyW = md(wts, plainLayout ? wTag : Tag::any),
                     anyDst = md(dst, plainLayout ? Tag::nchw : Tag::any),
                     biasMd = md({s.k}, Tag::x);
  const auto algo = dnnl::algorithm::convolution_direct;
  dnnl::engine &eng = engine();

  // The forward descriptor: the primitive itself, or the hint the backward ones need.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::primitive_attr plain; // no post-ops
  plain.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(po);
  }
  auto fwdDesc = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo,
                                                        anySrc, anyW, biasMd, anyDst, strides,
                                                        dil, padL, padR)
                      : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo,
                                                        anySrc, anyW, anyDst, strides, dil, padL,
                                                        padR);
  dnnl::convolution_forward::primitive_desc fwd(fwdDesc, attr, eng);

  // The caller's layout of each argument: NCHW/OIHW, or blocked where `blocked` says so.
  const Tag tIn0 = blocked & 1 ? blockedTag(dnnlBlock()) : Tag::nchw,
            tIn1 = blocked & 2 ? blockedTag(dnnlBlock()) : Tag::nchw,
            tOut = blocked & 4 ? blockedTag(dnnlBlock()) : Tag::nchw;
  auto p = std::make_unique<Prim>();
  p->wUser = wTag;
  switch (op) {
  case DnnlConvOp::Forward:
    p->prim = dnnl::convolution_forward(fwd);
    p->scratch = fwd.scratchpad_desc();
    p->plainIn0 = md(src, tIn0), p->in0 = fwd.src_desc(), p->argIn0 = DNNL_ARG_SRC;
    p->plainIn1 = md(wts, wTag), p->in1 = fwd.weights_desc(), p->argIn1 = DNNL_ARG_WEIGHTS;
    p->plainOut = md(dst, tOut), p->out = fwd.dst_desc(), p->argOut = DNNL_ARG_DST;
    p->bias = biasMd;
    break;
  case DnnlConvOp::BackwardData: {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(algo, anySrc, anyW, anyDst, strides, dil, padL,
                                              padR),
        plain, eng, fwd);
    p->prim = dnnl::convolution_backward_data(pd);
    p->scratch = pd.scratchpad_desc();
    p->plainIn0 = md(dst, tIn0), p->in0 = pd.diff_dst_desc(), p->argIn0 = DNNL_ARG_DIFF_DST;
    p->plainIn1 = md(wts, wTag), p->in1 = pd.weights_desc(), p->argIn1 = DNNL_ARG_WEIGHTS;
    p->plainOut = md(src, tOut), p->out = pd.diff_src_desc(), p->argOut = DNNL_ARG_DIFF_SRC;
    break;
  }
  case DnnlConvOp::BackwardFilter: {
    dnnl::convolution_backward_weights::primitive_desc pd(
        dnnl::convolution_backward_weights::desc(algo, anySrc, anyW, anyDst, strides, dil, padL,
                                                 padR),
        plain, eng, fwd);
    p->prim = dnnl::convolution_backward_weights(pd);
    p->scratch = pd.scratchpad_desc();
    p->plainIn0 = md(dst, tIn0), p->in0 = pd.diff_dst_desc(), p->argIn0 = DNNL_ARG_DIFF_DST;
    p->plainIn1 = md(src, tIn1), p->in1 = pd.src_desc(), p->argIn1 = DNNL_ARG_SRC;
    p->plainOut = md(wts, wTag), p->out = pd.diff_weights_desc(), p->argOut = DNNL_ARG_DIFF_WEIGHTS;
    break;
  }
  }
  auto reorder = [&](const memory::desc &from, const memory::desc &to, dnnl::reorder &r,
                     memory::desc &scratch) {
    dnnl::reorder::primitive_desc pd(eng, from, eng, to, plain);
    r = dnnl::reorder(pd);
    scratch = pd.scratchpad_desc();
  };
  if ((p->reorderIn0 = p->in0 != p->plainIn0))
    reorder(p->plainIn0, p->in0, p->toIn0, p->scratchIn0);
  if ((p->reorderIn1 = p->in1 != p->plainIn1))
    reorder(p->plainIn1, p->in1, p->toIn1, p->scratchIn1);
  if ((p->reorderOut = p->out != p->plainOut))
    reorder(p->out, p->plainOut, p->fromOut, p->scratchOut);
  // The filter's layout, if it is one whose output channels are outermost.
  const memory::desc &filter = op == DnnlConvOp::BackwardFilter ? p->out : p->in1;
  if (g == 1 && (op == DnnlConvOp::BackwardFilter ? p->reorderOut : p->reorderIn1))
    for (auto [tag, block] : {std::pair{Tag::ABcd16b16a, 16}, {Tag::ABcd16a16b, 16},
                              {Tag::Acdb16a, 16}, {Tag::ABcd8b8a, 8}, {Tag::ABcd8a8b, 8},
                              {Tag::Acdb8a, 8}})
      if (s.k % block == 0 && filter == md(wts, tag)) {
        p->wBlocked = tag, p->wBlock = block, p->wDims = wts;
        break;
      }
  return p;
}

/// The reorders of `p`'s filter split into `parts` ranges of whole blocks of output
/// channels; empty when its layout does not allow it. Made once per (primitive, parts).
const std::vector<FilterPart> &filterParts(const Prim &p, int parts) {
  static std::mutex lock;
  static std::map<std::pair<const Prim *, int>, std::vector<FilterPart>> cache;
  std::lock_guard<std::mutex> guard(lock);
  auto [it, inserted] = cache.try_emplace({&p, parts});
  if (!inserted || p.wBlocked == Tag::undef)
    return it->second;
  dnnl::engine &eng = engine();
  dnnl::primitive_attr plain;
  plain.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const memory::dim blocks = p.wDims[0] / p.wBlock;
  if (blocks < parts)
    return it->second;
  std::vector<FilterPart> out;
  for (int c = 0; c < parts; ++c) {
    FilterPart f;
    f.o0 = blocks * c / parts * p.wBlock;
    f.count = blocks * (c + 1) / parts * p.wBlock - f.o0;
    memory::dims d = p.wDims, before = p.wDims;
    d[0] = f.count, before[0] = f.o0;
    // A range of whole output-channel blocks starts at o0 * C * R * S in OIHW and in
    // filterTag() alike.
    f.plain = md(d, p.wUser), f.blocked = md(d, p.wBlocked);
    f.plainOffset = size_t(f.o0) * p.wDims[1] * p.wDims[2] * p.wDims[3];
    f.blockedOffset = f.o0 ? md(before, p.wBlocked).get_size() / sizeof(float) : 0;
    dnnl::reorder::primitive_desc to(eng, f.plain, eng, f.blocked, plain),
        from(eng, f.blocked, eng, f.plain, plain);
    f.toBlocked = dnnl::reorder(to), f.toPlain = dnnl::reorder(from);
    f.scratchTo = to.scratchpad_desc(), f.scratchFrom = from.scratchpad_desc();
    out.push_back(std::move(f));
  }
  it->second = std::move(out);
  return it->second;
}

/// The primitive for a convolution, made on first request; nullptr when oneDNN refused it
/// (remembered, so it is asked once). Entries are never removed, so the pointer stays valid.
const Prim *lookup(DnnlConvOp op, const GroupedConvShape &s, bool bias, bool relu,
                   unsigned blocked) {
  static std::mutex lock;
  static std::map<Key, std::unique_ptr<Prim>> cache;
  std::lock_guard<std::mutex> guard(lock);
  auto [it, inserted] = cache.try_emplace(keyOf(op, s, bias, relu, blocked));
  if (inserted) {
    omp_set_num_threads(teamSize());
    try {
      it->second = build(op, s, bias, relu, blocked);
    } catch (const dnnl::error &) {
      // Left empty: the in-house kernel takes this convolution.
    }
  }
  return it->second.get();
}

/// A per-thread buffer for reordered tensors, grown as needed and kept.
struct Buffer {
  std::unique_ptr<void, decltype(&std::free)> data{nullptr, &std::free};
  size_t bytes = 0;
  void *get(size_t need) {
    if (need > bytes) {
      data.reset(std::aligned_alloc(64, (need + 63) / 64 * 64));
      bytes = data ? need : 0;
    }
    return data.get();
  }
};

/// Runs `p` on the caller's buffers `in0`, `in1` and `out` (and a forward's `bias`). With
/// `in1Ready`, `in1` is already in the primitive's layout there; with `outReady`, the
/// output is left there in the primitive's layout (not reordered into `out`).
void execute(const Prim &p, const float *in0, const float *in1, float *out,
             const float *bias = nullptr, const float *in1Ready = nullptr,
             float *outReady = nullptr, const float *in0Ready = nullptr) {
  thread_local Buffer bufIn0, bufIn1, bufOut, bufScratch;
  thread_local dnnl::stream stream(engine());
  omp_set_num_threads(teamSize());
  dnnl::engine &eng = engine();
  memory userIn0(p.plainIn0, eng, const_cast<float *>(in0));
  memory userIn1(p.plainIn1, eng, const_cast<float *>(in1));
  memory userOut(p.plainOut, eng, out);
  memory mIn0 = userIn0, mIn1 = userIn1, mOut = userOut;
  // One scratchpad buffer per thread serves every step, which run one after another.
  auto scratch = [&](const memory::desc &md) {
    return memory(md, eng, bufScratch.get(md.get_size()));
  };
  auto reorder = [&](const dnnl::reorder &r, const memory::desc &md, memory &from, memory &to) {
    r.execute(stream, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, scratch(md)}});
  };
  if (in0Ready) {
    mIn0 = memory(p.in0, eng, const_cast<float *>(in0Ready));
  } else if (p.reorderIn0) {
    mIn0 = memory(p.in0, eng, bufIn0.get(p.in0.get_size()));
    reorder(p.toIn0, p.scratchIn0, userIn0, mIn0);
  }
  if (in1Ready) {
    mIn1 = memory(p.in1, eng, const_cast<float *>(in1Ready));
  } else if (p.reorderIn1) {
    mIn1 = memory(p.in1, eng, bufIn1.get(p.in1.get_size()));
    reorder(p.toIn1, p.scratchIn1, userIn1, mIn1);
  }
  if (outReady)
    mOut = memory(p.out, eng, outReady);
  else if (p.reorderOut)
    mOut = memory(p.out, eng, bufOut.get(p.out.get_size()));
  std::unordered_map<int, memory> args = {{p.argIn0, mIn0}, {p.argIn1, mIn1}, {p.argOut, mOut},
                                          {DNNL_ARG_SCRATCHPAD, scratch(p.scratch)}};
  if (bias)
    args.emplace(DNNL_ARG_BIAS, memory(p.bias, eng, const_cast<float *>(bias)));
  p.prim.execute(stream, args);
  if (p.reorderOut && !outReady)
    reorder(p.fromOut, p.scratchOut, mOut, userOut);
  stream.wait();
}

/// One share of a split filter reorder, on the calling thread: plain -> blocked (`toBlocked`)
/// or back.
void reorderPart(const FilterPart &f, const float *from, float *to, bool toBlocked) {
  thread_local Buffer bufScratch;
  thread_local dnnl::stream stream(engine());
  omp_set_num_threads(1);
  dnnl::engine &eng = engine();
  const memory::desc &scratch = toBlocked ? f.scratchTo : f.scratchFrom;
  memory src(toBlocked ? f.plain : f.blocked, eng, const_cast<float *>(from));
  memory dst(toBlocked ? f.blocked : f.plain, eng, to);
  (toBlocked ? f.toBlocked : f.toPlain)
      .execute(stream, {{DNNL_ARG_FROM, src},
                        {DNNL_ARG_TO, dst},
                        {DNNL_ARG_SCRATCHPAD, memory(scratch, eng, bufScratch.get(scratch.get_size()))}});
  stream.wait();
}
} // namespace

bool dnnlEnabled() { return enabledFlag().load(std::memory_order_relaxed); }
void setDnnlEnabled(bool on) { enabledFlag().store(on); }

std::string dnnlVersion() {
  const dnnl_version_t *v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (OpenMP)";
}

int dnnlBlock() {
  static const int block = [] {
    // A 3x3 layer of 64 channels, as ResNet's: the layout oneDNN's fastest kernel asks for.
    try {
      const memory::dims src = {2, 64, 14, 14}, wts = {64, 64, 3, 3};
      dnnl::convolution_forward::desc d(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
          md(src, Tag::any), md(wts, Tag::any), md(src, Tag::any), {1, 1}, {0, 0}, {1, 1},
          {1, 1});
      dnnl::convolution_forward::primitive_desc pd(d, engine());
      for (int b : {16, 8})
        if (pd.dst_desc() == md(src, blockedTag(b)) && pd.src_desc() == md(src, blockedTag(b)))
          return b;
    } catch (const dnnl::error &) {
    }
    return 0;
  }();
  return dnnlEnabled() ? block : 0;
}

namespace {
/// The channel split: on layers whose images are small (ResNet's 7x7 stage), a thread's
/// share of a split batch is too few rows for oneDNN's one-thread kernels to run near the
/// FMA peak, and a filter gradient's partial sums cost as much traffic as its arithmetic.
/// There each thread takes a range of whole channel blocks over the whole batch instead:
/// of the output channels for a forward or filter gradient (a filter gradient then needs
/// no partial sums), of the input channels for a data gradient. Its ranges of the caller's
/// tensors are strided views, reordered to and from the slice primitive's dense layouts.
/// Returns the number of parts (the thread count), or 0 when the batch split is kept: only
/// when there are fewer images than threads, or each thread's images would hold fewer
/// output positions than a limit measured on ResNet-50 (docs/performance.md): 1024 for a
/// filter gradient (its partial sums go too; layer4 at batch 8 and 32, layer3 at batch 8
/// gain), 256 for the others (layer4 at batch 8; at batch 32 its forward and data
/// gradient were slower split by channels). DLC_DNNL_CSPLIT=<positions> sets one limit
/// for all three (0: never), for measurement.
int channelParts(DnnlConvOp op, const GroupedConvShape &s) {
  static const long forced = [] {
    const char *e = std::getenv("DLC_DNNL_CSPLIT");
    return e ? std::atol(e) : -1L;
  }();
  const long rows = forced >= 0 ? forced : op == DnnlConvOp::BackwardFilter ? 1024 : 256;
  const int parts = threads();
  if (!splitBatch() || parts < 2 || s.groups != 1)
    return 0;
  const int extent = op == DnnlConvOp::BackwardData ? s.c : s.k;
  const int block = std::max(dnnlBlock(), 16);
  if (extent % (parts * block) != 0)
    return 0;
  const long perThread = long((s.n + parts - 1) / parts) * s.oh() * s.ow();
  return s.n < parts || perThread < rows ? parts : 0;
}

/// The shape of one part of a channel split.
GroupedConvShape channelSlice(DnnlConvOp op, const GroupedConvShape &s, int parts) {
  GroupedConvShape slice = s;
  (op == DnnlConvOp::BackwardData ? slice.c : slice.k) /= parts;
  return slice;
}

/// The reorders between a channel-split part's strided views of the caller's whole tensors
/// and its slice primitive's dense layouts: dy in (filter gradient), the filter in (data
/// gradient), the output out (forward and data gradient). A view's offset is added to the
/// base pointer: a range of whole channel blocks starts c0 * H * W floats into NCHW and the
/// blocked layouts alike; a filter's range of input channels, in1Step per part.
struct SliceIo {
  memory::desc viewIn0, viewIn1, viewOut;
  /// Where the primitive's layout of a split activation is the caller's (both blocked, or
  /// both NCHW), the view is `n` rows of `sliceImage` floats `wholeImage` apart: copied row by
  /// row (oneDNN's reorder of a strided view ran at a quarter of memcpy's speed).
  bool copyIn0 = false, copyOut = false;
  size_t sliceImage = 0, wholeImage = 0;
  size_t in1Step = 0; // floats from one part's filter view to the next's (data gradient)
  dnnl::reorder toIn0, toIn1, fromOut;
  memory::desc scratchIn0, scratchIn1, scratchOut;
};

const SliceIo &sliceIo(const Prim &p, DnnlConvOp op, const GroupedConvShape &whole,
                       const GroupedConvShape &slice, unsigned blocked) {
  static std::mutex lock;
  static std::map<std::pair<const Prim *, int>, SliceIo> cache;
  std::lock_guard<std::mutex> guard(lock);
  const int key = op == DnnlConvOp::BackwardData ? whole.c : whole.k;
  auto [it, inserted] = cache.try_emplace({&p, key});
  if (!inserted)
    return it->second;
  SliceIo &io = it->second;
  dnnl::engine &eng = engine();
  dnnl::primitive_attr plain;
  plain.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const Tag tIn0 = blocked & 1 ? blockedTag(dnnlBlock()) : Tag::nchw,
            tOut = blocked & 4 ? blockedTag(dnnlBlock()) : Tag::nchw;
  const memory::dims zero4 = {0, 0, 0, 0};
  auto reorder = [&](const memory::desc &from, const memory::desc &to, dnnl::reorder &r,
                     memory::desc &scratch) {
    dnnl::reorder::primitive_desc pd(eng, from, eng, to, plain);
    r = dnnl::reorder(pd);
    scratch = pd.scratchpad_desc();
  };
  // The activation split by channels: dy of a filter gradient (in), y of a forward or dx of a
  // data gradient (out).
  const bool dataGrad = op == DnnlConvOp::BackwardData, in = op == DnnlConvOp::BackwardFilter;
  const memory::dims part = dataGrad ? memory::dims{slice.n, slice.c, slice.h, slice.w}
                                     : memory::dims{slice.n, slice.k, slice.oh(), slice.ow()},
                     full = dataGrad ? memory::dims{whole.n, whole.c, whole.h, whole.w}
                                     : memory::dims{whole.n, whole.k, whole.oh(), whole.ow()};
  const Tag t = in ? tIn0 : tOut;
  const memory::desc view = md(full, t).submemory_desc(part, zero4);
  const bool same = (in ? p.in0 : p.out) == md(part, t);
  io.sliceImage = size_t(part[1]) * part[2] * part[3];
  io.wholeImage = size_t(full[1]) * full[2] * full[3];
  if (in) {
    io.viewIn0 = view;
    if (!(io.copyIn0 = same))
      reorder(view, p.in0, io.toIn0, io.scratchIn0);
  } else {
    io.viewOut = view;
    if (!(io.copyOut = same))
      reorder(p.out, view, io.fromOut, io.scratchOut);
  }
  if (dataGrad) {
    io.viewIn1 = md({whole.k, whole.c, whole.r, whole.s}, p.wUser)
                     .submemory_desc({slice.k, slice.c, slice.r, slice.s}, zero4);
    // A range of whole input-channel blocks starts c0 * R * S floats into OIHW, c0 * R * S *
    // block into filterTag() (a block's R * S positions of block x block channels).
    io.in1Step = size_t(slice.c) * slice.r * slice.s * (p.wUser == Tag::oihw ? 1 : dnnlBlock());
    reorder(io.viewIn1, p.in1, io.toIn1, io.scratchIn1);
  }
  return io;
}

/// Runs `op` split by channels into `parts` (channelParts), a part per pool thread.
void runChannelSplit(DnnlConvOp op, const GroupedConvShape &s, int parts, const Prim &p,
                     const GroupedConvShape &slice, const float *in0, const float *in1,
                     float *out, const float *bias, unsigned blocked) {
  const SliceIo &io = sliceIo(p, op, s, slice, blocked);
  parallelChunks(parts, [&](int c, int) {
    thread_local Buffer bufIn, bufOut, bufScratch;
    thread_local dnnl::stream stream(engine());
    omp_set_num_threads(1);
    dnnl::engine &eng = engine();
    auto reorder = [&](const dnnl::reorder &r, const memory::desc &scratch,
                       const memory::desc &from, const float *fromPtr, const memory::desc &to,
                       float *toPtr) {
      r.execute(stream,
                {{DNNL_ARG_FROM, memory(from, eng, const_cast<float *>(fromPtr))},
                 {DNNL_ARG_TO, memory(to, eng, toPtr)},
                 {DNNL_ARG_SCRATCHPAD, memory(scratch, eng, bufScratch.get(scratch.get_size()))}});
    };
    // A view to its dense copy or back where the layouts agree: an image's rows of
    // `sliceImage` floats, `fromStep` and `toStep` floats apart.
    auto copyRows = [&](const float *from, size_t fromStep, float *to, size_t toStep) {
      for (int b = 0; b < s.n; ++b)
        std::memcpy(to + b * toStep, from + b * fromStep, io.sliceImage * sizeof(float));
    };
    switch (op) {
    case DnnlConvOp::Forward: {
      const size_t k0 = size_t(c) * slice.k;
      float *y = static_cast<float *>(bufOut.get(p.out.get_size()));
      execute(p, in0, in1 + k0 * s.c * s.r * s.s, out, bias ? bias + k0 : nullptr, nullptr, y);
      if (io.copyOut)
        copyRows(y, io.sliceImage, out + k0 * s.oh() * s.ow(), io.wholeImage);
      else
        reorder(io.fromOut, io.scratchOut, p.out, y, io.viewOut, out + k0 * s.oh() * s.ow());
      break;
    }
    case DnnlConvOp::BackwardData: {
      const size_t c0 = size_t(c) * slice.c;
      float *w = static_cast<float *>(bufIn.get(p.in1.get_size()));
      reorder(io.toIn1, io.scratchIn1, io.viewIn1, in1 + c * io.in1Step, p.in1, w);
      float *dx = static_cast<float *>(bufOut.get(p.out.get_size()));
      execute(p, in0, in1, out, nullptr, w, dx);
      if (io.copyOut)
        copyRows(dx, io.sliceImage, out + c0 * s.h * s.w, io.wholeImage);
      else
        reorder(io.fromOut, io.scratchOut, p.out, dx, io.viewOut, out + c0 * s.h * s.w);
      break;
    }
    case DnnlConvOp::BackwardFilter: {
      const size_t k0 = size_t(c) * slice.k;
      float *dy = static_cast<float *>(bufIn.get(p.in0.get_size()));
      if (io.copyIn0)
        copyRows(in0 + k0 * s.oh() * s.ow(), io.wholeImage, dy, io.sliceImage);
      else
        reorder(io.toIn0, io.scratchIn0, io.viewIn0, in0 + k0 * s.oh() * s.ow(), p.in0, dy);
      execute(p, in0, in1, out + k0 * s.c * s.r * s.s, nullptr, nullptr, nullptr, dy);
      break;
    }
    }
    stream.wait();
  });
}
} // namespace

int dnnlChannelParts(DnnlConvOp op, const GroupedConvShape &s) {
  return dnnlEnabled() ? channelParts(op, s) : 0;
}

bool dnnlFilterLayoutFits(const GroupedConvShape &s) {
  const int block = dnnlBlock();
  if (block == 0 || s.groups != 1 || s.k % block != 0 || s.c % block != 0)
    return false;
  // The primitive a call would use: of a channel split's part or a batch split's slice.
  GroupedConvShape used = s;
  if (const int parts = channelParts(DnnlConvOp::Forward, s))
    used = channelSlice(DnnlConvOp::Forward, s, parts);
  else
    used.n = s.n / batchParts(s) + (s.n % batchParts(s) != 0); // the first, larger slice
  const Prim *p = lookup(DnnlConvOp::Forward, used, false, false, 0);
  return p && p->in1 == md({used.k, used.c, used.r, used.s}, filterTag());
}

bool dnnlReorderFilter(int o, int i, int r, int s, const float *src, float *dst, bool toBlocked) {
  if (!dnnlEnabled() || dnnlBlock() == 0)
    return false;
  dnnl::engine &eng = engine();
  const memory::dims d = {o, i, r, s};
  const memory::desc plainMd = md(d, Tag::oihw), blockedMd = md(d, filterTag());
  const memory::desc &from = toBlocked ? plainMd : blockedMd, &to = toBlocked ? blockedMd : plainMd;
  omp_set_num_threads(teamSize());
  dnnl::stream stream(eng);
  memory mFrom(from, eng, const_cast<float *>(src)), mTo(to, eng, dst);
  dnnl::reorder(dnnl::reorder::primitive_desc(eng, from, eng, to)).execute(stream, mFrom, mTo);
  stream.wait();
  return true;
}

bool dnnlPrepare(DnnlConvOp op, const GroupedConvShape &s, bool bias, bool relu,
                 unsigned blocked) {
  if (!dnnlEnabled())
    return false;
  if (const int parts = channelParts(op, s))
    return lookup(op, channelSlice(op, s, parts), bias, relu, blocked);
  const int parts = batchParts(s);
  GroupedConvShape slice = s;
  slice.n = s.n / parts + (s.n % parts != 0);
  if (!lookup(op, slice, bias, relu, blocked))
    return false;
  slice.n = s.n / parts;
  return lookup(op, slice, bias, relu, blocked);
}

namespace {
/// Runs `op` on the whole batch: split into min(n, threads) slices of consecutive images
/// run in parallel by the pool (each slice's filter gradient into its own partial sum,
/// added up afterwards), or as one call. False when oneDNN refused a slice's shape.
bool run(DnnlConvOp op, const GroupedConvShape &s, const float *in0, const float *in1,
         float *out, const float *bias, bool relu, unsigned blocked) {
  if (!dnnlEnabled())
    return false;
  if (const int cparts = channelParts(op, s)) {
    const GroupedConvShape slice = channelSlice(op, s, cparts);
    const Prim *p = lookup(op, slice, bias != nullptr, relu, blocked);
    if (!p)
      return false;
    runChannelSplit(op, s, cparts, *p, slice, in0, in1, out, bias, blocked);
    return true;
  }
  const int parts = batchParts(s);
  const int base = s.n / parts, extra = s.n % parts; // the first `extra` slices get one more
  GroupedConvShape big = s, small = s;
  big.n = base + (extra != 0);
  small.n = base;
  const Prim *pBig = lookup(op, big, bias != nullptr, relu, blocked);
  const Prim *pSmall = extra ? lookup(op, small, bias != nullptr, relu, blocked) : pBig;
  if (!pBig || !pSmall)
    return false;
  if (parts == 1) {
    execute(*pBig, in0, in1, out, bias);
    return true;
  }
  // The filter (or its gradient) reordered once, a range of output channels per thread,
  // when both slice primitives want it in the same layout that allows it.
  static const std::vector<FilterPart> unsplit;
  const std::vector<FilterPart> &fparts =
      pBig->in1 == pSmall->in1 && pBig->out == pSmall->out ? filterParts(*pBig, parts) : unsplit;
  // Floats per image of the arguments that are split (filters are not); the same in the
  // blocked layouts, whose channel counts are multiples of the block.
  const size_t xImage = size_t(s.c) * s.h * s.w, yImage = size_t(s.k) * s.oh() * s.ow();
  const size_t wFloats = size_t(s.k) * s.cg() * s.r * s.s;
  const size_t in0Image = op == DnnlConvOp::Forward ? xImage : yImage;
  const size_t in1Image = op == DnnlConvOp::BackwardFilter ? xImage : 0;
  const size_t outImage = op == DnnlConvOp::Forward        ? yImage
                          : op == DnnlConvOp::BackwardData ? xImage
                                                           : 0;
  if (!fparts.empty()) {
    thread_local Buffer shared;
    if (op != DnnlConvOp::BackwardFilter) {
      float *w = static_cast<float *>(shared.get(pBig->in1.get_size()));
      parallelChunks(parts, [&](int c, int) {
        const FilterPart &f = fparts[size_t(c)];
        reorderPart(f, in1 + f.plainOffset, w + f.blockedOffset, true);
      });
      parallelChunks(parts, [&](int c, int) {
        const size_t first = size_t(c) * base + std::min(c, extra);
        execute(c < extra ? *pBig : *pSmall, in0 + first * in0Image, in1, out + first * outImage,
                bias, w);
      });
      return true;
    }
    // Filter gradients: one partial sum per slice in the primitive's layout, then per range
    // of output channels, their sum (in slice order) reordered into `out`.
    const size_t blockedFloats = pBig->out.get_size() / sizeof(float);
    float *partials = static_cast<float *>(shared.get(size_t(parts) * blockedFloats * 4));
    parallelChunks(parts, [&](int c, int) {
      const size_t first = size_t(c) * base + std::min(c, extra);
      execute(c < extra ? *pBig : *pSmall, in0 + first * in0Image, in1 + first * in1Image, out,
              nullptr, nullptr, partials + size_t(c) * blockedFloats);
    });
    parallelChunks(parts, [&](int c, int) {
      const FilterPart &f = fparts[size_t(c)];
      const size_t end = c + 1 < parts ? fparts[size_t(c) + 1].blockedOffset : blockedFloats;
      float *sum = partials + f.blockedOffset;
      for (int part = 1; part < parts; ++part) {
        const float *q = partials + size_t(part) * blockedFloats + f.blockedOffset;
        for (size_t j = 0; j < end - f.blockedOffset; ++j)
          sum[j] += q[j];
      }
      reorderPart(f, sum, out + f.plainOffset, false);
    });
    return true;
  }
  float *partials =
      op == DnnlConvOp::BackwardFilter ? sharedScratch(size_t(parts - 1) * wFloats) : nullptr;
  parallelChunks(parts, [&](int c, int) {
    const size_t first = size_t(c) * base + std::min(c, extra);
    float *o = partials && c > 0 ? partials + size_t(c - 1) * wFloats : out + first * outImage;
    execute(c < extra ? *pBig : *pSmall, in0 + first * in0Image, in1 + first * in1Image, o,
            bias);
  });
  if (partials)
    parallelFor(int64_t(wFloats), 4096, [&](int64_t b, int64_t e, int) {
      for (int part = 1; part < parts; ++part) {
        const float *p = partials + size_t(part - 1) * wFloats;
        for (int64_t j = b; j < e; ++j)
          out[j] += p[j];
      }
    });
  return true;
}
} // namespace

bool dnnlConvForward(const GroupedConvShape &s, const float *x, const float *w, float *y,
                     const float *bias, bool relu, unsigned blocked) {
  return run(DnnlConvOp::Forward, s, x, w, y, bias, relu, blocked);
}

bool dnnlConvBackwardData(const GroupedConvShape &s, const float *dy, const float *w, float *dx,
                          unsigned blocked) {
  return run(DnnlConvOp::BackwardData, s, dy, w, dx, nullptr, false, blocked);
}

bool dnnlConvBackwardFilter(const GroupedConvShape &s, const float *dy, const float *x,
                            float *dw, unsigned blocked) {
  return run(DnnlConvOp::BackwardFilter, s, dy, x, dw, nullptr, false, blocked);
}

#endif

} // namespace dlc::cpu
