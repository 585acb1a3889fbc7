#!/usr/bin/env bash
# The old name of scripts/build-native.sh (the back end was called blas before it held oneDNN, the LSTM,
# the CRF kernels and Adam); kept so that existing instructions and checkouts still build the addon.
exec bash "$(dirname "$0")/build-native.sh" "$@"
