#include "orchard/pipeline/repeated_inputs.h"

namespace orchard {

bool RepeatedInputs::First(const std::string& path, const std::string& raw_path, const std::string& label) {
  const auto [seen, inserted] = seen_.try_emplace(path, Seen{label, raw_path == path ? "" : raw_path});
  if (inserted) return true;
  const std::string& first_raw = seen->second.raw_path.empty() ? path : seen->second.raw_path;
  if (raw_path != first_raw) {
    collisions_.push_back(raw_path);
    return false;
  }
  ++repeated_;
  if (label != seen->second.label && relabelled_++ == 0) {
    relabelled_example_ = path + ": '" + seen->second.label + "' kept, '" + label + "' ignored";
  }
  return false;
}

std::vector<std::string> RepeatedInputs::Notes() const {
  std::vector<std::string> notes;
  if (repeated_ > 0) {
    notes.push_back(std::to_string(repeated_) +
                    " inputs were listed more than once; each is featurised once");
  }
  if (relabelled_ > 0) {
    notes.push_back(std::to_string(relabelled_) +
                    " of them were listed again under another label; the first line's label is kept (" +
                    relabelled_example_ + ")");
  }
  for (const auto& raw : collisions_) {
    notes.push_back("input " + raw +
                    " is left out: its path, written as UTF-8, is another input's; rename it");
  }
  return notes;
}

}  // namespace orchard
