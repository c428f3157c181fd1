// Unit tests for the GPU hardware catalog: the built-in gpus.yaml parses and holds every card
// the users weigh up with sane figures (and the seed-facts values where they are given); names
// resolve the way people type them; NVRTC reachability follows compute capability; and user
// catalog files add and override entries, with each kind of mistake reported at its line:col.
#include "compiler/Hardware/Catalog.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace dlc::hw;

namespace {

constexpr uint64_t kGiB = uint64_t(1) << 30;

const Gpu &byId(const std::string &id) {
  for (const Gpu &g : builtinCatalog().gpus)
    if (g.id == id)
      return g;
  ADD_FAILURE() << "no GPU with id " << id;
  static Gpu none;
  return none;
}

std::string findId(const std::string &name) {
  std::string error;
  const Gpu *g = findGpu(builtinCatalog(), name, error);
  return g ? g->id : "error: " + error;
}

std::string findError(const std::string &name) {
  std::string error;
  const Gpu *g = findGpu(builtinCatalog(), name, error);
  return g ? "found " + g->id : error;
}

/// A user file that is valid as written; the error tests each break one line of it.
/// Line numbers: "gpus:" is line 1, "- id" line 2, and so on.
const char *kUserFile = R"(gpus:
  - id: rtx5090
    name: GeForce RTX 5090
    aliases: ["5090", "geforce rtx 5090"]
    memory_gib: 32
    bandwidth_gbs: 1792
    fp32_tflops: 104.8
    fp16_tflops: 209.5
    compute_capability: "12.0"
    cuda_cores: 21760
    price_usd: 1999
    price_note: "$1,999 launch MSRP"
    source: NVIDIA specifications
)";

std::string replaceLine(std::string text, const std::string &from, const std::string &to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos)
    text.replace(at, from.size(), to);
  return text;
}

/// Parses `text` over the built-in catalog and returns the error ("" when it parsed).
std::string userError(const std::string &text) {
  Catalog c = builtinCatalog();
  std::string error;
  if (parseCatalog(text, "user.yaml", c, error))
    return "";
  EXPECT_EQ(c.gpus.size(), builtinCatalog().gpus.size()) << "a failed parse changed the catalog";
  return error;
}

// ---- The built-in catalog ------------------------------------------------------------------

TEST(Catalog, BuiltinParsesWithSaneFigures) {
  const Catalog &c = builtinCatalog();
  ASSERT_GE(c.gpus.size(), 22u);
  for (const Gpu &g : c.gpus) {
    SCOPED_TRACE(g.id);
    EXPECT_FALSE(g.name.empty());
    EXPECT_FALSE(g.aliases.empty());
    EXPECT_GT(g.memoryBytes, 1 * kGiB);
    EXPECT_LE(g.memoryBytes, 200 * kGiB);
    EXPECT_EQ(g.memoryBytes % kGiB, 0u) << "marketed GB are whole GiB";
    EXPECT_GT(g.bandwidthGBs, 50);
    EXPECT_LT(g.bandwidthGBs, 10000);
    EXPECT_GT(g.fp32Tflops, 1);
    EXPECT_LT(g.fp32Tflops, 200);
    EXPECT_GE(g.fp16Tflops, 0);
    // Tensor cores arrived with Volta (7.0); every card from then on lists a tensor FP16 rate.
    EXPECT_EQ(g.fp16Tflops > 0, g.computeCapability >= std::string("7.0"));
    EXPECT_FALSE(g.smArch().empty()) << g.computeCapability;
    EXPECT_GT(g.cudaCores, 500);
    EXPECT_GE(g.gpusPerBoard, 1);
    EXPECT_GE(g.priceUsd, 0);
    EXPECT_FALSE(g.priceNote.empty());
    EXPECT_FALSE(g.source.empty());
  }
}

TEST(Catalog, BuiltinHasEverySeedFactsAndCurrentGpu) {
  for (const char *id :
       {"gtx960", "gtx960-2gb", "quadro-p2000", "gtx1060-3gb", "gtx1060-6gb", "gtx1070ti",
        "gtx980", "gtx980ti", "titanx-maxwell", "k40", "k80", "rtx3080-12gb", "rtx3090",
        "rtx3080-10gb", "rtx4090", "t4", "l4", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie",
        "h200"})
    EXPECT_EQ(byId(id).id, id);
}

