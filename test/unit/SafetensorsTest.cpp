// Unit tests for .safetensors checkpoints (runtime/train/Safetensors.h) and their header's
// JSON parser (runtime/train/Json.h): a round trip through saveCheckpoint/loadCheckpoint with
// names, shapes and the optim. prefix checked in the written header, and every refusal of the
// reader on hand-made files: each one line naming the file, the arena left untouched.
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Json.h"
#include "runtime/train/Safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dlc;
namespace fs = std::filesystem;

namespace {

/// conv.weight [2,1,2,2] (trainable), conv.weight.momentum (optimizer state, same shape),
/// bn.running_mean [2] (model state) and optimizer.state (4 floats, no plan shape), laid out
/// one after another.
plan::Plan testPlan() {
  plan::Plan p;
  p.model = "tiny";
  auto add = [&](const std::string &name, plan::BufferKind kind, std::vector<int64_t> shape,
                 uint64_t floats) {
    plan::Buffer b;
    b.name = name;
    b.kind = kind;
    b.bytes = floats * 4;
    b.offset = p.arenaBytes;
    p.arenaBytes += b.bytes;
    plan::Parameter param;
    param.name = name;
    param.shape = shape;
    param.trainable = kind == plan::BufferKind::Parameter;
    param.buffer = int32_t(p.buffers.size());
    p.buffers.push_back(b);
    p.params.push_back(param);
  };
  add("conv.weight", plan::BufferKind::Parameter, {2, 1, 2, 2}, 8);
  add("conv.weight.momentum", plan::BufferKind::OptimizerState, {2, 1, 2, 2}, 8);
  add("bn.running_mean", plan::BufferKind::ModelState, {2}, 2);
  add("optimizer.state", plan::BufferKind::OptimizerState, {}, 4);
  p.persistentBytes = p.arenaBytes;
  return p;
}

/// A valid header entry.
std::string entry(const std::string &name, const std::string &shape, uint64_t begin,
                  uint64_t end, const std::string &dtype = "F32") {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

/// The header of a file that testPlan() loads: 88 data bytes.
std::string goodHeader() {
  return "{" + entry("conv.weight", "[2,1,2,2]", 0, 32) + "," +
         entry("optim.conv.weight.momentum", "[2,1,2,2]", 32, 64) + "," +
         entry("bn.running_mean", "[2]", 64, 72) + "," +
         entry("optim.optimizer.state", "[4]", 72, 88) + "}";
}

class SafetensorsTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("dlc-safetensors-test-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    path = (dir / "c.safetensors").string();
  }
  void TearDown() override { fs::remove_all(dir); }

  /// Writes header length (`length`, or the header's own), header and `data` bytes of data.
  void write(const std::string &header, uint64_t data, int64_t length = -1) {
    std::ofstream f(path, std::ios::binary);
    uint64_t n = length < 0 ? header.size() : uint64_t(length);
    f.write(reinterpret_cast<const char *>(&n), 8);
    f << header;
    std::string bytes(data, '\x01');
    f << bytes;
  }
  /// Loads into an arena of 0x5a bytes; on refusal checks the message and that the arena is
  /// untouched, and returns the message ("" on success).
  std::string load() {
    plan::Plan p = testPlan();
    std::vector<uint8_t> arena(p.arenaBytes, 0x5a);
    std::string error;
    if (loadCheckpoint(p, arena.data(), path, error))
      return "";
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_EQ(arena, std::vector<uint8_t>(p.arenaBytes, 0x5a)) << "arena written: " << error;
    return error.empty() ? "(empty error)" : error;
  }
  /// Expects a refusal whose message contains `what`.
  void refused(const std::string &what) {
    std::string error = load();
    EXPECT_NE(error.find(what), std::string::npos) << "got: '" << error << "'";
  }
  fs::path dir;
  std::string path;
};

TEST_F(SafetensorsTest, RoundTripWithTorchNames) {
  plan::Plan p = testPlan();
  std::vector<float> a(p.arenaBytes / 4), b(a.size(), 0.f);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = float(i) * 0.25f - 3.f;
  std::string error;
  ASSERT_TRUE(saveCheckpoint(p, reinterpret_cast<uint8_t *>(a.data()), path, error)) << error;
  ASSERT_TRUE(loadCheckpoint(p, reinterpret_cast<uint8_t *>(b.data()), path, error)) << error;
  EXPECT_EQ(a, b);

  // The file: header length, a JSON header padded to 8 bytes, then the data in plan order.
  std::ifstream f(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  uint64_t n;
  std::memcpy(&n, all.data(), 8);
  ASSERT_EQ(n % 8, 0u);
  ASSERT_EQ(all.size(), 8 + n + p.arenaBytes);
  EXPECT_EQ(0, std::memcmp(all.data() + 8 + n, a.data(), p.arenaBytes));
  json::Value root;
  ASSERT_TRUE(json::parse(all.data() + 8, n, root, error)) << error;
  const json::Value *meta = root.find("__metadata__");
  ASSERT_TRUE(meta && meta->find("format"));
  EXPECT_EQ(meta->find("format")->string, "pt");
  std::vector<std::string> names;
  for (const auto &[name, v] : root.members)
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"__metadata__", "conv.weight",
                                             "optim.conv.weight.momentum", "bn.running_mean",
                                             "optim.optimizer.state"}));
  const json::Value *w = root.find("conv.weight");
  ASSERT_TRUE(w && w->find("shape") && w->find("dtype"));
  EXPECT_EQ(w->find("dtype")->string, "F32");
  std::vector<uint64_t> shape;
  for (const json::Value &d : w->find("shape")->items)
    shape.push_back(d.integer);
  EXPECT_EQ(shape, (std::vector<uint64_t>{2, 1, 2, 2}));
  // A plan parameter without a shape is saved flat.
  EXPECT_EQ(root.find("optim.optimizer.state")->find("shape")->items.size(), 1u);
}

