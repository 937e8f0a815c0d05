#!/usr/bin/env bash
# Installs code-server 4.100.3 (the VS Code 1.100.3 server, Node 20) for the tests in test/vscode and
# test/e2e, OUTSIDE the project's node_modules, from the pinned tree in test/vscode/code-server/.
#
# Why not a devDependency: code-server's postinstall runs a second `npm install` (no lockfile) that
# compiles node-pty, kerberos, @parcel/watcher, spdlog... (about 80-110 s, 300 MB, needs g++ and
# libkrb5-dev) and refuses to run as root without npm_config_unsafe_perm=true. As a devDependency
# every `npm ci` would pay that and a plain root `npm ci` would fail; here only the VS Code tests do.
#
# Idempotent: the install lands in a cache folder keyed by the lockfile's hash, built in a temporary
# folder and renamed into place when complete, so concurrent or interrupted runs never see half an
# install. Prints the install folder (the one holding node_modules/code-server) on stdout.
#
#   CL_CODE_SERVER_DIR   install folder to use instead of the cache (created if missing)
#   XDG_CACHE_HOME       cache root (default ~/.cache); the folder is contrastive-lab/code-server-*
#
# Needs: node 20, npm, g++/make/python3 (build-essential), libkrb5-dev, pkg-config, ripgrep (its
# binary seeds @vscode/ripgrep, whose postinstall would otherwise download rg from GitHub).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
spec="$here/code-server"
hash="$(cat "$spec/package.json" "$spec/package-lock.json" | sha256sum | cut -c1-12)"
dest="${CL_CODE_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/contrastive-lab/code-server-4.100.3-$hash}"
entry="$dest/node_modules/code-server/out/node/entry.js"

if [ -f "$dest/.complete" ] && [ -f "$entry" ]; then
  echo "$dest"
  exit 0
fi

log() { echo "install-code-server: $*" >&2; }

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != 20 ]; then
  log "code-server 4.100.3 needs Node 20 (this is Node $node_major)"
  exit 1
fi
missing=()
command -v g++ >/dev/null || missing+=(build-essential)
command -v make >/dev/null || missing+=(build-essential)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v krb5-config >/dev/null || missing+=(libkrb5-dev)
[ -x /usr/bin/rg ] || missing+=(ripgrep)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  log "missing build prerequisites; run: apt-get install -y ${missing[*]}"
  exit 1
fi

mkdir -p "$(dirname "$dest")"
work="$(mktemp -d "$dest.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$spec/package.json" "$spec/package-lock.json" "$work/"

# @vscode/ripgrep's postinstall looks for its download in $TMPDIR/vscode-ripgrep-cache-<version>/
# before going to GitHub: put Debian's rg there under the name it expects.
mkdir -p "$work/tmp/vscode-ripgrep-cache-1.15.11" "$work/tmp/rg-stage"
cp /usr/bin/rg "$work/tmp/rg-stage/rg"
tar czf "$work/tmp/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" \
  -C "$work/tmp/rg-stage" rg

# node-gyp must use the installed Node headers rather than download them.
nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ -f "$nodedir/include/node/node.h" ]; then export npm_config_nodedir="$nodedir"; fi

log "npm ci code-server 4.100.3 into $dest (takes 1-2 minutes)"
t0=$(date +%s)
(
  cd "$work"
  # unsafe_perm: code-server's postinstall refuses root without it. yes: node-pty runs
  # `npx node-gyp`, which aborts at the confirmation prompt otherwise.
  TMPDIR="$work/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm ci --no-audit --no-fund --loglevel=error >&2
)
vs="$work/node_modules/code-server/lib/vscode"
for f in \
  "$vs/node_modules/node-pty/build/Release/pty.node" \
  "$vs/node_modules/@vscode/spdlog/build/Release/spdlog.node" \
  "$vs/node_modules/@vscode/ripgrep/bin/rg" \
  "$vs/node_modules.asar" \
  "$work/node_modules/argon2/lib/binding/napi-v3/argon2.node" \
  "$work/node_modules/code-server/out/node/entry.js"; do
  if [ ! -e "$f" ]; then
    log "incomplete install: $f is missing (did a dependency's install script not run?)"
    exit 1
  fi
done
rm -rf "$work/tmp"
touch "$work/.complete"
if [ -f "$dest/.complete" ] && [ -f "$entry" ]; then
  log "another process finished the install first; using it"
else
  rm -rf "$dest"
  mv "$work" "$dest"
fi
trap - EXIT
rm -rf "$work"
log "installed in $(( $(date +%s) - t0 )) s"
echo "$dest"
