# Pinned versions of tools installed outside pip/apt (sourced by scripts).
export ORCHARD_SHARED="${ORCHARD_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}"