TEST(Catalog, BuiltinSeedFactsFigures) {
  // The users' own table (seed-facts.md): cores, memory, FP32.
  struct Row {
    const char *id;
    int cores;
    uint64_t gib;
    double tflops;
  };
  for (const Row &r : std::vector<Row>{{"gtx960", 1024, 4, 2.3},
                                       {"gtx960-2gb", 1024, 2, 2.3},
                                       {"quadro-p2000", 1024, 5, 3.0},
                                       {"gtx1060-3gb", 1152, 3, 3.9},
                                       {"gtx1060-6gb", 1280, 6, 4.4},
                                       {"gtx1070ti", 2432, 8, 8.2},
                                       {"gtx980", 2048, 4, 4.1},
                                       {"gtx980ti", 2816, 6, 5.6},
                                       {"titanx-maxwell", 3072, 12, 6.9},
                                       {"k40", 2880, 12, 4.3},
                                       {"rtx3090", 10496, 24, 35.6}}) {
    const Gpu &g = byId(r.id);
    EXPECT_EQ(g.cudaCores, r.cores) << r.id;
    EXPECT_EQ(g.memoryBytes, r.gib * kGiB) << r.id;
    EXPECT_DOUBLE_EQ(g.fp32Tflops, r.tflops) << r.id;
  }
  EXPECT_EQ(byId("rtx3080-12gb").memoryBytes, 12 * kGiB);
  EXPECT_EQ(byId("rtx3080-12gb").cudaCores, 8960);
  EXPECT_NEAR(byId("rtx3080-12gb").fp32Tflops, 30, 1); // "~30 TFLOPS"
  EXPECT_EQ(byId("rtx3080-10gb").memoryBytes, 10 * kGiB);
  EXPECT_EQ(byId("rtx3090").memoryBytes, 25769803776u);

  // The K80 is listed per GPU: the board has two 12 GB GPUs (2x2496 cores, 8.7 TFLOPS).
  const Gpu &k80 = byId("k80");
  EXPECT_EQ(k80.gpusPerBoard, 2);
  EXPECT_EQ(k80.memoryBytes, 12 * kGiB);
  EXPECT_EQ(k80.cudaCores, 2496);
  EXPECT_DOUBLE_EQ(k80.fp32Tflops * k80.gpusPerBoard, 8.7);
  EXPECT_DOUBLE_EQ(k80.priceUsd, 5000);

  EXPECT_DOUBLE_EQ(byId("titanx-maxwell").priceUsd, 1000);
  EXPECT_NE(byId("rtx3090").priceNote.find("GBP 1,900"), std::string::npos);
  EXPECT_EQ(byId("quadro-p2000").priceUsd, 0); // only a GBP price is known
  EXPECT_NE(byId("quadro-p2000").priceNote.find("GBP 330"), std::string::npos);
}

TEST(Catalog, BuiltinCurrentGpuFigures) {
  EXPECT_EQ(byId("h100-sxm").memoryBytes, 80 * kGiB);
  EXPECT_EQ(byId("h100-pcie").memoryBytes, 80 * kGiB);
  EXPECT_EQ(byId("h200").memoryBytes, 141 * kGiB);
  EXPECT_EQ(byId("a100-40gb").memoryBytes, 40 * kGiB);
  EXPECT_EQ(byId("a100-80gb").memoryBytes, 80 * kGiB);
  EXPECT_EQ(byId("rtx4090").memoryBytes, 24 * kGiB);
  EXPECT_EQ(byId("t4").memoryBytes, 16 * kGiB);
  EXPECT_EQ(byId("l4").memoryBytes, 24 * kGiB);
  EXPECT_DOUBLE_EQ(byId("rtx4090").priceUsd, 1599);
  EXPECT_DOUBLE_EQ(byId("a100-80gb").fp16Tflops, 312);
  EXPECT_GT(byId("h200").bandwidthGBs, byId("h100-sxm").bandwidthGBs);
  EXPECT_GT(byId("h100-sxm").bandwidthGBs, byId("a100-80gb").bandwidthGBs);
  EXPECT_NE(byId("a100-40gb").name.find("SXM"), std::string::npos);
}

// ---- Compute capability and NVRTC ----------------------------------------------------------

