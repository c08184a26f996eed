#!/bin/sh
# What the Dockerfile's build stage runs, kept in a script so that it can be
# run and tested without a container daemon (npm test does, on a temporary
# copy of the repo):
#
#   scripts/build-image.sh SOURCE OUT
#
# builds SOURCE (a checkout) and leaves in OUT exactly what the image
# serves from: dist/, the production node_modules, package.json, the schemas
# and the bundled steps (so that the image starts without a mounted config).
set -eu
src=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$src/package.json" "$src/package-lock.json" "$src/tsconfig.json" "$work/"
cp -R "$src/src" "$src/schemas" "$work/"
cd "$work"
# Every dependency, exactly as locked, to build; then only what runs.
npm ci --ignore-scripts --no-audit --no-fund --prefer-offline
npx tsc -p .
npm prune --omit=dev --ignore-scripts --no-audit --no-fund

cp -R dist node_modules schemas package.json "$out/"
cp "$src/steps.yaml" "$src/steps.test.yaml" "$out/"
echo "build-image: $out holds dist/, node_modules/ (production), schemas/, package.json and the bundled steps"
