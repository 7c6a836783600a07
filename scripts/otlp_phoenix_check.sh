#!/usr/bin/env bash
# OTLP check against a real receiver: start Arize Phoenix on loopback, run example flows with
# OTEL_EXPORTER_OTLP_ENDPOINT pointing at it, and check through Phoenix's REST API that each
# run's trace arrived whole; the LLM run (with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
# on) must show the GenAI attributes: gen_ai.provider.name, gen_ai.response.model,
# gen_ai.response.finish_reasons and gen_ai.input/output.messages. Run from anywhere in the
# repository:
#
#   scripts/otlp_phoenix_check.sh [--no-llm] [--no-grpc] [--no-screenshot] [--keep]
#
#   --no-llm         skip the `support` flow (embedded llama.cpp model; pulls smollm2-135m first)
#   --no-grpc        skip the extra support_triage run over OTLP/gRPC
#   --no-screenshot  skip the headless-chromium screenshot of the trace in Phoenix's UI
#   --keep           keep Phoenix's temporary working folder (its SQLite db and log)
#
# Environment: PHOENIX_VENV (default /tmp/phoenix-venv; created and arize-phoenix installed from
# PyPI into it when missing, never into stepladder's venv), PHOENIX_SPEC (default
# 'arize-phoenix>=20,<21'), PHOENIX_HTTP_PORT (default 16006: UI, REST API and OTLP/HTTP at
# /v1/traces), PHOENIX_OTLP_GRPC_PORT (default 14317), STEPLADDER (default .venv/bin/stepladder),
# PYTHON (the Python that creates the venv, default python3), SCREENSHOT (default
# scripts/artifacts/phoenix_trace.png), WAIT (seconds to wait for spans, default 30), TRACES_DIR
# (stepladder's JSONL span store, default examples/.stepladder/traces).
#
# Phoenix runs with telemetry, external resources, the agent assistant and the MCP server off,
# its data in a temporary folder, both ports on 127.0.0.1, and is stopped on exit.
# Output ends with one JSON line: {"check": "otlp_phoenix", "ok": ..., "spans": N, ...}.
# Exit codes: 0 ok, 1 a trace did not arrive whole, 2 a required stepladder run failed,
# 3 Phoenix could not be installed or started.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PHOENIX_VENV="${PHOENIX_VENV:-/tmp/phoenix-venv}"
PHOENIX_SPEC="${PHOENIX_SPEC:-arize-phoenix>=20,<21}"
HTTP_PORT="${PHOENIX_HTTP_PORT:-16006}"
GRPC_PORT="${PHOENIX_OTLP_GRPC_PORT:-14317}"
STEPLADDER="${STEPLADDER:-$ROOT/.venv/bin/stepladder}"
PYTHON="${PYTHON:-python3}"
SCREENSHOT="${SCREENSHOT:-$ROOT/scripts/artifacts/phoenix_trace.png}"
WAIT="${WAIT:-30}"
TRACES_DIR="${TRACES_DIR:-$ROOT/examples/.stepladder/traces}"
LLM=1 GRPC=1 SHOT=1 KEEP=0
for arg in "$@"; do
  case "$arg" in
    --no-llm) LLM=0 ;;
    --no-grpc) GRPC=0 ;;
    --no-screenshot) SHOT=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "otlp_phoenix_check: unknown argument $arg (try --help)" >&2; exit 3 ;;
  esac
done
log() { echo "otlp_phoenix_check: $*" >&2; }

# 1. Phoenix in its own venv.
if [ ! -x "$PHOENIX_VENV/bin/phoenix" ]; then
  log "installing $PHOENIX_SPEC into $PHOENIX_VENV (large; a few minutes)"
  { [ -x "$PHOENIX_VENV/bin/python" ] || "$PYTHON" -m venv "$PHOENIX_VENV"; } \
    && "$PHOENIX_VENV/bin/python" -m pip install -q --upgrade pip \
    && "$PHOENIX_VENV/bin/python" -m pip install -q "$PHOENIX_SPEC" \
    || { log "could not install $PHOENIX_SPEC"; exit 3; }