TEST(Catalog, SmArchAndNvrtcTargets) {
  EXPECT_EQ(byId("rtx3090").smArch(), "sm_86");
  EXPECT_EQ(byId("t4").smArch(), "sm_75");
  EXPECT_EQ(byId("h100-sxm").smArch(), "sm_90");
  EXPECT_EQ(byId("k80").smArch(), "sm_37");

  for (const char *name : {"gtx1060 6gb", "titan x", "k80", "k40", "gtx960", "p2000"}) {
    std::string error;
    const Gpu *g = findGpu(builtinCatalog(), name, error);
    ASSERT_TRUE(g) << error;
    EXPECT_FALSE(g->nvrtcCanTarget()) << name;
  }
  for (const char *name : {"rtx3090", "t4", "h100", "a100-80gb", "l4", "rtx4090", "h200"}) {
    std::string error;
    const Gpu *g = findGpu(builtinCatalog(), name, error);
    ASSERT_TRUE(g) << error;
    EXPECT_TRUE(g->nvrtcCanTarget()) << name;
  }

  Gpu g;
  for (const char *cc : {"10.0", "10.3", "12.1", "8.7"}) {
    g.computeCapability = cc;
    EXPECT_TRUE(g.nvrtcCanTarget()) << cc;
  }
  EXPECT_EQ((g.computeCapability = "12.0", g.smArch()), "sm_120");
  for (const char *cc : {"7.0", "7.2", "6.0", "9.1"}) {
    g.computeCapability = cc;
    EXPECT_FALSE(g.nvrtcCanTarget()) << cc;
  }
  for (const char *cc : {"", "8", "8.", ".6", "8.6.1", "x.6", "8.x", "123.4", "8.10"}) {
    g.computeCapability = cc;
    EXPECT_EQ(g.smArch(), "") << cc;
    EXPECT_FALSE(g.nvrtcCanTarget()) << cc;
  }
}

// ---- Name lookup ---------------------------------------------------------------------------

TEST(Catalog, FindByIdAliasAndSpelling) {
  EXPECT_EQ(findId("rtx3090"), "rtx3090");
  EXPECT_EQ(findId("RTX 3090"), "rtx3090");
  EXPECT_EQ(findId("rtx-3090"), "rtx3090");
  EXPECT_EQ(findId("GeForce RTX 3090"), "rtx3090");
  EXPECT_EQ(findId("NVIDIA GeForce RTX 3090"), "rtx3090");
  EXPECT_EQ(findId("3090"), "rtx3090");
  EXPECT_EQ(findId("a100-80gb"), "a100-80gb");
  EXPECT_EQ(findId("A100_80GB"), "a100-80gb");
  EXPECT_EQ(findId("A100 80GB"), "a100-80gb");
  EXPECT_EQ(findId("NVIDIA A100 80GB"), "a100-80gb");
  EXPECT_EQ(findId("rtx 3080 12gb"), "rtx3080-12gb");
  EXPECT_EQ(findId("GTX 1060 6GB"), "gtx1060-6gb");
  EXPECT_EQ(findId("Titan X"), "titanx-maxwell");
  EXPECT_EQ(findId("Tesla K80"), "k80");
  EXPECT_EQ(findId("  t4 "), "t4");
}

TEST(Catalog, FindExactBeatsPrefixAndUniquePrefixResolves) {
  // "h100" is an alias of the SXM part, and exact names win over longer ones they prefix.
  EXPECT_EQ(findId("h100"), "h100-sxm");
  EXPECT_EQ(findId("H100"), "h100-sxm");
  EXPECT_EQ(findId("gtx980"), "gtx980");
  EXPECT_EQ(findId("gtx980ti"), "gtx980ti");
  EXPECT_EQ(findId("h100p"), "h100-pcie");
  EXPECT_EQ(findId("h20"), "h200");
  EXPECT_EQ(findId("quadro"), "quadro-p2000");
  EXPECT_EQ(findId("rtx40"), "rtx4090");
  EXPECT_EQ(findId("1070"), "gtx1070ti");
}

TEST(Catalog, FindAmbiguous) {
  EXPECT_EQ(findError("a100"), "GPU name 'a100' is ambiguous: a100-40gb, a100-80gb");
  EXPECT_EQ(findError("h1"), "GPU name 'h1' is ambiguous: h100-pcie, h100-sxm");
  EXPECT_EQ(findError("h"), "GPU name 'h' is ambiguous: h100-pcie, h100-sxm, h200");
  EXPECT_EQ(findError("rtx308"), "GPU name 'rtx308' is ambiguous: rtx3080-10gb, rtx3080-12gb");
  EXPECT_EQ(findError("gtx98"), "GPU name 'gtx98' is ambiguous: gtx980, gtx980ti");
}

