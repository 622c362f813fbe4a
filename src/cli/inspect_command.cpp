#include <arrow/array.h>
#include <arrow/pretty_print.h>
#include <arrow/table.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/option_checks.h"
#include "orchard/common/error.h"
#include "orchard/pipeline/output_layout.h"
#include "orchard/table/parquet_io.h"

namespace orchard::cli {
namespace {

struct InspectArguments {
  std::string output;
  int rows = 5;
};

// Prints the schema, the row count and the first `rows` rows of the Parquet files listed under `key`.
void PrintTable(const OutputLayout& layout, const nlohmann::json& files, const std::string& title, int rows) {
  std::int64_t total = 0;
  std::shared_ptr<arrow::Schema> schema;
  arrow::RecordBatchVector head;
  std::int64_t head_rows = 0;
  for (const auto& name : files) {
    ReadParquetBatches(layout.root.child(name.get<std::string>()), [&](const auto& batch) {
      schema = batch->schema();
      total += batch->num_rows();
      if (head_rows < rows) {
        head.push_back(batch->Slice(0, std::min<std::int64_t>(rows - head_rows, batch->num_rows())));
        head_rows += head.back()->num_rows();
      }
    });
  }
  std::cout << "\n== " << title << ": " << total << " rows\n";
  if (!schema) return;
  std::cout << schema->ToString(/*show_metadata=*/false) << "\n";
  // Every row asked for (Arrow's window is per column: 3 showed 3 first and 3 last rows of any --rows), and
  // of a vector column only its first and last 3 values per row.
  arrow::PrettyPrintOptions rows_window(/*indent=*/2, /*window=*/std::max(rows, 1));
  arrow::PrettyPrintOptions vectors_window(/*indent=*/2, /*window=*/3);
  vectors_window.container_window = std::max(rows, 1);
  for (const auto& batch : head) {
    for (int c = 0; c < batch->num_columns(); ++c) {
      const auto& column = batch->column(c);
      const bool vectors = column->type()->num_fields() > 0;
      std::cout << batch->schema()->field(c)->name() << ":\n";
      if (!arrow::PrettyPrint(*column, vectors ? vectors_window : rows_window, &std::cout).ok())
        throw IoError("cannot print rows of " + title);
      std::cout << "\n";
    }
  }
}

}  // namespace

CommandAction RegisterInspectCommand(CLI::App& app) {
  auto* command =
      app.add_subcommand("inspect", "Print an output folder's manifest, schema, row counts and rows.");
  auto args = std::make_shared<InspectArguments>();
  command->add_option("output", args->output, "Output folder of `orchard run`")->required();
  command->add_option("--rows,-n", args->rows, "Rows to show per table")
      ->check(WholeNumberAtLeast(0))
      ->capture_default_str();
  return [args] {
    const OutputLayout layout{ResolveLocation(args->output)};
    const auto manifest = ReadRunManifest(layout);
    std::cout << "== _SUCCESS\n" << manifest.dump(2) << "\n";
    PrintTable(layout, manifest["files"]["features"], "features", args->rows);
    PrintTable(layout, manifest["files"]["errors"], "errors", args->rows);
    return kExitSuccess;
  };
}

}  // namespace orchard::cli
