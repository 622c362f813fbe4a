#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/recognition/recognizer.h"

// The Open Inference Protocol v2 (KServe, Triton, OpenVINO Model Server) over HTTP/REST, with the binary-data
// extension: a request or response body is a JSON header, optionally followed by the tensors' raw bytes, the
// header's length in the `Inference-Header-Content-Length` HTTP header. Parsing and encoding only: no socket.
namespace orchard::oip {

// The model as the protocol describes it. One input, "images" (BYTES [N], encoded JPEG/PNG/WebP), and the
// outputs "label" (BYTES [N], "" for an unknown fruit), "top_k_labels" (BYTES [N,k]), "top_k_probabilities"
// (FP32 [N,k]), "unknown" (BOOL [N]), and, only when asked for, "unknown_score" (FP32 [N], the open-set
// score; 0 without a detector) and "features" (FP32 [N,D]).
struct ModelInfo {
  std::string name;
  std::string version;  // the one version served
  std::size_t labels = 0;
  std::size_t feature_dim = 0;
};

inline constexpr std::string_view kInputName = "images";

// A request the protocol refuses (answered 400 with the message).
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RequestedOutput {
  std::string name;
  bool binary = false;  // raw bytes after the JSON header instead of a JSON "data" array
};

struct InferRequest {
  std::string id;                        // echoed in the response when non-empty
  std::vector<std::string> images;       // the N encoded images, in order
  std::size_t top_k = 0;                 // clamped to [1, labels]
  std::vector<RequestedOutput> outputs;  // what to answer, in order (the defaults when none were named)
};

// Parses an infer request body. `header_length` is the Inference-Header-Content-Length value when present
// (the JSON header's size; the rest of the body holds the binary inputs). BYTES elements are either JSON
// strings (their UTF-8 bytes) or, as binary data, 4-byte little-endian lengths each followed by that many
// bytes. Accepts the request parameters "top_k" (positive integer, default `default_top_k`) and
// "binary_data_output" (bool), and per-output "binary_data". Throws ProtocolError naming the fault for a
// malformed header, a wrong input name/datatype/shape, sizes that do not match the body, an unknown output,
// or more than `max_images` images.
InferRequest ParseInferRequest(std::string_view body, std::optional<std::size_t> header_length,
                               const ModelInfo& model, std::size_t default_top_k, std::size_t max_images);

struct EncodedResponse {
  std::string body;
  std::optional<std::size_t> header_length;  // set when binary outputs follow the JSON header
};

// Encodes the results (one per image of `request`, all ok, each with request.top_k entries, and with
// features when "features" was requested) as an infer response.
EncodedResponse EncodeInferResponse(const InferRequest& request, const ModelInfo& model,
                                    std::span<const Recognition> results);

// GET /v2: {"name", "version", "extensions"}.
nlohmann::json ServerMetadata();

// GET /v2/models/{name}[/versions/{v}]: {"name", "versions", "platform", "inputs", "outputs"}, dynamic
// dimensions as -1.
nlohmann::json ModelMetadata(const ModelInfo& model);

// BYTES tensor contents in the binary form: each element as a 4-byte little-endian length, then its bytes.
std::string EncodeBytesElements(std::span<const std::string> elements);
// The inverse; throws ProtocolError when a length runs past the end or `count` elements do not fill `data`.
std::vector<std::string> DecodeBytesElements(std::string_view data, std::size_t count);

}  // namespace orchard::oip