// The bare names of the seed facts' cards mean those cards (the 12 GB RTX 3080 of the
// "3080 or 3090?" question, the 6 GB GTX 1060 of the CIFAR-10 benchmarks): an exact alias
// wins over the prefix matches of the other variant.
TEST(Catalog, BareNamesOfSeedCards) {
  EXPECT_EQ(findId("rtx3080"), "rtx3080-12gb");
  EXPECT_EQ(findId("RTX 3080"), "rtx3080-12gb");
  EXPECT_EQ(findId("gtx1060"), "gtx1060-6gb");
}

TEST(Catalog, FindUnknownSuggestsClosest) {
  EXPECT_EQ(findError("rtx3900"),
            "unknown GPU 'rtx3900'; closest: rtx3090, rtx3080-12gb, rtx3080-10gb");
  std::string e = findError("rtx 5090");
  EXPECT_EQ(e.rfind("unknown GPU 'rtx 5090'; closest: ", 0), 0u) << e;
  EXPECT_NE(e.find("rtx3090"), std::string::npos) << e;
  e = findError("a1000");
  EXPECT_EQ(e.rfind("unknown GPU 'a1000'; closest: a100-", 0), 0u) << e;
  EXPECT_EQ(findError(""), "empty GPU name");
  EXPECT_EQ(findError(" - "), "empty GPU name");
}

TEST(Catalog, SelectAllAndLists) {
  const Catalog &c = builtinCatalog();
  std::vector<const Gpu *> out;
  std::string error;
  ASSERT_TRUE(selectGpus(c, "all", out, error)) << error;
  ASSERT_EQ(out.size(), c.gpus.size());
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(out[i], &c.gpus[i]);
  ASSERT_TRUE(selectGpus(c, " ALL ", out, error)) << error;
  EXPECT_EQ(out.size(), c.gpus.size());

  ASSERT_TRUE(selectGpus(c, "RTX 3080 12GB, rtx3090,h100", out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]->id, "rtx3080-12gb");
  EXPECT_EQ(out[1]->id, "rtx3090");
  EXPECT_EQ(out[2]->id, "h100-sxm");

  // The same GPU under two names is listed once.
  ASSERT_TRUE(selectGpus(c, "3090,rtx3090,GeForce RTX 3090", out, error)) << error;
  ASSERT_EQ(out.size(), 1u);

  std::vector<const Gpu *> kept = out;
  EXPECT_FALSE(selectGpus(c, "rtx3090,rtx3900", out, error));
  EXPECT_EQ(error, "unknown GPU 'rtx3900'; closest: rtx3090, rtx3080-12gb, rtx3080-10gb");
  EXPECT_EQ(out, kept);
  EXPECT_FALSE(selectGpus(c, "rtx3090,a100", out, error));
  EXPECT_EQ(error, "GPU name 'a100' is ambiguous: a100-40gb, a100-80gb");
  EXPECT_FALSE(selectGpus(c, "rtx3090,,t4", out, error));
  EXPECT_EQ(error, "empty GPU name in list 'rtx3090,,t4'");
  EXPECT_FALSE(selectGpus(c, "t4,", out, error));
  EXPECT_FALSE(selectGpus(c, " ", out, error));
  EXPECT_EQ(error, "no GPUs given (name some, comma-separated, or 'all')");
  EXPECT_EQ(out, kept);
}

// ---- User catalog files --------------------------------------------------------------------

