#include "orchard/storage/input_listing.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/storage/arrow_status.h"

namespace orchard {
namespace {

bool IsHidden(const std::string& path, std::size_t root_length) {
  return path.find("/.", root_length) != std::string::npos;
}

void ListFolder(const Location& root, const std::function<bool(InputItem)>& emit) {
  arrow::fs::FileSelector selector;
  selector.base_dir = root.path;
  selector.recursive = true;
  auto infos = ValueOrThrow(root.fs->GetFileInfo(selector), root.uri());
  std::erase_if(infos, [&](const arrow::fs::FileInfo& info) {
    return info.type() == arrow::fs::FileType::Directory || IsHidden(info.path(), root.path.size());
  });
  std::sort(infos.begin(), infos.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  for (const auto& info : infos) {
    Location file{root.fs, info.path()};
    std::string label = file.parent().name();
    if (!emit({std::move(file), std::move(label)})) return;
  }
}

Location ResolveManifestEntry(const Location& manifest, const std::string& entry) {
  if (entry.find("://") != std::string::npos || entry.front() == '/') return ResolveLocation(entry);
  return manifest.parent().child(entry);
}

void ListManifest(const Location& manifest, const std::function<bool(InputItem)>& emit) {
  std::shared_ptr<arrow::Buffer> text;
  try {
    text = ReadAll(manifest);
  } catch (const InputError& e) {
    throw IoError(manifest.uri() + ": " + e.what());
  }
  std::istringstream lines(std::string(text->ToString()));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto tab = line.find('\t');
    Location file = ResolveManifestEntry(manifest, line.substr(0, tab));
    std::string label = tab == std::string::npos ? file.parent().name() : line.substr(tab + 1);
    if (!emit({std::move(file), std::move(label)})) return;
  }
}

}  // namespace

void ListInputs(const Location& root, const std::function<bool(InputItem)>& emit) {
  switch (GetEntryType(root)) {
    case EntryType::kDirectory:
      return ListFolder(root, emit);
    case EntryType::kFile:
      return ListManifest(root, emit);
    case EntryType::kMissing:
      throw IoError(root.uri() + ": no such file or folder");
  }
}

}  // namespace orchard
