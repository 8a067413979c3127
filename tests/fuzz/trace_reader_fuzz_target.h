// One fuzz input through everything that consumes a trace file: the reader
// (strict and truncated modes), and on success the analyses, both report
// formats and the Perfetto export. A TraceReadError is the correct answer to
// a bad file; anything else escaping (or a sanitizer report) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gp::trace::fuzz {

// Returns how many of the two read modes accepted the input (0, 1 or 2).
int run_one(const std::uint8_t* data, std::size_t size);

}  // namespace gp::trace::fuzz
