# Pinned versions of tools installed outside pip/apt (sourced by scripts).
export ORCHARD_SHARED="${ORCHARD_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}"
# The S3-compatible server the object-storage tests and benchmark run against (a Go module, built from source).
export VERSITYGW_VERSION="v1.7.0"
# Plotting libraries inlined into `orchard eval`'s report.html (npm).
export VEGA_VERSION="5.33.1"
export VEGA_LITE_VERSION="5.23.0"
export VEGA_EMBED_VERSION="6.29.0"
