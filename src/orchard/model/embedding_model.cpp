#include "orchard/model/embedding_model.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <openvino/core/except.hpp>
#include <openvino/core/graph_util.hpp>
#include <openvino/runtime/core.hpp>
#include <openvino/runtime/properties.hpp>
#include <stdexcept>
#include <vector>

#include "orchard/common/error.h"
#include "orchard/common/threads.h"
#include "orchard/model/model_graph.h"

namespace orchard {
namespace {

ov::AnyMap CompileProperties(const ModelOptions& options, const FeatureGraph& graph, bool throughput) {
  // One caller: LATENCY runs a batch on all cores in one stream (THROUGHPUT would leave a single request on
  // one core's stream: half the speed). Several callers: a stream each.
  ov::AnyMap properties{ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY)};
  if (throughput) {
    properties = {ov::hint::performance_mode(ov::hint::PerformanceMode::THROUGHPUT)};
    if (options.streams > 0) properties.emplace(ov::num_streams(options.streams));
  }
  switch (options.precision) {
    case Precision::kF32:
      // Without this the CPU plugin runs bf16 on AVX-512 BF16 machines and features depend on the CPU.
      properties.emplace(ov::hint::inference_precision(ov::element::f32));
      break;
    case Precision::kBf16:
      properties.emplace(ov::hint::inference_precision(ov::element::bf16));
      break;
    case Precision::kInt8:
      // The CPU plugin runs int8 kernels where it fuses the graph's quantisation (QDQ, ONNX QLinearConv and
      // a TFLite file with int8 weights: yes, see QuantisedOps; the shared uint8 TFLite with its asymmetric
      // uint8 weights: no, and NotesText says so); there is no "int8 hint" that could quantise a float model
      // without calibration data.
      if (!graph.contract.quantised) {
        throw UsageError("int8 needs a quantised model (e.g. quantise it with NNCF); " +
                         options.path.string() + " has no quantisation");
      }
      // A dynamic-range TFLite at the int8 hint gave features at cosine 0.5-0.9 to LiteRT, different at
      // every run (newcomer, OpenVINO 2026.4, several streams): nothing there for int8 kernels to run.
      if (!graph.contract.activations_quantised) {
        throw UsageError(
            "int8 needs a model whose activations are quantised (a full-integer TFLite, a QDQ or "
            "QOperator ONNX model); " +
            options.path.string() + " quantises its weights only (dynamic range): run it at f32 or bf16");
      }
      break;
  }
  if (options.threads > 0) properties.emplace(ov::inference_num_threads(options.threads));
  // With fewer threads than cores the process shares the machine (Spark task slots, several services):
  // OpenVINO would pin every such process's threads to the same first cores, and two 1-thread Spark workers
  // on 2 cores then ran at the speed of one (bench/results/spark_vs_run-*.txt). The OS scheduler spreads them
  // instead.
  if (options.threads > 0 && options.threads < ThreadsOrCores())
    properties.emplace(ov::hint::enable_cpu_pinning(false));
  return properties;
}

std::shared_ptr<ov::Model> WithBatch(const std::shared_ptr<ov::Model>& model, std::size_t batch) {
  std::shared_ptr<ov::Model> fixed = model->clone();
  ov::PartialShape shape = fixed->input().get_partial_shape();
  shape[0] = static_cast<ov::Dimension::value_type>(batch);  // N leads in both NCHW and NHWC
  fixed->reshape(shape);
  return fixed;
}

// The runtime precision of most convolutions and matrix products of `compiled`. The keys are those of
// ov::exec_model_info (LAYER_TYPE, RUNTIME_PRECISION), whose header the PyPI wheel does not ship.
std::string ComputePrecisionOf(const ov::CompiledModel& compiled) {
  std::map<std::string, int> counts;
  for (const auto& op : compiled.get_runtime_model()->get_ordered_ops()) {
    const auto& info = op->get_rt_info();
    const auto type = info.find("layerType");
    const auto precision = info.find("runtimePrecision");
    if (type == info.end() || precision == info.end()) continue;
    const auto name = type->second.as<std::string>();
    if (name == "Convolution" || name == "FullyConnected" || name == "MatMul")
      ++counts[precision->second.as<std::string>()];
  }
  const auto most = std::max_element(counts.begin(), counts.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  return most == counts.end() ? std::string() : most->first;
}

// The note of an int8 run whose convolutions run in `runs` (ComputePrecisionOf) rather than in int8; "" when
// they do run in int8.
std::string Int8Note(const std::string& runs) {
  if (runs.empty() || runs == "u8" || runs == "i8") return "";
  return "orchard: int8: OpenVINO runs this model's convolutions in " + runs +
         ", not int8: the CPU plugin did not fuse its quantisation into int8 kernels (a QDQ model, as NNCF "
         "writes, is fused), so speed and features are those of a " +
         runs + " run\n";
}

// OpenVINO's int8 convolutions on a CPU without VNNI (AVX-512 VNNI, AVX-VNNI) multiply u8 by s8 and add each
// pair in 16 bits (vpmaddubsw), which saturates with full-range int8 weights. NNCF quantises for such CPUs
// with its "overflow fix" (7-bit weights); the default model is not: its int8 features fell to cosine 0.57
// min / 0.81 mean to f32 on an AMD EPYC Zen 3 (AVX2 only), against 0.98 / 0.99 with VNNI.
bool CpuHasInt8DotProducts() {
  return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
}

constexpr const char* kNoVnniNote =
    "orchard: int8: this CPU has no VNNI instructions (AVX-512 VNNI or AVX-VNNI), where OpenVINO's int8 "
    "convolutions saturate with full-range int8 weights, so the model's quantised operators run dequantised "
    "in f32: its exact features, at f32 speed\n";

ov::Shape BatchShape(const ModelContract& contract, std::size_t n) {
  const auto h = static_cast<std::size_t>(contract.height);
  const auto w = static_cast<std::size_t>(contract.width);
  return contract.input_layout == TensorLayout::kNchw ? ov::Shape{n, 3, h, w} : ov::Shape{n, h, w, 3};
}

}  // namespace

std::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kF32:
      return "f32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
  }
  return "unknown";
}

