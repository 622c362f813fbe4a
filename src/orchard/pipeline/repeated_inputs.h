#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace orchard {

// Tells the inputs a listing names more than once (a repeated manifest line) from new ones, so each input is
// featurised once (one row; the PCA counts it once), and says what the user should hear about the repeats.
// Used by the listing thread only.
class RepeatedInputs {
 public:
  // Whether the input is listed for the first time. `path` is its path as the rows hold it (escaped where not
  // UTF-8), `raw_path` as listed, `label` its label: a repeat under another label keeps the first one.
  bool First(const std::string& path, const std::string& raw_path, const std::string& label);

  // For stderr, one line each, empty when every input was listed once: how many were repeated; how many
  // of those under another label than their first line's (which is kept), with an example; and every input
  // left out because its path, escaped, is another input's (a file named with the byte 0xE9 and one named
  // with the text "\xe9"), with the file to rename.
  std::vector<std::string> Notes() const;

 private:
  struct Seen {
    std::string label;
    std::string raw_path;  // empty when the listed path is the row's path (valid UTF-8)
  };
  std::unordered_map<std::string, Seen> seen_;
  std::int64_t repeated_ = 0;
  std::int64_t relabelled_ = 0;
  std::string relabelled_example_;
  std::vector<std::string> collisions_;
};

}  // namespace orchard
