// Opening a model file through OpenVINO's frontends (ModelSource, model_graph.h).

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <openvino/core/except.hpp>
#include <string>
#include <system_error>

#include "orchard/common/error.h"
#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

// Refuses, before any search or conversion, a model that is not one image in: orchard feeds exactly one
// 3-channel picture per batch row.
void CheckImageInput(const ov::frontend::InputModel& model, const std::filesystem::path& path) {
  const auto inputs = model.get_inputs();
  if (inputs.size() != 1) {
    std::string names;
    for (const auto& input : inputs) {
      const auto input_names = input->get_names();
      names += (names.empty() ? "" : ", ") + (input_names.empty() ? std::string("?") : input_names.front());
    }
    ThrowModelError(path, "expected one image input, the model has " + std::to_string(inputs.size()) +
                              (names.empty() ? "" : " (" + names + ")"));
  }
  const ov::PartialShape shape = model.get_partial_shape(inputs[0]);
  if (shape.rank().is_dynamic()) return;  // known only after conversion; ReadInput checks it then
  if (const auto problem = InputShapeProblem(shape); !problem.empty()) ThrowModelError(path, problem);
}

// Returns true when the single image input had a dynamic height or width, now fixed at 224: a graph's shapes
// are then known down to its pooling op, so the feature tensor can be found.
bool FixSpatialSize(ov::frontend::InputModel& model) {
  const auto inputs = model.get_inputs();
  if (inputs.size() != 1) return false;
  ov::PartialShape shape = model.get_partial_shape(inputs[0]);
  if (shape.rank().is_dynamic() || shape.size() != 4) return false;
  const bool nchw = shape[1] == 3;
  if (!nchw && shape[3] != 3) return false;
  const std::size_t h = nchw ? 2 : 1;
  if (shape[h].is_static() && shape[h + 1].is_static()) return false;
  for (const std::size_t axis : {h, h + 1}) {
    if (shape[axis].is_dynamic()) shape[axis] = kDefaultSide;
  }
  model.set_partial_shape(inputs[0], shape);
  return true;
}

// Why a file neither frontend takes cannot be used, and what to give instead: a user with an OpenVINO IR, a
// Keras or a PyTorch file needs the export step, not "cannot read".
std::string UnreadableFormatReason(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  char head[256] = {};
  std::ifstream(path, std::ios::binary).read(head, sizeof head - 1);
  const std::string_view start(head);
  if (extension == ".xml" || start.find("<net ") != std::string_view::npos) {
    return "an OpenVINO IR file, which orchard does not read: it searches an ONNX or TFLite graph for the "
           "feature tensor; give it the ONNX or TFLite file the IR was converted from";
  }
  if (extension == ".keras" || extension == ".h5") {
    return "a Keras file: export it to ONNX (tf2onnx) or to TFLite (TFLiteConverter) first (docs/models.md)";
  }
  if (extension == ".pt" || extension == ".pth")
    return "a PyTorch file: export it to ONNX (torch.onnx.export) first";
  return "neither ONNX nor TFLite, the formats orchard reads";
}

}  // namespace

std::string ShortReason(const std::exception& error) {
  // OpenVINO prefixes "Exception from src/...cpp:NN:" and check names; the last non-empty line is the reason.
  std::string_view text = error.what();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const auto line_start = text.rfind('\n');
  if (line_start != std::string_view::npos) text.remove_prefix(line_start + 1);
  constexpr std::size_t kMaxLength = 300;
  return std::string(text.substr(0, kMaxLength));
}

// What is wrong with an ONNX model's external data file, from OpenVINO's message about it ("... externally
// stored data in file (NAME, offset: O, data_length: L)", the same for a missing and a short file); empty
// when the message names none or the file looks whole.
std::string ExternalDataReason(const std::filesystem::path& path, const std::string& message) {
  // Parsed by hand: GCC 12's <regex> does not build under -Werror with the sanitizers' -O1.
  constexpr std::string_view kStart = "externally stored data in file (",
                             kOffset = ", offset: ", kLength = ", data_length: ";
  const auto start = message.find(kStart);
  const auto offset = message.find(kOffset, start);
  const auto length = message.find(kLength, offset);
  if (start == std::string::npos || offset == std::string::npos || length == std::string::npos) return "";
  const std::string name = message.substr(start + kStart.size(), offset - start - kStart.size());
  std::uint64_t needed = 0;
  try {
    needed = std::stoull(message.substr(offset + kOffset.size())) +
             std::stoull(message.substr(length + kLength.size()));
  } catch (const std::logic_error&) {
    return "";  // not the message this reads: the caller keeps OpenVINO's own
  }
  const std::filesystem::path data = path.parent_path() / name;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(data, ec)) {
    return "its weights are stored outside it (ONNX external data) in " + name + ", which is not in " +
           data.parent_path().string() +
           " (the model's folder; for a symbolic link, the link's): copy the data file beside the model";
  }
  const auto size = std::filesystem::file_size(data, ec);
  if (!ec && size < needed) {
    return "its external data file " + data.string() + " holds " + std::to_string(size) +
           " bytes, and the model reads up to byte " + std::to_string(needed) +
           ": the data file is truncated";
  }
  return "";
}

void ThrowModelError(const std::filesystem::path& path, const std::string& reason) {
  throw ModelError("model " + path.string() + ": " + reason);
}

ModelSource ModelSource::Open(const std::filesystem::path& path, QuantisedOps quantised_ops) {
  ModelSource source;
  source.path = path;
  source.quantised_ops = quantised_ops;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    ThrowModelError(path, std::filesystem::exists(path, ec)
                              ? "not a regular file (a folder, FIFO, socket or device)"
                              : "no such file");
  }
  try {
    // Only the two formats orchard supports are asked: load_by_model would also let the TensorFlow frontend
    // probe the file, which logs parse errors to stderr for anything that is not a TensorFlow graph.
    for (const char* framework : {"onnx", "tflite"}) {
      auto frontend = source.manager.load_by_framework(framework);
      if (frontend->supported(path.string())) {
        source.frontend = std::move(frontend);
        break;
      }
    }
    if (source.frontend != nullptr && source.frontend->get_name() == "onnx")
      AddOnnxWorkarounds(*source.frontend, quantised_ops);
  } catch (const ov::Exception& error) {
    ThrowModelError(path, ShortReason(error));
  }
  if (source.frontend == nullptr) ThrowModelError(path, UnreadableFormatReason(path));
  ov::frontend::InputModel::Ptr model;
  try {
    model = source.frontend->load(path.string());
  } catch (const ov::Exception& error) {
    const std::string external = ExternalDataReason(path, ShortReason(error));
    ThrowModelError(path, !external.empty() ? external
                                            : "cannot be read as " + source.frontend->get_name() +
                                                  " (truncated or corrupt?): " + ShortReason(error));
  }
  try {
    CheckImageInput(*model, path);
    source.spatial_size_fixed = FixSpatialSize(*model);
  } catch (const ov::Exception& error) {
    ThrowModelError(path, ShortReason(error));
  }
  return source;
}

ov::frontend::InputModel::Ptr ModelSource::Load() const {
  auto model = frontend->load(path.string());
  FixSpatialSize(*model);
  return model;
}

ChannelAxis ModelSource::GraphChannelAxis() const {
  return frontend->get_name() == "tflite" ? ChannelAxis::kLast : ChannelAxis::kFirst;
}

}  // namespace orchard
