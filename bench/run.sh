#!/usr/bin/env bash
# make bench: the proxy's overhead (added latency, throughput), then the
# comparison of scheduling policies in the simulator and live, batchproxy in
# front of each backend protocol, scaling out over several backends, clients,
# fairness and overload, what looping /metrics scrapers cost with many client
# ids, and the proxy's memory under a flood of connections sending the
# largest bodies.
# Usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/overhead.sh" "${1:-build}"
echo
"$here/policies.sh" "${1:-build}"
echo
"$here/protocols.sh" "${1:-build}"
echo
"$here/scaleout.sh" "${1:-build}"
echo
"$here/fairness.sh" "${1:-build}"
echo
"$here/metrics.sh" "${1:-build}"
echo
"$here/connflood.sh" "${1:-build}"
