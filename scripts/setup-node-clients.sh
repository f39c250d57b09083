#!/usr/bin/env bash
# The npm packages the generated client.mjs needs, for verify and the tests: the openai SDK (with
# its own types), TypeScript (`tsc --checkJs`) and Node's types, pinned, in one cache folder.
# verify finds openai there when the client's own folder has no node_modules.
# Usage: scripts/setup-node-clients.sh   -> prints the node_modules path on stdout
set -euo pipefail

cache_root="${LLMGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgen}"
dest="$cache_root/node"
manifest='{
  "private": true,
  "description": "npm packages for llmgen client.mjs checks",
  "dependencies": {
    "@types/node": "20.19.43",
    "openai": "7.59.0",
    "typescript": "5.9.3"
  }
}'

mkdir -p "$dest"
# Reinstall only when the pins changed or a package is missing.
if [ "$(cat "$dest/package.json" 2>/dev/null)" != "$manifest" ] ||
    [ ! -f "$dest/node_modules/openai/package.json" ] ||
    [ ! -x "$dest/node_modules/.bin/tsc" ] ||
    [ ! -f "$dest/node_modules/@types/node/package.json" ]; then
    echo "setup-node-clients: npm install openai, typescript, @types/node into $dest" >&2
    printf '%s\n' "$manifest" >"$dest/package.json"
    (cd "$dest" && npm install --no-audit --no-fund --no-package-lock --silent >&2)
fi
echo "$dest/node_modules"