TEST(Catalog, UserFileAddsGpu) {
  Catalog c = builtinCatalog();
  std::string error;
  ASSERT_TRUE(parseCatalog(kUserFile, "user.yaml", c, error)) << error;
  ASSERT_EQ(c.gpus.size(), builtinCatalog().gpus.size() + 1);
  const Gpu &g = c.gpus.back();
  EXPECT_EQ(g.id, "rtx5090");
  EXPECT_EQ(g.name, "GeForce RTX 5090");
  EXPECT_EQ(g.aliases, (std::vector<std::string>{"5090", "geforce rtx 5090"}));
  EXPECT_EQ(g.memoryBytes, 32 * kGiB);
  EXPECT_DOUBLE_EQ(g.bandwidthGBs, 1792);
  EXPECT_DOUBLE_EQ(g.fp32Tflops, 104.8);
  EXPECT_DOUBLE_EQ(g.fp16Tflops, 209.5);
  EXPECT_EQ(g.smArch(), "sm_120");
  EXPECT_TRUE(g.nvrtcCanTarget());
  EXPECT_EQ(g.cudaCores, 21760);
  EXPECT_EQ(g.gpusPerBoard, 1);
  EXPECT_DOUBLE_EQ(g.priceUsd, 1999);
  EXPECT_EQ(g.priceNote, "$1,999 launch MSRP");
  EXPECT_EQ(g.source, "NVIDIA specifications");
  const Gpu *found = findGpu(c, "RTX 5090", error);
  EXPECT_EQ(found, &g) << error;
  // "rtx50" was unknown before and is a unique prefix now; "rtx" is still ambiguous.
  EXPECT_EQ(findGpu(c, "rtx50", error), &g) << error;
}

TEST(Catalog, UserFileOverridesGpuInPlace) {
  Catalog c = builtinCatalog();
  size_t index = 0;
  while (c.gpus[index].id != "rtx3090")
    ++index;
  std::string text = R"(gpus:
  - id: rtx3090
    name: My RTX 3090 (used, watercooled)
    memory_bytes: 25769803776
    bandwidth_gbs: 936
    fp32_tflops: 35.6
    compute_capability: "8.6"
    cuda_cores: 10496
    price_usd: 700
    price_note: used price
  - id: a100-80gb-pcie
    name: A100 80GB PCIe
    aliases: [a100 pcie]
    memory_gib: 80
    bandwidth_gbs: 1935
    fp32_tflops: 19.5
    fp16_tflops: 312
    compute_capability: 8.0
    cuda_cores: 6912
    price_usd: ~
)";
  std::string error;
  ASSERT_TRUE(parseCatalog(text, "user.yaml", c, error)) << error;
  ASSERT_EQ(c.gpus.size(), builtinCatalog().gpus.size() + 1);
  const Gpu &g = c.gpus[index];
  EXPECT_EQ(g.id, "rtx3090");
  EXPECT_EQ(g.name, "My RTX 3090 (used, watercooled)");
  EXPECT_DOUBLE_EQ(g.priceUsd, 700);
  EXPECT_EQ(g.memoryBytes, 24 * kGiB);
  EXPECT_TRUE(g.aliases.empty()) << "an override replaces the whole entry";
  EXPECT_EQ(g.fp16Tflops, 0);
  EXPECT_EQ(c.gpus.back().id, "a100-80gb-pcie");
  EXPECT_EQ(c.gpus.back().smArch(), "sm_80") << "an unquoted 8.0 is still the text 8.0";
  EXPECT_EQ(c.gpus.back().priceUsd, 0);
  // The override dropped the "3090" alias; the id still finds it.
  EXPECT_EQ(findGpu(c, "rtx3090", error), &g) << error;
  EXPECT_EQ(findGpu(c, "3090", error), nullptr);
  // The new PCIe part makes "a100 80gb" a prefix of two ids, but the exact alias still wins.
  EXPECT_EQ(findGpu(c, "a100 80gb", error)->id, "a100-80gb") << error;
  EXPECT_EQ(findGpu(c, "a100", error), nullptr);
  EXPECT_EQ(error, "GPU name 'a100' is ambiguous: a100-40gb, a100-80gb, a100-80gb-pcie");
}

TEST(Catalog, UserFileFromDisk) {
  std::string path = ::testing::TempDir() + "dlc_catalog_test.yaml";
  {
    std::ofstream f(path);
    f << kUserFile;
  }
  Catalog c = builtinCatalog();
  std::string error;
  ASSERT_TRUE(loadCatalogFile(path, c, error)) << error;
  EXPECT_EQ(c.gpus.back().id, "rtx5090");
  std::remove(path.c_str());

  EXPECT_FALSE(loadCatalogFile("/nonexistent/gpus.yaml", c, error));
  EXPECT_EQ(error, "cannot open '/nonexistent/gpus.yaml': No such file or directory");
  EXPECT_FALSE(loadCatalogFile(::testing::TempDir(), c, error));
  EXPECT_EQ(error.rfind("cannot open '", 0), 0u) << error;
}