fi
PHOENIX_VERSION="$("$PHOENIX_VENV/bin/python" -c 'import phoenix; print(phoenix.__version__)')"
[ -x "$STEPLADDER" ] || { log "no stepladder at $STEPLADDER (make install?)"; exit 3; }

for port in "$HTTP_PORT" "$GRPC_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port on 127.0.0.1 is taken; set PHOENIX_HTTP_PORT / PHOENIX_OTLP_GRPC_PORT"
    exit 3
  fi
done

# 2. Start Phoenix on loopback, data in a temporary folder; stop it on exit.
WORK="$(mktemp -d /tmp/phoenix-check.XXXXXX)"
PHOENIX_PID=""
cleanup() {
  if [ -n "$PHOENIX_PID" ] && kill -0 "$PHOENIX_PID" 2>/dev/null; then
    kill "$PHOENIX_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$PHOENIX_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$PHOENIX_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then log "kept Phoenix's folder $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting Phoenix $PHOENIX_VERSION on 127.0.0.1:$HTTP_PORT (OTLP/gRPC 127.0.0.1:$GRPC_PORT)"
(
  # Phoenix should not trace itself anywhere, nor pick up a proxy or a database from outside.
  for name in $(env | sed -n 's/^\(OTEL_[A-Z_]*\|PHOENIX_[A-Z_]*\)=.*/\1/p'); do unset "$name"; done
  export PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$HTTP_PORT" PHOENIX_GRPC_PORT="$GRPC_PORT" \
    PHOENIX_WORKING_DIR="$WORK" PHOENIX_TELEMETRY_ENABLED=false \
    PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_DISABLE_AGENT_ASSISTANT=true \
    PHOENIX_AGENTS_DISABLE_BASH=true PHOENIX_AGENTS_DISABLE_WEB_ACCESS=true \
    PHOENIX_ENABLE_MCP_SERVER=false PHOENIX_ENABLE_AUTH=false \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
  exec "$PHOENIX_VENV/bin/python" scripts/otlp_phoenix_check.py serve
) >"$WORK/phoenix.log" 2>&1 &
PHOENIX_PID=$!

healthy=0
for _ in $(seq 1 120); do
  if ! kill -0 "$PHOENIX_PID" 2>/dev/null; then break; fi
  if curl -sf --noproxy '*' -m 2 "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null; then
    healthy=1; break
  fi
  sleep 1
done
if [ "$healthy" != 1 ]; then
  log "Phoenix did not become healthy; last lines of its log:"
  tail -n 30 "$WORK/phoenix.log" >&2
  exit 3
fi
if command -v ss >/dev/null 2>&1; then
  log "listening: $(ss -ltnH "( sport = :$HTTP_PORT or sport = :$GRPC_PORT )" \
    | awk '{print $4}' | sort -u | tr '\n' ' ')"
fi

# 3 + 4. Run the flows with OTLP on, and check Phoenix got them.
RUNS=(--run "support_triage:inputs/unknown.json:http/protobuf")
[ "$GRPC" = 1 ] && RUNS+=(--run "support_triage:inputs/unknown.json:grpc")
if [ "$LLM" = 1 ]; then
  if (cd examples && "$STEPLADDER" models pull smollm2-135m >&2); then
    RUNS+=(--run "support:inputs/invoice.json:http/protobuf:llm?")
  else
    log "stepladder models pull smollm2-135m failed; skipping the LLM flow"
  fi
fi
SHOT_ARGS=()
[ "$SHOT" = 1 ] && SHOT_ARGS=(--screenshot "$SCREENSHOT")

set +e
"$PHOENIX_VENV/bin/python" scripts/otlp_phoenix_check.py check \
  --url "http://127.0.0.1:$HTTP_PORT" --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" \
  --examples "$ROOT/examples" --stepladder "$STEPLADDER" --traces-dir "$TRACES_DIR" \
  --wait "$WAIT" \
  "${RUNS[@]}" "${SHOT_ARGS[@]}"
rc=$?
set -e
ERRORS='Traceback|^ERROR:| ERROR |^CRITICAL:| CRITICAL '
if grep -q -E "$ERRORS" "$WORK/phoenix.log"; then
  log "Phoenix logged errors:"; grep -E -A3 "$ERRORS" "$WORK/phoenix.log" | tail -n 20 >&2
fi
exit "$rc"
