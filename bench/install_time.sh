#!/bin/bash
# A plain install from a fresh virtual environment to the first prediction, as README's
# "Installing with pip" measures it: python3 -m venv, pip install ., clarion models install,
# clarion serve, one general-image-recognition call (loopback). Prints the seconds to each
# step's end and the environment's size (du -sm), then removes it.
#   bench/install_time.sh [warm|cold]     # cold: pip with an empty cache
set -euo pipefail
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ "${1:-warm}" = cold ]; then export PIP_CACHE_DIR="$WORK/pip-cache"; fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$SOURCE"
PIP_QUIET=1 "$WORK/venv/bin/clarion" models install 2>/dev/null
installed=$(date +%s.%N)
CLARION_ADMIN_PAT=install-time-pat PYTHONPATH='' "$WORK/venv/bin/clarion" serve \
  --data-dir "$WORK/data" --http-port "$PORT" --grpc-port 0 > "$WORK/serve.log" 2>&1 &
SERVER=$!
until curl -sf "http://127.0.0.1:$PORT/health" > /dev/null; do sleep 0.2; done
ready=$(date +%s.%N)
IMAGE=$("$WORK/venv/bin/python" -c 'import base64, io; from PIL import Image
out = io.BytesIO(); Image.new("RGB", (640, 480), (90, 120, 200)).save(out, "JPEG")
print(base64.b64encode(out.getvalue()).decode())')
curl -sf -H "Authorization: Key install-time-pat" -H 'Content-Type: application/json' \
  -d "{\"inputs\":[{\"data\":{\"image\":{\"base64\":\"$IMAGE\"}}}]}" \
  "http://127.0.0.1:$PORT/v2/users/clarifai/apps/main/models/general-image-recognition/outputs" \
  | grep -q '"code":10000'
predicted=$(date +%s.%N)
echo "pip cache ${1:-warm}: installed $(echo "$installed - $start" | bc) s," \
  "ready $(echo "$ready - $start" | bc) s, first prediction $(echo "$predicted - $start" | bc) s;" \
  "$(du -sm "$WORK/venv" | cut -f1) MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
