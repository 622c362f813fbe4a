#include "orchard/serve/oip_protocol.h"

#include <gtest/gtest.h>

#include <cstring>

namespace orchard::oip {
namespace {

using nlohmann::json;

const ModelInfo kModel{"fruit", "1", 33, 4};

std::string Header(const json& header) { return header.dump(); }

json ImagesInput(std::size_t n, std::size_t binary_size) {
  return {{"name", "images"},
          {"datatype", "BYTES"},
          {"shape", {n}},
          {"parameters", {{"binary_data_size", binary_size}}}};
}

TEST(OipProtocolTest, BytesElementsRoundTripWithLittleEndianLengthPrefixes) {
  const std::vector<std::string> elements = {"ab", "", std::string("\x00\xff", 2)};
  const std::string encoded = EncodeBytesElements(elements);
  ASSERT_EQ(encoded.size(), 3 * 4 + 4u);
  EXPECT_EQ(encoded.substr(0, 6), std::string("\x02\x00\x00\x00"
                                              "ab",
                                              6));
  EXPECT_EQ(DecodeBytesElements(encoded, 3), elements);
}

TEST(OipProtocolTest, BytesElementsRefuseLengthsPastTheEndAndLeftovers) {
  EXPECT_THROW(DecodeBytesElements(std::string("\x09\x00\x00\x00"
                                               "ab",
                                               6),
                                   1),
               ProtocolError);
  EXPECT_THROW(DecodeBytesElements(std::string("\x02\x00", 2), 1), ProtocolError);
  EXPECT_THROW(DecodeBytesElements(std::string("\x01\x00\x00\x00"
                                               "ab",
                                               6),
                                   1),
               ProtocolError);
}

TEST(OipProtocolTest, ParsesBinaryImagesAfterTheHeader) {
  const std::string binary = EncodeBytesElements(std::vector<std::string>{"img0", "image1"});
  const std::string header = Header(
      {{"id", "r1"},
       {"inputs", {ImagesInput(2, binary.size())}},
       {"parameters", {{"top_k", 3}}},
       {"outputs", {{{"name", "label"}, {"parameters", {{"binary_data", true}}}}, {{"name", "features"}}}}});
  const auto request = ParseInferRequest(header + binary, header.size(), kModel, 5, 8);
  EXPECT_EQ(request.id, "r1");
  EXPECT_EQ(request.images, (std::vector<std::string>{"img0", "image1"}));
  EXPECT_EQ(request.top_k, 3u);
  ASSERT_EQ(request.outputs.size(), 2u);
  EXPECT_EQ(request.outputs[0].name, "label");
  EXPECT_TRUE(request.outputs[0].binary);
  EXPECT_EQ(request.outputs[1].name, "features");
  EXPECT_FALSE(request.outputs[1].binary);
}

TEST(OipProtocolTest, ParsesJsonStringsAndDefaultsTheOutputs) {
  const std::string body =
      Header({{"inputs", {{{"name", "images"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {"abc"}}}}},
              {"parameters", {{"binary_data_output", true}, {"top_k", 100}}}});
  const auto request = ParseInferRequest(body, std::nullopt, kModel, 5, 8);
  EXPECT_EQ(request.images, std::vector<std::string>{"abc"});
  EXPECT_EQ(request.top_k, 33u);  // clamped to the labels
  ASSERT_EQ(request.outputs.size(), 4u);
  EXPECT_EQ(request.outputs[2].name, "top_k_probabilities");
  EXPECT_TRUE(request.outputs[2].binary);
  EXPECT_EQ(request.outputs[3].name, "unknown");
}

TEST(OipProtocolTest, RefusesMalformedRequestsNamingTheFault) {
  const auto refuses = [](const std::string& body, std::optional<std::size_t> length,
                          const std::string& words) {
    try {
      ParseInferRequest(body, length, kModel, 5, 2);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ProtocolError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  const std::string one = EncodeBytesElements(std::vector<std::string>{"x"});
  refuses("not json", std::nullopt, "not a JSON object");
  refuses(Header({{"inputs", {ImagesInput(1, one.size())}}}), 1000, "larger than the body");
  refuses(Header({{"inputs", {ImagesInput(1, 99)}}}) + one, 0, "");  // a header length that cuts the JSON
  refuses(Header({{"inputs", json::array()}}), std::nullopt, "one input");
  refuses(Header({{"inputs", {{{"name", "x"}, {"datatype", "BYTES"}, {"shape", {1}}}}}}), std::nullopt,
          "one input, \"images\"");
  refuses(Header({{"inputs", {{{"name", "images"}, {"datatype", "FP32"}, {"shape", {1}}}}}}), std::nullopt,
          "BYTES");
  refuses(Header({{"inputs", {{{"name", "images"}, {"datatype", "BYTES"}, {"shape", {1, 2}}}}}}),
          std::nullopt, "[N]");
  refuses(Header({{"inputs", {ImagesInput(3, one.size())}}}), std::nullopt, "between 1 and 2");
  const std::string h = Header({{"inputs", {ImagesInput(1, 99)}}});
  refuses(h + one, h.size(), "runs past the end");
  const std::string h2 = Header({{"inputs", {ImagesInput(1, one.size())}}});
  refuses(h2 + one + "zz", h2.size(), "belong to no input");
  const std::string h3 =
      Header({{"inputs", {ImagesInput(1, one.size())}}, {"outputs", {{{"name", "logits"}}}}});
  refuses(h3 + one, h3.size(), "unknown output \"logits\"");
  const std::string h4 = Header({{"inputs", {ImagesInput(1, one.size())}}, {"parameters", {{"top_k", 0}}}});
  refuses(h4 + one, h4.size(), "top_k");
}

float FloatAt(const std::string& data, std::size_t offset) {
  float value = 0;
  std::memcpy(&value, data.data() + offset, sizeof value);
  return value;
}

TEST(OipProtocolTest, EncodesJsonAndBinaryOutputsWithTheirShapes) {
  InferRequest request;
  request.id = "r9";
  request.top_k = 2;
  request.outputs = {
      {"label", false}, {"top_k_probabilities", true}, {"top_k_labels", false}, {"features", true}};
  std::vector<Recognition> results(2);
  results[0].top_k = {{"Kiwi", 0.75f}, {"Lemon", 0.25f}};
  results[0].features = {1, 2, 3, 4};
  results[1].top_k = {{"Lemon", 0.5f}, {"Kiwi", 0.5f}};
  results[1].features = {5, 6, 7, 8};
  const auto response = EncodeInferResponse(request, kModel, results);
  ASSERT_TRUE(response.header_length);
  const json header = json::parse(response.body.substr(0, *response.header_length));
  EXPECT_EQ(header["model_name"], "fruit");
  EXPECT_EQ(header["model_version"], "1");
  EXPECT_EQ(header["id"], "r9");
  const auto& outputs = header["outputs"];
  EXPECT_EQ(outputs[0]["data"], json({"Kiwi", "Lemon"}));
  EXPECT_EQ(outputs[0]["shape"], json({2}));
  EXPECT_EQ(outputs[1]["shape"], json({2, 2}));
  EXPECT_EQ(outputs[1]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(outputs[2]["data"], json({"Kiwi", "Lemon", "Lemon", "Kiwi"}));
  EXPECT_EQ(outputs[3]["shape"], json({2, 4}));
  EXPECT_EQ(outputs[3]["parameters"]["binary_data_size"], 32);
  const std::string binary = response.body.substr(*response.header_length);
  ASSERT_EQ(binary.size(), 48u);
  EXPECT_FLOAT_EQ(FloatAt(binary, 0), 0.75f);
  EXPECT_FLOAT_EQ(FloatAt(binary, 12), 0.5f);
  EXPECT_FLOAT_EQ(FloatAt(binary, 16), 1.0f);
  EXPECT_FLOAT_EQ(FloatAt(binary, 44), 8.0f);
}

TEST(OipProtocolTest, JsonOnlyResponseHasNoHeaderLength) {
  InferRequest request;
  request.top_k = 1;
  request.outputs = {{"label", false}};
  std::vector<Recognition> results(1);
  results[0].top_k = {{"Kiwi", 1.0f}};
  const auto response = EncodeInferResponse(request, kModel, results);
  EXPECT_FALSE(response.header_length);
  EXPECT_EQ(json::parse(response.body)["outputs"][0]["data"], json({"Kiwi"}));
}

TEST(OipProtocolTest, ModelMetadataDescribesTheInputAndOutputs) {
  const json metadata = ModelMetadata(kModel);
  EXPECT_EQ(metadata["name"], "fruit");
  EXPECT_EQ(metadata["versions"], json({"1"}));
  EXPECT_EQ(metadata["inputs"][0], json({{"name", "images"}, {"datatype", "BYTES"}, {"shape", {-1}}}));
  ASSERT_EQ(metadata["outputs"].size(), 6u);
  EXPECT_EQ(metadata["outputs"][3], json({{"name", "unknown"}, {"datatype", "BOOL"}, {"shape", {-1}}}));
  EXPECT_EQ(metadata["outputs"][5]["shape"], json({-1, 4}));
  EXPECT_EQ(ServerMetadata()["extensions"], json({"binary_tensor_data"}));
}

// An unknown fruit: label "" (a BYTES element cannot be null), unknown true, its score; binary BOOL is a
// byte.
TEST(OipProtocolTest, UnknownFruitHasAnEmptyLabelAndItsFlagAndScore) {
  InferRequest request;
  request.top_k = 1;
  request.outputs = {{"label", false}, {"unknown", false}, {"unknown_score", false}, {"unknown", true}};
  std::vector<Recognition> results(2);
  results[0].top_k = {{"Kiwi", 0.9f}};
  results[0].unknown_score = 12.5f;
  results[1].top_k = {{"Lemon", 0.6f}};
  results[1].unknown_score = 4000.0f;
  results[1].unknown = true;
  const auto response = EncodeInferResponse(request, kModel, results);
  ASSERT_TRUE(response.header_length);
  const json header = json::parse(response.body.substr(0, *response.header_length));
  const auto& outputs = header["outputs"];
  EXPECT_EQ(outputs[0]["data"], json({"Kiwi", ""}));
  EXPECT_EQ(outputs[1],
            json({{"name", "unknown"}, {"datatype", "BOOL"}, {"shape", {2}}, {"data", {false, true}}}));
  EXPECT_EQ(outputs[2]["data"], json({12.5, 4000.0}));
  EXPECT_EQ(outputs[3]["parameters"]["binary_data_size"], 2);
  EXPECT_EQ(response.body.substr(*response.header_length), std::string("\0\1", 2));
}

}  // namespace
}  // namespace orchard::oip
