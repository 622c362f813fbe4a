#include "orchard/audit/exact_duplicates.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace orchard {
namespace {

std::string_view Bytes(std::span<const float> vector) {
  return {reinterpret_cast<const char*>(vector.data()), vector.size_bytes()};
}

}  // namespace

nlohmann::json ExactDuplicateGroups(const CosineIndex& index) {
  // Rows by hash, then each hash's rows split into groups of equal vectors (a collision is not a copy).
  std::unordered_map<std::size_t, std::vector<std::vector<std::int64_t>>> by_hash;
  for (std::size_t row = 0; row < index.size(); ++row) {
    const auto key = static_cast<std::int64_t>(row);
    const std::string_view bytes = Bytes(index.Vector(key));
    auto& groups = by_hash[std::hash<std::string_view>{}(bytes)];
    auto same =
        std::ranges::find_if(groups, [&](const auto& g) { return Bytes(index.Vector(g.front())) == bytes; });
    if (same == groups.end()) {
      groups.push_back({key});
    } else {
      same->push_back(key);
    }
  }
  std::vector<nlohmann::json> entries;
  for (const auto& [hash, groups] : by_hash) {
    for (const auto& rows : groups) {
      if (rows.size() < 2) continue;
      std::vector<std::pair<std::string, std::string>> members;
      for (const std::int64_t row : rows) {
        const auto at = static_cast<std::size_t>(row);
        members.emplace_back(index.keys().paths[at], index.keys().labels[at]);
      }
      std::ranges::sort(members);
      std::set<std::string> labels;
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [path, label] : members) {
        labels.insert(label);
        list.push_back({{"path", path}, {"label", label}});
      }
      entries.push_back(
          {{"size", rows.size()}, {"label_count", labels.size()}, {"members", std::move(list)}});
    }
  }
  std::ranges::sort(entries, [](const nlohmann::json& a, const nlohmann::json& b) {
    if (a.at("size") != b.at("size"))
      return a.at("size").get<std::size_t>() > b.at("size").get<std::size_t>();
    return a.at("members")[0].at("path").get<std::string>() <
           b.at("members")[0].at("path").get<std::string>();
  });
  return entries;
}

}  // namespace orchard
