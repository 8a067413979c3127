// Where a command writes: stdout or -o FILE, opened before anything is
// attached so an unwritable path fails first and cleanly.
#pragma once

#include <cstdio>
#include <string>

namespace gp {

class OutputFile {
 public:
  // "" or "-" is stdout. Throws UserError if the file cannot be created.
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::FILE* get() const { return f_; }
  void line(const std::string& s);  // writes s + '\n'
  void flush();

 private:
  std::FILE* f_ = nullptr;
  bool owned_ = false;
};

}  // namespace gp
