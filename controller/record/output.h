// An output path checked before anything is attached, without leaving a file
// behind when the recording never starts: the file is created (not
// truncated) at once, and removed again on destruction unless keep() was
// called, but only if this object created it. A file that existed before is
// left as it was until the writer truncates it.
#pragma once

#include <string>

namespace gp::record {

class PendingOutput {
 public:
  // Throws UserError("cannot write PATH: why") when the path cannot be
  // created or opened for writing (missing directory, read-only, a directory).
  explicit PendingOutput(std::string path);
  ~PendingOutput();
  PendingOutput(const PendingOutput&) = delete;
  PendingOutput& operator=(const PendingOutput&) = delete;

  void keep() { keep_ = true; }
  bool created() const { return created_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool created_ = false;
  bool keep_ = false;
};

}  // namespace gp::record
