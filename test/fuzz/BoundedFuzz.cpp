//===- BoundedFuzz.cpp - a deterministic, bounded fuzz driver for ctest -*- C++ -*-===//
//
// Links with one target (FuzzTarget.h) into `fuzz-<target>`. Modes:
//   fuzz-X --runs N [--seconds S] [--seed K] [SEEDS...]   mutate seeds N times (or for S s)
//   fuzz-X --replay FILES_OR_DIRS...                      run each file once (regressions)
//   fuzz-X --write-seeds DIR                              write the built-in seeds (libFuzzer)
// Every input runs in a forked child under alarm(--timeout, default 10 s) and an address-space
// limit (--memory-mb, default 4096), so a crash, an abort (a failed property), a hang or a
// runaway allocation is a failure of that input alone: the driver saves it under --save
// (default fuzz-failures/) as a reproducer, says how to replay it, goes on, and exits 1 at the
// end. The mutations depend only on --seed and the seeds, so every run is the same.
//
#include "test/fuzz/FuzzTarget.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

using namespace dlc::fuzz;

namespace {

struct Options {
  long runs = 0;
  double seconds = 0;
  uint64_t seed = 1;
  unsigned timeout = 10;
  long memoryMb = 4096;
  std::string save = "fuzz-failures";
  std::string writeSeeds;
  bool replay = false;
  std::vector<std::string> paths;
};

Bytes readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Files named directly, and the regular files of named directories (sorted: runs must not
/// depend on the order readdir happens to return).
std::vector<std::string> listFiles(const std::vector<std::string> &paths) {
  std::vector<std::string> files;
  for (const std::string &p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      std::cerr << "fuzz: cannot read '" << p << "': " << std::strerror(errno) << "\n";
      std::exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
      files.push_back(p);
      continue;
    }
    std::vector<std::string> inDir;
    if (DIR *d = ::opendir(p.c_str())) {
      while (dirent *e = ::readdir(d)) {
        std::string f = p + "/" + e->d_name;
        if (e->d_name[0] != '.' && ::stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode))
          inDir.push_back(f);
      }
      ::closedir(d);
    }
    std::sort(inDir.begin(), inDir.end());
    files.insert(files.end(), inDir.begin(), inDir.end());
  }
  return files;
}

uint64_t fnv1a(const Bytes &b) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t c : b)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

/// Runs one input in a child; returns "" when it was handled, else what went wrong.
std::string runIsolated(const Bytes &input, const Options &o) {
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0)
    return std::string("fork failed: ") + std::strerror(errno);
  if (pid == 0) {
    // AddressSanitizer reserves terabytes of address space for its shadow memory, so under it
    // the bound is its own: ASAN_OPTIONS=max_allocation_size_mb (scripts/test.sh sets it).
#if !defined(__SANITIZE_ADDRESS__)
    rlimit as{rlim_t(o.memoryMb) << 20, rlim_t(o.memoryMb) << 20};
    ::setrlimit(RLIMIT_AS, &as);
#endif
    ::alarm(o.timeout);
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status) == 0 ? "" : "exit code " + std::to_string(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  if (sig == SIGALRM)
    return "hang: no result within " + std::to_string(o.timeout) + " s";
  return std::string("crash: signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
}

/// Saves a failing input and says how to replay it.
void report(const Bytes &input, const std::string &what, const std::string &origin,
            const Options &o, const char *argv0) {
  ::mkdir(o.save.c_str(), 0755);
  char name[64];
  std::snprintf(name, sizeof name, "/%s-%016llx", kTargetName,
                static_cast<unsigned long long>(fnv1a(input)));
  std::string path = o.save + name;
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char *>(input.data()), std::streamsize(input.size()));
  std::cerr << "fuzz " << kTargetName << ": FAILED (" << what << ") on " << origin
            << "\n  reproducer: " << path << "\n  replay: " << argv0 << " --replay " << path
            << "\n";
}