TEST_F(SafetensorsTest, HandMadeFileLoads) {
  write(goodHeader() + "   ", 88); // trailing spaces are the format's padding
  EXPECT_EQ(load(), "");
  // Tensors the plan lacks (torch's num_batches_tracked) are checked, then ignored; order free.
  write("{\"__metadata__\":{\"format\":\"pt\"}," + entry("bn.num_batches_tracked", "[]", 88, 96, "I64") +
            "," + goodHeader().substr(1),
        96);
  EXPECT_EQ(load(), "");
}

TEST_F(SafetensorsTest, RefusesMissingOrUnreadableFiles) {
  std::string error;
  plan::Plan p = testPlan();
  std::vector<uint8_t> arena(p.arenaBytes);
  EXPECT_FALSE(loadCheckpoint(p, arena.data(), path, error));
  EXPECT_NE(error.find("cannot open checkpoint '" + path + "'"), std::string::npos) << error;
  fs::create_directories(path);
  refused("not a regular file");
  fs::remove(path);
  std::ofstream(path) << "abc";
  refused("shorter than its 8-byte header length");
}

TEST_F(SafetensorsTest, RefusesHeaderLengthBeyondTheFile) {
  write(goodHeader(), 88, int64_t(goodHeader().size() + 89));
  refused("beyond the");
  write(goodHeader(), 88, int64_t(1) << 62);
  refused("beyond the");
}

TEST_F(SafetensorsTest, RefusesBadJson) {
  const std::pair<std::string, std::string> cases[] = {
      {"{\"a\":", "unexpected end"},
      {"{\"a\" 1}", "expected ':'"},
      {"{\"a\":1,}", "expected '\"'"},
      {"{\"a\":1} x", "trailing text"},
      {"{\"a\":1.5}", "a fractional"},
      {"{\"a\":-1}", "unexpected character"},
      {"{\"a\":true}", "unexpected character"},
      {"{\"a\":null}", "unexpected character"},
      {"{\"a\":01}", "leading zero"},
      {"{\"a\":99999999999999999999}", "integer larger than 2^53"},
      {"{\"a\":\"x\\q\"}", "bad escape"},
      {"{\"a\":\"\\u12\"}", "bad \\u escape"},
      {"{\"a\":\"\\ud800\"}", "surrogate"},
      {"{\"a\":\"x\ny\"}", "control character"},
      {"{\"a\":1,\"a\":2}", "duplicate key"},
      {"{\"a\\n\":1,\"a\\n\":2}", "duplicate key \"a\\x0a\""},
      {"{\"a\":[[[[[[[[[1]]]]]]]]]}", "nested deeper than 8"},
      {"", "unexpected end"},
  };
  for (const auto &[text, why] : cases) {
    SCOPED_TRACE(text);
    write(text, 0);
    refused("header JSON: " + why);
  }
  write("[1,2]", 0);
  refused("not a JSON object");
}