Precision ParsePrecision(std::string_view name) {
  for (Precision p : {Precision::kF32, Precision::kBf16, Precision::kInt8}) {
    if (name == PrecisionName(p)) return p;
  }
  throw UsageError("unknown precision '" + std::string(name) + "' (expected f32, bf16 or int8)");
}

struct EmbeddingModel::Impl {
  ModelSource source;  // first: the frontend library outlives everything made from it
  FeatureGraph graph;
  ov::Core core;
  std::size_t batch_size = 0;
  std::vector<std::size_t> compiled_batches;  // ascending, batch_size last

  struct Slot {
    ov::InferRequest request;
    std::vector<float> padded;  // a short batch, filled up with zeros to its compiled batch
  };
  // The model compiled for one batch, with its infer requests.
  struct Compiled {
    std::size_t batch = 0;  // the images of one inference
    ov::CompiledModel model;
    std::vector<Slot> slots;
    std::vector<Slot*> free_slots;
  };
  std::vector<Compiled> compiled;  // as compiled_batches; never resized later
  std::string int8_note;           // an int8 run's Int8Note(); "" at other precisions
  std::mutex slots_mutex;
  std::condition_variable slot_freed;

  Slot& Acquire(Compiled& target) {
    std::unique_lock lock(slots_mutex);
    slot_freed.wait(lock, [&target] { return !target.free_slots.empty(); });
    Slot& slot = *target.free_slots.back();
    target.free_slots.pop_back();
    return slot;
  }
  void Release(Compiled& target, Slot& slot) {
    {
      std::lock_guard lock(slots_mutex);
      target.free_slots.push_back(&slot);
    }
    slot_freed.notify_all();  // waiters of several compiled batches share the condition
  }

  // The index in `compiled` of the model a call of n <= batch_size images runs on.
  std::size_t IndexFor(std::size_t n) const {
    std::size_t i = 0;
    while (i + 1 < compiled.size() && compiled[i].batch < n) ++i;
    return i;
  }

  // Compiles graph at `batch` and makes its infer requests (THROUGHPUT: as many as options.streams asks).
  void Compile(const ModelOptions& options, const ov::AnyMap& properties, bool throughput, std::size_t batch);
  // Runs one compiled batch on at most target.batch images.
  void Infer(const Compiled& target, Slot& slot, std::span<const float> images, std::span<float> features);
};