int usage(const char *argv0) {
  std::cerr << "usage: " << argv0
            << " --runs N [--seconds S] [--seed K] [--timeout S] [--memory-mb M] [--save DIR] "
               "[SEEDS...]\n       "
            << argv0 << " --replay FILES_OR_DIRS...\n       " << argv0
            << " --write-seeds DIR\n";
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "fuzz: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs")
      o.runs = std::stol(value());
    else if (a == "--seconds")
      o.seconds = std::stod(value());
    else if (a == "--seed")
      o.seed = std::stoull(value());
    else if (a == "--timeout")
      o.timeout = unsigned(std::stoul(value()));
    else if (a == "--memory-mb")
      o.memoryMb = std::stol(value());
    else if (a == "--save")
      o.save = value();
    else if (a == "--write-seeds")
      o.writeSeeds = value();
    else if (a == "--replay")
      o.replay = true;
    else if (!a.empty() && a[0] == '-')
      return usage(argv[0]);
    else
      o.paths.push_back(a);
  }
  std::vector<std::string> files = listFiles(o.paths);

  if (!o.writeSeeds.empty()) {
    ::mkdir(o.writeSeeds.c_str(), 0755);
    std::vector<Bytes> seeds = builtinSeeds();
    for (size_t i = 0; i < seeds.size(); ++i)
      std::ofstream(o.writeSeeds + "/seed-" + std::to_string(i), std::ios::binary)
          .write(reinterpret_cast<const char *>(seeds[i].data()),
                 std::streamsize(seeds[i].size()));
    std::cout << "fuzz " << kTargetName << ": wrote " << seeds.size() << " seeds to "
              << o.writeSeeds << "\n";
    return 0;
  }

  int failures = 0;
  if (o.replay) {
    if (o.paths.empty())
      return usage(argv[0]);
    for (const std::string &f : files) {
      std::string what = runIsolated(readFile(f), o);
      if (!what.empty()) {
        std::cerr << "fuzz " << kTargetName << ": FAILED (" << what << ") on " << f << "\n";
        ++failures;
      }
    }
    std::cout << "fuzz " << kTargetName << ": replayed " << files.size() << " inputs, "
              << failures << " failures\n";
    return failures ? 1 : 0;
  }
  if (o.runs <= 0)
    return usage(argv[0]);

  std::vector<Bytes> corpus = builtinSeeds();
  for (const std::string &f : files)
    corpus.push_back(readFile(f));
  if (corpus.empty()) {
    std::cerr << "fuzz " << kTargetName << ": no seeds\n";
    return 2;
  }
  // The seeds themselves first: they must all be handled before any mutant means anything.
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::string what = runIsolated(corpus[i], o);
    if (!what.empty()) {
      report(corpus[i], what, "seed " + std::to_string(i), o, argv[0]);
      ++failures;
    }
  }
  Mutator m(o.seed, dictionary());
  std::vector<Bytes> recent; // mutants to mutate further: deeper changes than one round makes
  auto start = std::chrono::steady_clock::now();
  long run = 0;
  for (; run < o.runs && failures < 10; ++run) {
    if (o.seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
            o.seconds)
      break;
    Bytes input = !recent.empty() && m.random().oneIn(4)
                      ? recent[m.random().below(recent.size())]
                      : corpus[m.random().below(corpus.size())];
    m.mutate(input, corpus);
    std::string what = runIsolated(input, o);
    if (!what.empty()) {
      report(input, what, "run " + std::to_string(run) + " (--seed " + std::to_string(o.seed) +
                              ")", o, argv[0]);
      ++failures;
      continue;
    }
    if (recent.size() < 64)
      recent.push_back(std::move(input));
    else
      recent[m.random().below(recent.size())] = std::move(input);
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "fuzz " << kTargetName << ": " << corpus.size() << " seeds, " << run
            << " mutated inputs in " << secs << " s, " << failures << " failures\n";
  return failures ? 1 : 0;
}