TEST(Catalog, UserFileErrorsUnknownAndMissingFields) {
  EXPECT_EQ(userError(replaceLine(kUserFile, "bandwidth_gbs", "bandwith_gbs")),
            "user.yaml:6:5: error: GPU 'rtx5090': unknown field 'bandwith_gbs'; did you mean "
            "'bandwidth_gbs'?");
  EXPECT_EQ(userError(replaceLine(kUserFile, "    source:", "    sorce:")),
            "user.yaml:13:5: error: GPU 'rtx5090': unknown field 'sorce'; did you mean 'source'?");
  EXPECT_EQ(userError(replaceLine(kUserFile, "    price_usd: 1999\n", "    colour: green\n")),
            "user.yaml:11:5: error: GPU 'rtx5090': unknown field 'colour'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "    cuda_cores: 21760\n", "")),
            "user.yaml:2:5: error: GPU 'rtx5090': missing field 'cuda_cores'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "    memory_gib: 32\n", "")),
            "user.yaml:2:5: error: GPU 'rtx5090': missing field 'memory_gib' (or 'memory_bytes')");
  EXPECT_EQ(userError(replaceLine(kUserFile, "  - id: rtx5090\n    name", "  - name")),
            "user.yaml:2:5: error: GPU entry: missing field 'id'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "    source:", "    name: again\n    source:")),
            "user.yaml:13:5: error: GPU 'rtx5090': duplicate field 'name' (first given at line 3)");
  EXPECT_EQ(userError("gpu:\n  - id: x\n"),
            "user.yaml:1:1: error: unknown top-level field 'gpu'; did you mean 'gpus'? (a GPU "
            "catalog has only 'gpus')");
  EXPECT_EQ(userError("[1, 2]\n"),
            "user.yaml:1:1: error: a GPU catalog must be a mapping with a 'gpus' list");
  EXPECT_EQ(userError(""),
            "user.yaml:1:1: error: a GPU catalog must be a mapping with a 'gpus' list");
  EXPECT_EQ(userError("gpus:\n"), "");
  EXPECT_EQ(userError("gpus: []\n"), "");
}

TEST(Catalog, UserFileErrorsTypesAndValues) {
  EXPECT_EQ(userError(replaceLine(kUserFile, "memory_gib: 32", "memory_gib: lots")),
            "user.yaml:5:17: error: GPU 'rtx5090': field 'memory_gib' must be a number, got "
            "'lots'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "memory_gib: 32", "memory_gib: \"32\"")),
            "user.yaml:5:17: error: GPU 'rtx5090': field 'memory_gib' must be a number, got the "
            "string '32'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "cuda_cores: 21760", "cuda_cores: 21760.5")),
            "user.yaml:10:17: error: GPU 'rtx5090': field 'cuda_cores' must be a whole number, "
            "got 21760.5");
  EXPECT_EQ(userError(replaceLine(kUserFile, "fp32_tflops: 104.8", "fp32_tflops: [104.8]")),
            "user.yaml:7:18: error: GPU 'rtx5090': field 'fp32_tflops' must be a number, got a "
            "list");
  EXPECT_EQ(userError(replaceLine(kUserFile, "fp32_tflops: 104.8", "fp32_tflops: .nan")),
            "user.yaml:7:18: error: GPU 'rtx5090': field 'fp32_tflops' must be a number, got "
            "'.nan'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "aliases: [\"5090\", \"geforce rtx 5090\"]",
                                  "aliases: 5090")),
            "user.yaml:4:14: error: GPU 'rtx5090': field 'aliases' must be a list of names, got "
            "'5090'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "name: GeForce RTX 5090", "name: {a: b}")),
            "user.yaml:3:11: error: GPU 'rtx5090': field 'name' must be text, got a mapping");
  EXPECT_EQ(userError(replaceLine(kUserFile, "bandwidth_gbs: 1792", "bandwidth_gbs:")),
            "user.yaml:6:5: error: GPU 'rtx5090': field 'bandwidth_gbs' has no value");
  EXPECT_EQ(userError(replaceLine(kUserFile, "price_usd: 1999", "price_usd: -5")),
            "user.yaml:11:16: error: GPU 'rtx5090': field 'price_usd' must not be negative, got "
            "-5");
  EXPECT_EQ(userError(replaceLine(kUserFile, "memory_gib: 32", "memory_gib: -32")),
            "user.yaml:5:17: error: GPU 'rtx5090': field 'memory_gib' must not be negative, got "
            "-32");
  EXPECT_EQ(userError(replaceLine(kUserFile, "cuda_cores: 21760", "cuda_cores: -1")),
            "user.yaml:10:17: error: GPU 'rtx5090': field 'cuda_cores' must not be negative, got "
            "-1");
  EXPECT_EQ(userError(replaceLine(kUserFile, "bandwidth_gbs: 1792", "bandwidth_gbs: 0")),
            "user.yaml:6:20: error: GPU 'rtx5090': field 'bandwidth_gbs' must be positive");
  EXPECT_EQ(userError(replaceLine(kUserFile, "\"12.0\"", "\"twelve\"")),
            "user.yaml:9:25: error: GPU 'rtx5090': field 'compute_capability' must look like "
            "\"8.6\", got 'twelve'");
  EXPECT_EQ(userError(replaceLine(kUserFile, "memory_gib: 32",
                                  "memory_gib: 32\n    memory_bytes: 32000000000")),
            "user.yaml:6:19: error: GPU 'rtx5090': memory_bytes 32000000000 does not match "
            "memory_gib (34359738368 = memory_gib * 2^30)");
  EXPECT_EQ(userError(replaceLine(kUserFile, "id: rtx5090", "id: RTX 5090")),
            "user.yaml:2:9: error: GPU id 'RTX 5090' must be lowercase letters, digits, '-', '_' "
            "or '.', starting with a letter or digit");
  EXPECT_EQ(userError(replaceLine(kUserFile, "id: rtx5090", "id: all")),
            "user.yaml:2:9: error: GPU id 'all' is reserved: it selects every GPU");
  EXPECT_EQ(userError("gpus:\n  - just a name\n"),
            "user.yaml:2:5: error: each GPU entry must be a mapping of fields, got 'just a name'");
  EXPECT_EQ(userError("gpus: {id: x}\n"),
            "user.yaml:1:7: error: field 'gpus' must be a list of GPU entries");
}

