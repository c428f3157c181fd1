//===- AtomicFile.cpp - temp file, fsync, rename -------------------------------===//
#include "runtime/plan/AtomicFile.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace dlc::plan {

namespace {
/// "PATH.tmp.": a write goes to PATH.tmp.PID and renames it to PATH.
std::string tempPrefix(const std::string &path) { return path + ".tmp."; }

/// Deletes PATH.tmp.PID files left by writes that were killed: those whose process is gone.
/// A live process's file may be a write in progress (another dlrun writing the same path).
void removeStaleTemps(const std::string &path) {
  std::string dir = ".", prefix = tempPrefix(path);
  size_t slash = prefix.rfind('/');
  if (slash != std::string::npos) {
    dir = slash == 0 ? "/" : prefix.substr(0, slash);
    prefix = prefix.substr(slash + 1);
  }
  DIR *d = opendir(dir.c_str());
  if (!d)
    return;
  while (const dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.find_first_not_of("0123456789", prefix.size()) != std::string::npos ||
        name.size() - prefix.size() > 9)
      continue;
    pid_t pid = pid_t(std::stol(name.substr(prefix.size())));
    if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH)
      unlink((dir + "/" + name).c_str());
  }
  closedir(d);
}

} // namespace

bool writeFileAtomically(const std::string &path, const std::vector<uint8_t> &bytes,
                         const std::string &what, std::string &error) {
  removeStaleTemps(path);
  std::string tmp = tempPrefix(path) + std::to_string(getpid());
  auto fail = [&](int savedErrno, int fd) {
    if (fd >= 0)
      close(fd);
    unlink(tmp.c_str());
    error = "cannot write " + what + "'" + path + "': " + std::strerror(savedErrno);
    return false;
  };
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    // Nothing was created, so there is nothing to unlink; report before unlink can touch errno.
    error = "cannot write " + what + "'" + path + "': " + std::strerror(errno);
    return false;
  }
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(errno, fd);
    done += size_t(n);
  }
  // Without fsync a crash soon after the rename can leave an empty or partial file under
  // `path` on some filesystems: the very outcome the rename is there to prevent.
  if (fsync(fd) != 0)
    return fail(errno, fd);
  if (close(fd) != 0)
    return fail(errno, -1);
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return fail(errno, -1);
  return true;
}

} // namespace dlc::plan