namespace {

// The static batches to compile: batch_size and the extra ones under it, ascending.
std::vector<std::size_t> StaticBatches(const ModelOptions& options, std::size_t batch_size, bool hard_coded) {
  std::vector<std::size_t> batches{batch_size};
  if (!hard_coded) {
    for (const std::size_t extra : options.extra_batches)
      if (extra > 0 && extra < batch_size) batches.push_back(extra);
  }
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  return batches;
}

}  // namespace

void EmbeddingModel::Impl::Compile(const ModelOptions& options, const ov::AnyMap& properties, bool throughput,
                                   std::size_t batch) {
  Compiled& target = compiled.emplace_back();
  target.batch = batch;
  target.model = core.compile_model(WithBatch(graph.model, batch), "CPU", properties);
  std::uint32_t requests = 1;
  if (throughput) {
    requests = options.streams > 0 ? static_cast<std::uint32_t>(options.streams)
                                   : target.model.get_property(ov::optimal_number_of_infer_requests);
  }
  target.slots.resize(std::max<std::uint32_t>(requests, 1));
  for (auto& slot : target.slots) {
    slot.request = target.model.create_infer_request();
    target.free_slots.push_back(&slot);
  }
}

EmbeddingModel::EmbeddingModel(const ModelOptions& options) : impl_(std::make_unique<Impl>()) {
  if (options.batch_size == 0) throw UsageError("model batch size must be positive");
  if (options.streams < 0) throw UsageError("streams must be 0 (automatic) or more");
  const bool int8_kernels = options.precision == Precision::kInt8 && CpuHasInt8DotProducts();
  impl_->source =
      ModelSource::Open(options.path, int8_kernels ? QuantisedOps::kInt8Kernels : QuantisedOps::kExact);
  impl_->graph = BuildFeatureGraph(impl_->source, options.feature_tensor);
  const ModelContract& contract = impl_->graph.contract;
  impl_->batch_size = contract.BatchFor(options.batch_size);
  impl_->compiled_batches = StaticBatches(options, impl_->batch_size, !contract.batch_follows_input);
  const bool throughput = options.streams != 1;
  const ov::AnyMap properties = CompileProperties(options, impl_->graph, throughput);
  try {
    impl_->compiled.reserve(impl_->compiled_batches.size());  // the slots' pointers must stay valid
    for (const std::size_t batch : impl_->compiled_batches)
      impl_->Compile(options, properties, throughput, batch);
  } catch (const ov::Exception& error) {
    ThrowModelError(options.path, "cannot compile for CPU: " + ShortReason(error));
  }
  if (options.precision == Precision::kInt8) {  // the runtime graph is walked only where the note can apply
    impl_->int8_note =
        int8_kernels ? Int8Note(ComputePrecisionOf(impl_->compiled.front().model)) : kNoVnniNote;
  }
}

EmbeddingModel::~EmbeddingModel() = default;
EmbeddingModel::EmbeddingModel(EmbeddingModel&&) noexcept = default;
EmbeddingModel& EmbeddingModel::operator=(EmbeddingModel&&) noexcept = default;

const ModelContract& EmbeddingModel::contract() const { return impl_->graph.contract; }
TensorLayout EmbeddingModel::input_layout() const { return impl_->graph.contract.input_layout; }
int EmbeddingModel::input_width() const { return impl_->graph.contract.width; }
int EmbeddingModel::input_height() const { return impl_->graph.contract.height; }
std::size_t EmbeddingModel::feature_dim() const { return impl_->graph.contract.feature_dim; }
const std::string& EmbeddingModel::feature_tensor() const { return impl_->graph.contract.feature_tensor; }
std::size_t EmbeddingModel::batch_size() const { return impl_->batch_size; }
int EmbeddingModel::streams() const { return static_cast<int>(impl_->compiled.back().slots.size()); }
const std::vector<std::size_t>& EmbeddingModel::compiled_batches() const { return impl_->compiled_batches; }

std::string EmbeddingModel::NotesText() const { return contract().NotesText() + impl_->int8_note; }

std::size_t EmbeddingModel::CompiledBatchFor(std::size_t n) const {
  return impl_->compiled[impl_->IndexFor(std::min(n, impl_->batch_size))].batch;
}