TEST(Catalog, UserFileErrorsDuplicatesAndClashes) {
  std::string entry = std::string(kUserFile).substr(6); // without "gpus:\n"
  EXPECT_EQ(userError(std::string(kUserFile) + entry),
            "user.yaml:14:9: error: duplicate GPU id 'rtx5090' (first defined at line 2)");
  // A name may lead to one GPU only, built-in or not.
  EXPECT_EQ(userError(replaceLine(kUserFile, "\"5090\"", "\"3090\"")),
            "user.yaml:4:15: error: GPU 'rtx5090': name '3090' is also a name of 'rtx3090' (names "
            "compare ignoring case, spaces, '-' and '_')");
  EXPECT_EQ(userError(replaceLine(kUserFile, "id: rtx5090", "id: a100_80gb")),
            "user.yaml:2:9: error: GPU 'a100_80gb': name 'a100_80gb' is also a name of "
            "'a100-80gb' (names compare ignoring case, spaces, '-' and '_')");
  // Overriding an entry in place, then giving its old alias to a new one, is fine...
  Catalog c = builtinCatalog();
  std::string error;
  std::string moved = replaceLine(kUserFile, "\"5090\"", "\"4090\"") + R"(  - id: rtx4090
    name: GeForce RTX 4090
    memory_gib: 24
    bandwidth_gbs: 1008
    fp32_tflops: 82.6
    compute_capability: "8.9"
    cuda_cores: 16384
)";
  ASSERT_TRUE(parseCatalog(moved, "user.yaml", c, error)) << error;
  EXPECT_EQ(findGpu(c, "4090", error)->id, "rtx5090") << error;
  // ...but a replaced entry that keeps a name clashing with a new one is reported at the new one.
  EXPECT_EQ(userError(replaceLine(kUserFile, "\"5090\"", "\"4090\"") + R"(  - id: rtx4090
    name: GeForce RTX 4090
    aliases: ["4090"]
    memory_gib: 24
    bandwidth_gbs: 1008
    fp32_tflops: 82.6
    compute_capability: "8.9"
    cuda_cores: 16384
)"),
            "user.yaml:16:15: error: GPU 'rtx4090': name '4090' is also a name of 'rtx5090' "
            "(names compare ignoring case, spaces, '-' and '_')");
}

TEST(Catalog, UserFileErrorsInvalidYaml) {
  std::string e = userError("gpus:\n  - id: [unclosed\n");
  EXPECT_EQ(e.rfind("user.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find(": error: invalid YAML: "), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << "errors are one line";
}

} // namespace