TEST_F(SafetensorsTest, RefusesBadEntries) {
  const std::string rest = "," + entry("optim.conv.weight.momentum", "[2,1,2,2]", 32, 64) + "," +
                           entry("bn.running_mean", "[2]", 64, 72) + "," +
                           entry("optim.optimizer.state", "[4]", 72, 88) + "}";
  const std::pair<std::string, std::string> cases[] = {
      {"\"conv.weight\":[1]", "is not a JSON object"},
      {"\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[2,1,2,2]}", "lacks data_offsets"},
      {"\"conv.weight\":{\"shape\":[2,1,2,2],\"data_offsets\":[0,32]}", "lacks dtype"},
      {"\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32],\"x\":1}",
       "unknown field 'x'"},
      {entry("conv.weight", "[8]", 0, 32, "F31"), "unknown dtype"},
      {"\"conv.weight\":{\"dtype\":\"F32\",\"shape\":8,\"data_offsets\":[0,32]}", "not a list"},
      {"\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[\"8\"],\"data_offsets\":[0,32]}",
       "not a list"},
      {"\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0]}",
       "not [begin, end]"},
      {entry("conv.weight", "[8]", 32, 0), "outside the 88 data bytes"},
      {entry("conv.weight", "[8]", 80, 112), "outside the 88 data bytes"},
      {entry("conv.weight", "[9]", 0, 32), "has 32 bytes of data, not 36"},
      {entry("conv.weight", "[4294967296,4294967296,4294967296]", 0, 32), "not "},
      {entry("conv.weight", "[8]", 0, 32, "F64"), "has 32 bytes of data, not 64"},
      {entry("conv.weight", "[4]", 0, 32, "F64"), "is F64, not F32"},
      {entry("conv.weight", "[8]", 0, 32), "has shape [8] but the plan expects [2, 1, 2, 2]"},
      {entry("conv.weight", "[2,2,2,1]", 0, 32), "has shape [2, 2, 2, 1]"},
      {entry("conv", "[2,1,2,2]", 0, 32), "has no tensor 'conv.weight'"},
      // A name from the file reaches the message on one line.
      {entry("conv\\r\\n", "[2,1,2,2]", 0, 32, "X"), "tensor 'conv\\x0d\\x0a' has an unknown dtype"},
      {"\"__metadata__\":{\"a\":1}," + entry("conv.weight", "[2,1,2,2]", 0, 32),
       "__metadata__ is not an object of strings"},
  };
  for (const auto &[first, why] : cases) {
    SCOPED_TRACE(first);
    write("{" + first + rest, 88);
    refused(why);
  }
}

TEST_F(SafetensorsTest, RefusesDataNotTiledExactly) {
  const std::string tail = "," + entry("bn.running_mean", "[2]", 64, 72) + "," +
                           entry("optim.optimizer.state", "[4]", 72, 88) + "}";
  // Overlap: the momentum starts inside the weight.
  write("{" + entry("conv.weight", "[2,1,2,2]", 0, 32) + "," +
            entry("optim.conv.weight.momentum", "[2,1,2,2]", 28, 60) + tail,
        88);
  refused("overlaps another tensor's data");
  // A hole between two tensors.
  write("{" + entry("conv.weight", "[2,1,2,2]", 0, 32) + "," +
            entry("optim.conv.weight.momentum", "[2,1,2,2]", 36, 68) + "," +
            entry("bn.running_mean", "[2]", 68, 76) + "," +
            entry("optim.optimizer.state", "[4]", 76, 92) + "}",
        92);
  refused("unused bytes before tensor 'optim.conv.weight.momentum'");
  // Bytes after the last tensor.
  write(goodHeader(), 91);
  refused("3 bytes after the last tensor's data");
  // A tensor the plan lacks still counts: its overlap is refused.
  write("{" + entry("extra", "[1]", 0, 4) + "," + goodHeader().substr(1), 88);
  refused("overlaps");
}

TEST(Json, ParsesTheHeaderSubset) {
  json::Value v;
  std::string error;
  const std::string text = " {\"a\\u00e9\\n\": [0, 9007199254740992, \"s\\\"\"], \"b\": {}} ";
  ASSERT_TRUE(json::parse(text.data(), text.size(), v, error)) << error;
  ASSERT_EQ(v.kind, json::Value::Object);
  const json::Value *a = v.find("a\xc3\xa9\n");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items.size(), 3u);
  EXPECT_EQ(a->items[1].integer, uint64_t(1) << 53);
  EXPECT_EQ(a->items[2].string, "s\"");
  EXPECT_EQ(v.find("b")->kind, json::Value::Object);
  EXPECT_EQ(v.find("c"), nullptr);
  const std::string big = "{\"a\":9007199254740993}";
  EXPECT_FALSE(json::parse(big.data(), big.size(), v, error));
  EXPECT_NE(error.find("larger than 2^53"), std::string::npos) << error;
  // A long flat array: refused at the value cap, before the tree outgrows it.
  std::string many = "[0";
  for (size_t i = 0; i < json::kMaxJsonValues; ++i)
    many += ",0";
  EXPECT_FALSE(json::parse(many.data(), many.size(), v, error));
  EXPECT_NE(error.find("more than 2097152 values"), std::string::npos) << error;
  many.resize(many.size() - 4); // the array and kMaxJsonValues - 1 integers: just allowed
  EXPECT_TRUE(json::parse((many + "]").data(), many.size() + 1, v, error)) << error;
  EXPECT_EQ(v.items.size(), json::kMaxJsonValues - 1);
}

} // namespace
