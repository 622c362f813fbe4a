#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/option_checks.h"
#include "cli/signals.h"
#include "orchard/serve/http_service.h"

namespace orchard::cli {
namespace {

struct ServeArguments {
  ServeOptions options;
  double max_wait_ms = 0.0;  // ServeOptions::max_wait
  int poll_seconds = 30;
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  int idle_timeout_s = 5;
  int header_timeout_s = 10;
  int drain_seconds = 0;
};

}  // namespace

CommandAction RegisterServeCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("serve",
                         "Serve a bundle over HTTP: POST /v1/predict, POST /v1/embed, POST /v1/similar, GET "
                         "/healthz, GET /metrics, GET /, and the "
                         "Open Inference Protocol v2 under /v2.");
  auto args = std::make_shared<ServeArguments>();
  auto& o = args->options;
  auto* bundle =
      command->add_option("--bundle,-b", o.bundle,
                          "Bundle folder written by `orchard train` (or an s3:// prefix), served as "
                          "version 1");
  auto* repository =
      command
          ->add_option(
              "--model-repository", o.model_repository,
              "Folder or s3:// prefix of NAME/VERSION/ bundle folders (NAME: --model-name): the highest "
              "version is served, a newer one is swapped in when it appears")
          ->excludes(bundle);
  bundle->excludes(repository);
  command->add_option("--s3-endpoint", o.s3_endpoint,
                      "S3-compatible endpoint for s3:// sources (default: AWS_ENDPOINT_URL_S3 or "
                      "AWS_ENDPOINT_URL, else AWS); credentials come from the AWS credential chain");
  command
      ->add_option("--poll-seconds", args->poll_seconds,
                   "How often the model repository is listed for a newer version (0: never)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  command->add_option("--port,-p", o.port, "TCP port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--host", o.host, "Address to listen on")->capture_default_str();
  command->add_option("--max-body-bytes", o.max_body_bytes, "Larger request bodies get 413")
      ->check(WholeNumberAtLeast(1))
      ->capture_default_str();
  command->add_option("--max-batch", o.max_batch, "Most images per model call")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  command
      ->add_option("--max-wait-ms", args->max_wait_ms,
                   "How long a request may wait for others to fill its batch")
      ->check(NumberBetween(0.0, 1000.0))
      ->capture_default_str();
  command
      ->add_option("--max-connections", o.max_connections,
                   "Connections served at once (a thread each); more wait in the listen backlog")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  command
      ->add_option(
          "--max-requests", o.max_requests,
          "Requests whose body, images and results are in memory at once; more wait before their body "
          "is read (0 = 2 x max-batch)")
      ->check(WholeNumberAtLeast(0))
      ->capture_default_str();
  command->add_option("--decode-threads", o.decode_threads, "Images decoded at once (0 = one per core)")
      ->check(WholeNumberAtLeast(0))
      ->capture_default_str();
  command->add_option("--model-threads", o.model_threads, "Inference threads (0 = OpenVINO's choice)")
      ->check(WholeNumberAtLeast(0))
      ->capture_default_str();
  command
      ->add_option("--model-name", o.model_name,
                   "The model's name in the /v2 protocol and in the model repository")
      ->capture_default_str();
  command
      ->add_option("--max-pixels", o.max_pixels,
                   "Refuse images announcing more pixels than this (decompression bombs), before decoding")
      ->check(WholeNumberAtLeast(1))
      ->capture_default_str();
  command
      ->add_option("--read-timeout-s", args->read_timeout_s, "Longest wait for the next bytes of a request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--write-timeout-s", args->write_timeout_s,
                   "Longest wait for the client to take the next response bytes")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--idle-timeout-s", args->idle_timeout_s, "Keep-alive: longest wait for the next request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--header-timeout-s", args->header_timeout_s,
                   "Longest time from a request's first byte to the end of its headers (slow clients are "
                   "cut)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  command
      ->add_option("--drain-seconds", args->drain_seconds,
                   "On SIGTERM: answer not-ready but keep serving this long before closing (a second signal "
                   "stops at once)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  command->add_option("--index", o.index,
                      "Output of `orchard run`, indexed by `orchard index` with the bundle's model, that "
                      "POST /v1/similar searches");
  command
      ->add_option("--auth-token-file", o.auth_token_file,
                   "File holding a token every request but the health checks must send as "
                   "\"Authorization: Bearer <token>\"")
      ->check(CLI::ExistingFile);
  return [args] {
    ServeOptions options = args->options;
    options.max_wait = std::chrono::microseconds(static_cast<std::int64_t>(args->max_wait_ms * 1000.0));
    options.read_timeout = std::chrono::seconds(args->read_timeout_s);
    options.write_timeout = std::chrono::seconds(args->write_timeout_s);
    options.idle_timeout = std::chrono::seconds(args->idle_timeout_s);
    options.header_timeout = std::chrono::seconds(args->header_timeout_s);
    options.drain_period = std::chrono::seconds(args->drain_seconds);
    options.poll_period = std::chrono::seconds(args->poll_seconds);
    const auto& stop = InstallStopHandler();
    Serve(options, stop, std::cerr);
    std::cerr << "orchard: stopped\n";
    return kExitSuccess;
  };
}

}  // namespace orchard::cli