void EmbeddingModel::Embed(std::span<const float> batch, std::size_t n, std::span<float> features) {
  const ModelContract& contract = impl_->graph.contract;
  const std::size_t image_size = contract.image_size();
  const std::size_t dim = contract.feature_dim;
  if (batch.size() != n * image_size) {
    throw std::invalid_argument("Embed: batch holds " + std::to_string(batch.size()) + " floats, expected " +
                                std::to_string(n) + " x " + std::to_string(image_size));
  }
  if (features.size() != n * dim) {
    throw std::invalid_argument("Embed: features holds " + std::to_string(features.size()) +
                                " floats, expected " + std::to_string(n) + " x " + std::to_string(dim));
  }
  if (n == 0) return;
  for (std::size_t start = 0; start < n; start += impl_->batch_size) {
    const std::size_t m = std::min(impl_->batch_size, n - start);
    Impl::Compiled& target = impl_->compiled[impl_->IndexFor(m)];
    // The infer request goes back to its pool however the call ends.
    const auto release = [this, &target](Impl::Slot* slot) { impl_->Release(target, *slot); };
    const std::unique_ptr<Impl::Slot, decltype(release)> slot(&impl_->Acquire(target), release);
    impl_->Infer(target, *slot, batch.subspan(start * image_size, m * image_size),
                 features.subspan(start * dim, m * dim));
  }
}

void EmbeddingModel::Impl::Infer(const Compiled& target, Slot& slot, std::span<const float> images,
                                 std::span<float> features) {
  const ModelContract& contract = graph.contract;
  const float* input = images.data();
  std::size_t rows = images.size() / contract.image_size();
  if (rows < target.batch) {
    slot.padded.assign(target.batch * contract.image_size(), 0.0F);
    std::copy(images.begin(), images.end(), slot.padded.begin());
    input = slot.padded.data();
    rows = target.batch;
  }
  try {
    // Wraps the caller's memory: OpenVINO only reads an input tensor, so casting away const is safe.
    slot.request.set_input_tensor(
        ov::Tensor(ov::element::f32, BatchShape(contract, rows), const_cast<float*>(input)));
    slot.request.infer();
    const ov::Tensor output = slot.request.get_output_tensor();
    // The graph was checked to give [rows, dim]; a mismatch must never turn into a read past its end.
    const ov::Shape expected{rows, contract.feature_dim};
    if (output.get_element_type() != ov::element::f32 || output.get_shape() != expected) {
      ThrowModelError(source.path, "inference gave an output of " + output.get_shape().to_string() + " " +
                                       output.get_element_type().to_string() + ", expected " +
                                       expected.to_string() + " f32");
    }
    const float* values = output.data<const float>();
    std::copy(values, values + features.size(), features.begin());
  } catch (const ov::Exception& error) {
    ThrowModelError(source.path, "inference failed: " + ShortReason(error));
  }
}

void EmbeddingModel::SaveAsIr(const std::filesystem::path& xml) const {
  // The .xml and its implied .bin are replaced only as an earlier export of orchard's (its rt_info says so),
  // never through a symbolic link, and never a user's own IR.
  constexpr std::string_view kMark = "orchard_export";
  const auto bin = std::filesystem::path(xml).replace_extension(".bin");
  std::error_code error;
  for (const auto& file : {xml, bin}) {
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(file, error)))
      throw UsageError(file.string() +
                       " is a symbolic link: an export writes no file through one; choose another --output");
  }
  const bool xml_exists = std::filesystem::exists(xml, error);
  if (std::filesystem::exists(bin, error) && !xml_exists) {
    throw UsageError(
        bin.string() + " exists without " + xml.filename().string() +
        ": it is not an earlier export's weights, so it is not replaced; choose another --output");
  }
  if (xml_exists) {
    std::ifstream in(xml, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    if (text.find(kMark) == std::string::npos)
      throw UsageError(
          xml.string() +
          " exists and is no export of orchard's, so it is not replaced; choose another --output");
  }
  try {
    const auto exported = impl_->graph.model->clone();
    exported->set_rt_info(std::string(ORCHARD_VERSION), std::string(kMark));
    // No fp16 compression: the IR's weights stay the ones orchard computes with.
    ov::save_model(exported, xml, /*compress_to_fp16=*/false);
  } catch (const ov::Exception& error) {
    throw IoError(xml.string() + ": cannot write the model as OpenVINO IR: " + ShortReason(error));
  }
}

}  // namespace orchard
